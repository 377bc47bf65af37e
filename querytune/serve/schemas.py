"""Request and answer schemas of the HTTP surface, and the error value routes return.

They live below both their users: ``api`` (routes) and ``service`` (task logic) import
them, and neither imports the other's module for them.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Annotated, Any, AsyncIterator, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")


# --------------------------------------------------------------------------- errors
@dataclass
class ApiError:
    """An error returned as a value by the service; ``field`` names the offending input."""

    status: int
    type: str
    message: str
    field: str | None = None

    def body(self) -> dict:
        return {"error": {"type": self.type, "message": self.message, "field": self.field, "param": self.field}}


@dataclass
class Stream:
    """An answer streamed as OpenAI chunk objects (dicts); ``api`` writes each as a Server-Sent Event."""

    chunks: AsyncIterator[dict]


class ErrorDetail(BaseModel):
    type: str = Field(description="stable error code, e.g. invalid_request, model_not_found")
    message: str = Field(description="what is wrong and how to fix it")
    field: str | None = Field(None, description="the request field at fault, dotted (candidate_repos.2)")
    param: str | None = Field(None, description="the same, under OpenAI's name (the openai client reads it)")


class ErrorBody(BaseModel):
    error: ErrorDetail


ERRORS: dict[int | str, dict[str, Any]] = {code: {"model": ErrorBody}
                                         for code in (400, 401, 403, 404, 413, 422, 431, 503, 504)}


# --------------------------------------------------------------------------- requests
class Body(BaseModel):
    """A request body: unknown fields are errors, so a typo is reported, not ignored."""

    model_config = ConfigDict(extra="forbid")


def _unicode(value: str) -> str:
    """JSON may carry lone UTF-16 surrogates ("\\ud800"); no tokenizer encodes them, so refuse them here."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as err:
        raise ValueError(f"character {err.start} is a lone surrogate ({value[err.start]!r}), not text: "
                         "send valid Unicode") from None
    return value


def _nonblank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty or blank")
    return value


def _calendar_date(value: str) -> str:
    try:
        if DATE_RE.fullmatch(value):
            return dt.date.fromisoformat(value).isoformat()
    except ValueError:
        pass
    raise ValueError(f"{value!r} is not a calendar date in YYYY-MM-DD form (e.g. 2026-11-25)")


Unicode = Annotated[str, AfterValidator(_unicode)]
Text = Annotated[str, AfterValidator(_unicode), AfterValidator(_nonblank)]
Date = Annotated[str, AfterValidator(_calendar_date)]


class QueryRequest(Body):
    """POST /sourcegraph/query (and /query, the original endpoint's body)."""

    query: Text = Field(..., description="what the developer typed",
                        examples=["find Python files with async functions"])
    candidate_repos: list[Unicode] = Field(default_factory=list, description="repositories the answer may filter on")
    date: Date | None = Field(None, description="today for relative dates, YYYY-MM-DD; default = the server's date")


class ExpandRequest(Body):
    """POST /qmd/expand."""

    query: Text = Field(..., description="a short search query", examples=["auth config"])
    best_of: int | None = Field(None, ge=1, description="answers to sample; the task's own gold-free choice is "
                                "returned (default: routes.qmd.best_of; at most limits.max_n)")


# --------------------------------------------------------------------------- OpenAI requests
def only(*allowed: Any, why: str):
    """A field this server declares but cannot honour beyond its default values: any other value is a 400
    whose message says why, instead of an "unknown field" or a value silently ignored."""
    def check(value):
        if any(value == ok and type(value) is type(ok) for ok in allowed):
            return value
        raise ValueError(why)
    return AfterValidator(check)


def _content(value: Any) -> Any:
    """A message's content as one string: a string, or a list of text parts (joined by newlines, as vLLM does)."""
    if value is None:
        raise ValueError("null content goes with tool calls, which this server does not make: send text")
    if not isinstance(value, list):
        return value  # a string, or a type error from the str check
    texts = []
    for i, part in enumerate(value):
        if not isinstance(part, dict) or not isinstance(part.get("type"), str):
            raise ValueError(f"part {i} is not a content part object ({{\"type\": \"text\", \"text\": ...}})")
        if part["type"] != "text":
            raise ValueError(f"part {i} is of type {part['type']!r}: this server's models read text only; send "
                             "{\"type\": \"text\", \"text\": ...} parts")
        if not isinstance(part.get("text"), str) or set(part) - {"type", "text"}:
            raise ValueError(f"part {i} must be exactly {{\"type\": \"text\", \"text\": <string>}}")
        texts.append(part["text"])
    return "\n".join(texts)


def _stop(value: Any) -> Any:
    """``stop`` as a list of strings: one string, a list of them, or null."""
    if value is None:
        return []
    return [value] if isinstance(value, str) else value


def _one_prompt(value: Any) -> Any:
    if not isinstance(value, list):
        return value
    if len(value) == 1 and isinstance(value[0], str):
        return value[0]
    if value and all(isinstance(v, int) for v in value):
        raise ValueError("a prompt of token ids is not supported: send the text")
    raise ValueError(f"one prompt per request (got a list of {len(value)}): send a string, or one request each")


NO_TOOLS = "this server does not call tools (its models write search queries): leave tools out or send []"
NO_CHOICE = "this server does not call tools (its models write search queries): leave it out or send \"none\""
Content = Annotated[Unicode, BeforeValidator(_content)]
Penalty = Annotated[float | None, Field(None, ge=-2, le=2)]


class ChatMessage(Body):
    role: Literal["system", "developer", "user", "assistant"] = Field(
        ..., description="developer is read as system (OpenAI's newer name for it)")
    content: Content = Field(..., description="text, or a list of {type: text, text} parts (joined by newlines)")
    name: str | None = Field(None, description="participant name; the chat template has no place for it")
    tool_calls: Annotated[list[Any] | None, only(None, [], why=NO_TOOLS)] = None


class StreamOptions(Body):
    include_usage: bool | None = Field(None, description="a last chunk with the request's usage")
    include_obfuscation: bool | None = Field(None, description="accepted; chunks carry no obfuscation padding")


class OpenAIRequest(Body):
    """The sampling fields /v1/chat/completions and /v1/completions share. Each is honoured by both engines;
    a field OpenAI defines that this server cannot honour is declared with the values it can (``only``),
    and any other field is a 400 naming it."""

    model: str = Field(..., description="served model (adapter) name, see GET /v1/models")
    max_tokens: int | None = Field(None, ge=1, description="answer budget in tokens")
    temperature: float | None = Field(None, ge=0, le=2, description="0 = greedy (this server's default)")
    top_p: float | None = Field(None, gt=0, le=1, description="nucleus sampling (with temperature > 0)")
    n: int = Field(1, ge=1, description="choices to generate (at most limits.max_n)")
    stream: bool | None = Field(False, description="Server-Sent Events in OpenAI's chunk format")
    stream_options: StreamOptions | None = Field(None, description="with stream=true only")
    seed: int | None = Field(None, ge=-(2 ** 63), lt=2 ** 64, description="sampling seed (same seed, same answer)")
    stop: Annotated[list[Unicode], BeforeValidator(_stop)] = Field(
        default_factory=list, description="up to limits.max_stop strings that end the answer (not included)")
    presence_penalty: Penalty = Field(None, description="-2..2, OpenAI's presence penalty on generated tokens")
    frequency_penalty: Penalty = Field(None, description="-2..2, OpenAI's frequency penalty on generated tokens")
    logit_bias: Annotated[dict[str, Any] | None, only(None, {}, why="logit_bias is not supported by this server; "
                                                     "leave it out")] = None
    user: str | None = Field(None, description="an end-user id for the caller's records; not used")
    metadata: dict[str, str] | None = Field(None, description="the caller's tags; not used")
    safety_identifier: str | None = Field(None, description="an end-user id for the caller's records; not used")
    prompt_cache_key: str | None = Field(None, description="a caching hint; prefix caching needs none")
    store: Annotated[bool | None, only(None, False, why="this server stores no completions; send false or "
                                       "leave it out")] = None
    service_tier: Annotated[str | None, only(None, "auto", "default", why="this server has one service tier; "
                                             "send auto or leave it out")] = None


class ChatRequest(OpenAIRequest):
    """OpenAI ``/v1/chat/completions``."""

    messages: list[ChatMessage] = Field(..., min_length=1)
    max_completion_tokens: int | None = Field(None, ge=1, description="newer name of max_tokens (wins over it)")
    logprobs: Annotated[bool | None, only(None, False, why="log-probabilities are not returned by this server; "
                                          "send false or leave it out")] = None
    top_logprobs: Annotated[int | None, only(None, 0, why="log-probabilities are not returned by this server; "
                                             "leave top_logprobs out")] = None
    tools: Annotated[list[Any] | None, only(None, [], why=NO_TOOLS)] = None
    tool_choice: Annotated[Any, only(None, "none", why=NO_CHOICE)] = None
    parallel_tool_calls: bool | None = Field(None, description="accepted: there are no tools to call")
    functions: Annotated[list[Any] | None, only(None, [], why=NO_TOOLS)] = None
    function_call: Annotated[Any, only(None, "none", why=NO_CHOICE)] = None
    response_format: Annotated[dict[str, Any] | None, only(
        None, {"type": "text"}, why="only {\"type\": \"text\"}: a task's route (/sourcegraph/query, /qmd/expand) "
        "holds answers to its grammar")] = None
    modalities: Annotated[list[str] | None, only(None, ["text"], why="text is the only output")] = None
    audio: Annotated[Any, only(None, why="text is the only output; leave audio out")] = None
    prediction: Annotated[Any, only(None, why="predicted outputs are not supported; leave prediction out")] = None
    reasoning_effort: Annotated[Any, only(None, why="the served models take no reasoning effort; leave it out")] = None
    web_search_options: Annotated[Any, only(None, why="this server does not search the web")] = None


class CompletionRequest(OpenAIRequest):
    """OpenAI ``/v1/completions``: the prompt is sent to the model as is (no chat template)."""

    prompt: Annotated[Unicode, BeforeValidator(_one_prompt)] = Field(
        ..., description="the text to continue (a list of one string is accepted too)")
    echo: Annotated[bool | None, only(None, False, why="echo is not supported; the prompt is yours already")] = None
    suffix: Annotated[str | None, only(None, why="suffix (fill-in-the-middle) is not supported")] = None
    best_of: Annotated[int | None, only(None, 1, why="best_of ranks by log-probabilities, which this server does "
                                        "not compute; use n")] = None
    logprobs: Annotated[int | None, only(None, why="log-probabilities are not returned by this server; leave "
                                         "logprobs out")] = None


class LoadAdapterRequest(Body):
    """POST /v1/load_lora_adapter (vLLM's route name): a registry adapter, served until unloaded."""

    lora_name: str = Field(..., pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
                           description="registry name (querytune adapters list); also the model name clients send")
    lora_path: Annotated[Any, only(None, why="adapters load by registry name only, never from a path: register "
                                   "it (querytune adapters register) and send lora_name")] = None
    deployment: str | None = Field(None, description="LLM deployment to serve it; default = the one whose base "
                                   "has the adapter's base hash")


class UnloadAdapterRequest(Body):
    """POST /v1/unload_lora_adapter."""

    lora_name: str = Field(..., description="a model loaded by /v1/load_lora_adapter")
    lora_int_id: Annotated[Any, only(None, why="adapters are named, not numbered: send lora_name")] = None


# --------------------------------------------------------------------------- answers
class TaskAnswer(BaseModel):
    valid: bool = Field(description="the answer parses in the task's language")
    latency_ms: float = Field(description="server time for this request")
    model: str = Field(description="the adapter that answered")
    retries: int = Field(0, description="resamples after answers that did not parse")
    constrained: bool = Field(False, description="decoded under the task's grammar")
    truncated: bool = Field(False, description="the answer stopped at the route's max_tokens")
    error: str | None = Field(None, description="why the answer does not parse, when valid is false")


class QueryAnswer(TaskAnswer):
    query: str = Field(description="the Sourcegraph query")


class ExpandAnswer(TaskAnswer):
    lex: list[str] = Field(default_factory=list, description="BM25 keyword queries")
    vec: list[str] = Field(default_factory=list, description="natural-language queries for vector search")
    hyde: str | None = Field(None, description="a hypothetical passage answering the query")
    raw: str = Field(description="the model's text as generated")
    best_of: int = Field(1, description="answers sampled; this is the one the task's own choice picked")


class Usage(BaseModel):
    prompt_tokens: int = Field(description="tokens of the prompt as the model read it (chat template included)")
    completion_tokens: int = Field(description="tokens the engine generated, over all choices (an end-of-turn "
                                   "token included)")
    total_tokens: int


class ChatChoiceMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class _Choice(BaseModel):
    """What a chat and a text completion choice share."""

    index: int = 0
    finish_reason: Literal["stop", "length"] = Field(description="length: cut at max_tokens; stop: the model "
                                                     "ended the answer or a stop sequence came")
    logprobs: None = None


class ChatChoice(_Choice):
    message: ChatChoiceMessage


class _Answer(BaseModel):
    """What a chat and a text completion answer share (OpenAI's shape)."""

    id: str
    created: int
    model: str
    usage: Usage


class ChatAnswer(_Answer):
    object: Literal["chat.completion"] = "chat.completion"
    choices: list[ChatChoice]


class CompletionChoice(_Choice):
    text: str


class CompletionAnswer(_Answer):
    object: Literal["text_completion"] = "text_completion"
    choices: list[CompletionChoice]


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "querytune"
    task: str = Field(description="the task whose prompts and parser go with this adapter")
    base: str = Field(description="base model the adapter applies to")
    recipe: str = Field(description="sft or grpo")
    deployment: str = Field("", description="the LLM deployment serving it")
    runtime: bool = Field(False, description="loaded by POST /v1/load_lora_adapter (not in the serve config)")


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


class AdapterAnswer(BaseModel):
    status: Literal["loaded", "unloaded"]
    model: ModelCard
