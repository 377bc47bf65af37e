"""OpenAI's shapes for the OpenAI routes: a request's ``Sampling``, ``usage``, and the chunks of a stream."""
from __future__ import annotations

from dataclasses import dataclass

from querytune.serve.engines import Delta, Generation, Sampling
from querytune.serve.schemas import OpenAIRequest, Usage


def sampling_of(body: OpenAIRequest, max_tokens: int) -> Sampling:
    return Sampling(max_tokens=max_tokens, temperature=body.temperature or 0.0,
                    top_p=1.0 if body.top_p is None else body.top_p, n=body.n, seed=body.seed, stop=tuple(body.stop),
                    presence_penalty=body.presence_penalty or 0.0, frequency_penalty=body.frequency_penalty or 0.0)


def usage(out: Generation) -> Usage:
    return Usage(prompt_tokens=out.prompt_tokens, completion_tokens=out.completion_tokens,
                 total_tokens=out.prompt_tokens + out.completion_tokens)


def usage_asked(body: OpenAIRequest) -> bool:
    return bool(body.stream_options and body.stream_options.include_usage)


@dataclass
class ChatChunks:
    """``chat.completion.chunk`` objects: each choice's role first, then its text, then its finish reason."""

    id: str
    created: int
    model: str
    n: int
    object = "chat.completion.chunk"

    def _chunk(self, choices: list[dict], **extra) -> dict:
        return {"id": self.id, "object": self.object, "created": self.created, "model": self.model,
                "choices": choices, **extra}

    def start(self) -> dict:
        return self._chunk([{"index": i, "delta": {"role": "assistant", "content": ""}, "logprobs": None,
                             "finish_reason": None} for i in range(self.n)])

    def delta(self, delta: Delta) -> dict:
        body = {"content": delta.text} if delta.text else {}
        return self._chunk([{"index": delta.index, "delta": body, "logprobs": None,
                             "finish_reason": delta.finish_reason}])

    def usage(self, counts: Usage) -> dict:
        return self._chunk([], usage=counts.model_dump())


@dataclass
class CompletionChunks(ChatChunks):
    """``text_completion`` chunks (OpenAI streams completions under the same object name)."""

    object = "text_completion"

    def start(self) -> dict | None:
        return None  # OpenAI's first completion chunk already carries text

    def delta(self, delta: Delta) -> dict:
        return self._chunk([{"index": delta.index, "text": delta.text, "logprobs": None,
                             "finish_reason": delta.finish_reason}])
