"""Generation engines behind the LLM deployments: one ``Engine`` protocol, two engines.

``TransformersEngine`` (CPU, laptops, tests) keeps **one merged model per adapter**
rather than one base with PEFT adapters switched by ``set_adapter``. An adapter's
lineage may hold merged ancestors (GRPO trained on a merged SFT model), so two tasks'
adapters can need different underlying weights; ``adapters.load(merge=True)`` rebuilds
each chain exactly, and a merged model runs without LoRA's extra matmuls, which is
what matters on CPU. The price is one copy of the base per adapter (0.5 GB for the
135M default in fp32). Requests are batched by ``@serve.batch`` in the deployment
(``app.LLMServer``) and grouped here by adapter. When a request carries the task's
grammar and llguidance is installed, decoding is held to it by a logits processor
(``platform.constrained``, the library vLLM's ``guidance`` backend uses); without
llguidance the answer is unconstrained, says so, and the service resamples it. A generation
whose caller is cancelled (its client left, or it timed out) stops at the next token
instead of running to ``max_tokens`` on cores the next request needs.

``VLLMEngine`` (GPU) is vLLM 0.26's ``AsyncLLM`` on one shared base with one
``LoRARequest`` per task adapter (multi-LoRA: requests for different tasks share a
batch), prefix caching, and grammar-constrained decoding (llguidance reading the task's
Lark grammar by default; xgrammar reads its GBNF, measured far slower per step).
vLLM is imported only here, lazily.

Why not ``ray.serve.llm``: Ray 2.60 pins vLLM 0.29 (torch 2.13), ``import
ray.serve.llm`` fails against vLLM 0.26 (it imports modules that 0.26 keeps under
``vllm.entrypoints.openai``), and its LoRA support loads adapters only from object
storage (s3://, gs://, abfss://, azure://), not from our registry folders. See
``shared/research/stack_notes.md`` §5.
"""
from __future__ import annotations

import asyncio
import json
import os
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from querytune.platform import adapters, constrained, generation, models
from querytune.serve.catalog import ServedModel
from querytune.serve.config import LLMDeployment, TransformersSettings, VLLMSettings

if TYPE_CHECKING:
    from vllm.engine.arg_utils import AsyncEngineArgs

Messages = list[dict[str, str]]
Info = dict[str, Any]  # prompt_tokens, completion_tokens, finish_reason, constrained, engine


class EngineError(RuntimeError):
    """An engine that cannot load or serve what its deployment asks for."""


class Engine(Protocol):
    """Turns chat messages into an answer with one named adapter."""

    async def generate(self, messages: Messages, adapter: str, max_tokens: int, grammar: str | None = None,
                       temperature: float = 0.0) -> tuple[str, Info]: ...


@dataclass
class GenRequest:
    messages: Messages
    adapter: str
    max_tokens: int
    grammar: str | None = None
    temperature: float = 0.0


# --------------------------------------------------------------------------- transformers
class TransformersEngine:
    """One merged model per adapter; a batch is split by (adapter, max_tokens, temperature, grammar)."""

    def __init__(self, loaded: dict[str, tuple[Any, Any]]):
        self.loaded = loaded  # served name -> (model, tokenizer)
        self._lock = asyncio.Lock()  # one generation at a time: they compete for the same cores

    @classmethod
    def load(cls, served: list[ServedModel], settings: TransformersSettings) -> "TransformersEngine":
        if settings.threads:
            import torch

            torch.set_num_threads(settings.threads)
        loaded = {}
        for entry in served:
            model, tokenizer, _ = adapters.load(entry.adapter, entry.storage_path, base=entry.base,
                                                dtype=settings.dtype, device=settings.device, merge=True)
            loaded[entry.name] = (model, tokenizer)
        return cls(loaded)

    async def generate(self, messages: Messages, adapter: str, max_tokens: int, grammar: str | None = None,
                       temperature: float = 0.0) -> tuple[str, Info]:
        return (await self.generate_batch([GenRequest(messages, adapter, max_tokens, grammar, temperature)]))[0]

    async def generate_batch(self, requests: list[GenRequest]) -> list[tuple[str, Info]]:
        """Answers in request order; each group of equal settings is one ``model.generate`` call."""
        groups: dict[tuple[str, int, float, str | None], list[int]] = {}
        for i, request in enumerate(requests):
            key = (request.adapter, request.max_tokens, request.temperature, request.grammar)
            groups.setdefault(key, []).append(i)
        answers: list[tuple[str, Info]] = [("", {})] * len(requests)
        async with self._lock:  # a caller cancelled while it waits here never reaches the model
            for (adapter, max_tokens, temperature, grammar), members in groups.items():
                conversations = [requests[i].messages for i in members]
                outs = await _cancellable(self._run, adapter, conversations, max_tokens, temperature, grammar)
                for i, out in zip(members, outs):
                    answers[i] = out
        return answers

    def _run(self, adapter: str, conversations: list[Messages], max_tokens: int, temperature: float,
             grammar: str | None, stop: threading.Event) -> list[tuple[str, Info]]:
        from transformers import LogitsProcessorList

        if adapter not in self.loaded:
            raise EngineError(f"adapter {adapter!r} is not loaded here (loaded: {', '.join(self.loaded)})")
        model, tokenizer = self.loaded[adapter]
        held = []  # the grammar's processor, when there is a grammar and llguidance to hold it
        if grammar and constrained.available():
            held = [constrained.GrammarLogitsProcessor(tokenizer, grammar, model.config.vocab_size)]
        outs = generation.generate(model, tokenizer, conversations, max_new_tokens=max_tokens,
                                   batch_size=len(conversations), temperature=temperature,
                                   logits_processor=LogitsProcessorList([_StopWhenSet(stop), *held]))
        return [(text, _token_info(tokenizer, messages, text, max_tokens, len(conversations), bool(held)))
                for messages, (text, _) in zip(conversations, outs)]


class GenerationCancelled(Exception):
    """Raised inside ``model.generate`` once the caller has gone."""


class _StopWhenSet:
    """A logits processor that ends the generation at the next token once ``stop`` is set."""

    def __init__(self, stop: threading.Event):
        self.stop = stop

    def __call__(self, input_ids, scores):
        if self.stop.is_set():
            raise GenerationCancelled
        return scores


async def _cancellable(run, *args):
    """``run(*args, stop)`` in a thread; if the awaiting task is cancelled, set ``stop`` and wait for the
    thread to notice, so the cores are free (and the engine lock is held) until it has."""
    stop = threading.Event()
    thread = asyncio.ensure_future(asyncio.to_thread(run, *args, stop))
    try:
        return await asyncio.shield(thread)
    except asyncio.CancelledError:
        stop.set()
        await asyncio.wait({thread})
        if not thread.cancelled():
            thread.exception()  # retrieved: GenerationCancelled is the expected end
        raise


def _token_info(tokenizer, messages: Messages, text: str, max_tokens: int, batch_size: int,
                held: bool) -> Info:
    prompt_tokens = len(tokenizer(generation.render(tokenizer, messages), add_special_tokens=False).input_ids)
    completion_tokens = len(tokenizer(text, add_special_tokens=False).input_ids)
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "finish_reason": "length" if completion_tokens >= max_tokens else "stop",
            "constrained": held, "engine": "transformers", "batch_size": batch_size}


# --------------------------------------------------------------------------- vLLM
class VLLMEngine:
    """vLLM ``AsyncLLM`` with every adapter of the deployment as a LoRA on one base."""

    def __init__(self, llm, tokenizer, loras: dict[str, Any], gbnf: dict[str, str] | None = None):
        self.llm = llm
        self.tokenizer = tokenizer
        self.loras = loras  # served name -> LoRARequest
        self.gbnf = gbnf or {}  # served name -> its task's GBNF, when the backend is xgrammar

    @classmethod
    async def load(cls, served: list[ServedModel], settings: VLLMSettings) -> "VLLMEngine":
        base_dir, lora_dirs = _lora_dirs(served, settings.max_lora_rank)
        if settings.cache_root:  # read by vllm.envs at import: set before the first vllm import
            os.environ["VLLM_CACHE_ROOT"] = str(Path(settings.cache_root).expanduser())
        # FlashInfer's top-k/top-p sampler is compiled with nvcc on a replica's first start (about two
        # minutes on an H100, measured); greedy answers never use it and PyTorch's sampler serves the rest.
        os.environ.setdefault("VLLM_USE_FLASHINFER_SAMPLER", "0")
        from vllm.lora.request import LoRARequest
        from vllm.v1.engine.async_llm import AsyncLLM

        llm = AsyncLLM.from_engine_args(engine_args(str(base_dir), settings, num_adapters=len(served)))
        loras = {name: LoRARequest(lora_name=name, lora_int_id=i, lora_path=str(folder))
                 for i, (name, folder) in enumerate(lora_dirs.items(), start=1)}
        for lora in loras.values():  # load now, so no first request pays for it
            await llm.add_lora(lora)
        return cls(llm, models.load_tokenizer(base_dir), loras, _gbnf_grammars(served, settings))

    async def generate(self, messages: Messages, adapter: str, max_tokens: int, grammar: str | None = None,
                       temperature: float = 0.0) -> tuple[str, Info]:
        from vllm.sampling_params import RequestOutputKind, SamplingParams, StructuredOutputsParams

        if adapter not in self.loras:
            raise EngineError(f"adapter {adapter!r} is not loaded here (loaded: {', '.join(self.loras)})")
        if grammar and adapter in self.gbnf:  # the task grammar arrives as Lark; xgrammar reads GBNF
            grammar = self.gbnf[adapter]
        params = SamplingParams(
            temperature=temperature, max_tokens=max_tokens, output_kind=RequestOutputKind.FINAL_ONLY,
            structured_outputs=StructuredOutputsParams(grammar=grammar) if grammar else None)
        # Token ids, not text: the chat template already holds every special token.
        prompt_ids = self.tokenizer(generation.render(self.tokenizer, messages), add_special_tokens=False).input_ids
        stream = self.llm.generate({"prompt_token_ids": prompt_ids}, params, uuid.uuid4().hex,
                                   lora_request=self.loras[adapter])
        outputs = [output async for output in stream]  # FINAL_ONLY: one output, the finished request
        out = outputs[-1].outputs[0]
        return out.text.strip(), {"prompt_tokens": len(prompt_ids), "completion_tokens": len(out.token_ids),
                                  "finish_reason": out.finish_reason or "stop", "constrained": grammar is not None,
                                  "engine": "vllm"}

    def shutdown(self) -> None:
        self.llm.shutdown()


def _gbnf_grammars(served: list[ServedModel], settings: VLLMSettings) -> dict[str, str]:
    """Each adapter's task grammar as GBNF when the backend is xgrammar (vLLM would otherwise run
    the Lark text through its naive Lark-to-EBNF converter)."""
    if settings.structured_outputs_backend != "xgrammar":
        return {}
    from querytune.experiments import get_task

    return {entry.name: get_task(entry.task).grammar("gbnf") for entry in served}


def engine_args(model_dir: str, settings: VLLMSettings, num_adapters: int) -> "AsyncEngineArgs":
    """vLLM engine arguments: multi-LoRA, prefix caching, cached compilation, optional n-gram drafts."""
    from vllm.config import StructuredOutputsConfig
    from vllm.engine.arg_utils import AsyncEngineArgs

    # The compile cache follows VLLM_CACHE_ROOT (set in VLLMEngine.load), not compilation_config.cache_dir:
    # vLLM keys its default folder by a hash of model, config and code, and a fixed cache_dir would
    # drop that key and hand one model's compiled graphs to another.
    compilation: dict[str, Any] = {}
    if settings.cudagraph_capture_sizes:
        compilation["cudagraph_capture_sizes"] = settings.cudagraph_capture_sizes
    speculative = None
    if settings.ngram:
        speculative = {"method": "ngram", **settings.ngram.model_dump()}
    return AsyncEngineArgs(
        model=model_dir, dtype=settings.dtype, seed=settings.seed, max_model_len=settings.max_model_len,
        gpu_memory_utilization=settings.gpu_memory_utilization, max_num_seqs=settings.max_num_seqs,
        enable_lora=True, max_lora_rank=settings.max_lora_rank, max_loras=settings.max_loras or num_adapters,
        enable_prefix_caching=True, enforce_eager=settings.enforce_eager, compilation_config=compilation,
        structured_outputs_config=StructuredOutputsConfig(backend=settings.structured_outputs_backend),
        speculative_config=speculative)


def _lora_dirs(served: list[ServedModel], max_rank: int) -> tuple[Path, dict[str, Path]]:
    """The shared base folder and each adapter's folder, refusing what vLLM cannot apply."""
    base_dir = models.resolve(served[0].base)
    folders = {}
    for entry in served:
        folder = adapters.resolve(entry.adapter, entry.storage_path)
        manifest = adapters.read_manifest(folder)
        adapters.check_base(manifest, base_dir)
        if entry.has_parents:
            raise EngineError(f"adapter {entry.name!r} was trained on a merged parent "
                              f"({', '.join(p.name for p in manifest.parents)}); vLLM applies a LoRA to the raw "
                              "base only: serve it with engine: transformers, or train it on the base")
        peft_config = json.loads((folder / "adapter_config.json").read_text())
        if peft_config.get("modules_to_save"):
            raise EngineError(f"adapter {entry.name!r} saves whole modules {peft_config['modules_to_save']}; "
                              "vLLM accepts LoRA weights only (retrain without modules_to_save)")
        if peft_config.get("r", 0) > max_rank:
            raise EngineError(f"adapter {entry.name!r} has rank {peft_config['r']} > vllm.max_lora_rank={max_rank}; "
                              "raise vllm.max_lora_rank")
        folders[entry.name] = folder
    return base_dir, folders


async def load_engine(deployment: LLMDeployment, served: list[ServedModel]) -> Engine:
    """The engine a deployment names, with all of its adapters loaded."""
    if deployment.engine == "vllm":
        return await VLLMEngine.load(served, deployment.vllm)
    return TransformersEngine.load(served, deployment.transformers)
