"""Datasets: build from a task or read JSONL/Parquet, split deterministically, fingerprint.

A task's builder may mark rows with a ``split`` column (e.g. sourcegraph holds out whole
phrasing templates for ``test``); otherwise rows are split at random with the config's
seed. The fingerprint is a hash of the rows in order, recorded in every manifest.
"""
from __future__ import annotations

import hashlib
import inspect
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import datasets

    from querytune.experiments.base import Task
    from querytune.platform.config import DataSection


class DataError(ValueError):
    """A data file or row that cannot be used; the message names file and line."""


def read_rows(path: str | Path) -> list[dict[str, Any]]:
    """Rows of a JSONL or Parquet file; a bad line is reported with its number."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: data file not found")
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        try:
            return pq.read_table(path).to_pylist()
        except Exception as err:  # pyarrow raises several unrelated types for bad files
            raise DataError(f"{path}: not a readable Parquet file ({err})") from None
    rows = []
    with open(path, encoding="utf-8", errors="strict") as handle:
        try:
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as err:
                    raise DataError(f"{path}:{number}: not valid JSON ({err.msg} at column {err.colno})") from None
                if not isinstance(row, dict):
                    raise DataError(f"{path}:{number}: each line must be a JSON object, got {type(row).__name__}")
                rows.append(row)
        except UnicodeDecodeError as err:
            raise DataError(f"{path}: not UTF-8 text (byte {err.start})") from None
    if not rows:
        raise DataError(f"{path}: no rows")
    return rows


def check_rows(task: "Task", rows: list[dict], source: str) -> None:
    """Every row must give the task a prompt and a target; the first bad one is named."""
    for number, row in enumerate(rows, 1):
        try:
            task.messages(row)
            task.target(row)
        except (KeyError, TypeError, ValueError) as err:
            raise DataError(f"{source}: row {number}: not a {task.name} example ({type(err).__name__}: {err})") \
                from None


def _from_source(task: "Task", source: str) -> "datasets.Dataset":
    import datasets

    path = Path(source)
    files = sorted(path.glob("*.jsonl")) + sorted(path.glob("*.parquet")) if path.is_dir() else [path]
    rows = []
    for file in files:
        part = read_rows(file)
        check_rows(task, part, str(file))
        split = file.stem if file.stem in ("train", "val", "test") else None
        rows += [{**r, "split": r.get("split", split)} if split else r for r in part]
    if not rows:
        raise DataError(f"{source}: no .jsonl or .parquet files")
    return datasets.Dataset.from_list(rows)


def check_options(task: "Task", cfg: "DataSection") -> None:
    """The builder's options checked here, so a wrong one is named before any worker starts: against
    its keyword parameters, or, where it takes ``**options`` and checks them itself, by building one
    example. qmd's builder reads and cleans every file (4.5 s), so it declares its options and is
    not run twice."""
    if not cfg.options:
        return
    takes_any = any(p.kind is p.VAR_KEYWORD for p in inspect.signature(task.generate).parameters.values())
    try:
        if takes_any:
            task.generate(1, cfg.seed, **cfg.options)
        else:
            inspect.signature(task.generate).bind(1, cfg.seed, **cfg.options)
    except (TypeError, ValueError) as err:
        raise DataError(f"data.options: {err}" if isinstance(err, TypeError) else str(err)) from None


def build(task: "Task", cfg: "DataSection") -> "datasets.DatasetDict":
    """train/val(/test) splits for a task, from its builder or from ``cfg.source``."""
    import datasets

    ds = _from_source(task, cfg.source) if cfg.source else task.generate(cfg.num_examples, cfg.seed, **cfg.options)
    if "split" in ds.column_names and any(ds["split"]):
        splits = {name: ds.filter(lambda r, n=name: r["split"] == n) for name in sorted(set(ds["split"]))}
        splits = {k: v.remove_columns("split") for k, v in splits.items() if len(v)}
    else:
        parts = ds.train_test_split(test_size=cfg.val_fraction, seed=cfg.seed)
        splits = {"train": parts["train"], "val": parts["test"]}
    if "train" not in splits or "val" not in splits:
        raise DataError(f"data for {task.name} needs train and val rows, got splits {sorted(splits)}")
    if cfg.max_train:
        splits["train"] = splits["train"].select(range(min(cfg.max_train, len(splits["train"]))))
    return datasets.DatasetDict(splits)


def fingerprint(splits: "datasets.DatasetDict") -> str:
    """Content hash of every split's rows, in order (not HF's operation-history fingerprint)."""
    sha = hashlib.sha256()
    for name in sorted(splits):
        sha.update(name.encode())
        for row in splits[name]:
            sha.update(json.dumps(row, sort_keys=True, default=str).encode())
    return f"sha256:{sha.hexdigest()[:32]}"


def to_sft(task: "Task", ds: "datasets.Dataset") -> "datasets.Dataset":
    """Conversational prompt/completion rows: TRL then puts the loss on the answer only."""
    def convert(row: dict) -> dict:
        return {"prompt": task.messages(row), "completion": [{"role": "assistant", "content": task.target(row)}]}

    return ds.map(convert, remove_columns=ds.column_names)


def to_prompts(task: "Task", ds: "datasets.Dataset") -> "datasets.Dataset":
    """GRPO rows: the prompt messages, plus every example field for the reward function."""
    return ds.map(lambda row: {"prompt": task.messages(row)})


def write_splits(splits: "datasets.DatasetDict", out: Path) -> dict[str, str]:
    out.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, ds in splits.items():
        target = out / f"{name}.parquet"
        ds.to_parquet(str(target))
        written[name] = str(target)
    return written


def export(task: "Task", cfg: "DataSection", out: Path) -> tuple["datasets.DatasetDict", dict[str, str]]:
    """`querytune data build`: the splits as Parquet files in ``out``, beside a ``stats.json`` of their
    fingerprint, sizes and the task's own statistics; returns the splits and the files written."""
    splits = build(task, cfg)
    written = write_splits(splits, out)
    stats = {"fingerprint": fingerprint(splits), "splits": {k: len(v) for k, v in splits.items()},
             "task_stats": {name: task.stats(ds) for name, ds in splits.items()}}
    (out / "stats.json").write_text(json.dumps(stats, indent=2, default=str))
    return splits, written
