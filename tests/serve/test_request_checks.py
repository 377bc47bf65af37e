"""The prompt check counts the model's own tokens, and skips counting only where no count could pass the limit."""
from __future__ import annotations

import pytest

from querytune.serve.config import Limits
from querytune.serve.engines import render
from querytune.serve.request_checks import check_prompt

TEXTS = ["find Python files with async functions", "   spaces   and\ttabs\n\nnewlines  ", "ünïcödé façade naïve",
         "日本語のテキストと中文", "emoji 🚀🔥👩‍💻 and ZWJ", "\x00\x01 control \x7f", "a" * 300, "🚀" * 80,
         "repo:^github\\.com/acme/web$ /\\d{3}-\\d{4}/", "<|im_start|> looks like a turn"]


@pytest.fixture(scope="module")
def tokenizer(tiny_model):
    from querytune.platform import models

    return models.load_tokenizer(models.resolve(tiny_model))  # the default model's tokenizer


@pytest.mark.parametrize("text", TEXTS)
def test_no_text_has_more_tokens_than_bytes(tokenizer, text):
    """What lets the check skip tokenizing a short prompt: every token covers at least one byte."""
    assert len(tokenizer(text, add_special_tokens=False).input_ids) <= len(text.encode("utf-8"))


def test_a_prompt_is_refused_by_its_token_count_whether_or_not_it_was_short_enough_to_skip(tokenizer):
    prompt = [{"role": "user", "content": "tokenizer " * 200}]
    size = len(render(tokenizer, prompt).encode("utf-8"))
    tokens = len(tokenizer(render(tokenizer, prompt), add_special_tokens=False).input_ids)
    assert tokens < size  # words are tokens of several bytes: this prompt is counted, not skipped, at these limits
    for limit, refused in ((size + 1, False), (size, False), (tokens, False), (tokens - 1, True)):
        problem = check_prompt(Limits(max_prompt_tokens=limit), tokenizer, prompt, {}, "messages")
        assert (problem is not None) == refused, limit
    assert f"the prompt is {tokens} tokens" in check_prompt(Limits(max_prompt_tokens=tokens - 1), tokenizer, prompt,
                                                            {}, "messages").message
