"""Request checks against the serve config's ``limits``: each returns the ``ApiError`` naming the
field and the setting that bounds it, or ``None``.

Before anything is generated, the whole prompt is measured in the model's own tokens
(``limits.max_prompt_tokens``), and user text holding one of the model's control tokens
(``<|im_end|>``, ``<|im_start|>``...) is refused: the tokenizer would read it as a real turn
boundary, and a user could write the system turn (``check_prompt``). (A ``/v1/completions``
prompt is the whole raw prompt, written by the client, so there is no template to escape there.)
"""
from __future__ import annotations

from querytune.serve.config import Limits
from querytune.serve.engines import Prompt, render
from querytune.serve.schemas import ApiError, ChatRequest, CompletionRequest, OpenAIRequest


def check_query(limits: Limits, query: str) -> ApiError | None:
    limit = limits.max_query_chars
    if len(query) > limit:
        return ApiError(422, "too_long", f"query is {len(query)} characters; the limit is {limit} "
                        "(limits.max_query_chars)", "query")
    return None


def check_best_of(limits: Limits, best_of: int | None) -> ApiError | None:
    limit = limits.max_n
    if best_of is not None and best_of > limit:
        return ApiError(422, "too_many", f"best_of={best_of}; the limit is {limit} (limits.max_n)", "best_of")
    return None


def check_repos(limits: Limits, repos: list[str]) -> ApiError | None:
    if len(repos) > limits.max_candidate_repos:
        return ApiError(422, "too_many", f"candidate_repos has {len(repos)} entries; the limit is "
                        f"{limits.max_candidate_repos} (limits.max_candidate_repos)", "candidate_repos")
    for i, repo in enumerate(repos):
        if not repo.strip() or len(repo) > limits.max_repo_chars:
            return ApiError(422, "invalid_request", f"candidate_repos.{i}: a repository name of 1 to "
                            f"{limits.max_repo_chars} characters (got {repo!r:.80})", f"candidate_repos.{i}")
    return None


def check_openai(limits: Limits, body: OpenAIRequest) -> ApiError | None:
    """The sampling fields both OpenAI routes share: within limits, and consistent with each other."""
    for name in ("max_tokens", "max_completion_tokens"):
        asked = getattr(body, name, None)
        if asked is not None and asked > limits.max_tokens:
            return ApiError(422, "too_large", f"{name}={asked}; the limit is {limits.max_tokens} "
                            "(limits.max_tokens)", name)
    if body.n > limits.max_n:
        return ApiError(422, "too_many", f"n={body.n}; the limit is {limits.max_n} (limits.max_n)", "n")
    if len(body.stop) > limits.max_stop:
        return ApiError(422, "too_many", f"stop has {len(body.stop)} sequences; the limit is {limits.max_stop} "
                        "(limits.max_stop)", "stop")
    for i, stop in enumerate(body.stop):
        if not stop:
            return ApiError(400, "invalid_request", f"stop.{i}: an empty stop sequence would end every answer "
                            "at once; leave it out", f"stop.{i}")
        if len(stop) > limits.max_stop_chars:
            return ApiError(422, "too_long", f"stop.{i} is {len(stop)} characters; the limit is "
                            f"{limits.max_stop_chars} (limits.max_stop_chars)", f"stop.{i}")
    if body.stream_options is not None and not body.stream:
        return ApiError(400, "invalid_request", "stream_options: only allowed with stream=true (as OpenAI "
                        "has it); leave it out or send stream=true", "stream_options")
    return None


def check_chat(limits: Limits, body: ChatRequest) -> ApiError | None:
    if len(body.messages) > limits.max_messages:
        return ApiError(422, "too_many", f"messages has {len(body.messages)} entries; the limit is "
                        f"{limits.max_messages} (limits.max_messages)", "messages")
    for i, message in enumerate(body.messages):
        if len(message.content) > limits.max_message_chars:
            return ApiError(422, "too_long", f"messages.{i}.content is {len(message.content)} characters; the "
                            f"limit is {limits.max_message_chars} (limits.max_message_chars)",
                            f"messages.{i}.content")
    return None


def check_completion(limits: Limits, body: CompletionRequest) -> ApiError | None:
    if len(body.prompt) > limits.max_message_chars:
        return ApiError(422, "too_long", f"prompt is {len(body.prompt)} characters; the limit is "
                        f"{limits.max_message_chars} (limits.max_message_chars)", "prompt")
    return None


def check_prompt(limits: Limits, tokenizer, prompt: Prompt, user_text: dict[str, str],
                 prompt_field: str) -> ApiError | None:
    """Control tokens in user text, then the prompt's length in the model's (``tokenizer``'s) tokens."""
    for name, text in user_text.items():
        token = next((t for t in control_tokens(tokenizer) if t in text), None)
        if token:
            return ApiError(422, "control_token", f"{name} contains {token!r}, a control token of the model's "
                            "chat format; remove it", name)
    limit, text = limits.max_prompt_tokens, render(tokenizer, prompt)
    if len(text.encode("utf-8")) < limit:  # a token covers a byte or more (a leading space sentencepiece may add
        return None                        # aside): no count can pass the limit, and tokenizing costs a request 0.3 ms
    count = len(tokenizer(text, add_special_tokens=False).input_ids)
    if count > limit:
        return ApiError(422, "prompt_too_long", f"the prompt is {count} tokens; the limit is {limit} "
                        "(limits.max_prompt_tokens): shorten it", prompt_field)
    return None


def control_tokens(tokenizer) -> list[str]:
    """Strings the tokenizer turns into one added token wherever they appear (turn markers and the like)."""
    return [token.content for token in tokenizer.added_tokens_decoder.values()]
