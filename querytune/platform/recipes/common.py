"""The worker glue both recipes share: checkpoint layout, the Ray report callback, resume and
rerun, and the final adapter write.

A recipe (``sft.py``, ``grpo.py``) reads top to bottom and calls these where Ray Train needs
something of it; what the recipes do differently (what a save scores, GRPO's best step) stays
in the recipe and reaches the callback as a function. Lines that only exist for Ray are tagged
``# [ray]``. A Ray report's checkpoint folder holds::

    checkpoint/   the HF Trainer's resumable state (every save)
    adapter/      the finished adapter and its manifest (the final report only)
    ...           whatever the recipe adds on rank 0 (GRPO: its best adapter so far)
"""
from __future__ import annotations

import json
import math
import shutil
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, TypeVar

from querytune.experiments import Task, get_task
from querytune.platform import adapters, data, models, tracking
from querytune.platform.config import LoraSection, TrainFile

ADAPTER_SUBDIR = "adapter"  # inside the final checkpoint
HF_STATE_SUBDIR = "checkpoint"  # inside every other checkpoint: the HF Trainer's resumable state

C = TypeVar("C", bound=TrainFile)


# --------------------------------------------------------------------------- where the time went
class Phases:
    """Seconds a worker spent per phase (``model``, ``data``, ``trainer`` set-up with its tokenization,
    ``train``, and inside it ``val`` scoring and ``checkpoint`` reports): the profile of a run beside
    its ``train_runtime_s``, kept in the manifest's metrics as ``time_<phase>_s``."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def __call__(self, phase: str) -> Iterator[None]:
        began = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[phase] = self.seconds.get(phase, 0.0) + time.perf_counter() - began

    def metrics(self) -> dict[str, float]:
        return {f"time_{phase}_s": round(seconds, 3) for phase, seconds in self.seconds.items()}


# --------------------------------------------------------------------------- start
def start(config: dict, model: type[C]) -> tuple[C, Task, bool]:
    """The worker's config, task and whether it trains on a GPU; torch seeded from the run's seed."""
    import torch

    cfg = model.model_validate(config["cfg"])
    torch.manual_seed(cfg.run.seed)
    return cfg, get_task(cfg.task), cfg.scaling.use_gpu and torch.cuda.is_available()


def is_rank0() -> bool:
    import ray.train

    return ray.train.get_context().get_world_rank() == 0  # [ray] one worker scores and writes


def load_data(task: Task, cfg: TrainFile) -> tuple[Any, list[dict], str]:
    """The training split, the val rows scored at each report, and the data's fingerprint."""
    splits = data.build(task, cfg.data)
    val = splits["val"]
    return splits["train"], list(val.select(range(min(cfg.data.val_samples, len(val))))), data.fingerprint(splits)


def lora_config(lora: LoraSection):
    from peft import LoraConfig

    return LoraConfig(r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout,
                      target_modules=lora.target_modules, task_type="CAUSAL_LM", bias="none")


def runtime_args(cfg: TrainFile, use_gpu: bool) -> dict[str, Any]:
    """Trainer arguments both recipes share: device and precision, seeds, reporting only as run.tracking says."""
    return {"report_to": tracking.report_to(cfg.run.tracking),  # "none" unless run.tracking switches a logger on
            "bf16": use_gpu, "use_cpu": not use_gpu, "seed": cfg.run.seed,
            "data_seed": cfg.data.seed, "ddp_find_unused_parameters": False, "dataloader_num_workers": 0}


# --------------------------------------------------------------------------- resume
def rerun(previous) -> bool:
    """Report a run that had already finished again, and say so: its last checkpoint holds the adapter.

    A run name that has finished resumes to this point when it runs again (or when Ray restarts
    its workers after the last report); training again would register a different adapter.
    """
    import ray.train

    if previous is None:
        return False
    with previous.as_directory() as folder:
        if not (Path(folder) / ADAPTER_SUBDIR).is_dir():
            return False
        saved = adapters.read_manifest(Path(folder) / ADAPTER_SUBDIR).metrics
        shutil.copytree(folder, tmp := tempfile.mkdtemp(), dirs_exist_ok=True)
    ray.train.report({**saved, "done": 1, "rerun": 1}, checkpoint=ray.train.Checkpoint.from_directory(tmp))
    return True


def resume_point(previous) -> tuple[str | None, int]:
    """A local copy of the HF Trainer state inside a Ray checkpoint, and the step it was saved at
    (None and 0 for a fresh run)."""
    if previous is None:
        return None, 0
    resume_dir = Path(tempfile.mkdtemp(prefix="querytune-resume-"))
    with previous.as_directory() as folder:
        shutil.copytree(Path(folder) / HF_STATE_SUBDIR, resume_dir, dirs_exist_ok=True)
    return str(resume_dir), json.loads((resume_dir / "trainer_state.json").read_text())["global_step"]


# --------------------------------------------------------------------------- reports
def val_metrics(task: Task, model, tokenizer, rows: list[dict], max_new_tokens: int) -> dict[str, float]:
    """Mean of the task's metrics over ``rows``, generating greedily: what sweeps rank by."""
    from querytune.platform.generation import generate

    if not rows:
        return {}
    was_training = model.training
    model.eval()
    outputs = generate(model, tokenizer, [task.messages(r) for r in rows], max_new_tokens=max_new_tokens)
    model.train(was_training)
    per_row = [task.score(r, text) for r, (text, _) in zip(rows, outputs)]
    means = {}
    for key in per_row[0]:
        values = [m[key] for m in per_row if not math.isnan(m[key])]
        if values:
            means[f"val_{key}"] = sum(values) / len(values)
    return means


def ray_report(score: Callable[[int, Any], dict[str, Any]], phases: Phases, *, score_at_start: bool = False,
               add_to_checkpoint: Callable[[Path], None] | None = None):
    """A TrainerCallback that turns each HF save into a Ray report and checkpoint.

    A report holds the latest logs, the epoch and step, and on rank 0 ``score(step, model)``
    (the val task metric); its checkpoint is the HF state, plus what ``add_to_checkpoint``
    writes into the folder on rank 0; both are timed in ``phases``. ``score_at_start`` reports step 0
    as well (GRPO's parent, the score every later step must beat); that report has nothing to resume from.
    """
    import ray.train
    from transformers import TrainerCallback

    rank0 = is_rank0()

    class RayReport(TrainerCallback):
        def __init__(self) -> None:
            self.started = time.time()
            self.last_logs: dict[str, float] = {}
            self.first_loss: float | None = None
            self.scored: tuple[int, dict[str, Any]] = (-1, {})  # rank 0's last score, and its step

        def metrics(self, state, model) -> dict[str, Any]:
            # the last log's own "epoch" (from a mid-epoch logging step) must not override the save's
            out = {**self.last_logs, "epoch": state.epoch, "step": state.global_step,
                   "elapsed_s": time.time() - self.started}
            if rank0:
                with phases("val"):
                    self.scored = (state.global_step, score(state.global_step, model))
                out.update(self.scored[1])
            return out

        def on_train_begin(self, args, state, control, model=None, **kw):
            if score_at_start and state.global_step == 0:
                ray.train.report(self.metrics(state, model))  # [ray] metrics only

        def on_log(self, args, state, control, logs=None, **kw):
            self.last_logs.update({k: v for k, v in (logs or {}).items() if isinstance(v, (int, float))})
            if self.first_loss is None and "loss" in self.last_logs:
                self.first_loss = self.last_logs["loss"]

        def on_save(self, args, state, control, model=None, **kw):
            metrics = self.metrics(state, model)
            source = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            with phases("checkpoint"), tempfile.TemporaryDirectory() as tmp:  # [ray] HF state (+ recipe's files)
                shutil.copytree(source, Path(tmp) / HF_STATE_SUBDIR)
                if rank0 and add_to_checkpoint is not None:
                    add_to_checkpoint(Path(tmp))
                ray.train.report(metrics, checkpoint=ray.train.Checkpoint.from_directory(tmp))
            shutil.rmtree(source, ignore_errors=True)

    return RayReport()


# --------------------------------------------------------------------------- final write
def save_final(trainer, cfg: TrainFile, base_dir: Path, fingerprint: str, metrics: dict,
               parents: list[tuple[adapters.ParentRef, Path]] = ()) -> None:
    """Rank 0 writes the adapter, its manifest and its parents' copies; every rank reports, because a
    Ray report is a barrier."""
    import ray.train

    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = None
        if is_rank0():
            model = trainer.model.eval()
            manifest = adapters.Manifest(
                task=cfg.task, recipe=cfg.recipe, config=cfg.model_dump(mode="json"), data_fingerprint=fingerprint,
                base=adapters.BaseRef(model=cfg.model.name, hash=models.content_hash(base_dir)), metrics=metrics,
                probe={"text": adapters.PROBE_TEXT, "logits": adapters.probe_logits(model, trainer.processing_class)})
            adapters.write_adapter(Path(tmp) / ADAPTER_SUBDIR, model, manifest, parents=parents)
            checkpoint = ray.train.Checkpoint.from_directory(tmp)
        ray.train.report({**metrics, "done": 1}, checkpoint=checkpoint)  # [ray] final adapter
