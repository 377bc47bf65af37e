"""The benchmark harness's own arithmetic and plumbing: a wrong percentile or a lost request is a wrong number."""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from bench import fixtures
from bench.common import percentiles
from bench.load import client_pool, closed_loop, sequential
from querytune.serve.config import load_serve_file


def test_percentiles_are_nearest_rank_on_sorted_values():
    stats = percentiles(list(range(100, 0, -1)))
    assert ((stats["p50"], stats["p95"], stats["p99"], stats["min"], stats["max"], stats["n"])
            == (50, 95, 99, 1, 100, 100))
    assert percentiles([]) == {"n": 0}


def test_unconstrained_copy_turns_the_grammar_off_for_every_adapter_and_still_validates():
    path = fixtures.unconstrained(fixtures.SERVE_CONFIG)
    adapters = [a for d in yaml.safe_load(open(path))["applications"][0]["args"]["deployments"] for a in d["adapters"]]
    assert adapters and all(a["constrained"] is False for a in adapters)
    assert all(not a.constrained for d in load_serve_file(path).app.args.deployments for a in d.adapters)


class _Echo(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        query = json.loads(body).get("query")
        answer = json.dumps({"retries": 2, "truncated": True} if query == "again" else {}).encode()
        time.sleep(0.0025)  # the app time it reports, so the client's time always exceeds it
        self.send_response(200 if query != "fail" else 422)
        self.send_header("Content-Length", str(len(answer)))
        self.send_header("Server-Timing", "app;dur=2.5, call;dur=2, engine;dur=1.5")
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):
        pass


def test_a_trained_adapter_is_served_under_its_tasks_name_and_a_missing_one_is_named(tiny_model, tmp_path):
    tiny = ("model.name=" + tiny_model, "lora.r=4", "lora.alpha=8")
    for task in fixtures.TRAIN_CONFIGS:
        fixtures.make_adapter(task, fixtures.TRAIN_CONFIGS[task], tmp_path, name=f"{task}-sft", overrides=tiny)
    made = fixtures.ensure_adapters(tmp_path, fixtures.trained_adapters(["sourcegraph=sourcegraph-sft",
                                                                       "qmd=qmd-sft"]))
    assert made == {}  # nothing random: both routes serve the trained weights
    for task in fixtures.TRAIN_CONFIGS:
        trained = (tmp_path / "adapters" / f"{task}-sft" / "adapter_model.safetensors").read_bytes()
        assert (tmp_path / "adapters" / task / "adapter_model.safetensors").read_bytes() == trained
    with pytest.raises(SystemExit, match="no adapter 'qmd-grpo' registered"):
        fixtures.ensure_adapters(tmp_path, {"qmd": "qmd-grpo"})
    with pytest.raises(SystemExit, match="expected TASK=NAME"):
        fixtures.trained_adapters(["qmd-sft"])


def test_load_counts_answers_errors_and_resampled_answers_per_route():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    requests = [("/a", {"query": "x"}), ("/b", {"query": "fail"}), ("/a", {"query": "again"})]
    try:
        one_by_one = sequential(url, requests, 9)
        assert (one_by_one["requests"], one_by_one["errors"]) == (9, 3)
        assert one_by_one["by_route"]["/a"]["n"] == 6 and "/b" not in one_by_one["by_route"]
        assert (one_by_one["resampled"], one_by_one["truncated"]) == (3, 3)
        stages = one_by_one["stages_ms"]  # the server's Server-Timing split, and the client's time outside it
        assert stages["app"]["p50"] == 2.5 and stages["engine"]["n"] == 6 and "queue" not in stages
        assert 0 < stages["outside_app"]["p50"] < one_by_one["latency_ms"]["p50"]
        with client_pool(2) as pool:
            level = closed_loop(pool, url, requests, concurrency=4, duration_s=4.0, warmup_s=0.5, processes=2)
        assert level["concurrency"] == 4 and level["throughput_rps"] > 0 and level["errors"] > 0
    finally:
        server.shutdown()


def test_quality_variants_train_beside_the_shipped_config_and_are_judged_on_dev_and_val():
    import argparse

    import pytest

    from bench.quality import cells_for, parse_variants

    tasks = ["sourcegraph", "qmd"]
    variants = parse_variants([["ep8", "sft.epochs=8"], ["sourcegraph:b64", "sft.batch_size=64", "sft.lr=4e-4"]],
                              tasks)
    assert {(v.task, v.name) for v in variants} == {("sourcegraph", "ep8"), ("qmd", "ep8"), ("sourcegraph", "b64")}
    opts = argparse.Namespace(no_grammar=True, best_of=[], grpo=["qmd"], variant=variants,
                              grpo_variant=parse_variants([["qmd:lr5e5", "grpo.lr=5e-5"]], tasks))
    names = {(c.adapter, c.data) for c in cells_for("sourcegraph", opts)}
    assert {("sourcegraph-sft-ep8", "dev"), ("sourcegraph-sft-ep8", "val"), ("sourcegraph-sft-b64", "dev")} <= names
    assert ("sourcegraph-sft-ep8", "test") not in names
    assert not any(c.adapter == "sourcegraph-grpo" for c in cells_for("sourcegraph", opts))
    qmd = {c.adapter for c in cells_for("qmd", opts)}
    assert {"qmd-grpo", "qmd-grpo-lr5e5", "qmd-sft-ep8"} <= qmd and "qmd-sft-b64" not in qmd
    for bad in ([["ep8"]], [["ep8", "epochs"]], [["sft.epochs=8"]], [["a", "x=1"], ["a", "y=2"]],
                [["code:a", "x=1"]]):
        with pytest.raises(SystemExit):
            parse_variants(bad, tasks)


def _fake_quality_steps(monkeypatch, seconds: dict[str, float], fail: set[str] = frozenset()):
    """bench.quality's train and evaluate as short sleeps (``seconds`` per adapter, 0.05 s otherwise), the
    trainings named in ``fail`` raising: when each training and each cell began, and when each training ended."""
    from bench import quality

    began: dict[str, float] = {}
    ended: dict[str, float] = {}

    def train(task, recipe, storage, overrides, out, variant=""):
        name = quality.adapter_name(task, recipe, variant)
        began[name] = time.perf_counter()
        time.sleep(seconds.get(name, 0.05))
        if name in fail:
            raise RuntimeError(f"train {name} exited with 1")
        ended[name] = time.perf_counter()
        return {"wall_s": ended[name] - began[name]}

    def evaluate(cell, storage, out, opts):
        began[cell.name] = time.perf_counter()
        time.sleep(0.05)
        return {"cell": cell.__dict__, "name": cell.name, "wall_s": 0.05, "count": 1, "parse_ok": 1.0, "errors": 0,
                "metrics": {"score": 1.0}}

    monkeypatch.setattr(quality, "train", train)
    monkeypatch.setattr(quality, "evaluate", evaluate)
    return began, ended


def test_quality_judges_a_task_while_another_still_trains_and_reports_in_cells_for_order(monkeypatch, tmp_path):
    from bench import quality

    opts = quality.parse_args(["--tasks", "sourcegraph", "qmd", "--grpo", "qmd", "--no-grammar", "--jobs", "2"])
    began, ended = _fake_quality_steps(monkeypatch, {"qmd-grpo": 1.0})  # qmd's GRPO: the slow training
    trained, results = quality.train_and_evaluate(opts, tmp_path, tmp_path)
    # completion order puts both base cells first; the report keeps cells_for's
    assert [r["name"] for r in results] == [c.name for t in opts.tasks for c in quality.cells_for(t, opts)]
    assert not any("error" in r for r in results) and set(trained) == {"sourcegraph-sft", "qmd-sft", "qmd-grpo"}
    sourcegraph_sft = [r["name"] for r in results if r["cell"]["adapter"] == "sourcegraph-sft"]
    assert len(sourcegraph_sft) == 3 and max(began[n] for n in sourcegraph_sft) < ended["qmd-grpo"]
    assert began["qmd-base-dev"] < ended["qmd-sft"] and began["qmd-grpo"] >= ended["qmd-sft"]
    assert all(began[r["name"]] >= ended[r["cell"]["adapter"]] for r in results if r["cell"]["adapter"])


def test_quality_fails_only_the_cells_of_a_failed_training_and_still_writes_the_table(monkeypatch, tmp_path):
    from bench import quality

    argv = ["--tasks", "qmd", "--grpo", "qmd", "--variant", "ep8", "sft.epochs=8", "--best-of", "4",
            "--storage", str(tmp_path), "--out", str(tmp_path)]
    began, ended = _fake_quality_steps(monkeypatch, {}, fail={"qmd-sft"})
    quality.main(argv)
    written = json.loads((tmp_path / "quality.json").read_text())
    errors = {r["name"]: r.get("error", "") for r in written["results"]}
    assert list(errors) == [c.name for c in quality.cells_for("qmd", quality.parse_args(argv))]
    failed = {name for name, error in errors.items() if "train qmd-sft exited with 1" in error}
    assert failed == {"qmd-qmd-sft-dev", "qmd-qmd-sft-dev-grammar", "qmd-qmd-sft-dev-best4", "qmd-qmd-grpo-dev"}
    assert errors["qmd-base-dev"] == errors["qmd-qmd-sft-ep8-dev"] == ""
    assert "qmd-grpo" not in began  # no GRPO from a parent that never registered
    assert "exited with 1" in written["trained"]["qmd-grpo"]["error"]
    assert "error" not in written["trained"]["qmd-sft-ep8"]
    markdown = (tmp_path / "quality.md").read_text()
    assert "| qmd-sft-ep8 | dev |" in markdown and "| base | dev |" in markdown and "| qmd-sft |" not in markdown


def test_quality_retries_add_a_grammar_cell_that_resamples_as_a_route_does():
    from bench.quality import cells_for, parse_args

    opts = parse_args(["--tasks", "sourcegraph", "--retries", "2"])
    resampling = [c for c in cells_for("sourcegraph", opts) if c.retries]
    assert [(c.name, c.grammar) for c in resampling] == [("sourcegraph-sourcegraph-sft-dev-grammar-retry2", True)]
    assert not any(c.retries for c in cells_for("sourcegraph", parse_args(["--tasks", "sourcegraph"])))


def test_quality_tells_where_each_trainings_time_went_from_its_manifest(tmp_path):
    from bench.quality import time_table

    folder = tmp_path / "adapters" / "qmd-sft"
    folder.mkdir(parents=True)
    (folder / "querytune.json").write_text(json.dumps({"metrics": {"time_model_s": 2.5, "time_train_s": 300.0}}))
    text = time_table({"qmd-sft": {"wall_s": 340.0}, "qmd-grpo": {"error": "exited with 1"}}, tmp_path)
    assert "| qmd-sft | 340 | 2.5 | - | - | 300 | - | - |" in text and "qmd-grpo" not in text


def test_grammar_probe_replay_finds_the_first_token_a_grammar_refuses():
    """The probe's verdict on GPU answers: the engine's own failure ('hyde::', a second colon where the
    qmd grammar forces a space) is refused at that token; a well-formed answer and its end of turn pass."""
    import pytest

    pytest.importorskip("llguidance", reason="llguidance is in the dev extra (pip install -e '.[dev]')")
    from bench.grammar_probe import _first_refused
    from querytune.experiments import get_task
    from querytune.platform.constrained import new_matcher
    from tests.experiments import grammar_engines as engines

    tokenizer, grammar = engines.tokenizer(), get_task("qmd").grammar("lark")
    ids = tokenizer("hyde: Tide pools form where rocks hold sea water.\nlex: tide pool\nvec: how tide pools form",
                    add_special_tokens=False).input_ids
    assert _first_refused(new_matcher(tokenizer, grammar, engines.vocab_size()), ids + [tokenizer.eos_token_id]) is None
    broken = tokenizer("hyde::", add_special_tokens=False).input_ids
    assert _first_refused(new_matcher(tokenizer, grammar, engines.vocab_size()), broken) == len(broken) - 1


def test_vllm_baseline_gets_our_engine_settings_as_flags_and_our_routes_prompts():
    from dataclasses import dataclass, field
    from datetime import date

    from bench.vllm_server import FLAGS, chat_requests, server_command
    from querytune.experiments import get_task

    @dataclass
    class Args:  # the AsyncEngineArgs fields our replica sets, as vLLM's dataclass holds them
        model: str = "/models/base"
        dtype: str = "bfloat16"
        seed: int = 0
        max_model_len: int = 1024
        gpu_memory_utilization: float = 0.85
        max_num_seqs: int | None = 256
        enable_lora: bool = True
        max_lora_rank: int = 16
        max_loras: int = 2
        max_cpu_loras: int = 6
        enable_prefix_caching: bool = True
        enforce_eager: bool = False
        compilation_config: dict = field(default_factory=lambda: {"cudagraph_capture_sizes": [1, 2]})
        structured_outputs_config: dict = field(default_factory=dict)
        speculative_config: dict | None = None

    command = server_command(Args(), {"sourcegraph": Path("/a/sg"), "qmd": Path("/a/qmd")}, port=8123)
    assert len(FLAGS) == 15 and command[command.index("--port") + 1] == "8123"
    assert command[command.index("--max-num-seqs") + 1] == "256" and "--enable-lora" in command
    assert "--enforce-eager" not in command and "--speculative-config" not in command
    assert json.loads(command[command.index("--compilation-config") + 1]) == {"cudagraph_capture_sizes": [1, 2]}
    assert command[-3:] == ["--lora-modules", "sourcegraph=/a/sg", "qmd=/a/qmd"]

    rows = {"sourcegraph": fixtures.examples("sourcegraph", 2), "qmd": fixtures.examples("qmd", 2)}
    requests = chat_requests(["sourcegraph", "qmd"], rows, {"sourcegraph": 48, "qmd": 160}, {"qmd": "start: x"})
    assert [body["model"] for _, body in requests] == ["sourcegraph", "qmd", "sourcegraph", "qmd"]
    path, first = requests[0]
    example = {**rows["sourcegraph"][0], "date": date.today().isoformat()}  # what the route builds
    assert path == "/v1/chat/completions" and first["messages"] == get_task("sourcegraph").messages(example)
    assert (first["max_tokens"], first["temperature"], "structured_outputs" in first) == (48, 0.0, False)
    assert requests[1][1]["structured_outputs"] == {"grammar": "start: x"}
