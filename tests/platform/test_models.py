"""Base models resolve to safetensors folders, offline, and the default one really generates."""
import multiprocessing as mp
import shutil

import pytest

from querytune.platform import models
from querytune.platform.generation import generate


def test_default_model_loads_offline_and_generates(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model, tokenizer, path = models.load_model("default", device="cpu")
    assert (path / "model.safetensors").is_file()
    assert model.config.model_type == "llama" and model.num_parameters() > 100e6
    [(text, seconds)] = generate(model, tokenizer, [[{"role": "user", "content": "What is the capital of France?"}]],
                                 max_new_tokens=12)
    assert "paris" in text.lower() and seconds > 0


def test_tiny_model_is_small_and_deterministic(tiny_model):
    path = models.resolve(tiny_model)
    assert models.content_hash(path) == models.content_hash(path)
    model, tokenizer, _ = models.load_model(tiny_model, device="cpu")
    assert model.num_parameters() < 5e6 and len(tokenizer) == model.config.vocab_size


def test_unknown_model_is_a_clear_error():
    with pytest.raises(FileNotFoundError, match="unknown model 'no-such-model'"):
        models.resolve("no-such-model")


def _build(name: str, queue) -> None:
    queue.put(str(models.resolve(name)))


def test_concurrent_builders_do_not_corrupt_the_cache(tmp_path, monkeypatch, tiny_model):
    """Ray workers start together and all ask for the same cached model."""
    tokenizer_entry = models.cache_dir() / "smollm2-tokenizer"
    monkeypatch.setenv("QUERYTUNE_HOME", str(tmp_path))
    shutil.copytree(tokenizer_entry, models.cache_dir() / "smollm2-tokenizer")
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_build, args=("tiny-qwen3", queue)) for _ in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    paths = {queue.get(timeout=5) for _ in procs}
    assert len(paths) == 1
    entries = [p.name for p in (tmp_path / "models").iterdir() if not p.name.startswith(".smollm2")]
    assert not [e for e in entries if e.startswith(".tiny-qwen3-")], "a temp build folder was left behind"
    models.load_model("tiny-qwen3", device="cpu")


def _takes(tokenizer, grammar: str, text: str) -> bool:
    """Whether llguidance, reading ``tokenizer`` as vLLM's grammar backend does, takes ``text``."""
    import llguidance
    import llguidance.hf

    matcher = llguidance.LLMatcher(llguidance.hf.from_tokenizer(tokenizer, len(tokenizer)),
                                   llguidance.grammar_from("grammar", grammar), log_level=0)
    return all(matcher.consume_token(i) for i in tokenizer.encode(text, add_special_tokens=False))


def test_default_tokenizer_is_byte_level_whichever_transformers_converted_it():
    """transformers 5.17 reads SmolLM2's GGUF tokenizer SentencePiece-style (byte fallback, a `▁`
    decoder, eos <|im_start|>); the grammar engine then saw no token that begins a word."""
    import json

    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    from querytune.experiments import get_task

    tokenizer = models.load_tokenizer(models.resolve("default"))
    state = json.loads(tokenizer.backend_tokenizer.to_str())
    state["normalizer"] = {"type": "Sequence", "normalizers": []}
    state["decoder"] = {"type": "Sequence", "decoders": [
        {"type": "ByteFallback"}, {"type": "Fuse"}, {"type": "Replace", "pattern": {"String": "▁"}, "content": " "},
        state["decoder"]]}
    state["model"].update(byte_fallback=True, fuse_unk=True, unk_token="<|endoftext|>")
    as_517 = PreTrainedTokenizerFast(tokenizer_object=Tokenizer.from_str(json.dumps(state)), eos_token="<|im_start|>",
                                     chat_template=tokenizer.chat_template)
    grammar, answer = get_task("qmd").grammar("lark"), "lex: hello world"
    assert as_517.decode(as_517.encode(answer)) == answer and not _takes(as_517, grammar, answer)

    repaired = models.byte_level_tokenizer(as_517)
    assert repaired.backend_tokenizer.to_str() == tokenizer.backend_tokenizer.to_str()
    assert (repaired.eos_token, repaired.pad_token) == ("<|im_end|>", "<|im_end|>")
    assert _takes(repaired, grammar, answer) and _takes(tokenizer, grammar, answer)
