"""Checks every route makes over real HTTP; shared by the uvicorn (no Ray) and Ray Serve tests."""
from __future__ import annotations

import json

import httpx

from querytune.experiments import ParseError, get_task
from querytune.serve import timing

ROUTE_LABEL = 'querytune_requests_total{route="/sourcegraph/query",status="200"}'


def check_every_route(client: httpx.Client) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}  # ready; names nothing the API key protects
    assert client.get("/livez").json() == {"status": "ok"}
    models = {card["id"]: card for card in client.get("/v1/models").json()["data"]}
    assert set(models) == {"sg-tiny", "qmd-tiny"}
    assert models["qmd-tiny"]["task"] == "qmd" and models["qmd-tiny"]["base"] == "tiny-qwen3"

    for path in ("/sourcegraph/query", "/query"):
        response = client.post(path, json={"query": "find Python files with async functions",
                                           "candidate_repos": ["github.com/acme/web"], "date": "2026-11-25"})
        assert response.status_code == 200, response.text
        answer = response.json()
        assert isinstance(answer["query"], str) and answer["latency_ms"] > 0 and answer["model"] == "sg-tiny"
        assert answer["valid"] == (answer["error"] is None) and 0 <= answer["retries"] <= 1
        stages = timing.parse_header(response.headers[timing.HEADER])  # where its time went, measured where spent
        assert {"app", "prompt", "call", "engine", "parse"} <= set(stages), stages
        assert 0 < stages["engine"] <= stages["call"] <= stages["app"], stages

    response = client.post("/qmd/expand", json={"query": "auth config"})
    assert response.status_code == 200, response.text
    expansion = response.json()
    assert {"lex", "vec", "hyde", "raw", "valid", "latency_ms"} <= set(expansion)
    assert expansion["valid"] == _parses(expansion["raw"])  # the route's verdict is the task parser's
    if expansion["valid"]:
        assert expansion["lex"] or expansion["vec"] or expansion["hyde"]

    chat = client.post("/v1/chat/completions", json={
        "model": "qmd-tiny", "max_tokens": 8,
        "messages": [{"role": "user", "content": "/no_think Expand this search query: auth config"}]})
    assert chat.status_code == 200, chat.text
    body = chat.json()
    assert body["object"] == "chat.completion" and body["model"] == "qmd-tiny"
    assert body["choices"][0]["message"]["role"] == "assistant"
    usage = body["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"] and usage["prompt_tokens"] > 0

    assert client.get("/v1/models/qmd-tiny").json()["id"] == "qmd-tiny"
    assert client.get("/v1/models/nope").json()["error"]["field"] == "model"
    completion = client.post("/v1/completions", json={"model": "qmd-tiny", "prompt": "auth config:", "max_tokens": 3})
    assert completion.status_code == 200 and completion.json()["object"] == "text_completion", completion.text
    events = stream_events(client, "/v1/chat/completions", {
        "model": "qmd-tiny", "max_tokens": 4, "stream": True, "stream_options": {"include_usage": True},
        "messages": [{"role": "user", "content": "auth config"}]})
    assert events[-1] == "[DONE]" and events[-2]["usage"]["completion_tokens"] <= 4
    assert events[0]["choices"][0]["delta"]["role"] == "assistant"
    assert [e["choices"][0]["finish_reason"] for e in events[1:-2] if e["choices"][0]["finish_reason"]] \
        in (["length"], ["stop"])

    missing = client.post("/v1/chat/completions",
                          json={"model": "nope", "messages": [{"role": "user", "content": "x"}]})
    assert missing.status_code == 404
    assert missing.json()["error"]["field"] == "model" and "'nope'" in missing.json()["error"]["message"]

    metrics = client.get("/metrics").text
    assert ROUTE_LABEL in metrics and 'querytune_completion_tokens_total{model="qmd-tiny"}' in metrics
    page = client.get("/")
    assert page.status_code == 200 and "querytune playground" in page.text


def stream_events(client: httpx.Client, path: str, body: dict) -> list:
    """The ``data:`` events of a Server-Sent Events answer, JSON-decoded (``[DONE]`` as is)."""
    with client.stream("POST", path, json=body) as response:
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
        lines = [line.removeprefix("data: ") for line in response.iter_lines() if line.startswith("data: ")]
    return [line if line == "[DONE]" else json.loads(line) for line in lines]


def _parses(text: str) -> bool:
    try:
        get_task("qmd").parse(text)
        return True
    except ParseError:
        return False
