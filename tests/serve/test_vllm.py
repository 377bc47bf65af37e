"""The vLLM engine on a GPU: two LoRA adapters on one base, grammar-constrained answers that parse.

Skipped without CUDA or vLLM 0.26 (``pip install -e '.[gpu]'``); the benchmark work runs it on an H100.
"""
from __future__ import annotations

import importlib.util

import httpx
import pytest

from querytune.experiments import get_task
from querytune.serve.app import local_app
from tests.serve.conftest import tiny_serve_config, uvicorn_thread


def _has_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(importlib.util.find_spec("vllm") is None, reason="vLLM is not installed (GPU extra)"),
    pytest.mark.skipif(not _has_cuda(), reason="the vLLM engine needs a CUDA GPU"),
]


def vllm_config(registry: str, cache_root: str):
    return tiny_serve_config(registry, routes={"sourcegraph": {"model": "sg-tiny", "max_tokens": 128},
                                               "qmd": {"model": "qmd-tiny", "max_tokens": 128}},
                             deployments=[{"name": "tiny-vllm", "engine": "vllm",
                                           "adapters": [{"adapter": "sg-tiny"}, {"adapter": "qmd-tiny"}],
                                           "replica": {"num_gpus": 1},
                                           "vllm": {"max_lora_rank": 8, "max_model_len": 1024,
                                                    "gpu_memory_utilization": 0.3, "cache_root": cache_root,
                                                    "cudagraph_capture_sizes": [1, 2, 4]}}])


def test_vllm_serves_both_adapters_with_answers_the_grammar_makes_parse(registry, tmp_path):
    cfg = vllm_config(registry, str(tmp_path / "vllm-cache"))
    with uvicorn_thread(local_app(cfg), timeout_s=600) as url, httpx.Client(base_url=url, timeout=120) as client:
        for request in ({"query": "find Python files with async functions"},
                        {"query": "TODO comments in the web repo", "candidate_repos": ["github.com/acme/web"]}):
            answer = client.post("/sourcegraph/query", json=request).json()
            # resampled only where it broke a rule the grammar leaves to the parser, within the route's retries
            assert answer["constrained"] and answer["retries"] <= cfg.routes["sourcegraph"].retries, answer
            # Grammar-constrained: an answer that ends on its own parses, even from a barely trained model
            # (one cut at max_tokens may stop mid-pattern).
            assert answer["valid"] or answer["truncated"], answer
            if not answer["truncated"]:
                get_task("sourcegraph").parse(answer["query"])
        expansion = client.post("/qmd/expand", json={"query": "auth config"}).json()
        assert expansion["constrained"] and (expansion["valid"] or expansion["truncated"]), expansion
        chat = client.post("/v1/chat/completions", json={"model": "qmd-tiny", "max_tokens": 8,
                                                          "messages": [{"role": "user", "content": "hi"}]}).json()
        assert chat["usage"]["completion_tokens"] <= 8 and chat["model"] == "qmd-tiny"
    assert any((tmp_path / "vllm-cache").rglob("*")), "compile cache not written under vllm.cache_root"
