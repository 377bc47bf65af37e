"""Per-example metrics and the GRPO reward, including the original report's outputs."""
from __future__ import annotations

import math

from querytune.experiments import get_task
from querytune.experiments.sourcegraph.metrics import METRICS, SCORER_VERSION, reward, score

TASK = get_task("sourcegraph")
REPORT_DATE = "2026-11-25"
SG = ["github.com/sourcegraph/sourcegraph", "github.com/sourcegraph/cody"]


def example(query: str, candidates: list[str] | None = None) -> dict:
    return {"request": "r", "query": query, "candidate_repos": candidates or [], "date": REPORT_DATE}


def test_report_output_with_invented_async_filter_is_a_hallucination():
    metrics = score(example('lang:python "async def"'), "lang:python async:yes")
    assert metrics["syntax_valid"] == 0.0 and metrics["hallucinated_filter"] == 1.0
    assert metrics["score"] == 0.0


def test_report_output_with_escaped_quotes_is_an_escape_artifact_and_a_needless_repo():
    gold = example('type:commit author:erik after:"1 week ago"')
    metrics = score(gold, 'repo:sourcegraph type:commit author:erik after:\\"1 week ago\\"')
    assert metrics["escape_artifact"] == 1.0
    assert metrics["syntax_valid"] == 0.0
    assert metrics["unnecessary_repo"] == 1.0
    assert math.isnan(metrics["candidate_repo_used"])


def test_report_output_once_unescaped_parses_but_still_adds_a_repo_the_gold_lacks():
    metrics = score(example('type:commit author:erik after:"1 week ago"'),
                    'repo:sourcegraph type:commit author:erik after:"1 week ago"')
    assert metrics["syntax_valid"] == 1.0 and metrics["unnecessary_repo"] == 1.0
    assert metrics["semantic_match"] == 0.0 and metrics["pattern_match"] == 1.0
    assert 0 < metrics["filter_f1"] < 1


def test_equivalent_spelling_matches_the_gold():
    gold = example('type:commit repo:sourcegraph author:erik after:"1 week ago"')
    metrics = score(gold, "type:commit since:2026-11-18 r:sourcegraph author:erik")
    assert metrics["score"] == metrics["semantic_match"] == metrics["filter_f1"] == 1.0


def test_candidate_repo_use_is_measured_only_when_the_gold_uses_one():
    gold = example("type:commit repo:^github\\.com/sourcegraph/sourcegraph$ author:erik", SG)
    assert score(gold, "type:commit repo:sourcegraph/sourcegraph author:erik")["candidate_repo_used"] == 1.0
    assert score(gold, "type:commit author:erik")["candidate_repo_used"] == 0.0
    unrelated = example("lang:go panic", SG)
    assert math.isnan(score(unrelated, "lang:go panic")["candidate_repo_used"])
    assert score(unrelated, "repo:^github\\.com/sourcegraph/cody$ lang:go panic")["unnecessary_repo"] == 1.0


def test_every_metric_is_declared_with_a_direction():
    metrics = score(example("lang:go panic"), "lang:go panic")
    assert set(metrics) == set(METRICS) and METRICS["score"] and not METRICS["hallucinated_filter"]
    assert TASK.metrics is METRICS and SCORER_VERSION == 2


def test_reward_orders_outputs_from_garbage_to_exact():
    gold = 'type:commit author:erik after:"1 week ago"'
    outputs = ["type:commit author:erik after:1 week ago",  # does not validate
               'repo:sourcegraph type:commit author:bob after:"1 week ago"',  # needless repo, wrong author
               'type:commit author:bob after:"1 week ago"',  # wrong author
               'type:commit after:"7 days ago" author:erik']  # equivalent
    rewards = reward([None] * 4, outputs, query=[gold] * 4, date=[REPORT_DATE] * 4, candidate_repos=[[]] * 4)
    assert rewards[0] == 0.0 and rewards[-1] == 1.0
    assert rewards[0] < rewards[1] < rewards[2] < rewards[3]


def test_reward_reads_chat_message_completions():
    completion = [{"role": "assistant", "content": "lang:go panic"}]
    assert reward(["p"], [completion], query=["lang:go panic"], date=[REPORT_DATE]) == [1.0]


def test_messages_state_task_date_and_candidates_and_target_is_the_gold():
    row = {"request": "commits by erik in sourcegraph last week", "query": "q", "date": REPORT_DATE,
           "candidate_repos": SG}
    system, user = TASK.messages(row)
    assert system["role"] == "system" and "query only" in system["content"]
    assert REPORT_DATE in system["content"] and SG[0] in system["content"]
    assert user == {"role": "user", "content": row["request"]}
    assert TASK.target(row) == "q"
    assert "Candidate" not in TASK.messages({**row, "candidate_repos": []})[0]["content"]


def test_a_gold_that_does_not_parse_raises_gold_error_instead_of_scoring_zero():
    import pytest

    from querytune.experiments.base import GoldError

    with pytest.raises(GoldError, match="does not validate"):
        score(example("lang:python async:yes"), "lang:python async")
    assert TASK.scorer_version == SCORER_VERSION


def test_repo_anchors_count_when_candidates_tell_repos_apart():
    web = ["github.com/acme/web", "github.com/acme/web-app"]
    gold = example("repo:^github\\.com/acme/web$ TODO", web)
    assert score(gold, "repo:acme/web$ TODO")["score"] == 1.0
    assert score(gold, "repo:acme/web TODO")["score"] == 0.0  # also searches web-app
    assert score(gold, "repo:acme/web TODO")["candidate_repo_used"] == 1.0
    assert score(gold, "repo:^acme/web$ TODO")["score"] == 0.0  # no host: matches no repo
    alone = example("repo:^github\\.com/acme/web$ TODO", ["github.com/acme/web", "github.com/acme/infra"])
    assert score(alone, "repo:acme/web TODO")["score"] == 1.0


def test_unknown_name_value_the_request_asks_for_is_not_a_hallucination():
    row = {"request": "where do we use nolint:errcheck", "query": "lang:go nolint:errcheck", "date": REPORT_DATE}
    metrics = score(row, 'lang:go "nolint:errcheck"')
    assert metrics["score"] == metrics["syntax_valid"] == 1.0 and metrics["hallucinated_filter"] == 0.0
    asked_async = score({**row, "request": "python files with async functions", "query": 'lang:python "async def"'},
                        "lang:python async:yes")
    assert asked_async["hallucinated_filter"] == 1.0 and asked_async["syntax_valid"] == 0.0


def test_repo_and_hallucination_metrics_behave_on_the_dev_set():
    """Typical mistakes on every dev row: dropping the repo, adding one, inventing a filter."""
    import re

    from querytune.experiments.sourcegraph.grammar import parse_query

    checked = {"dropped": 0, "added": 0}
    for row in TASK.dev():
        invented = score(row, row["query"] + " async:yes")
        assert invented["hallucinated_filter"] == 1.0 and invented["score"] == 0.0, row["query"]
        query = parse_query(row["query"])
        repos = [p for p in query.params() if p.field == "repo" and not p.predicate and not p.negated]
        uses_candidate = any(c in row["constructs"] for c in ("candidates: one used", "candidates: several used"))
        if uses_candidate and len(repos) == 1 and not repos[0].rev and not query.hoisted:
            dropped = re.sub(r"\s+", " ", row["query"].replace(repos[0].raw, "")).strip()
            if dropped and not any(p.field == "rev" for p in query.params()):
                metrics = score(row, dropped)
                assert metrics["candidate_repo_used"] == 0.0 and metrics["score"] == 0.0, row["query"]
                checked["dropped"] += 1
        if row["candidate_repos"] and not repos:
            added = f"repo:^{re.escape(row['candidate_repos'][0])}$ {row['query']}"
            metrics = score(row, added)
            assert metrics["unnecessary_repo"] == 1.0 and metrics["score"] == 0.0, row["query"]
            assert math.isnan(metrics["candidate_repo_used"])
            checked["added"] += 1
    assert checked["dropped"] >= 20 and checked["added"] >= 10, checked
