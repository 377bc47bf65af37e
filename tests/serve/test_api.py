"""The FastAPI app without Ray (uvicorn, real HTTP): every route, and no bad input gets a 5xx."""
from __future__ import annotations

import json

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from querytune.serve.app import local_app
from tests.serve.conftest import tiny_serve_config, uvicorn_thread
from tests.serve.routes import check_every_route

CHAT = "/v1/chat/completions"
USER = [{"role": "user", "content": "hi"}]


@pytest.fixture(scope="module")
def client(registry):
    with uvicorn_thread(local_app(tiny_serve_config(registry))) as url, httpx.Client(base_url=url, timeout=60) as c:
        yield c


def test_every_route_answers_over_http(client):
    check_every_route(client)


MALFORMED = [
    # (path, JSON body, status, field the error names)
    ("/sourcegraph/query", {"query": ""}, 422, "query"),
    ("/sourcegraph/query", {"query": "   "}, 422, "query"),
    ("/sourcegraph/query", {"query": 5}, 422, "query"),
    ("/sourcegraph/query", {}, 422, "query"),
    ("/sourcegraph/query", {"query": "x" * 1001}, 422, "query"),
    ("/sourcegraph/query", {"query": "x", "candidate_repos": "acme/web"}, 422, "candidate_repos"),
    ("/sourcegraph/query", {"query": "x", "candidate_repos": [1]}, 422, "candidate_repos.0"),
    ("/sourcegraph/query", {"query": "x", "candidate_repos": ["acme/web", " "]}, 422, "candidate_repos.1"),
    ("/sourcegraph/query", {"query": "x", "candidate_repos": ["r"] * 21}, 422, "candidate_repos"),
    ("/sourcegraph/query", {"query": "x", "date": "25/11/2026"}, 422, "date"),
    ("/sourcegraph/query", {"query": "x", "date": "2026-02-30"}, 422, "date"),
    ("/sourcegraph/query", {"query": "x", "bogus": 1}, 422, "bogus"),
    ("/sourcegraph/query", [1, 2], 422, "body"),
    ("/query", {"request": "x"}, 422, "query"),
    ("/qmd/expand", {"query": None}, 422, "query"),
    ("/qmd/expand", "auth config", 422, "body"),
    # the OpenAI routes answer an invalid request with 400 (as OpenAI does), a request over a limit with 422
    (CHAT, {"model": "qmd-tiny", "messages": []}, 400, "messages"),
    (CHAT, {"model": "qmd-tiny", "messages": [{"role": "robot", "content": "x"}]}, 400, "messages.0.role"),
    (CHAT, {"model": "qmd-tiny", "messages": [{"role": "user", "content": ["x"]}]}, 400, "messages.0.content"),
    (CHAT, {"model": "qmd-tiny", "messages": [{"role": "user", "content": [{"type": "image_url"}]}]}, 400,
     "messages.0.content"),
    (CHAT, {"model": "qmd-tiny", "messages": USER, "max_tokens": 100_000}, 422, "max_tokens"),
    (CHAT, {"model": "qmd-tiny", "messages": USER, "max_tokens": 0}, 400, "max_tokens"),
    (CHAT, {"model": "qmd-tiny", "messages": USER * 33}, 422, "messages"),
    (CHAT, {"model": "qmd-tiny", "messages": USER, "n": 9}, 422, "n"),
    (CHAT, {"model": "qmd-tiny", "messages": USER, "n": 0}, 400, "n"),
    (CHAT, {"model": "qmd-tiny", "messages": USER, "stream_options": {"include_usage": True}}, 400,
     "stream_options"),
    (CHAT, {"model": "qmd-tiny", "messages": USER, "logprobs": True}, 400, "logprobs"),
    (CHAT, {"model": "qmd-tiny", "messages": USER, "tools": [{"type": "function"}]}, 400, "tools"),
    (CHAT, {"model": "qmd-tiny", "messages": USER, "response_format": {"type": "json_object"}}, 400,
     "response_format"),
    (CHAT, {"model": "qmd-tiny", "messages": USER, "top_k": 5}, 400, "top_k"),
    (CHAT, {"model": "qmd-tiny", "messages": USER, "stop": ["a"] * 5}, 422, "stop"),
    (CHAT, {"model": "qmd-tiny", "messages": USER, "stop": ["ok", ""]}, 400, "stop.1"),
    (CHAT, {"model": "qmd-tiny", "messages": USER, "temperature": 2.5}, 400, "temperature"),
    ("/v1/completions", {"model": "qmd-tiny", "prompt": ["a", "b"]}, 400, "prompt"),
    ("/v1/completions", {"model": "qmd-tiny", "prompt": "a", "echo": True}, 400, "echo"),
    ("/v1/completions", {"model": "ghost", "prompt": "a"}, 404, "model"),
    ("/v1/load_lora_adapter", {"lora_name": "x"}, 403, "Authorization"),  # no key on this server
    ("/qmd/expand", {"query": "auth config", "best_of": 9}, 422, "best_of"),
    (CHAT, {"model": "no-such-adapter", "messages": USER}, 404, "model"),
]


@pytest.mark.parametrize("path,body,status,field", MALFORMED)
def test_malformed_request_gets_a_4xx_naming_the_field(client, path, body, status, field):
    response = client.post(path, json=body)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["field"] == field and error["type"] and error["message"]


def test_unreadable_and_oversized_bodies_get_4xx(client):
    headers = {"content-type": "application/json"}
    assert client.post("/qmd/expand", content=b"{not json", headers=headers).status_code == 400
    big = json.dumps({"query": "x" * 20_000}).encode()
    declared = client.post("/qmd/expand", content=big, headers=headers)
    streamed = client.post("/qmd/expand", content=iter([big]), headers=headers)  # chunked: no Content-Length
    for response in (declared, streamed):
        assert response.status_code == 413 and response.json()["error"]["field"] == "body"
    assert client.get("/no/such/route").status_code == 404
    assert client.get("/qmd/expand").json()["error"]["type"] == "method_not_allowed"


JSON_FLOATS = st.floats(allow_nan=False, allow_infinity=False)  # a JSON body can hold neither
JSON = st.recursive(st.none() | st.booleans() | st.integers() | JSON_FLOATS | st.text(max_size=20),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
                    max_leaves=8)
BODIES = JSON | st.fixed_dictionaries({}, optional={
    "query": JSON | st.text(max_size=40), "candidate_repos": JSON | st.lists(st.text(max_size=12), max_size=3),
    "date": JSON | st.dates().map(str), "model": st.sampled_from(["qmd-tiny", "x"]) | JSON,
    "messages": JSON, "max_tokens": JSON | st.integers(-2, 600), "prompt": JSON | st.text(max_size=20),
    "n": JSON | st.integers(-1, 10), "stop": JSON, "stream": JSON, "seed": JSON | st.integers()})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from(["/sourcegraph/query", "/query", "/qmd/expand", CHAT, "/v1/completions"]), body=BODIES)
def test_fuzzed_bodies_never_get_a_5xx(client, path, body):
    response = client.post(path, json=body)
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert set(response.json()["error"]) == {"type", "message", "field", "param"}


def test_api_key_guards_every_route_but_health(registry, monkeypatch):
    monkeypatch.setenv("QT_SERVE_TEST_KEY", "s3cret")
    app = local_app(tiny_serve_config(registry, api_key_env="QT_SERVE_TEST_KEY"))
    with uvicorn_thread(app) as url, httpx.Client(base_url=url, timeout=60) as client:
        assert client.get("/healthz").status_code == 200
        assert client.get("/").status_code == 200  # the static page; its requests carry the key
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret"}):
            refused = client.get("/v1/models", headers=headers)
            assert refused.status_code == 401 and refused.json()["error"]["field"] == "Authorization"
        assert client.post("/qmd/expand", json={"query": "x"}).status_code == 401
        assert client.get("/metrics").status_code == 401
        assert client.get("/v1/models", headers={"Authorization": "Bearer s3cret"}).status_code == 200
