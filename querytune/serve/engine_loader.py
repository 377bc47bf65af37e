"""The engine a deployment names (``engine: vllm`` or ``transformers``), with its adapters loaded."""
from __future__ import annotations

from querytune.serve.catalog import ServedModel
from querytune.serve.config import LLMDeployment
from querytune.serve.engines import DEFAULT_RUNTIME_ADAPTERS, Engine
from querytune.serve.transformers_engine import TransformersEngine
from querytune.serve.vllm_engine import VLLMEngine


async def load_engine(deployment: LLMDeployment, served: list[ServedModel],
                      runtime_limit: int = DEFAULT_RUNTIME_ADAPTERS) -> Engine:
    """The engine a deployment names, with all of its adapters loaded."""
    if deployment.engine == "vllm":
        return await VLLMEngine.load(served, deployment.vllm, runtime_limit)
    return TransformersEngine.load(served, deployment.transformers, deployment.batching, runtime_limit)
