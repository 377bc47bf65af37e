"""Checks every route makes over real HTTP; shared by the uvicorn (no Ray) and Ray Serve tests."""
from __future__ import annotations

import httpx

from querytune.experiments import ParseError, get_task

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

    missing = client.post("/v1/chat/completions",
                          json={"model": "nope", "messages": [{"role": "user", "content": "x"}]})
    assert missing.status_code == 404
    assert missing.json()["error"]["field"] == "model" and "'nope'" in missing.json()["error"]["message"]

    assert ROUTE_LABEL in client.get("/metrics").text
    page = client.get("/")
    assert page.status_code == 200 and "querytune playground" in page.text


def _parses(text: str) -> bool:
    try:
        get_task("qmd").parse(text)
        return True
    except ParseError:
        return False
