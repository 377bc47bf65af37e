"""Benchmark 4: LoRA SFT wall time, `querytune train` from the command to the registered adapter.

The base model is resolved first and left out of the time (its weights are "on local
disk", as a downloaded Qwen3 would be). Then, in the same run, the plain TRL baseline
(``bench/trl_baseline.py``) trains the same rows with TRL's defaults.

    python -m bench.sft configs/sourcegraph/sft-gpu.yaml [--no-baseline] [--out DIR]
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from bench.common import default_storage, querytune_command, results_dir, run_timed, table, write

GOAL_S = 30.0


def prepare_base(config: str) -> dict:
    """Build or find the base model folder, and count the tokens of the rows it will train on."""
    from querytune.experiments import get_task
    from querytune.platform import data, models
    from querytune.platform.config import SftTrainConfig, load_config

    cfg = load_config(config, SftTrainConfig)
    began = time.perf_counter()
    base = models.resolve(cfg.model.name)
    built_s = time.perf_counter() - began
    task = get_task(cfg.task)
    rows = data.to_sft(task, data.build(task, cfg.data)["train"])
    tokenizer = models.load_tokenizer(base)
    texts = [tokenizer.apply_chat_template(r["prompt"] + r["completion"], tokenize=False) for r in rows]
    lengths = [len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]
    return {"model": cfg.model.name, "base_dir": str(base), "base_build_s": built_s, "examples": len(rows),
            "epochs": cfg.sft.epochs, "batch_size": cfg.sft.batch_size, "lora_r": cfg.lora.r,
            "tokens_mean": sum(lengths) / len(lengths), "tokens_max": max(lengths)}


def ours(config: str, storage: Path, register_as: str, out: Path) -> dict:
    """`querytune train` under a fresh run name (an existing one would resume, not train)."""
    run = f"bench-sft-{int(time.time())}"
    timed = run_timed(querytune_command("train", config, "--set", f"run.storage_path={storage}",
                                        "--set", f"run.name={run}", "--set", f"run.register_as={register_as}"),
                      out / "sft-querytune.log")
    adapter = storage / "adapters" / register_as
    metrics = json.loads((adapter / "querytune.json").read_text())["metrics"]
    return {**timed, "train_s": metrics.get("train_runtime_s"), "train_loss": metrics.get("train_loss"),
            "adapter": str(adapter)}


def baseline(config: str, work: Path, out: Path) -> dict:
    result = work / "baseline.json"
    timed = run_timed([sys.executable, "-m", "bench.trl_baseline", config, "--adapter", str(work / "baseline"),
                       "--result", str(result)], out / "sft-trl-baseline.log")
    inner = json.loads(result.read_text())
    return {**timed, **{k: v for k, v in inner.items() if k != "wall_s"}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", nargs="?", default="configs/sourcegraph/sft-gpu.yaml")
    parser.add_argument("--no-baseline", action="store_true", help="skip the plain TRL run")
    parser.add_argument("--out", help="results folder (default $OUT or runs/bench/)")
    parser.add_argument("--storage", default=default_storage(), help="runs and adapter registry of the session")
    parser.add_argument("--register-as", default="sourcegraph", help="registry name of the trained adapter")
    args = parser.parse_args()
    out = results_dir(args.out)
    work = Path(tempfile.mkdtemp(prefix="bench-sft-"))

    setup = prepare_base(args.config)
    result = {"setup": setup, "querytune": ours(args.config, Path(args.storage), args.register_as, out),
              "goal_s": GOAL_S}
    if not args.no_baseline:
        result["trl_default"] = baseline(args.config, work, out)
    write(out, "sft", result)

    rows = [["querytune train", result["querytune"]["wall_s"], result["querytune"]["train_s"], GOAL_S]]
    if "trl_default" in result:
        rows.append(["plain TRL SFTTrainer, defaults", result["trl_default"]["wall_s"],
                     result["trl_default"]["train_s"], "baseline"])
    print(table(f"SFT {setup['model']} LoRA r{setup['lora_r']}, {setup['examples']} examples x {setup['epochs']} "
                f"epochs, mean {setup['tokens_mean']:.0f} tokens", ["run", "wall s", "trainer.train s", "goal s"],
                rows))


if __name__ == "__main__":
    main()
