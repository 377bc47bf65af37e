"""The QMD output language: what parses, what fails and why, and answer extraction."""
import pytest

from querytune.experiments.base import ParseError
from querytune.experiments.qmd.parse import extract, only_mode, parse


def reason_and_line(text: str) -> tuple[str, int | None]:
    with pytest.raises(ParseError) as err:
        parse(text)
    return err.value.reason, err.value.position


def test_lines_are_grouped_by_type_and_only_the_first_hyde_is_kept():
    parsed = parse("hyde: First passage.\nlex: auth config\n\n  vec:   how do I log in  \nhyde: Second.")
    assert parsed.value == {"lex": ["auth config"], "vec": ["how do I log in"], "hyde": "First passage."}
    assert any("only the first is scored" in note for note in parsed.warnings)


def test_no_hyde_is_none_and_empty_texts_count_as_lines():
    parsed = parse("lex:\nvec: why")
    assert parsed.value == {"lex": [""], "vec": ["why"], "hyde": None}
    assert "a lex line has no text" in parsed.warnings


def test_closed_think_block_is_removed_with_a_warning():
    parsed = parse("<think>\nplan: lex first\n</think>\nlex: auth config<|im_end|>")
    assert parsed.value["lex"] == ["auth config"]
    assert any("think" in note for note in parsed.warnings)


@pytest.mark.parametrize("text, reason, line", [
    ("lex: auth\nThis explains things\nvec: more", "bad_line_prefix", 2),
    ("Lex: auth", "bad_line_prefix", 1),
    ("lex: a\n- vec: b", "bad_line_prefix", 2),
    ("<think>still thinking\nlex: auth", "unclosed_think", 1),
    ("lex: a\n<think>b</think>\n<think>c", "unclosed_think", 3),  # lines of the text once closed blocks are gone
    ("lex: auth\n<|im_start|>user\nmore", "chat_token", 2),
    ("lex: auth\nassistant\nlex: again", "chat_token", 2),
    ("lex: auth<|endoftext|>", "chat_token", 1),
    ("", "empty", 1),
    ("  \n<|im_end|>\n", "empty", 1),
    ("<think>only thoughts</think>", "empty", 1),
])
def test_hard_failures_name_reason_and_line(text, reason, line):
    assert reason_and_line(text) == (reason, line)


def test_error_message_quotes_the_offending_line():
    with pytest.raises(ParseError, match=r"line 2: 'Sure, here you go' does not start with"):
        parse("lex: a\nSure, here you go")


@pytest.mark.parametrize("query, expected", [
    ("auth /only:lex", ("lex", "auth")),
    ("React hooks /ONLY:Vec  ", ("vec", "React hooks")),
    ("what is base jumping? /only:hyde", ("hyde", "what is base jumping?")),
    ("auth/only:lex", (None, "auth/only:lex")),  # the suffix needs leading whitespace
    ("auth /only:lexx", (None, "auth /only:lexx")),
])
def test_only_mode_suffix(query, expected):
    assert only_mode(query) == expected


def test_extract_drops_think_blocks_and_special_tokens():
    decoded = "<think>\n\n</think>\n\nlex: auth config\nvec: how do I log in<|im_end|><|endoftext|>"
    assert extract(decoded) == "lex: auth config\nvec: how do I log in"
