"""The vLLM engine (GPU): one shared base, one LoRA per task adapter.

``VLLMEngine`` is vLLM 0.26's ``AsyncLLM`` on one shared base with one
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
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from querytune.platform import adapters, models
from querytune.serve import engines
from querytune.serve.catalog import ServedModel
from querytune.serve.config import VLLMSettings

if TYPE_CHECKING:
    from vllm.engine.arg_utils import AsyncEngineArgs


class VLLMEngine(engines.LoadsOnRequest):
    """vLLM ``AsyncLLM`` with every adapter of the deployment as a LoRA on one base."""

    def __init__(self, llm, tokenizer, loras: dict[str, Any], gbnf: dict[str, str] | None = None,
                 settings: VLLMSettings | None = None, runtime_limit: int = engines.DEFAULT_RUNTIME_ADAPTERS):
        super().__init__(runtime_limit)  # self.runtime: LoRARequests loaded on request (vLLM keeps its own LRU)
        self.llm = llm
        self.tokenizer = tokenizer
        self.loras = loras  # served name -> LoRARequest
        self.gbnf = gbnf or {}  # served name -> its task's GBNF, when the backend is xgrammar
        self.settings = settings or VLLMSettings()
        self._next_id = len(loras) + 1

    @classmethod
    async def load(cls, served: list[ServedModel], settings: VLLMSettings,
                   runtime_limit: int = engines.DEFAULT_RUNTIME_ADAPTERS) -> "VLLMEngine":
        base_dir, lora_dirs = _lora_dirs(served, settings.max_lora_rank)
        if settings.cache_root:  # read by vllm.envs at import: set before the first vllm import
            os.environ["VLLM_CACHE_ROOT"] = str(Path(settings.cache_root).expanduser())
        # FlashInfer's top-k/top-p sampler is compiled with nvcc on a replica's first start (about two
        # minutes on an H100, measured); greedy answers never use it and PyTorch's sampler serves the rest.
        os.environ.setdefault("VLLM_USE_FLASHINFER_SAMPLER", "0")
        from vllm.lora.request import LoRARequest
        from vllm.v1.engine.async_llm import AsyncLLM

        llm = AsyncLLM.from_engine_args(engine_args(str(base_dir), settings, num_adapters=len(served),
                                                    runtime_adapters=runtime_limit))
        loras = {name: LoRARequest(lora_name=name, lora_int_id=i, lora_path=str(folder))
                 for i, (name, folder) in enumerate(lora_dirs.items(), start=1)}
        for lora in loras.values():  # load now, so no first request pays for it
            await llm.add_lora(lora)
        engine = cls(llm, models.load_tokenizer(base_dir), loras, _gbnf_grammars(served, settings), settings,
                     runtime_limit)
        await engine.warm_up_shapes(served)
        return engine

    async def warm_up_shapes(self, served: list[ServedModel]) -> None:
        """Bursts of ``settings.warm_up_batches`` concurrent requests across the adapters, in the replica's
        start: vLLM compiles its LoRA kernels per batch shape (it logged ``_lora_shrink_kernel`` JIT under
        load), and an autoscaled replica starts without the ingress's warm-up."""
        for size in self.settings.warm_up_batches:
            await asyncio.gather(*(self.generate("warm-up", served[i % len(served)], engines.Sampling(max_tokens=4))
                                   for i in range(size)))

    async def generate(self, prompt: engines.Prompt, model: ServedModel,
                       sampling: engines.Sampling) -> engines.Generation:
        """The whole answer in one output: vLLM hands over no per-token deltas, which at a few hundred
        answers in flight cost the replica's event loop one queue hop per token per answer."""
        return await engines.collect(self._outputs(prompt, model, sampling, final_only=True))

    def stream(self, prompt: engines.Prompt, model: ServedModel, sampling: engines.Sampling):
        return self._outputs(prompt, model, sampling, final_only=False)

    async def _outputs(self, prompt: engines.Prompt, model: ServedModel, sampling: engines.Sampling,
                       final_only: bool):
        """Deltas as vLLM decodes them (or one at the end), then the ``Generation``; time to first
        token only where deltas show when it came."""
        from vllm.sampling_params import RequestOutputKind, SamplingParams, StructuredOutputsParams

        lora = await self._lora(model)
        grammar = sampling.grammar
        if grammar and model.name in self.gbnf:  # the task grammar arrives as Lark; xgrammar reads GBNF
            grammar = self.gbnf[model.name]
        params = SamplingParams(
            n=sampling.n, temperature=sampling.temperature, top_p=sampling.top_p, seed=sampling.seed,
            stop=list(sampling.stop) or None, presence_penalty=sampling.presence_penalty,
            frequency_penalty=sampling.frequency_penalty, max_tokens=sampling.max_tokens,
            # new text and token ids of each choice as they come, or all of it once finished
            output_kind=RequestOutputKind.FINAL_ONLY if final_only else RequestOutputKind.DELTA,
            structured_outputs=StructuredOutputsParams(grammar=grammar) if grammar else None)
        # Token ids, not text: the chat template already holds every special token.
        began, first = time.perf_counter(), None
        prompt_ids = self.tokenizer(engines.render(self.tokenizer, prompt), add_special_tokens=False).input_ids
        texts, tokens = [""] * sampling.n, [0] * sampling.n
        finish: list[str | None] = [None] * sampling.n
        async for output in self.llm.generate({"prompt_token_ids": prompt_ids}, params, uuid.uuid4().hex,
                                              lora_request=lora):
            for out in output.outputs:  # a closed stream (client gone) aborts the request inside vLLM
                if out.token_ids and first is None:
                    first = time.perf_counter()
                texts[out.index] += out.text
                tokens[out.index] += len(out.token_ids)
                if out.text:
                    yield engines.Delta(out.index, out.text)
                if out.finish_reason and finish[out.index] is None:
                    finish[out.index] = "length" if out.finish_reason == "length" else "stop"
                    yield engines.Delta(out.index, "", finish[out.index])
        ttft = None if final_only else (first or time.perf_counter()) - began
        info = {"engine": "vllm", "constrained": grammar is not None, "ttft_s": ttft,
                "engine_s": time.perf_counter() - began}  # with the prompt's tokenization
        yield engines.Generation([engines.Choice(texts[i], tokens[i], finish[i] or "stop") for i in range(sampling.n)],
                         len(prompt_ids), info)

    async def unload(self, name: str) -> None:
        lora = self.runtime.pop(name, None)
        if lora is not None:
            await self.llm.remove_lora(lora.lora_int_id)

    async def _lora(self, model: ServedModel):
        async def load():
            from vllm.lora.request import LoRARequest

            folder = await asyncio.to_thread(_lora_folder, model, self.settings.max_lora_rank)
            lora = LoRARequest(lora_name=model.name, lora_int_id=self._next_id, lora_path=str(folder))
            self._next_id += 1
            await self.llm.add_lora(lora)
            if self.settings.structured_outputs_backend == "xgrammar":
                self.gbnf.update(_gbnf_grammars([model], self.settings))
            return lora

        async def drop(_name: str, lora) -> None:
            await self.llm.remove_lora(lora.lora_int_id)

        return await self._on_request(model, self.loras, load, drop)

    def shutdown(self) -> None:
        self.llm.shutdown()


def _gbnf_grammars(served: list[ServedModel], settings: VLLMSettings) -> dict[str, str]:
    """Each adapter's task grammar as GBNF when the backend is xgrammar (vLLM would otherwise run
    the Lark text through its naive Lark-to-EBNF converter)."""
    if settings.structured_outputs_backend != "xgrammar":
        return {}
    from querytune.experiments import get_task

    return {entry.name: get_task(entry.task).grammar("gbnf") for entry in served}


def engine_args(model_dir: str, settings: VLLMSettings, num_adapters: int,
                runtime_adapters: int = engines.DEFAULT_RUNTIME_ADAPTERS) -> "AsyncEngineArgs":
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
    max_loras = settings.max_loras or num_adapters
    return AsyncEngineArgs(
        model=model_dir, dtype=settings.dtype, seed=settings.seed, max_model_len=settings.max_model_len,
        gpu_memory_utilization=settings.gpu_memory_utilization, max_num_seqs=settings.max_num_seqs,
        enable_lora=True, max_lora_rank=settings.max_lora_rank, max_loras=max_loras,
        max_cpu_loras=max(max_loras, num_adapters + runtime_adapters),  # runtime adapters wait on the CPU side
        enable_prefix_caching=True, enforce_eager=settings.enforce_eager, compilation_config=compilation,
        structured_outputs_config=StructuredOutputsConfig(backend=settings.structured_outputs_backend),
        speculative_config=speculative)


def _lora_dirs(served: list[ServedModel], max_rank: int) -> tuple[Path, dict[str, Path]]:
    """The shared base folder and each adapter's folder, refusing what vLLM cannot apply."""
    base_dir = models.resolve(served[0].base)
    folders = {}
    for entry in served:
        folders[entry.name] = _lora_folder(entry, max_rank, base_dir)
    return base_dir, folders


def _lora_folder(entry: ServedModel, max_rank: int, base_dir: Path | None = None) -> Path:
    """An adapter's folder once vLLM can apply it; ``base_dir`` is hash-checked when given (a runtime
    adapter's base hash was compared with the deployment's when it was loaded)."""
    folder = adapters.resolve(entry.adapter, entry.storage_path)
    manifest = adapters.read_manifest(folder)
    if base_dir is not None:
        adapters.check_base(manifest, base_dir)
    if entry.has_parents:
        raise engines.EngineError(f"adapter {entry.name!r} was trained on a merged parent "
                          f"({', '.join(p.name for p in manifest.parents)}); vLLM applies a LoRA to the raw "
                          "base only: serve it with engine: transformers, or train it on the base")
    peft_config = json.loads((folder / "adapter_config.json").read_text())
    if peft_config.get("modules_to_save"):
        raise engines.EngineError(f"adapter {entry.name!r} saves whole modules {peft_config['modules_to_save']}; "
                          "vLLM accepts LoRA weights only (retrain without modules_to_save)")
    if peft_config.get("r", 0) > max_rank:
        raise engines.EngineError(f"adapter {entry.name!r} has rank {peft_config['r']} > "
                                  f"vllm.max_lora_rank={max_rank}; raise vllm.max_lora_rank")
    return folder

