"""The load tester against a real (uvicorn, no Ray) server: bounds, loops, results, refusals."""
from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from querytune.cli import app as cli
from querytune.serve.app import local_app
from querytune.serve.loadtest import LoadSpec, LoadTestError, check_target, percentile, run
from tests.serve.conftest import tiny_serve_config, uvicorn_thread


@pytest.fixture(scope="module")
def url(registry):
    with uvicorn_thread(local_app(tiny_serve_config(registry))) as base:
        yield base


def test_closed_loop_sends_the_requested_count_and_writes_results(url, tmp_path):
    summary = run(LoadSpec(url=url, route="/sourcegraph/query", concurrency=3, requests=12), tmp_path)
    assert summary["mode"] == "closed" and summary["requests"] == summary["ok"] == 12 and summary["errors"] == {}
    latency = summary["latency_ms"]
    assert 0 < latency["p50"] <= latency["p95"] <= latency["p99"] <= latency["max"]
    assert summary["throughput_rps"] > 0 and 0 <= summary["valid_rate"] <= 1
    assert json.loads((tmp_path / "summary.json").read_text()) == summary
    assert len((tmp_path / "samples.jsonl").read_text().splitlines()) == 12
    assert (tmp_path / "loadtest.png").read_bytes().startswith(b"\x89PNG")


def test_duration_bounds_a_test_with_more_requests_than_time(url):
    summary = run(LoadSpec(url=url, route="/healthz", concurrency=2, requests=10**9, duration_s=1.0))
    assert 0 < summary["requests"] < 10**9 and summary["duration_s"] < 15


def test_open_loop_starts_requests_on_schedule(url, tmp_path):
    summary = run(LoadSpec(url=url, route="/qmd/expand", requests=6, open_loop_rps=20), tmp_path)
    starts = [json.loads(line)["start_s"] for line in (tmp_path / "samples.jsonl").read_text().splitlines()]
    assert summary["mode"] == "open" and summary["requests"] == 6
    assert all(start >= i / 20 - 0.01 for i, start in enumerate(starts))  # never ahead of the schedule


def test_error_answers_are_counted_by_status(url):
    summary = run(LoadSpec(url=url, route="/v1/chat/completions", requests=4, concurrency=2,
                           body={"model": "ghost", "messages": [{"role": "user", "content": "x"}]}))
    assert summary["ok"] == 0 and summary["errors"] == {"404": 4} and summary["latency_ms"]["p50"] is None


@pytest.mark.parametrize("target", ["http://example.com:8000", "http://10.1.2.3:8000", "http://[2001:db8::1]/"])
def test_remote_targets_are_refused_unless_allowed(target):
    with pytest.raises(LoadTestError, match="--allow-remote"):
        check_target(target, allow_remote=False)
    check_target(target, allow_remote=True)


@pytest.mark.parametrize("target", ["http://127.0.0.1:8000", "http://localhost:8000", "http://[::1]:8000"])
def test_loopback_targets_are_allowed(target):
    check_target(target, allow_remote=False)


def test_percentile_is_nearest_rank():
    values = list(range(1, 101))
    assert (percentile(values, 50), percentile(values, 99), percentile(values, 100)) == (50, 99, 100)
    assert percentile([], 50) is None


def test_cli_prints_a_summary_and_refuses_remote_targets(url, tmp_path):
    ran = CliRunner().invoke(cli, ["loadtest", url, "--route", "/qmd/expand", "--requests", "4", "--concurrency",
                                   "2", "--out", str(tmp_path)])
    assert ran.exit_code == 0, ran.output
    assert "throughput_rps" in ran.output and (tmp_path / "summary.json").is_file()
    refused = CliRunner().invoke(cli, ["loadtest", "http://example.com"])
    assert refused.exit_code == 2 and "--allow-remote" in refused.output
