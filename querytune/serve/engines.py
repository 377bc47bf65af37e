"""Generation engines behind the LLM deployments: the ``Engine`` protocol and what it speaks.

An engine takes a prompt (chat messages, rendered with the model's own chat template,
or raw text for ``/v1/completions``), the ``ServedModel`` to answer with and a
``Sampling`` (OpenAI's knobs: max_tokens, temperature, top_p, n, seed, stop, presence
and frequency penalties, and the task grammar). ``stream`` yields ``Delta``s (text as it
is decoded, each choice's finish reason) and ends with the ``Generation``: every
choice's text, its token count and finish reason as the engine itself counted them
("length" only when the answer was cut at max_tokens), the prompt's token count, and
``info`` (engine, constrained, batch_size, queue_s, ttft_s). ``generate`` is the same
without the deltas.

Two engines implement it: ``transformers_engine.TransformersEngine`` (CPU, laptops, tests)
and ``vllm_engine.VLLMEngine`` (GPU); ``engine_loader.load_engine`` builds the one a
deployment names.

Adapters loaded at runtime (``ServedModel.runtime``, see ``serve/runtime.py``) are loaded
by an engine on the first request that names them, once (one ``asyncio.Lock`` per name);
each replica keeps at most ``limits.max_runtime_adapters`` of them, least recently used
dropped first (``LoadsOnRequest``).
"""
from __future__ import annotations

import asyncio
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Awaitable, Callable, Mapping, Protocol

from querytune.experiments.base import Messages
from querytune.platform import generation
from querytune.serve.catalog import ServedModel

Prompt = Messages | str  # chat messages (the model's chat template renders them) or raw text, sent as is
Info = dict[str, Any]  # engine, constrained, batch_size, queue_s, ttft_s
DEFAULT_RUNTIME_ADAPTERS = 4


class EngineError(RuntimeError):
    """An engine that cannot load or serve what its deployment asks for."""


@dataclass(frozen=True)
class Sampling:
    """How to sample one request's answers (OpenAI's names and meanings)."""

    max_tokens: int
    temperature: float = 0.0  # below generation.GREEDY_BELOW: greedy
    top_p: float = 1.0
    n: int = 1
    seed: int | None = None
    stop: tuple[str, ...] = ()  # strings that end an answer; the answer excludes them
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    grammar: str | None = None  # the task's grammar (Lark), held where the engine can

    @property
    def greedy(self) -> bool:
        return self.temperature < generation.GREEDY_BELOW


@dataclass
class Choice:
    text: str
    tokens: int  # generated tokens, as the engine counted them (an end-of-turn token included)
    finish_reason: str  # "length": cut at max_tokens; "stop": end of turn or a stop sequence


@dataclass
class Delta:
    """Text of one choice as it is decoded; the last delta of a choice carries its finish reason."""

    index: int
    text: str
    finish_reason: str | None = None


@dataclass
class Generation:
    choices: list[Choice]
    prompt_tokens: int
    info: Info = field(default_factory=dict)

    @property
    def completion_tokens(self) -> int:
        return sum(choice.tokens for choice in self.choices)


class Engine(Protocol):
    """Turns a prompt into ``sampling.n`` answers with one served model."""

    async def generate(self, prompt: Prompt, model: ServedModel, sampling: Sampling) -> Generation: ...

    def stream(self, prompt: Prompt, model: ServedModel, sampling: Sampling) -> AsyncIterator[Delta | Generation]: ...

    async def unload(self, name: str) -> None: ...


async def collect(stream: AsyncIterator[Delta | Generation]) -> Generation:
    """The ``Generation`` a stream ends with."""
    async for item in stream:
        if isinstance(item, Generation):
            return item
    raise EngineError("the engine's stream ended without its generation")


def render(tokenizer, prompt: Prompt) -> str:
    return prompt if isinstance(prompt, str) else generation.render(tokenizer, prompt)




class LoadsOnRequest:
    """An engine's adapters loaded on the first request that names them: once each (one ``asyncio.Lock``
    per name, so concurrent first requests load it once), at most ``runtime_limit`` kept, the least
    recently used dropped first."""

    def __init__(self, runtime_limit: int = DEFAULT_RUNTIME_ADAPTERS):
        self.runtime: OrderedDict[str, Any] = OrderedDict()  # served name -> what the engine loaded, least recent first
        self.runtime_limit = runtime_limit
        self._locks: dict[str, asyncio.Lock] = {}

    async def _on_request(self, model: ServedModel, preloaded: Mapping[str, Any], load: Callable[[], Awaitable[Any]],
                          drop: Callable[[str, Any], Awaitable[None]]) -> Any:
        """``preloaded[model.name]``, else the runtime adapter's own (``load()`` on its first request;
        ``drop(name, loaded)`` for each one pushed out past the limit)."""
        if model.name in preloaded:
            return preloaded[model.name]
        if not model.runtime:
            raise EngineError(f"adapter {model.name!r} is not loaded here (loaded: {', '.join(preloaded)})")
        async with self._locks.setdefault(model.name, asyncio.Lock()):
            if model.name not in self.runtime:
                self.runtime[model.name] = await load()
                while len(self.runtime) > max(self.runtime_limit, 1):
                    await drop(*self.runtime.popitem(last=False))
            self.runtime.move_to_end(model.name)
            return self.runtime[model.name]
