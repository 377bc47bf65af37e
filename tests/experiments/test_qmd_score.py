"""The QMD scorer reproduces the original rules: worked examples, heuristics, the
reference mean over the shared rows, and the GRPO reward's differences from the score."""
import json
import statistics
from pathlib import Path

import pytest

from querytune.experiments.qmd import heuristics as h
from querytune.experiments.qmd.lexicon import GENERIC, KEY_TERM_STOP, STOP, VERB_STOP
from querytune.experiments.qmd.prompt import canonical, render
from querytune.experiments.qmd.reward import query_from_prompt, reward
from querytune.experiments.qmd.score import score_expansion

DATA = Path(__file__).resolve().parents[2] / "querytune" / "datasets" / "qmd"

# (query, completion, (F, D, H, Q, E, T) with E signed, total, max, pct, rating, reward)
VECTORS = [
    # research/qmd.md §c "Vectors"
    ("auth", "", (10, 15, 0, 5, 10, 20), 60, 120, 50.0, "Acceptable", 0.5),
    ("auth", "lex: auth setup\nvec: how to configure authentication",
     (30, 20, 0, 20, 10, 20), 100, 120, 50.0, "Acceptable", 100 / 120),
    ("who is TDS motorsports",
     "lex: TDS motorsports history\nlex: TDS motorsports founders\nvec: information about TDS motorsports company",
     (30, 30, 0, 20, 20, 20), 120, 120, 100.0, "Excellent", 1.0),
    ("meeting with Bob about C++", "lex: c++ meetings\nvec: programming meeting notes",
     (30, 30, 0, 20, -5, 20), 95, 120, 79.2, "Good", 95 / 120),
    ("auth /only:lex", "lex: auth setup\nlex: authentication config\nlex: login credentials",
     (30, 25, 0, 15, 10, 20), 100, 120, 83.3, "Excellent", 100 / 120),
    # worked by hand from the rules
    # quote bonus +3, one of two lex lines keeps a key term (+2)
    ("python memory leak debugging",
     'lex: "memory leak" python -java\nlex: tracemalloc profiler\nvec: how to find memory leaks in Python',
     (30, 30, 0, 20, 10, 20), 110, 120, 91.7, "Excellent", 110 / 120),
    # a think block costs the 20-point bonus; "authentication" is not the token "auth"
    ("auth", "<think>hmm</think>\nlex: authentication config\nvec: how to configure authentication",
     (30, 30, 0, 15, 10, 0), 85, 120, 70.8, "Good", 85 / 120),
    # two filler lex lines, -3 each
    ("sourdough bread", "lex: sourdough overview\nlex: bread baking basics\nvec: how to bake sourdough bread at home",
     (30, 30, 0, 14, 10, 20), 104, 120, 86.7, "Excellent", 104 / 120),
    # entities dropped (-30, -20 x 2) and a generic lex line (-15): reported entity floors at 0
    ("who is TDS motorsports", "lex: find information about\nlex: company details\nvec: who is this company",
     (30, 30, 0, 15, -85, 20), 10, 120, 8.3, "Failed", 10 / 120),
    # only-mode: an unwanted vec line (-10) and an echo (-5); no echo cap outside normal mode
    ("auth /only:lex", "lex: auth setup\nvec: how to configure authentication",
     (20, 10, 0, 20, 10, 20), 80, 120, 66.7, "Good", 80 / 120),
    # only-mode hyde of 79 characters: ideal length
    ("how tides work /only:hyde",
     "hyde: Tides rise and fall twice a day because the Moon's gravity pulls on the oceans.",
     (30, 15, 0, 20, 10, 20), 95, 120, 79.2, "Good", 95 / 120),
    # hyde: 5 present + 5 length + 5 one line + (5 - 2 for a third "cache")
    ("cache warming", "hyde: Cache warming fills the cache before traffic; a cold cache hurts latency badly.\n"
     "lex: cache warmup preload\nvec: how do I warm a cache before a deploy",
     (30, 30, 18, 20, 10, 20), 128, 140, 91.4, "Excellent", 128 / 140),
]


@pytest.mark.parametrize("query, completion, parts, total, maximum, pct, rating, reward_value", VECTORS)
def test_worked_examples(query, completion, parts, total, maximum, pct, rating, reward_value):
    b = score_expansion(query, completion)
    assert (b.format, b.diversity, b.hyde, b.quality, b.entity_raw, b.think) == parts
    assert (b.total, b.max, b.pct, b.rating) == (total, maximum, pct, rating)
    assert b.entity == max(0, parts[4])
    assert b.reward == pytest.approx(reward_value)


@pytest.mark.parametrize("query, completion, reason", [
    ("auth", "lex: auth\nThis is some explanation\nvec: more", "bad_line_prefix"),
    ("auth", "lex: auth\n<|im_start|>assistant\nvec: more", "chat_token"),
    ("auth", "<think>Let me think...\nlex: auth", "unclosed_think"),
    ("auth /only:vec", "lex: auth setup\nlex: authentication config", "missing_only_type"),
])
def test_hard_failures_score_zero_of_100(query, completion, reason):
    b = score_expansion(query, completion)
    assert (b.total, b.max, b.pct, b.rating, b.failure, b.reward) == (0, 100, 0.0, "Failed", reason, 0.0)


def test_trailing_end_of_turn_token_is_not_a_failure():
    assert score_expansion("auth", "lex: auth config\n<|im_end|>").failure is None


def test_word_lists_have_their_published_sizes():
    assert (len(STOP), len(GENERIC), len(KEY_TERM_STOP), len(VERB_STOP)) == (19, 12, 88, 81)


@pytest.mark.parametrize("query, expected", [
    ("Sarah's presentation on Q4 goals", {"sarah's", "presentation", "q4", "goals"}),
    ("who is TDS motorsports", {"tds", "motorsports"}),
    ("react useEffect cleanup", set()),
    ("TDS motorsports team", {"tds", "motorsports"}),  # chains one level only
    ("Configure Nginx upstream", {"nginx", "upstream"}),  # a capitalised first-word verb is not an entity
    ("Bob asked about deploy", {"bob"}),  # "asked" is a key-term stopword
    ("node.js real-time streams", {"node.js", "real-time", "streams"}),
    ("TDS ( motorsports", {"tds"}),  # an empty word resets the chain
    ("What is AWS", {"aws"}),
])
def test_entities(query, expected):
    assert h.entities(query) == expected


def test_helper_quirks():
    assert h.echoes("auth setup", "auth") and not h.echoes("authentication config", "auth")
    assert not h.keeps_key_term('"memory leak" tools', "memory leak")  # "memory is not memory
    assert h.keeps_key_term("anything", "how to do")  # no key terms: always kept
    assert not h.is_diverse("auth config", "auth config guide", 2)  # one inside the other
    assert h.is_diverse("auth config", "login setup", 2) and not h.is_diverse("a b c", "a b d", 3)
    assert h.is_generic("how to") and h.is_generic("search for") and not h.is_generic("search for rust crates")
    assert h.has_filler("rust overview", "rust") and not h.has_filler("rust overview", "rust overview")
    assert h.repetition("the the the the data data data") == 2


def shared_rows() -> list[dict]:
    return [json.loads(line) for path in sorted(DATA.glob("*.jsonl")) for line in open(path, encoding="utf-8")]


def test_shared_rows_score_the_published_mean_in_given_and_canonical_order():
    rows = shared_rows()
    given = [score_expansion(row["query"], render(row["output"])).pct for row in rows]
    ordered = [score_expansion(row["query"], render(canonical(row["output"]))).pct for row in rows]
    assert len(rows) == 3579
    assert statistics.fmean(given) == pytest.approx(84.75, abs=0.05)
    assert statistics.median(given) == 87.1
    assert ordered == given  # the scorer is blind to line order


def test_reward_skips_the_echo_cap_that_the_score_applies():
    echo = "lex: auth setup\nvec: how to configure authentication"
    assert score_expansion("auth", echo).pct == 50.0
    assert reward(["/no_think Expand this search query: auth"], [echo]) == [pytest.approx(100 / 120)]


def test_reward_counts_the_think_penalty_and_hard_fails():
    prompts = ["/no_think Expand this search query: auth"] * 2
    completions = ["<think></think>lex: authentication config\nvec: how to configure authentication", "Sure!"]
    assert reward(prompts, completions) == [pytest.approx(85 / 120), 0.0]


def test_reward_accepts_chat_messages_and_prefers_the_query_column():
    prompt = [{"role": "user", "content": "/no_think Expand this search query: auth"}]
    completion = [{"role": "assistant", "content": "lex: auth setup\nvec: how to configure authentication"}]
    assert reward([prompt], [completion]) == [pytest.approx(100 / 120)]
    # with the column the prompt is not read: for "login" no echo (+15 diversity), no key term (-5 quality)
    assert reward([prompt], [completion], query=["login"]) == [pytest.approx(105 / 120)]


def test_query_from_templated_prompt_takes_the_last_marker_and_cuts_at_end_of_turn():
    prompt = ("<|im_start|>user\nExpand this search query: old\nExpand this search query: "
              "TDS motorsports /only:lex<|im_end|>\n<|im_start|>assistant\n")
    assert query_from_prompt(prompt) == "TDS motorsports /only:lex"
    assert query_from_prompt("  plain text  ") == "plain text"
