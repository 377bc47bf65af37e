"""Synthetic data and the hand-written dev set: valid golds, coverage of the language,
requests without query syntax, determinism, dedupe and held-out templates."""
from __future__ import annotations

import re
from collections import Counter

import pytest

from querytune.datasets.sourcegraph import vocab
from querytune.datasets.sourcegraph.content import CONTENT_WEIGHTS
from querytune.datasets.sourcegraph.idioms import WRITTEN_IN
from querytune.datasets.sourcegraph.names import KIND_CASE, MEMBER_CASE, code_name, plural
from querytune.datasets.sourcegraph.templates import HELD_OUT, TEMPLATES
from querytune.experiments import get_task
from querytune.experiments.sourcegraph.canonical import canonicalize
from querytune.experiments.sourcegraph.constructs import constructs_of, stats
from querytune.experiments.sourcegraph.generate import examples
from querytune.experiments.sourcegraph.grammar import parse_query
from querytune.experiments.sourcegraph.intents import INTENTS, MODIFIERS
from querytune.experiments.sourcegraph.validate import problems_of

TASK = get_task("sourcegraph")
N = 6000

#: every construct of the language reference; each must be in >= 1% of generated golds
CONSTRUCTS = [
    # fields and negation
    "repo", "-repo", "file", "-file", "content", "-content", "lang", "-lang", "type", "case", "fork", "archived",
    "visibility", "select", "count", "timeout", "patterntype", "rev", "context", "author", "-author", "committer",
    "message", "before", "after", "repohasfile", "repohascommitafter", "index", "rule", "op:NOT filter",
    # predicates
    "repo:has.file()", "repo:has.path()", "-repo:has.path()", "repo:has.content()", "repo:has.commit.after()",
    "-repo:has.commit.after()", "repo:has.description()", "repo:has.meta()", "repo:has.topic()",
    "file:has.content()", "file:has.owner()", "-file:has.owner()", "file:has.contributor()", "rev:at.time()",
    # select paths and result types
    "select:repo", "select:file", "select:file.directory", "select:file.owners", "select:content", "select:commit",
    "select:commit.diff.added", "select:commit.diff.removed", "select:symbol", "select:symbol.<kind>",
    "type:repo", "type:path", "type:file", "type:symbol", "type:commit", "type:diff",
    # pattern types and pattern kinds
    "patterntype:regexp", "patterntype:literal", "patterntype:standard", "patterntype:structural",
    "pattern:word", "pattern:quoted", "pattern:regex",
    # revisions
    "rev:repo@rev", "rev:ref", "rev:glob", "rev:list",
    # booleans
    "op:AND", "op:OR", "op:NOT pattern", "op:parens",
    # options and values
    "count:N", "count:all", "case:yes", "fork:yes", "fork:only", "archived:yes", "archived:only",
    "visibility:public", "visibility:private", "context:name", "context:@user/org",
    "date:absolute", "date:relative", "date:quoted", "repo:candidate",
]
#: rare spellings: present, at a lower floor (they are equivalent to the canonical names)
RARE = ["alias:r", "alias:f", "alias:path", "alias:l", "alias:language", "alias:m", "alias:msg", "alias:since",
        "alias:until", "alias:revision", "patterntype:keyword", "patterntype:nls", "select:commit.diff",
        "-message", "-repo:has.topic()", "-repo:has.meta()", "-file:has.contributor()", "index:only", "index:no",
        "context:global", "rev:exclude"]

#: query syntax that must never appear in a request (a colon before a space is prose: "django: csrf")
SYNTAX = re.compile(r"`|(?<![\w:])-?[A-Za-z]+:(?![:\s])|\.\*|(?:^|\s)/\S+/(?=[\s.,?!]|$)|\^|\S\$(?=[\s.,?!)]|$)"
                    r"|\w@(?![\w-]+\.(?:com|io|dev|org)\b)")


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    return examples(N, seed=0)


@pytest.fixture(scope="module")
def shares(rows) -> Counter:
    counts = Counter(c for r in rows for c in constructs_of(r["query"]))
    return Counter({name: count / N for name, count in counts.items()})


def test_every_generated_gold_parses_and_validates(rows):
    """(test_sourcegraph_grammar.py feeds them to the decoding grammar token by token.)"""
    bad = [(r["query"], problems_of(r["query"])[0].reason) for r in rows if problems_of(r["query"])]
    assert bad == []
    assert all(TASK.parse(r["query"]) for r in rows[:500])
    from querytune.experiments.sourcegraph.grammar import parse_query

    slashed = [r["query"] for r in rows for x in parse_query(r["query"]).patterns()
               if x.kind == "word" and len(x.value) > 2 and x.value.startswith("/") and x.value.endswith("/")]
    assert slashed == []  # every /regex/ is read as a regex, not as a word


def test_every_construct_of_the_language_is_in_one_percent_of_rows(shares):
    # drawn at about 1% or more; 0.9% leaves room for the draw (one share's noise at 6,000 rows: ~0.13 points)
    assert {c: round(shares[c], 4) for c in CONSTRUCTS if shares[c] < 0.009} == {}
    assert {c: shares[c] for c in RARE if shares[c] < 0.002} == {}


def test_constructs_column_is_read_from_the_gold(rows):
    assert all(r["constructs"] == sorted(constructs_of(r["query"])) for r in rows[:300])
    assert constructs_of('repo:x@main type:commit author:"A B" after:"1 week ago" NOT foo') >= {
        "rev:repo@rev", "type:commit", "author", "date:relative", "date:quoted", "op:NOT pattern"}


def test_realistic_proportions(rows, shares):
    assert shares["lang"] <= 0.25
    assert 0.1 <= shares["lang"]
    words = [len(r["request"].split()) for r in rows]
    assert 7 <= sum(words) / N <= 10
    filters = Counter(min(len([c for c in constructs_of(r["query"]) if ":" not in c and " " not in c]), 5)
                      for r in rows)
    assert (filters[1] + filters[2] + filters[3]) / N > 0.6  # most queries: a pattern and one to three filters


#: constructs a trained model matched worst on the dev set; each is in at least 3% of rows
WEAK = {"patterntype:regexp": ["patterntype:regexp"], "pattern:quoted": ["pattern:quoted"],
        "pattern:regex": ["pattern:regex"], "rev:at.time()": ["rev:at.time()"], "context": ["context"],
        "repo predicates": ["repo:has.file()", "repo:has.content()", "repo:has.commit.after()", "repo:has.meta()",
                            "repo:has.topic()", "repo:has.description()", "-repo:has.commit.after()",
                            "-repo:has.meta()", "-repo:has.topic()"],
        "file predicates": ["file:has.content()", "file:has.owner()", "-file:has.owner()", "file:has.contributor()",
                            "-file:has.contributor()"]}


def test_weakly_learned_constructs_are_a_real_share_of_rows(rows):
    found = {name: sum(bool(set(names) & set(r["constructs"])) for r in rows) / N for name, names in WEAK.items()}
    several = sum(bool(re.search(r"(^|\s)(repo|r):\^github\\\.com/\S*\|", r["query"])) for r in rows) / N
    assert {name: share for name, share in found.items() if share < 0.03} == {}
    assert several >= 0.03  # several candidate repos used, as one alternation


def test_requests_hold_no_query_syntax(rows):
    assert SYNTAX.search("find repo:foo lang:go") and SYNTAX.search("foo `x`") and SYNTAX.search("a /b.c/ d")
    assert not SYNTAX.search("std::unique_ptr in alice@acme.com's @Override code under src/api")
    assert not SYNTAX.search("django: csrf token") and SYNTAX.search("django:csrf")
    assert [r["request"] for r in rows if SYNTAX.search(r["request"])] == []


def test_requests_are_varied(rows):
    vocabulary = {w.lower().strip(".,?!'\"()") for r in rows for w in r["request"].split()}
    assert len(vocabulary) > 2500
    openers = Counter(" ".join(r["request"].lower().split()[:2]) for r in rows)
    assert openers.most_common(1)[0][1] < 0.05 * N


def test_generator_gives_thousands_of_unique_pairs_deduped_by_canonical_form(rows):
    assert len({r["request"].lower() for r in rows}) == N
    per_query = Counter(canonicalize(r["query"]).text for r in rows)
    assert max(per_query.values()) <= 2


def test_generator_is_deterministic_per_seed():
    assert examples(300, seed=7) == examples(300, seed=7)
    assert examples(300, seed=7) != examples(300, seed=8)


def test_builder_options_change_the_mix_and_a_wrong_one_is_named():
    commits = TASK.generate(200, seed=3, intent_weights={"commit": 1000})
    assert sum(r["intent"] == "commit" for r in commits) > 170  # 1000 of ~1130 in weight: ~177 expected
    def timeouts(scale: float) -> int:
        return sum("timeout:" in r["query"] for r in TASK.generate(300, seed=3, modifier_scale={"timeout": scale}))

    assert timeouts(0) == 0 and timeouts(10) > 3 * timeouts(1) > 0
    assert set(MODIFIERS) >= {"lang", "-lang", "repo_predicate", "file_predicate", "timeout"}
    assert TASK.generate(50, seed=3, intent_weights={}).to_list() == examples(50, seed=3)
    for options, named in [({"intent_weights": {"comit": 1}}, "intent_weights.comit: unknown"),
                           ({"modifier_scale": {"lang": -1}}, "modifier_scale.lang: expected a number >= 0"),
                           ({"intent_weights": {i: 0 for i in INTENTS}}, "every intent has weight 0"),
                           ({"mix": {}}, "not mix")]:
        with pytest.raises(ValueError, match=named):
            TASK.generate(10, seed=0, **options)


def _said_in_words() -> dict[str, tuple[str, str]]:
    """Every identifier a name said in words can become -> (kind, words); a row is of that kind when its
    pattern is one (no table says these verbatim, so no other kind writes them)."""
    named = {code_name(words, kind): (kind, words) for kind, words in vocab.SPOKEN_IDENTS if kind in KIND_CASE}
    members = {code_name(words, kind, lang, exported): (kind, words) for kind, words in vocab.SPOKEN_IDENTS
               if kind not in KIND_CASE for lang in MEMBER_CASE for exported in (False, True)}
    verbatim = set(vocab.FUNCTIONS) | set(vocab.TYPES) | set(vocab.CONSTANTS) | set(vocab.FLAGS_NAMES)
    assert not (set(named) | set(members)) & verbatim
    return named | members


def test_a_name_said_in_words_is_searched_as_the_code_writes_it():
    assert [code_name("retry policy", "type"), code_name("retry policy", "constant"), code_name("retry policy", "env"),
            code_name("retry policy", "setting")] == ["RetryPolicy", "RETRY_POLICY", "RETRY_POLICY", "retry_policy"]
    functions = {lang: code_name("retry policy", "function", lang) for lang in ("python", "ruby", "java", "go", "c#")}
    assert functions == {"python": "retry_policy", "ruby": "retry_policy", "java": "retryPolicy", "go": "retryPolicy",
                         "c#": "RetryPolicy"}
    assert code_name("retry policy", "function", "go", exported=True) == "RetryPolicy"
    assert code_name("page token", "variable", "c#") == "pageToken"
    assert code_name("page token", "variable", "rust") == "page_token"
    assert [plural(w) for w in ("retry policy", "connection pool", "filter box")] == [
        "retry policies", "connection pools", "filter boxes"]


def test_rows_with_a_name_said_in_words_carry_what_decides_its_casing(rows):
    """The request says the words (a type's maybe in the plural), never the identifier; a function's or
    variable's casing follows the query's language ("exported" for a Go function), the other kinds' from a
    word the request says ("env var": LOG_LEVEL) or, said alone, from being a type (RetryPolicy)."""
    said = _said_in_words()
    found = [(r, *said[r["query"].split()[-1]]) for r in rows if r["query"].split()[-1] in said]
    assert len(found) / N > 0.006  # ~1% expected: 8 of ~230 in code-search content weight
    assert {kind for _, kind, _ in found} == {"type", "function", "variable", "constant", "env", "setting"}
    kind_words = {"constant": ("const",), "env": ("env",), "setting": ("setting", "config")}
    for row, kind, words in found:
        request, pattern = row["request"].lower(), row["query"].split()[-1]
        assert (words in request or plural(words) in request) and pattern.lower() not in request, row
        if kind in kind_words:
            assert any(word in request for word in kind_words[kind]), row
        if kind in ("function", "variable"):
            langs = re.findall(r"(?:^|\s)(?:lang|l|language):(\S+)", row["query"])
            exported = "exported" in request and "unexported" not in request
            assert len(langs) == 1 and pattern == code_name(words, kind, langs[0], exported), row


def test_content_weights_change_the_mix_and_a_wrong_kind_is_named():
    said = _said_in_words()

    def spoken(weight: float) -> int:
        generated = TASK.generate(300, seed=3, content_weights={"spoken_ident": weight})
        return sum(r["query"].split()[-1] in said for r in generated)

    assert spoken(0) == 0 and spoken(200) > 5 * spoken(8) > 0
    assert TASK.generate(50, seed=3, content_weights={}).to_list() == examples(50, seed=3)
    for weights, named in [({"spoken": 1}, "content_weights.spoken: unknown; one of .*spoken_ident"),
                           ({"regex": "high"}, "content_weights.regex: expected a number >= 0"),
                           ({k: 0 for k in CONTENT_WEIGHTS}, "every content kind has weight 0")]:
        with pytest.raises(ValueError, match=named):
            TASK.generate(10, seed=0, content_weights=weights)


def test_dataset_has_the_example_columns(rows):
    dataset = TASK.generate(50, seed=1)
    assert set(dataset.column_names) == {"request", "query", "candidate_repos", "date", "intent", "template", "split",
                                         "constructs"}
    assert dataset[0] == examples(50, seed=1)[0]


def test_test_split_uses_only_held_out_templates(rows):
    by_split = {split: {r["template"] for r in rows if r["split"] == split} for split in ("train", "val", "test")}
    assert by_split["test"] and by_split["val"]
    assert not by_split["test"] & (by_split["train"] | by_split["val"])
    assert by_split["val"] <= by_split["train"]
    assert all(len(heads) >= 6 + HELD_OUT for heads in TEMPLATES.values())
    split_shares = Counter(r["split"] for r in rows)
    assert 0.05 < split_shares["test"] / N < 0.2 and 0.05 < split_shares["val"] / N < 0.15


def test_candidates_are_used_when_named_and_ignored_otherwise(rows):
    with_candidates = [r for r in rows if r["candidate_repos"]]
    used = [r for r in with_candidates if re.search(r"(^|\s)(repo|r):\^github", r["query"])]  # not -repo:
    assert 0.2 < len(with_candidates) / N < 0.4
    assert len(with_candidates) - len(used) > 0.3 * len(with_candidates)
    assert all(TASK.score(r, r["query"])["candidate_repo_used"] == 1.0 for r in used)
    several = [r for r in used if "|" in r["query"].split("$")[0]]
    assert len(several) > 20


def test_no_escape_artifacts_in_requests_or_golds(rows):
    assert not [r for r in rows if '\\"' in r["query"] or "\\\\" in r["query"] or '\\"' in r["request"]]


def test_stats_report_constructs_and_lengths(rows):
    counts = stats(rows[:500])
    assert counts["rows"] == 500 and sum(counts["splits"].values()) == 500
    assert 5 <= counts["request_words"]["mean"] <= 12 and counts["constructs"]["type:commit"] > 0


def test_dev_set_golds_are_valid_and_hand_written():
    dev = TASK.dev()
    assert len(dev) >= 100
    assert [(r["query"], problems_of(r["query"])[0].reason) for r in dev if problems_of(r["query"])] == []
    requests = {r["request"] for r in dev}
    assert {"find Python files with async functions", "commits by erik in sourcegraph last week",
            "find config files"} <= requests
    assert not requests & {r["request"] for r in examples(2000, seed=0)}
    assert all(r["date"] and isinstance(r["candidate_repos"], list) for r in dev)


def _dev_terms() -> set[str]:
    return {term.strip('"') for r in TASK.dev() for term in re.findall(r'"[^"]+"|\S+', r["query"])}


def _pattern_tables() -> dict[str, set[str]]:
    """Every vocab table whose text becomes a gold's pattern or ``content:`` value, by name. Symbol names
    composed in intents.py are VERB_NOUNS (FUNCTIONS), a noun and a suffix (TYPES) or one of NOUNS; IDIOMS
    is every code idiom idioms.py composes (its slot values alone: test_sourcegraph_idioms.py)."""
    v = vocab
    return {"CODE": {code for codes in v.CODE.values() for code in codes}, "CONCEPTS": {c for _, c, _ in v.CONCEPTS},
            "FUNCTIONS": set(v.FUNCTIONS), "TYPES": set(v.TYPES), "CONSTANTS": set(v.CONSTANTS),
            "FLAGS_NAMES": set(v.FLAGS_NAMES), "HEADERS": set(v.HEADERS), "TERMS": set(v.TERMS),
            "NOUNS": set(v.NOUNS + v.TYPE_SUFFIXES), "TOPICS": {text for pair in v.TOPICS for text in pair},
            "MESSAGES": set(v.MESSAGES), "REGEXES": {regex for _, regex, _ in v.REGEXES},
            "SEQUENCES": {text for pair in v.SEQUENCES for text in pair}, "LITERALS": set(v.LITERALS),
            "PHRASES": set(v.PHRASES), "STRUCTURAL": {template for _, template, _ in v.STRUCTURAL},
            "SPOKEN_IDENTS": set(_said_in_words()), "IDIOMS": set(WRITTEN_IN)}


#: a dev term a table may also hold: one word in one case (TODO, Config, boto3, panic) is typed the same in
#: the request and the query, so teaching it gives nothing of the dev answer away
_ONE_WORD = re.compile(r"[a-z][a-z0-9]*|[A-Z][a-z]*|[A-Z]+")


def test_no_pattern_text_of_the_generator_is_one_a_dev_gold_searches_for():
    """The dev set checks code, names and phrases the generator never taught, in any casing or spacing:
    "rate limiter" taught as words would contradict a dev gold's RateLimiter, and MAX_RETRIES its MaxRetries."""
    def norm(text: str) -> str:
        return re.sub(r"[\s_\\-]", "", text.lower())  # fmt\.Println\( is fmt.Println(, csrf token csrf_token

    parsed = [parse_query(r["query"]) for r in TASK.dev()]
    searched = {norm(node.value): node.value for query in parsed
                for node in query.patterns() + [p for p in query.params() if p.field == "content"]
                if not _ONE_WORD.fullmatch(node.value)}
    tables = _pattern_tables()
    leaks = {name: found for name, texts in tables.items()
             if (found := sorted(f"{text} (dev: {searched[norm(text)]})" for text in texts if norm(text) in searched))}
    assert len(searched) > 200 and len(tables["CONCEPTS"]) > 150 and sum(map(len, tables.values())) > 5000
    assert not leaks, f"vocab tables teach pattern text a dev gold searches for (replace each): {leaks}"


def test_no_name_said_in_words_is_one_a_dev_gold_searches_for():
    """The dev set checks casing names from words on names the generator never taught ("kafka consumers":
    KafkaConsumer), in any casing: RateLimiter, rate_limiter and RATE_LIMITER are one name."""
    def norm(name: str) -> str:
        return name.lower().replace("_", "")

    names = {norm(name) for name in _said_in_words()}
    assert len(vocab.SPOKEN_IDENTS) > 150 and not names & {norm(term) for term in _dev_terms()}
    assert not {words for _, words in vocab.SPOKEN_IDENTS} & {spoken for spoken, _ in vocab.TOPICS}
