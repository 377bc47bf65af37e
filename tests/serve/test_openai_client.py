"""The real ``openai`` client against the server (``--local``'s app under uvicorn, tiny random-weight Qwen3
adapters): chat, streaming, completions, n, stop, models, errors naming fields, exact usage, runtime adapters."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import httpx
import openai
import pytest

from querytune.platform import adapters, generation, models
from querytune.serve.app import local_app
from tests.serve.conftest import tiny_serve_config, uvicorn_thread

KEY_ENV, KEY = "QT_OPENAI_TEST_KEY", "openai-test-key"
ASK = [{"role": "user", "content": "/no_think Expand this search query: auth config"}]


@pytest.fixture(scope="module")
def storage(registry, tmp_path_factory) -> str:
    """The two served adapters, plus 'qmd-extra' (same base) and 'qmd-otherbase' (another base hash) to load
    at runtime; a registry of this module's own, so the shared one stays as it was."""
    root = str(tmp_path_factory.mktemp("openai-registry"))
    for name in ("sg-tiny", "qmd-tiny"):
        adapters.register(adapters.resolve(name, registry), name, root)
    adapters.register(adapters.resolve("qmd-tiny", registry), "qmd-extra", root)
    other = adapters.register(adapters.resolve("qmd-tiny", registry), "qmd-otherbase", root)
    manifest = json.loads((Path(other) / adapters.MANIFEST).read_text())
    manifest["base"]["hash"] = "sha256:" + "0" * 64  # as if trained on another base
    (Path(other) / adapters.MANIFEST).write_text(json.dumps(manifest))
    return root


@pytest.fixture(scope="module")
def server(storage):
    os.environ[KEY_ENV] = KEY  # the load/unload routes need a key
    try:
        with uvicorn_thread(local_app(tiny_serve_config(storage, api_key_env=KEY_ENV))) as url:
            yield url
    finally:
        os.environ.pop(KEY_ENV, None)


@pytest.fixture(scope="module")
def client(server) -> openai.OpenAI:
    return openai.OpenAI(base_url=server + "/v1", api_key=KEY, max_retries=0, timeout=120)


@pytest.fixture(scope="module")
def tokenizer():
    return models.load_tokenizer(models.resolve("tiny-qwen3"))


def test_chat_accepts_what_clients_send_by_default_and_counts_exactly(client, tokenizer):
    messages = [{"role": "developer", "content": "You expand search queries."},
                {"role": "user", "content": [{"type": "text", "text": "/no_think Expand this search query:"},
                                             {"type": "text", "text": "auth config"}]}]
    answer = client.chat.completions.create(
        model="qmd-tiny", messages=messages, max_tokens=6, stop=None, frequency_penalty=0, presence_penalty=0,
        logprobs=False, top_p=1, seed=7, user="someone", n=1, temperature=0)
    assert answer.object == "chat.completion" and answer.model == "qmd-tiny" and len(answer.choices) == 1
    choice = answer.choices[0]
    rendered = generation.render(tokenizer, [{"role": "system", "content": "You expand search queries."},
                                             {"role": "user", "content": "/no_think Expand this search query:\n"
                                                                         "auth config"}])
    assert answer.usage.prompt_tokens == len(tokenizer(rendered, add_special_tokens=False).input_ids)
    # cut at max_tokens: "length", and exactly max_tokens generated (the issue saw 0 and "stop")
    assert choice.finish_reason == "length" and answer.usage.completion_tokens == 6
    assert len(tokenizer(choice.message.content, add_special_tokens=False).input_ids) <= 6
    assert answer.usage.total_tokens == answer.usage.prompt_tokens + 6


def test_streamed_chat_adds_up_to_the_plain_answer(client):
    plain = client.chat.completions.create(model="qmd-tiny", messages=ASK, max_tokens=10)
    stream = client.chat.completions.create(model="qmd-tiny", messages=ASK, max_tokens=10, stream=True,
                                            stream_options={"include_usage": True})
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    finish = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert text == plain.choices[0].message.content and finish == [plain.choices[0].finish_reason]
    assert chunks[-1].choices == [] and chunks[-1].usage == plain.usage  # the usage chunk comes last
    assert all(c.object == "chat.completion.chunk" and c.id == chunks[0].id for c in chunks)


def test_completions_plain_and_streamed(client, tokenizer):
    prompt = "Search queries for auth config:"
    plain = client.completions.create(model="qmd-tiny", prompt=prompt, max_tokens=5)
    assert plain.object == "text_completion" and plain.choices[0].finish_reason in ("length", "stop")
    assert plain.usage.prompt_tokens == len(tokenizer(prompt, add_special_tokens=False).input_ids)  # no template
    streamed = list(client.completions.create(model="qmd-tiny", prompt=prompt, max_tokens=5, stream=True))
    assert "".join(c.choices[0].text for c in streamed) == plain.choices[0].text
    assert streamed[-1].choices[0].finish_reason == plain.choices[0].finish_reason


def test_n_choices_and_their_tokens(client):
    answer = client.chat.completions.create(model="qmd-tiny", messages=ASK, max_tokens=4, n=2, temperature=1.0,
                                            seed=3)
    assert [c.index for c in answer.choices] == [0, 1]
    if all(c.finish_reason == "length" for c in answer.choices):
        assert answer.usage.completion_tokens == 8  # both choices' tokens
    again = client.chat.completions.create(model="qmd-tiny", messages=ASK, max_tokens=4, n=2, temperature=1.0,
                                           seed=3)
    assert [c.message.content for c in again.choices] == [c.message.content for c in answer.choices]
    streamed = list(client.chat.completions.create(model="qmd-tiny", messages=ASK, max_tokens=4, n=2,
                                                   temperature=1.0, seed=3, stream=True))
    for choice in answer.choices:
        text = "".join(c.choices[0].delta.content or "" for c in streamed if c.choices[0].index == choice.index)
        assert text == choice.message.content


def test_a_stop_sequence_ends_the_answer_before_it(client):
    sample = {"model": "qmd-tiny", "messages": ASK, "max_tokens": 16, "temperature": 1.0, "seed": 5}  # seeded: the
    full = client.chat.completions.create(**sample).choices[0].message.content  # same tokens up to the stop
    stop = full.strip()[3:6]
    assert stop, f"the tiny model's sampled answer {full!r} has no text to stop on"
    cut = client.chat.completions.create(**sample, stop=[stop, "\x00never"])
    assert cut.choices[0].message.content == full[:full.index(stop)]
    assert cut.choices[0].finish_reason == "stop" and cut.usage.completion_tokens < 16
    streamed = list(client.chat.completions.create(**sample, stop=stop, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in streamed) == full[:full.index(stop)]
    assert [c.choices[0].finish_reason for c in streamed][-1] == "stop"


def test_models_list_and_get(client):
    assert {m.id for m in client.models.list()} == {"sg-tiny", "qmd-tiny"}
    card = client.models.retrieve("qmd-tiny")
    assert card.id == "qmd-tiny" and card.model_extra["task"] == "qmd"
    with pytest.raises(openai.NotFoundError) as missing:
        client.models.retrieve("nope")
    assert "'nope'" in missing.value.message


def test_unknown_fields_and_bad_values_are_400s_naming_the_field(client):
    cases = [({"extra_body": {"top_k": 5}}, "top_k"),  # vLLM's extension, not OpenAI's: named, not ignored
             ({"temperature": 5}, "temperature"),
             ({"logprobs": True}, "logprobs"),
             ({"tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}]}, "tools"),
             ({"extra_body": {"messages": [{"role": "user", "content": [{"type": "image_url"}]}]}},
              "messages.0.content")]
    for options, field in cases:
        with pytest.raises(openai.BadRequestError) as refused:
            client.chat.completions.create(model="qmd-tiny", messages=ASK, max_tokens=2, **options)
        assert refused.value.param == field and field in refused.value.message, refused.value.body
    with pytest.raises(openai.UnprocessableEntityError) as over:  # a valid request beyond a limit: 422
        client.chat.completions.create(model="qmd-tiny", messages=ASK, n=9)
    assert over.value.param == "n" and "limits.max_n" in over.value.message


def test_adapters_load_and_unload_at_runtime(server, client):
    admin = httpx.Client(base_url=server, headers={"Authorization": f"Bearer {KEY}"}, timeout=120)
    assert httpx.post(server + "/v1/load_lora_adapter", json={"lora_name": "qmd-extra"}).status_code == 401
    loaded = admin.post("/v1/load_lora_adapter", json={"lora_name": "qmd-extra"})
    assert loaded.status_code == 200 and loaded.json()["model"]["runtime"], loaded.text
    assert "qmd-extra" in {m.id for m in client.models.list()}
    answer = client.chat.completions.create(model="qmd-extra", messages=ASK, max_tokens=4)
    assert answer.model == "qmd-extra" and answer.usage.completion_tokens > 0

    refusals = [({"lora_name": "qmd-extra"}, 400, "already"),
                ({"lora_name": "qmd-otherbase"}, 400, "base"),  # its manifest names another base hash
                ({"lora_name": "no-such-adapter"}, 404, "no-such-adapter"),
                ({"lora_name": "qmd-tiny", "lora_path": "/etc"}, 400, "registry name"),
                ({"lora_name": "../etc"}, 400, "lora_name")]
    for body, status, said in refusals:
        refused = admin.post("/v1/load_lora_adapter", json=body)
        assert refused.status_code == status and said in refused.json()["error"]["message"], refused.text
    assert "qmd-otherbase" not in {m.id for m in client.models.list()}
    assert admin.post("/v1/unload_lora_adapter", json={"lora_name": "qmd-tiny"}).status_code == 400  # configured

    unloaded = admin.post("/v1/unload_lora_adapter", json={"lora_name": "qmd-extra"})
    assert unloaded.status_code == 200 and unloaded.json()["status"] == "unloaded"
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="qmd-extra", messages=ASK, max_tokens=4)
    assert admin.post("/v1/unload_lora_adapter", json={"lora_name": "qmd-extra"}).status_code == 404


def test_a_stream_whose_client_leaves_stops_generating(client):
    stream = client.chat.completions.create(model="qmd-tiny", messages=ASK, max_tokens=512, stream=True)
    next(iter(stream))
    stream.close()
    time.sleep(0.5)
    mark = time.process_time()  # the server runs in this process: a generation still going would show here
    time.sleep(1)
    assert time.process_time() - mark < 0.3


def test_metrics_count_tokens_first_tokens_queue_and_batches(server, client):
    client.chat.completions.create(model="qmd-tiny", messages=ASK, max_tokens=3)
    text = httpx.get(server + "/metrics", headers={"Authorization": f"Bearer {KEY}"}).text
    for series in ('querytune_completion_tokens_total{model="qmd-tiny"}',
                   'querytune_prompt_tokens_total{model="qmd-tiny"}',
                   'querytune_time_to_first_token_seconds_count{model="qmd-tiny"}',
                   'querytune_queue_seconds_count{llm="tiny"}', 'querytune_engine_batch_size_count{llm="tiny"}',
                   'querytune_requests_total{route="/v1/models/{model_id}",status="404"}',
                   'querytune_requests_in_flight{route="/v1/chat/completions"} 0.0'):
        assert series in text, series
