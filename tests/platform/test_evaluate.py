"""The eval harness: a real tiny model end to end, bootstrap CIs on known data, scoring
completions made elsewhere, and paired comparison of runs."""
import json
import math

import pytest
from typer.testing import CliRunner

from querytune.cli import app
from querytune.experiments.base import GoldError
from querytune.platform.evaluate import (
    EvalError,
    EvalSpec,
    bootstrap_ci,
    compare_runs,
    new_folder,
    paired_rows,
    run_eval,
    run_score,
    verdict,
)
from querytune.platform.evaluate.report import latency_figure
from tests.conftest import TOY_TASK
from tests.toy import ToyTask

PNG_MAGIC = b"\x89PNG"


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


# ---- bootstrap --------------------------------------------------------------------------

def test_constant_data_has_a_zero_width_interval():
    low, high = bootstrap_ci([0.7] * 50)
    assert low == high == pytest.approx(0.7)


def test_interval_of_binary_data_matches_the_normal_approximation():
    values = [1.0] * 120 + [0.0] * 280  # p = 0.3, n = 400: 95% band ~ 0.3 +- 0.045
    low, high = bootstrap_ci(values, seed=1)
    assert 0.24 < low < 0.27 and 0.33 < high < 0.36


def test_bootstrap_is_deterministic_for_a_seed():
    values = [0.1, 0.9, 0.4, 0.4, 1.0, 0.0, 0.3]
    assert bootstrap_ci(values, seed=3) == bootstrap_ci(values, seed=3)
    assert bootstrap_ci(values, seed=3) != bootstrap_ci(values, seed=4)


def test_nan_is_skipped_and_no_data_gives_nan():
    assert bootstrap_ci([1.0, math.nan, 1.0]) == (1.0, 1.0)
    assert all(math.isnan(v) for v in bootstrap_ci([math.nan]))


def test_verdict_follows_the_metric_direction():
    better = {"ci_low": 0.1, "ci_high": 0.3, "higher_is_better": True}
    assert verdict(better) == "better"
    assert verdict({**better, "higher_is_better": False}) == "worse"
    assert verdict({**better, "ci_low": -0.1}) == "no clear difference"


# ---- eval end to end --------------------------------------------------------------------

@pytest.fixture(scope="module")
def toy_run(tmp_path_factory, tiny_model):
    out = tmp_path_factory.mktemp("runs") / "toy-tiny"
    spec = EvalSpec(task=TOY_TASK, model=tiny_model, max_new_tokens=6, out=str(out))
    return run_eval(spec)


def test_eval_of_a_tiny_model_writes_rows_summary_and_report(toy_run):
    rows = [json.loads(line) for line in (toy_run / "examples.jsonl").read_text().splitlines()]
    assert [r["example"] for r in rows] == [{"word": w} for w in ("kalo", "mirute", "zopa", "neka")]
    first = rows[0]
    assert first["messages"] == [{"role": "user", "content": "Repeat: kalo"}]
    assert set(first["metrics"]) == {"score", "nonempty"} and first["latency_s"] > 0
    assert isinstance(first["output"], str) and "ok" in first["parse"]

    summary = json.loads((toy_run / "summary.json").read_text())
    assert summary["count"] == 4 and summary["task"] == "toy"
    score = summary["metrics"]["score"]
    assert score["ci_low"] <= score["mean"] <= score["ci_high"] and score["n"] == 4
    assert score["higher_is_better"] is True
    latency = summary["latency"]
    assert latency["first_request_s"] > 0 and latency["p50_s"] <= latency["p95_s"] <= latency["p99_s"]
    cost = summary["cost"]
    assert cost["usd_per_million_queries"] == pytest.approx(
        cost["device_seconds_per_query"] * 1e6 / 3600 * 2.5)


def test_report_embeds_its_plots(toy_run):
    page = (toy_run / "report.html").read_text()
    for name in ("metrics", "latency"):
        assert f'data-file="{name}.png"' in page
        png = (toy_run / f"{name}.png").read_bytes()
        assert png.startswith(PNG_MAGIC) and len(png) > 1000
    assert "data:image/png;base64," in page and "p95" in page


def latency_axis(values: list[float], latency: dict) -> tuple[float, float]:
    import matplotlib.pyplot as plt

    fig = latency_figure(values, latency)
    (ax,) = fig.axes
    plt.close(fig)
    return ax.get_xlim()


def test_latency_histogram_of_a_run_starts_at_zero_at_the_lowest_and_spans_its_data(toy_run):
    rows = [json.loads(line) for line in (toy_run / "examples.jsonl").read_text().splitlines()]
    latency = json.loads((toy_run / "summary.json").read_text())["latency"]
    values = [r["latency_s"] for r in rows]
    low, high = latency_axis(values, latency)
    assert 0 <= low <= min(values) and max([*values, latency["p99_s"]]) <= high


@pytest.mark.parametrize("values", [[0.08] * 4, [0.0] * 3, [0.2, 0.25, 1.3], [12.0, 12.5]],
                         ids=["equal", "zero", "spread", "far-from-zero"])
def test_latency_axis_fits_the_values_instead_of_plus_minus_half_a_second(values):
    latency = {"p50_s": sorted(values)[len(values) // 2], "p95_s": max(values), "p99_s": max(values)}
    low, high = latency_axis(values, latency)
    assert 0 <= low <= min(values) and max(values) <= high
    assert high - low <= max(0.2 * max(values), 0.01) + (max(values) - min(values)) * 1.2  # no ±0.5 s around one value


def test_eval_against_a_baseline_pairs_every_example(toy_run, tiny_model, tmp_path):
    spec = EvalSpec(task=TOY_TASK, model=tiny_model, max_new_tokens=6, out=str(tmp_path / "again"),
                    baseline=str(toy_run))
    summary = json.loads((run_eval(spec) / "summary.json").read_text())
    diff = summary["baseline"]["differences"]["score"]
    # greedy decoding of the same model: every pair is identical
    assert diff["n"] == 4 and diff["mean_diff"] == 0 and diff["wins"] == diff["losses"] == 0
    assert 'data-file="baseline_diff.png"' in (tmp_path / "again" / "report.html").read_text()


def test_eval_reads_examples_from_a_file_and_names_a_bad_row(tiny_model, tmp_path):
    data = write_jsonl(tmp_path / "rows.jsonl", [{"word": "kalo"}, {"wrd": "x"}])
    with pytest.raises(EvalError, match=r"rows.jsonl: row 2: not a toy example \(KeyError"):
        run_eval(EvalSpec(task=TOY_TASK, model=tiny_model, data=str(data), out=str(tmp_path / "r")))


@pytest.mark.parametrize("task", ["qmd", "sourcegraph"])
def test_real_task_dev_set_evaluates_end_to_end(task, tiny_model, tmp_path):
    from querytune.experiments import get_task

    try:
        get_task(task)
    except KeyError as err:
        pytest.skip(f"task {task} does not import yet: {err}")
    result = CliRunner().invoke(app, ["eval", "--task", task, "--model", tiny_model, "--data", "dev",
                                      "--limit", "4", "--max-new-tokens", "16", "--out", str(tmp_path / task)])
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / task / "summary.json").read_text())
    assert summary["count"] == 4 and 0 <= summary["metrics"]["score"]["mean"] <= 1
    assert summary["scorer_version"] == get_task(task).scorer_version


def test_retries_resample_unparsable_answers_as_a_served_route_does(tiny_model, tmp_path):
    """A random-weight model's queries rarely parse: each such answer is sampled again, at most --retries
    times, and the row and summary say how often; an answer that parses is left as it was."""
    result = CliRunner().invoke(app, ["eval", "--task", "sourcegraph", "--model", tiny_model, "--limit", "4",
                                      "--max-new-tokens", "8", "--retries", "2", "--out", str(tmp_path / "r")])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in (tmp_path / "r" / "examples.jsonl").read_text().splitlines()]
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert summary["resampled"]["answers"] == sum(r["retries"] > 0 for r in rows) > 0
    assert summary["resampled"]["samples"] == sum(r["retries"] for r in rows) and "resampled" in result.output
    for row in rows:
        assert row["parse"]["ok"] or row["retries"] == 2, row
    refused = CliRunner().invoke(app, ["eval", "--task", "sourcegraph", "--model", tiny_model, "--limit", "1",
                                       "--retries", "1", "--best-of", "2", "--out", str(tmp_path / "b")])
    assert refused.exit_code != 0 and "--retries 1" in refused.output and "--best-of 2" in refused.output


def test_sourcegraph_summaries_carry_its_scorer_version(tmp_path):
    """The version is the task's protocol member, not an attribute probed for: a summary without
    it could be compared with scores of another scorer."""
    from querytune.experiments.sourcegraph import metrics
    from querytune.experiments.sourcegraph.task import SourcegraphTask

    rows = [{**row, "completion": row["query"]} for row in SourcegraphTask().dev()[:3]]
    out = run_score("sourcegraph", write_jsonl(tmp_path / "done.jsonl", rows), tmp_path / "scored")
    summary = json.loads((out / "summary.json").read_text())
    assert summary["scorer_version"] == metrics.SCORER_VERSION == 2 and summary["metrics"]["score"]["mean"] == 1


# ---- score and compare ------------------------------------------------------------------

COMPLETIONS = [{"word": "kalo", "completion": "kalo"}, {"word": "zopa", "completion": "zopa"},
               {"word": "neka", "completion": "nope"}, {"word": "miru", "completion": ""}]


def test_score_of_hand_written_completions(tmp_path):
    file = write_jsonl(tmp_path / "done.jsonl", COMPLETIONS)
    result = CliRunner().invoke(app, ["score", str(file), "--task", TOY_TASK, "--out", str(tmp_path / "scored")])
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "scored" / "summary.json").read_text())
    assert summary["metrics"]["score"]["mean"] == 0.5 and summary["metrics"]["nonempty"]["mean"] == 0.75
    assert summary["parse"]["failures"] == {"empty": 1} and "latency" not in summary
    page = (tmp_path / "scored" / "report.html").read_text()
    assert "empty answer" in page and 'data-file="metrics.png"' in page


def test_score_names_a_row_without_completion(tmp_path):
    file = write_jsonl(tmp_path / "bad.jsonl", [{"word": "kalo", "completion": "kalo"}, {"word": "zopa"}])
    with pytest.raises(EvalError, match="row 2: needs a string 'completion'"):
        run_score(TOY_TASK, file, tmp_path / "out")


def test_compare_two_runs_gives_paired_differences(tmp_path):
    before = run_score(TOY_TASK, write_jsonl(tmp_path / "a.jsonl", COMPLETIONS), tmp_path / "before")
    fixed = [{**row, "completion": row["word"]} for row in COMPLETIONS]
    after = run_score(TOY_TASK, write_jsonl(tmp_path / "b.jsonl", fixed[::-1]), tmp_path / "after")
    result = CliRunner().invoke(app, ["compare", str(before), str(after), "--out", str(tmp_path / "cmp")],
                                terminal_width=200)
    assert result.exit_code == 0, result.output
    comparison = json.loads((tmp_path / "cmp" / "comparison.json").read_text())
    diff = comparison["differences"]["after"]["score"]
    # rows are matched by input although 'after' lists them in reverse order
    assert diff["n"] == 4 and diff["mean_diff"] == 0.5 and (diff["wins"], diff["losses"]) == (2, 0)
    assert "+0.500" in result.output
    png = (tmp_path / "cmp" / "compare.png").read_bytes()
    assert png.startswith(PNG_MAGIC) and 'data-file="diff_1.png"' in (tmp_path / "cmp" / "report.html").read_text()


def test_compare_needs_two_runs(tmp_path):
    result = CliRunner().invoke(app, ["compare", str(tmp_path)])
    assert result.exit_code == 2 and "at least two" in result.output


def test_duplicate_inputs_pair_in_order():
    rows_a = [{"example": {"q": "x"}, "tag": 1}, {"example": {"q": "x"}, "tag": 2}, {"example": {"q": "y"}, "tag": 3}]
    rows_b = [{"example": {"q": "y"}, "tag": 6}, {"example": {"q": "x"}, "tag": 4}, {"example": {"q": "x"}, "tag": 5}]
    assert [(a["tag"], b["tag"]) for a, b in paired_rows(rows_a, rows_b)] == [(1, 4), (2, 5), (3, 6)]


# ---- every row counts, every run has its own folder, the adapter fits the task ----------------

class GoldlessToy(ToyTask):
    """The toy task, whose gold answers containing '!' do not parse (as some hand-written gold sets)."""

    def score(self, example: dict, completion: str) -> dict[str, float]:
        if "!" in example["word"]:
            raise GoldError(f"gold {example['word']!r} does not parse")
        return super().score(example, completion)


def test_a_row_whose_gold_does_not_parse_counts_as_a_failure(tmp_path):
    rows = [{"word": "kalo", "completion": "kalo"}, {"word": "zo!pa", "completion": "zo!pa"},
            {"word": "neka", "completion": "neka"}, {"word": "miru", "completion": "nope"}]
    out = run_score(f"{__name__}:GoldlessToy", write_jsonl(tmp_path / "done.jsonl", rows), tmp_path / "scored")
    summary = json.loads((out / "summary.json").read_text())
    assert summary["count"] == 4 and summary["n_errors"] == 1
    assert summary["metrics"]["score"]["n"] == 4 and summary["metrics"]["score"]["mean"] == 0.5  # not 2/3
    examples = [json.loads(line) for line in (out / "examples.jsonl").read_text().splitlines()]
    assert examples[1]["error"] == "GoldError: gold 'zo!pa' does not parse" and examples[1]["metrics"]["score"] == 0
    assert all(e["error"] is None for e in examples if e["index"] != 1)
    assert "1 of 4 examples could not be scored" in (out / "report.html").read_text()


def test_runs_started_in_the_same_second_get_folders_of_their_own(tmp_path):
    assert new_folder(tmp_path, "toy-20261201-100000") != new_folder(tmp_path, "toy-20261201-100000")
    file = write_jsonl(tmp_path / "done.jsonl", COMPLETIONS)
    scored = {run_score(TOY_TASK, file, storage=str(tmp_path)) for _ in range(2)}
    assert len(scored) == 2 and all((f / "summary.json").is_file() for f in scored)
    compared = {compare_runs([str(f) for f in scored], storage=str(tmp_path))[2] for _ in range(2)}
    assert len(compared) == 2 and all((f / "comparison.json").is_file() for f in compared)


def registered_adapter(storage, task: str) -> str:
    """A random LoRA on tiny-qwen3, registered as trained for ``task``."""
    from querytune.platform import adapters, models
    from tests.platform.test_adapters import base_model, random_lora

    model, _ = base_model()
    manifest = adapters.Manifest(task=task, recipe="sft", base=adapters.BaseRef(
        model="tiny-qwen3", hash=models.content_hash(models.resolve("tiny-qwen3"))))
    adapters.write_adapter(storage / "out", random_lora(model, seed=1), manifest)
    name = task.replace(":", "-")
    adapters.register(storage / "out", name, str(storage))
    return name


def test_an_adapter_of_another_task_is_refused_naming_both(tiny_model, tmp_path):
    adapter = registered_adapter(tmp_path, "qmd")
    with pytest.raises(EvalError, match="trained for task 'qmd', not 'toy'"):
        run_eval(EvalSpec(task=TOY_TASK, adapter=adapter, storage=str(tmp_path), out=str(tmp_path / "r")))
    assert not (tmp_path / "r").exists()


def test_an_adapter_eval_records_the_base_it_ran_on_not_the_model_option(tiny_model, tmp_path):
    adapter = registered_adapter(tmp_path, TOY_TASK)
    out = run_eval(EvalSpec(task=TOY_TASK, model="default", adapter=adapter, storage=str(tmp_path), limit=1,
                            max_new_tokens=2, out=str(tmp_path / "r")))
    spec = json.loads((out / "summary.json").read_text())["spec"]
    assert (spec["model"], spec["adapter"]) == ("tiny-qwen3", adapter)
