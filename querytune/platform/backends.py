"""Generation backends behind one interface, so an eval runs the same way everywhere.

``hf``      transformers in this process (base model, or a registry adapter merged in)
``vllm``    vLLM's offline engine with the adapter as a LoRA request (CUDA GPU only)
``http``    our own server's OpenAI-compatible route, ``model`` = adapter name
``openai``  any OpenAI-compatible server (base URL, model, API key from the environment)

Every backend decodes greedily, so two backends serving the same weights answer alike.
``hf`` and ``vllm`` also ``sample`` N answers per conversation with a temperature, for
best-of-N evaluation (the task picks one, ``Task.choose``).
"""
from __future__ import annotations

import json
import os
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, Sequence

from querytune.experiments.base import Messages

KINDS = ("hf", "vllm", "http", "openai")
DEFAULT_BATCH_SIZE = 16
DEFAULT_TIMEOUT_S = 300.0
DEFAULT_API_KEY_ENV = "OPENAI_API_KEY"


class BackendError(RuntimeError):
    """A backend that cannot start or a request that failed; the message says which and why."""


@dataclass
class Completion:
    """One answer and the seconds its caller waited for it."""

    text: str
    latency_s: float


class Backend(Protocol):
    """What an eval needs from a generator: answers in the order of the conversations."""

    name: str

    def complete(self, conversations: Sequence[Messages], max_new_tokens: int) -> list[Completion]: ...

    def close(self) -> None: ...


class HFBackend:
    """transformers in-process; an adapter's whole chain is rebuilt and merged (fastest on CPU)."""

    def __init__(self, model: str, adapter: str | None = None, storage: str = "runs",
                 batch_size: int = DEFAULT_BATCH_SIZE, device: str | None = None, grammar: str | None = None):
        from querytune.platform import adapters, constrained, models

        if grammar and not constrained.available():
            raise BackendError("backend hf with a grammar needs llguidance (pip install -e '.[dev]'); "
                               "or leave out --grammar")
        self.grammar = grammar  # greedy answers held to it by platform.constrained (llguidance)

        if adapter:
            self.model, self.tokenizer, _ = adapters.load(adapter, storage, device=device, merge=True)
        else:
            self.model, self.tokenizer, _ = models.load_model(model, device=device)
        self.model.eval()
        self.batch_size = batch_size
        self.name = f"hf:{adapter or model}"

    def complete(self, conversations: Sequence[Messages], max_new_tokens: int) -> list[Completion]:
        from querytune.platform import constrained
        from querytune.platform.generation import generate

        answers = []
        for start in range(0, len(conversations), self.batch_size):  # a grammar processor follows one batch
            chunk = conversations[start:start + self.batch_size]
            held = [constrained.GrammarLogitsProcessor(self.tokenizer, self.grammar, self.model.config.vocab_size)
                    ] if self.grammar else None
            answers += generate(self.model, self.tokenizer, chunk, max_new_tokens=max_new_tokens,
                                batch_size=len(chunk), logits_processor=held)
        return [Completion(text, seconds) for text, seconds in answers]

    def sample(self, conversations: Sequence[Messages], max_new_tokens: int, n: int, temperature: float,
               seed: int = 0) -> list[list[Completion]]:
        """``n`` sampled answers per conversation (each conversation repeated ``n`` times in the batch)."""
        import torch

        from querytune.platform.generation import generate

        torch.manual_seed(seed)
        repeated = [messages for messages in conversations for _ in range(n)]
        answers = generate(self.model, self.tokenizer, repeated, max_new_tokens=max_new_tokens,
                           batch_size=self.batch_size, temperature=temperature)
        flat = [Completion(text, seconds) for text, seconds in answers]
        return [flat[i:i + n] for i in range(0, len(flat), n)]

    def close(self) -> None:
        self.model = self.tokenizer = None


def _require_vllm():
    """vLLM and a CUDA GPU, or an error that says which one is missing and what to do."""
    try:
        import vllm
    except ImportError:
        raise BackendError("backend vllm: the vllm package is not installed (pip install 'querytune[gpu]' on a "
                           "CUDA machine); use --backend hf on CPU") from None
    import torch

    if not torch.cuda.is_available():
        raise BackendError("backend vllm: no CUDA GPU is visible (torch.cuda.is_available() is False); "
                           "run it on a GPU machine or use --backend hf")
    return vllm


EVAL_KV_CACHE_BYTES = 4 << 30  # ~180k tokens of the default model, ~37k of Qwen3-1.7B: plenty for an eval
VLLM_LORA_RANKS = (8, 16, 32, 64, 128, 256, 320, 512)  # the max_lora_rank values vLLM accepts


def _max_lora_rank(adapter_dir: Path) -> int:
    """The smallest rank slot vLLM accepts that holds this adapter's r."""
    rank = int(json.loads((adapter_dir / "adapter_config.json").read_text())["r"])
    return next((slot for slot in VLLM_LORA_RANKS if slot >= rank), rank)


def _vllm_weights(model: str, adapter: str | None, storage: str) -> tuple[str, Any, dict]:
    """(model folder, LoRA request or None, engine arguments) for vLLM.

    A plain adapter rides as a LoRA request on its hash-checked base. An adapter with
    merged ancestors (GRPO on SFT) is exported merged, since vLLM applies one LoRA to the
    weights it loaded and the ancestors must already be folded into them.
    """
    from querytune.platform import adapters, models

    if not adapter:
        return str(models.resolve(model)), None, {}
    folder = adapters.resolve(adapter, storage)
    manifest = adapters.read_manifest(folder)
    if manifest.parents:
        return str(adapters.export_merged(adapter, tempfile.mkdtemp(prefix="querytune-merged-"), storage)), None, {}
    from vllm.lora.request import LoRARequest

    base = models.resolve(manifest.base.model)
    adapters.check_base(manifest, base)
    lora = LoRARequest(manifest.name or folder.name, 1, str(folder))
    return str(base), lora, {"enable_lora": True, "max_lora_rank": _max_lora_rank(folder), "max_loras": 1}


class VLLMBackend:
    """vLLM's offline engine, greedy, optionally held to the task's grammar."""

    def __init__(self, model: str, adapter: str | None = None, storage: str = "runs",
                 grammar: str | None = None, gpu_memory_utilization: float = 0.2, enforce_eager: bool = False,
                 engine_args: dict[str, Any] | None = None):
        """``engine_args``: more ``vllm.LLM`` arguments (e.g. ``async_scheduling``) for benchmarks that
        compare engine settings; the backend's own choices above stay."""
        vllm = _require_vllm()
        base, self.lora, engine = _vllm_weights(model, adapter, storage)
        if grammar:
            # Lark grammars need the guidance backend; GBNF ('::=') goes to xgrammar (stack notes §6).
            # Tasks give Lark by default: llguidance computes their masks far faster (BENCHMARKS.md).
            engine["structured_outputs_config"] = {"backend": "xgrammar" if "::=" in grammar else "guidance"}
        # enforce_eager skips compilation and CUDA graphs: starts in seconds, decodes slower (tests)
        # A fixed KV cache, not one sized by profiling: several evals then start side by side on one GPU
        # (profiling counts a neighbour's growing memory as its own and finds no room for the cache).
        self.llm = vllm.LLM(model=base, gpu_memory_utilization=gpu_memory_utilization, enforce_eager=enforce_eager,
                            kv_cache_memory_bytes=EVAL_KV_CACHE_BYTES, **engine, **(engine_args or {}))
        self.grammar = grammar
        self.name = f"vllm:{adapter or model}"

    def complete(self, conversations: Sequence[Messages], max_new_tokens: int) -> list[Completion]:
        """Each answer's latency is the wall time of the whole offline batch it was part of."""
        from vllm import SamplingParams
        from vllm.sampling_params import StructuredOutputsParams

        structured = StructuredOutputsParams(grammar=self.grammar) if self.grammar else None
        params = SamplingParams(temperature=0.0, max_tokens=max_new_tokens, structured_outputs=structured)
        began = time.perf_counter()
        outputs = self.llm.chat(list(conversations), params, lora_request=self.lora, use_tqdm=False)
        seconds = time.perf_counter() - began
        return [Completion(out.outputs[0].text.strip(), seconds) for out in outputs]

    def sample(self, conversations: Sequence[Messages], max_new_tokens: int, n: int, temperature: float,
               seed: int = 0) -> list[list[Completion]]:
        """``n`` sampled answers per conversation in one request each (``SamplingParams(n=n)``)."""
        from vllm import SamplingParams
        from vllm.sampling_params import StructuredOutputsParams

        structured = StructuredOutputsParams(grammar=self.grammar) if self.grammar else None
        params = SamplingParams(n=n, temperature=temperature, seed=seed, max_tokens=max_new_tokens,
                                structured_outputs=structured)
        began = time.perf_counter()
        outputs = self.llm.chat(list(conversations), params, lora_request=self.lora, use_tqdm=False)
        seconds = time.perf_counter() - began
        return [[Completion(choice.text.strip(), seconds) for choice in out.outputs] for out in outputs]

    def close(self) -> None:
        self.llm = None


class ChatHTTPBackend:
    """POST ``{base_url}/chat/completions`` per conversation, ``concurrency`` at a time.

    Each latency is that request's own round trip, as a client of the server sees it.
    """

    def __init__(self, base_url: str, model: str, *, api_key: str | None = None, concurrency: int = 4,
                 timeout_s: float = DEFAULT_TIMEOUT_S, name: str = "http"):
        import httpx

        if concurrency < 1:
            raise BackendError(f"concurrency={concurrency}: must be >= 1 (try 4)")
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model = model
        self.client = httpx.Client(headers=headers, timeout=timeout_s,
                                   limits=httpx.Limits(max_connections=concurrency))
        self.pool = ThreadPoolExecutor(max_workers=concurrency)
        self.name = f"{name}:{model}"

    def _one(self, messages: Messages, max_new_tokens: int) -> Completion:
        import httpx

        body = {"model": self.model, "messages": messages, "max_tokens": max_new_tokens, "temperature": 0.0}
        began = time.perf_counter()
        try:
            response = self.client.post(self.url, json=body)
        except httpx.HTTPError as err:
            raise BackendError(f"POST {self.url}: {type(err).__name__}: {err} (is the server running?)") from None
        seconds = time.perf_counter() - began
        if response.status_code != 200:
            raise BackendError(f"POST {self.url} (model {self.model!r}) answered {response.status_code}: "
                               f"{response.text[:300]}")
        try:
            text = response.json()["choices"][0]["message"]["content"] or ""
        except (ValueError, KeyError, IndexError, TypeError):
            raise BackendError(f"POST {self.url}: not an OpenAI chat completion: {response.text[:300]}") from None
        return Completion(text.strip(), seconds)

    def complete(self, conversations: Sequence[Messages], max_new_tokens: int) -> list[Completion]:
        return list(self.pool.map(lambda m: self._one(m, max_new_tokens), conversations))

    def close(self) -> None:
        self.pool.shutdown(wait=True)
        self.client.close()


def api_key_from(env_name: str) -> str:
    key = os.environ.get(env_name, "")
    if not key:
        raise BackendError(f"backend openai: environment variable {env_name} is empty; export the API key there "
                           "(any value, e.g. EMPTY, for a server without keys) or name another variable with "
                           "--api-key-env")
    return key


def make_backend(kind: str, *, model: str, adapter: str | None = None, storage: str = "runs",
                 url: str | None = None, api_key_env: str = DEFAULT_API_KEY_ENV, concurrency: int = 4,
                 grammar: str | None = None, batch_size: int = DEFAULT_BATCH_SIZE) -> Backend:
    """The backend ``kind`` names, started and ready (models loaded, clients open)."""
    if kind == "hf":
        return HFBackend(model, adapter, storage, batch_size=batch_size, grammar=grammar)
    if kind == "vllm":
        return VLLMBackend(model, adapter, storage, grammar=grammar)
    if kind in ("http", "openai") and not url:
        raise BackendError(f"backend {kind}: needs --url (e.g. http://127.0.0.1:8000"
                           f"{'' if kind == 'http' else '/v1'})")
    if kind == "http":
        return ChatHTTPBackend(url.rstrip("/") + "/v1", adapter or model, concurrency=concurrency, name="http")
    if kind == "openai":
        return ChatHTTPBackend(url, model, api_key=api_key_from(api_key_env), concurrency=concurrency,
                               name="openai")
    raise BackendError(f"backend={kind!r}: must be one of {', '.join(KINDS)}")
