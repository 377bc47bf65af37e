# Sourced by the GPU session scripts: install the wheel bundle (copied to /tmp/wh by the earlier
# chunk calls) once per machine, and set the environment every benchmark runs under.
if [ ! -d /tmp/site/vllm ]; then
  bash /tmp/wh/install.sh >/tmp/install.log 2>&1 || { tail -20 /tmp/install.log; echo "bundle install failed"; exit 1; }
fi
export PYTHONPATH="$PWD:/tmp/site" QUERYTUNE_HOME="$PWD/.cache/qt" VLLM_CACHE_ROOT="$PWD/.cache/vllm"
# every compile cache in one folder: bench/cold_start.py measures it empty, then warm
export TORCHINDUCTOR_CACHE_DIR="$VLLM_CACHE_ROOT/inductor" TRITON_CACHE_DIR="$VLLM_CACHE_ROOT/triton"
export FLASHINFER_WORKSPACE_BASE="$VLLM_CACHE_ROOT/flashinfer"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 RAY_USAGE_STATS_ENABLED=0 PYTHONUNBUFFERED=1
export TOKENIZERS_PARALLELISM=false RAY_AUTH_MODE=disabled
# vLLM finds plugins by entry point: register querytune's (pyproject.toml) beside the bundle, without pip
python3 - <<'PY'
import pathlib, re
section = re.search(r'\[project\.entry-points\."vllm\.general_plugins"\]\n(.*?)(?:\n\[|\Z)',
                    pathlib.Path("pyproject.toml").read_text(), re.S).group(1)
info = pathlib.Path("/tmp/site/querytune_vllm_plugin-0.dist-info")
info.mkdir(exist_ok=True)
(info / "METADATA").write_text("Metadata-Version: 2.1\nName: querytune-vllm-plugin\nVersion: 0\n")
(info / "entry_points.txt").write_text("[vllm.general_plugins]\n" + section.replace('"', "").strip() + "\n")
PY
python3 -c "import vllm, ray, trl" || { echo "the bundle does not import"; exit 1; }
