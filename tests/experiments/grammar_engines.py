"""The real grammar engines (llguidance, xgrammar) with the default model's real tokenizer.

Tests feed answers to them token by token, the way vLLM does while decoding: in the
tokenizer's own segmentation (what a model trained on that text writes) and in other
segmentations a model may sample (longest vocabulary piece first, single bytes).
"""
from __future__ import annotations

from functools import lru_cache

import pytest

llguidance = pytest.importorskip("llguidance", reason="llguidance is in the dev extra (pip install -e '.[dev]')")
xgrammar = pytest.importorskip("xgrammar", reason="xgrammar is in the dev extra (pip install -e '.[dev]')")


@lru_cache(maxsize=1)
def tokenizer():
    from querytune.platform import models

    return models.load_tokenizer(models.resolve("default"))


def vocab_size() -> int:
    import json

    from querytune.platform import models

    return json.loads((models.resolve("default") / "config.json").read_text())["vocab_size"]


@lru_cache(maxsize=1)
def xgrammar_info():
    """TokenizerInfo exactly as vLLM 0.26's xgrammar backend builds it (backend_xgrammar.py)."""
    return xgrammar.TokenizerInfo.from_huggingface(tokenizer(), vocab_size=vocab_size())


@lru_cache(maxsize=1)
def ll_tokenizer():
    """llguidance's tokenizer as vLLM 0.26's guidance backend builds it (backend_guidance.py)."""
    import llguidance.hf

    return llguidance.hf.from_tokenizer(tokenizer(), max(vocab_size(), len(tokenizer())))


@lru_cache(maxsize=4)
def ll_matcher(grammar: str):
    matcher = llguidance.LLMatcher(ll_tokenizer(), llguidance.grammar_from("grammar", grammar))
    assert not matcher.get_error(), matcher.get_error()
    return matcher


def segmentations(text: str) -> list[list[int]]:
    """The tokenizer's own ids, a greedy longest-piece split and a byte-by-byte split."""
    own = tokenizer()(text, add_special_tokens=False).input_ids
    pieces = _pieces()
    data, greedy, i = text.encode(), [], 0
    while i < len(data):
        length = next(n for n in range(min(24, len(data) - i), 0, -1) if data[i:i + n] in pieces)
        greedy.append(pieces[data[i:i + length]])
        i += length
    return [own, greedy, [pieces[bytes([b])] for b in data]]


@lru_cache(maxsize=1)
def _pieces() -> dict[bytes, int]:
    """Decoded bytes -> token id, ordinary tokens only (xgrammar's view of the vocabulary)."""
    special = set(tokenizer().all_special_ids)
    pieces: dict[bytes, int] = {}
    for token_id, piece in enumerate(xgrammar_info().decoded_vocab):
        if piece and token_id not in special and token_id < len(tokenizer()):
            pieces.setdefault(piece, token_id)
    return pieces


def llguidance_accepts(grammar: str, ids: list[int]) -> bool:
    """Whether each of ``ids`` is in llguidance's mask when its turn comes, and then the end is.

    This is the loop vLLM runs: compute the mask, sample inside it, consume the token.
    """
    matcher = ll_matcher(grammar)
    matcher.reset()
    try:
        for token in ids:
            if not _allowed(matcher.compute_bitmask(), token):
                return False
            if not matcher.consume_token(token):
                return False
        return matcher.is_accepting() and _allowed(matcher.compute_bitmask(), tokenizer().eos_token_id)
    finally:
        matcher.reset()


def _allowed(bitmask: bytes, token: int) -> bool:
    return bool(bitmask[token // 8] >> (token % 8) & 1)


@lru_cache(maxsize=4)
def xgrammar_compiled(grammar: str):
    return xgrammar.GrammarCompiler(xgrammar_info()).compile_grammar(grammar)


def xgrammar_accepts(grammar: str, ids: list[int]) -> bool:
    """Whether xgrammar takes ``ids`` one by one and then the end-of-turn token."""
    matcher = xgrammar.GrammarMatcher(xgrammar_compiled(grammar))
    return all(matcher.accept_token(token) for token in ids) and matcher.accept_token(tokenizer().eos_token_id)
