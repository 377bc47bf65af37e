"""Request and answer schemas of the HTTP surface, and the error value routes return.

They live below both their users: ``api`` (routes) and ``service`` (task logic) import
them, and neither imports the other's module for them.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

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
        return {"error": {"type": self.type, "message": self.message, "field": self.field}}


class ErrorDetail(BaseModel):
    type: str = Field(description="stable error code, e.g. invalid_request, model_not_found")
    message: str = Field(description="what is wrong and how to fix it")
    field: str | None = Field(None, description="the request field at fault, dotted (candidate_repos.2)")


class ErrorBody(BaseModel):
    error: ErrorDetail


ERRORS: dict[int | str, dict[str, Any]] = {code: {"model": ErrorBody}
                                         for code in (400, 401, 404, 413, 422, 431, 503, 504)}


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


class ChatMessage(Body):
    role: Literal["system", "user", "assistant"]
    content: Unicode
    name: str | None = None


class ChatRequest(Body):
    """OpenAI ``/v1/chat/completions`` subset; unsupported options are refused, not ignored."""

    model: str = Field(..., description="served model (adapter) name, see GET /v1/models")
    messages: list[ChatMessage] = Field(..., min_length=1)
    max_tokens: int | None = Field(None, ge=1, description="answer budget (default 128)")
    max_completion_tokens: int | None = Field(None, ge=1, description="newer name of max_tokens")
    temperature: float = Field(0.0, ge=0, le=2, description="0 = greedy (this server's default)")
    top_p: float | None = Field(None, gt=0, le=1, description="accepted for compatibility; ignored")
    n: Literal[1] = Field(1, description="one choice per request")
    stream: bool = Field(False, description="streaming is not supported; must be false")
    seed: int | None = Field(None, description="accepted for compatibility; ignored")
    user: str | None = Field(None, description="accepted for compatibility; ignored")


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


class ChatChoiceMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class ChatChoice(BaseModel):
    index: int = 0
    message: ChatChoiceMessage
    finish_reason: str


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class ChatAnswer(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[ChatChoice]
    usage: Usage


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "querytune"
    task: str = Field(description="the task whose prompts and parser go with this adapter")
    base: str = Field(description="base model the adapter applies to")
    recipe: str = Field(description="sft or grpo")


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]
