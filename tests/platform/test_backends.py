"""Generation backends: the same adapter answers alike in-process (hf) and over HTTP, the
HTTP client keeps order under concurrency, and every failure names its cause."""
import contextlib
import threading
import time
from pathlib import Path

import pytest

from querytune.platform.backends import BackendError, ChatHTTPBackend, HFBackend, VLLMBackend, make_backend

QUESTIONS = [[{"role": "user", "content": q}] for q in ("What is the capital of France?", "Say hello.")]
NEW_TOKENS = 10  # enough to tell two models apart, short enough for 2 CPU cores


@contextlib.contextmanager
def serving(app):
    """A real uvicorn server for ``app`` on a free loopback port, stopped on exit."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "server did not start"
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@pytest.fixture(scope="module")
def echo_server():
    """An OpenAI-shaped server that answers the last message reversed, the first request
    slowest (so answers arrive out of order), and 404 for an unknown model."""
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse

    app = FastAPI()
    seen_keys = []

    @app.post("/v1/chat/completions")
    async def chat(request: Request):
        import asyncio

        body = await request.json()
        seen_keys.append(request.headers.get("authorization"))
        if body["model"] != "echo":
            return JSONResponse({"error": {"message": f"unknown model {body['model']!r}"}}, status_code=404)
        text = body["messages"][-1]["content"]
        await asyncio.sleep(0.3 if text.endswith("0") else 0.0)
        return {"choices": [{"index": 0, "message": {"role": "assistant", "content": text[::-1]}}]}

    with serving(app) as url:
        yield url, seen_keys


def test_http_backend_keeps_order_under_concurrency(echo_server):
    url, _ = echo_server
    backend = make_backend("http", model="echo", url=url, concurrency=4)
    try:
        answers = backend.complete([[{"role": "user", "content": f"q{i}"}] for i in range(6)], max_new_tokens=8)
    finally:
        backend.close()
    assert [a.text for a in answers] == [f"{i}q" for i in range(6)]
    assert answers[0].latency_s >= 0.3 > answers[1].latency_s


def test_openai_backend_sends_the_key_from_its_variable(echo_server, monkeypatch):
    url, seen_keys = echo_server
    monkeypatch.setenv("MY_KEY", "sk-test")
    backend = make_backend("openai", model="echo", url=f"{url}/v1", api_key_env="MY_KEY", concurrency=1)
    try:
        assert backend.complete([[{"role": "user", "content": "abc"}]], 8)[0].text == "cba"
    finally:
        backend.close()
    assert seen_keys[-1] == "Bearer sk-test"


def test_openai_backend_without_its_key_says_which_variable(monkeypatch):
    monkeypatch.delenv("MY_KEY", raising=False)
    with pytest.raises(BackendError, match="MY_KEY is empty"):
        make_backend("openai", model="m", url="http://127.0.0.1:9/v1", api_key_env="MY_KEY")


def test_server_error_names_status_and_model(echo_server):
    url, _ = echo_server
    backend = make_backend("http", model="nope", url=url)
    with pytest.raises(BackendError, match=r"model 'nope'\) answered 404: .*unknown model"):
        backend.complete(QUESTIONS[:1], 8)
    backend.close()


def test_unreachable_server_is_a_clear_error():
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    backend = ChatHTTPBackend(f"http://127.0.0.1:{port}/v1", "m", timeout_s=5)
    with pytest.raises(BackendError, match="is the server running"):
        backend.complete(QUESTIONS[:1], 8)
    backend.close()


def test_unknown_backend_and_missing_url_are_named():
    with pytest.raises(BackendError, match="backend='nope': must be one of hf, vllm, http, openai"):
        make_backend("nope", model="m")
    with pytest.raises(BackendError, match="backend http: needs --url"):
        make_backend("http", model="m")


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


@pytest.mark.skipif(_cuda(), reason="checks the CPU-side message; a GPU machine runs the real vllm test")
def test_vllm_backend_off_gpu_names_what_is_missing(tiny_model):
    with pytest.raises(BackendError, match="backend vllm: (the vllm package is not installed|no CUDA GPU)"):
        make_backend("vllm", model=tiny_model)


# ---- the same adapter in-process and behind a real server --------------------------------

def make_adapter(storage, base: str, name: str, task: str = "qmd") -> str:
    """Register a LoRA on ``base`` whose B weights are small random numbers: it changes the
    model a little, so a backend that dropped it would answer differently."""
    import torch
    from peft import LoraConfig, get_peft_model

    from querytune.platform import adapters, models

    model, _, path = models.load_model(base, device="cpu", dtype="float32")
    peft_model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"]))
    torch.manual_seed(0)
    with torch.no_grad():
        for param_name, param in peft_model.named_parameters():
            if "lora_B" in param_name:
                param.normal_(0, 0.02)
    manifest = adapters.Manifest(task=task, recipe="sft", base=adapters.BaseRef(
        model=base, hash=models.content_hash(path)))
    folder = adapters.write_adapter(Path(storage) / "made" / name, peft_model, manifest)
    adapters.register(folder, name, str(storage))
    return name


@pytest.fixture(scope="module")
def smol_adapter(tmp_path_factory):
    storage = tmp_path_factory.mktemp("storage")
    return str(storage), make_adapter(storage, "default", "smol-test")


def test_hf_backend_applies_the_adapter_and_is_greedy(smol_adapter):
    storage, name = smol_adapter
    adapted = HFBackend("default", adapter=name, storage=storage, batch_size=1)
    base = HFBackend("default", batch_size=1)
    try:
        first = [c.text for c in adapted.complete(QUESTIONS, max_new_tokens=NEW_TOKENS)]
        assert first == [c.text for c in adapted.complete(QUESTIONS, max_new_tokens=NEW_TOKENS)]
        assert all(first) and first != [c.text for c in base.complete(QUESTIONS, max_new_tokens=NEW_TOKENS)]
    finally:
        adapted.close()
        base.close()


def test_http_backend_matches_hf_for_greedy_decoding(smol_adapter):
    """Our server (its plain FastAPI app under uvicorn, no Ray) serving the adapter answers
    exactly what the in-process backend does, one request at a time."""
    try:
        from querytune.serve.app import local_app
        from querytune.serve.config import AdapterSpec, LLMDeployment, ServeConfig
    except ImportError as err:
        pytest.skip(f"the server (querytune.serve) does not import yet: {err}")
    storage, name = smol_adapter
    hf = HFBackend("default", adapter=name, storage=storage, batch_size=1)
    try:
        expected = [c.text for c in hf.complete(QUESTIONS, max_new_tokens=NEW_TOKENS)]
    finally:
        hf.close()
    cfg = ServeConfig(storage_path=storage, api_key_env=None,
                      deployments=[LLMDeployment(name="cpu", adapters=[AdapterSpec(adapter=name)])])
    with serving(local_app(cfg)) as url:
        backend = make_backend("http", model="default", adapter=name, url=url, concurrency=1)
        try:
            answers = backend.complete(QUESTIONS, max_new_tokens=NEW_TOKENS)
        finally:
            backend.close()
    assert [a.text for a in answers] == expected and all(expected)


@pytest.mark.gpu
@pytest.mark.skipif(not _cuda(), reason="vLLM needs a CUDA GPU (run on the GPU machine)")
def test_vllm_backend_serves_the_adapter_under_the_task_grammar(tiny_model, tmp_path):
    """A random tiny model writes nonsense, yet every line it writes must follow the qmd
    grammar; and the LoRA request must reach the engine (its answers differ from none)."""
    pytest.importorskip("vllm", reason="vllm is not installed (pip install 'querytune[gpu]')")
    from querytune.experiments import get_task

    task = get_task("qmd")
    name = make_adapter(tmp_path, tiny_model, "tiny-qmd")
    conversations = [task.messages(example) for example in task.dev()[:8]]
    backend = VLLMBackend(tiny_model, adapter=name, storage=str(tmp_path), grammar=task.grammar(),
                          enforce_eager=True, gpu_memory_utilization=0.3)
    try:
        answers = backend.complete(conversations, max_new_tokens=48)
        backend.lora = None  # the same engine, the base weights alone
        plain = backend.complete(conversations, max_new_tokens=48)
    finally:
        backend.close()
    lines = [line for answer in answers for line in answer.text.splitlines()]
    assert lines and all(line.startswith(("lex: ", "vec: ", "hyde: ")) for line in lines)
    assert [a.text for a in answers] != [p.text for p in plain] and answers[0].latency_s > 0
