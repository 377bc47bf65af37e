"""The route logic's policy: resample unparsable answers, trust a grammar, fail as values.

An engine cannot be made to answer badly on cue, so these tests drive the service with
a scripted engine (the ``Engine`` protocol, answers given in advance) and check what
the service asked for and what it answered.
"""
from __future__ import annotations

import asyncio
import datetime as dt

from querytune.serve.schemas import ApiError, ExpandRequest, QueryRequest
from querytune.serve.catalog import ServedModel
from querytune.serve.config import ServeConfig
from querytune.serve.engines import Choice, Generation, Sampling
from querytune.serve.service import Service

STANDIN = "tests.serve.standins:SourcegraphStandIn"  # parses one non-empty line


class ScriptedEngine:
    """Answers from a script and records every call; an answer is a text, (text, finish_reason), a list of
    texts (one per choice, for best-of), an exception to raise, or None (hang)."""

    def __init__(self, answers: list, constrained: bool = False):
        self.answers, self.constrained, self.calls = list(answers), constrained, []

    async def generate(self, prompt, model, sampling: Sampling) -> Generation:
        self.calls.append({"messages": prompt, "adapter": model.name, "grammar": sampling.grammar,
                           "temperature": sampling.temperature, "n": sampling.n})
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        if answer is None:
            await asyncio.sleep(5)
        texts = answer if isinstance(answer, list) else [answer]
        choices = [Choice(*t) if isinstance(t, tuple) else Choice(t, 3, "stop") for t in texts]
        return Generation(choices, 10, {"constrained": self.constrained and sampling.grammar is not None})

    async def unload(self, name):
        pass


def service(engine: ScriptedEngine, *, constrained: bool = True, retries: int = 2, **limits) -> Service:
    cfg = ServeConfig.model_validate({
        "routes": {"sourcegraph": {"model": "sg", "retries": retries, "retry_temperature": 0.9},
                   "qmd": {"model": "qmd", "retries": retries}},
        "limits": limits,
        "deployments": [{"name": "d", "adapters": [{"adapter": "sg"}, {"adapter": "qmd"}]}]})
    common = dict(deployment="d", storage_path="/nowhere", base="tiny-qwen3", base_hash="h", recipe="sft",
                  has_parents=False, constrained=constrained)
    catalog = {"sg": ServedModel(name="sg", adapter="sg", task=STANDIN, **common),
               "qmd": ServedModel(name="qmd", adapter="qmd", task="qmd", **common)}
    return Service(cfg, catalog, {"d": engine})


def ask(svc: Service, query: str = "find async python", **fields):
    return asyncio.run(svc.query(QueryRequest(query=query, **fields)))


def test_an_unparsable_answer_is_resampled_warmer_until_it_parses():
    engine = ScriptedEngine(["two\nlines", "lang:python async"])
    answer = ask(service(engine))
    assert answer.valid and answer.query == "lang:python async" and answer.retries == 1 and answer.error is None
    assert [c["temperature"] for c in engine.calls] == [0.0, 0.9]


def test_retries_are_bounded_and_the_last_answer_says_why_it_fails():
    engine = ScriptedEngine(["", "", ""])
    svc = service(engine, retries=2)
    answer = ask(svc)
    assert not answer.valid and answer.retries == 2 and "empty" in answer.error and len(engine.calls) == 3
    assert 'querytune_generation_retries_total{route="sourcegraph"} 2.0' in svc.metrics.render()[0].decode()


def test_a_constrained_answer_that_fails_to_parse_is_resampled_too():
    """The grammar leaves whole-query rules (``after:`` needs ``type:commit``) to the parser."""
    engine = ScriptedEngine(["", "lang:python async"], constrained=True)
    answer = ask(service(engine))
    assert answer.constrained and answer.valid and answer.retries == 1
    assert [c["temperature"] for c in engine.calls] == [0.0, 0.9]
    assert all(call["grammar"] == 'root ::= [a-z:. ]+' for call in engine.calls)


def test_an_adapter_marked_unconstrained_gets_no_grammar():
    engine = ScriptedEngine(["lang:go"], constrained=True)
    assert not ask(service(engine, constrained=False)).constrained
    assert engine.calls[0]["grammar"] is None


def test_an_answer_cut_at_the_budget_says_so_and_is_not_resampled():
    assert ask(service(ScriptedEngine([("lang:go", 3, "length")]))).truncated
    assert not ask(service(ScriptedEngine(["lang:go"]))).truncated
    engine = ScriptedEngine([("two\nlines", 3, "length"), "lang:go"])
    answer = ask(service(engine))
    assert answer.truncated and not answer.valid and answer.retries == 0 and len(engine.calls) == 1


def test_the_route_builds_the_task_example_with_today_as_default_date():
    engine = ScriptedEngine(["lang:go", "lang:go"])
    svc = service(engine)
    ask(svc, candidate_repos=["github.com/acme/web"])
    ask(svc, date="2024-01-31")
    system = [call["messages"][0]["content"] for call in engine.calls]
    assert dt.date.today().isoformat() in system[0] and "github.com/acme/web" in system[0]
    assert "2024-01-31" in system[1]


def test_qmd_expansion_comes_from_the_task_parser():
    engine = ScriptedEngine(["hyde: Set AUTH_SECRET first.\nlex: auth config\nvec: how do I configure auth"])
    answer = asyncio.run(service(engine).expand(ExpandRequest(query="auth config")))
    assert answer.valid and answer.lex == ["auth config"] and answer.vec == ["how do I configure auth"]
    assert answer.hyde == "Set AUTH_SECRET first." and answer.raw.startswith("hyde:")


def test_a_failing_engine_is_a_503_without_its_internals_and_a_slow_one_a_504():
    failed = ask(service(ScriptedEngine([RuntimeError("replica died on 10.0.0.7, pid=4242")])))
    assert isinstance(failed, ApiError) and failed.status == 503
    assert "10.0.0.7" not in failed.message and "pid" not in failed.message  # internals go to the log only
    slow = ask(service(ScriptedEngine([None]), timeout_s=0.05))
    assert isinstance(slow, ApiError) and slow.status == 504 and "limits.timeout_s" in slow.message


def test_a_route_missing_from_the_config_is_a_404_naming_the_setting():
    svc = service(ScriptedEngine([]))
    del svc.cfg.routes["qmd"]
    answer = asyncio.run(svc.expand(ExpandRequest(query="x")))
    assert isinstance(answer, ApiError) and answer.status == 404 and "routes.qmd.model" in answer.message


def test_best_of_samples_n_and_returns_the_tasks_own_choice():
    echo = "lex: kubectl pods\nvec: how do I list pods with kubectl"
    good = ("hyde: kubectl get pods -n prod lists the pods of a namespace with their status and restarts.\n"
            "lex: kubectl get pods namespace\nlex: kubectl describe pod events\n"
            "vec: how do I list and inspect running pods with kubectl")
    engine = ScriptedEngine([[echo, good, "Sure! lex: x"]])
    svc = service(engine)
    answer = asyncio.run(svc.expand(ExpandRequest(query="kubectl", best_of=3)))
    assert answer.raw == good and answer.best_of == 3 and answer.valid
    assert engine.calls[0]["n"] == 3 and engine.calls[0]["temperature"] == 0.8  # routes.qmd.best_of_temperature
    too_many = asyncio.run(svc.expand(ExpandRequest(query="kubectl", best_of=9)))
    assert isinstance(too_many, ApiError) and too_many.status == 422 and too_many.field == "best_of"


def test_best_of_from_the_route_config():
    engine = ScriptedEngine([["lex: a", "lex: b"]])
    svc = service(engine)
    svc.cfg.routes["qmd"].best_of = 2
    answer = asyncio.run(svc.expand(ExpandRequest(query="a")))
    assert answer.best_of == 2 and engine.calls[0]["n"] == 2


def test_warm_up_compiles_each_served_grammar_before_the_first_client_does():
    engine = ScriptedEngine(["x"] * 4)
    asyncio.run(service(engine).warm_up())
    assert [(call["adapter"], call["grammar"] is not None) for call in engine.calls] == [
        ("sg", False), ("qmd", False), ("sg", True), ("qmd", True)]  # each adapter plain, then each grammar
    assert len({call["grammar"] for call in engine.calls}) == 3
