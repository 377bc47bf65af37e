"""Batched greedy generation with transformers: the one place prompts become text.

Training's per-epoch metric, the `hf` eval backend and the CPU serving engine all call
``generate``, so a model is judged exactly the way it is served.
"""
from __future__ import annotations

import time
from typing import Sequence

from querytune.experiments.base import Messages

GREEDY_BELOW = 1e-5  # lower temperatures overflow logits / T into NaN probabilities; vLLM goes greedy below it too


def render(tokenizer, messages: Messages) -> str:
    """The model's own chat template, ending where the assistant's answer starts."""
    return tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)


def generate(model, tokenizer, conversations: Sequence[Messages | str], *, max_new_tokens: int = 64,
             batch_size: int = 16, temperature: float = 0.0, logits_processor=None,
             **options) -> list[tuple[str, float]]:
    """(completion, seconds) per conversation; greedy unless ``temperature`` >= GREEDY_BELOW.

    A conversation given as a string is a prompt already rendered (sent as is); ``options``
    go to ``model.generate`` (the serving engine's stopping criteria and top_p).

    Seconds are the wall time of the batch the conversation rode in, which is what a
    caller waiting for that answer experiences.
    """
    import torch

    tokenizer.padding_side = "left"
    results: list[tuple[str, float]] = []
    for start in range(0, len(conversations), batch_size):
        chunk = [m if isinstance(m, str) else render(tokenizer, m) for m in conversations[start:start + batch_size]]
        batch = tokenizer(chunk, return_tensors="pt", padding=True, add_special_tokens=False).to(model.device)
        greedy = temperature < GREEDY_BELOW
        sampling = {"do_sample": False} if greedy else {"do_sample": True, "temperature": temperature}
        began = time.perf_counter()
        with torch.inference_mode():
            out = model.generate(**batch, max_new_tokens=max_new_tokens, pad_token_id=tokenizer.pad_token_id,
                                 logits_processor=logits_processor, **sampling, **options)
        seconds = time.perf_counter() - began
        new = out[:, batch["input_ids"].shape[1]:]
        results += [(text.strip(), seconds) for text in tokenizer.batch_decode(new, skip_special_tokens=True)]
    return results
