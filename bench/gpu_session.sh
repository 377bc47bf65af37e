#!/usr/bin/env bash
# One call on the lent GPU machine, after the wheel chunks of .whl/g56 have been copied to /tmp/wh:
# install the bundle, then run the named benchmarks one after the other, each under a time limit.
#
#   bash bench/gpu_session.sh sft latency cold_start      (names = modules bench/<name>.py)
#
# Environment: OUT (results folder, set by the device tool), BENCH_LIMIT_S (seconds for the
# whole script, default 560), BENCH_ARGS_<name> (extra arguments for one benchmark).
# Results: $OUT/session.log, $OUT/<name>.json, and every log in $OUT/logs.tgz.
set -uo pipefail
began=$(date +%s)
limit=${BENCH_LIMIT_S:-560}
OUT=${OUT:-$PWD/runs/bench}
results=/tmp/bench-results
mkdir -p "$OUT" "$results"
exec > >(tee -a "$OUT/session.log") 2>&1

source bench/gpu_env.sh
nvidia-smi --query-gpu=name,driver_version,memory.total,memory.used,clocks.sm,clocks.max.sm --format=csv
python3 -c "import vllm, ray, ray.serve, trl, transformers, peft, torch; print('vllm', vllm.__version__, 'ray', ray.__version__,
'trl', trl.__version__, 'transformers', transformers.__version__, 'peft', peft.__version__, 'torch', torch.__version__)"
python3 -m querytune.cli models
echo "setup took $(( $(date +%s) - began )) s"

for name in "$@"; do
  left=$(( limit - ($(date +%s) - began) ))
  if [ "$left" -lt 30 ]; then echo "== $name skipped: ${left}s left"; continue; fi
  extra_var="BENCH_ARGS_${name}"
  echo "== $name (limit ${left}s) $(date -u +%T)"
  # shellcheck disable=SC2086
  timeout --kill-after=10 "$left" python3 -m "bench.$name" --out "$results" ${!extra_var:-}
  echo "== $name exit $? after $(( $(date +%s) - began )) s"
done

cp "$results"/*.json "$results"/*.png "$results"/*.md "$OUT"/ 2>/dev/null
tar -czf "$OUT/logs.tgz" -C "$results" . 2>/dev/null
echo "session took $(( $(date +%s) - began )) s"
