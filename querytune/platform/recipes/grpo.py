"""GRPO: the per-worker loop that Ray Train runs (TRL GRPOTrainer + a new LoRA on the SFT parent).

Read top to bottom: config -> parent SFT adapter, refused if it belongs to another task or
base -> base with the parent's chain merged in -> a *new* LoRA (``grpo.lora``) that TRL
trains while the reference model is the same network with that LoRA switched off, so the
KL term pulls towards the SFT parent -> the task's reward (+ an optional format reward)
-> train, scoring the validation rows at step 0 and every ``eval_every`` steps (a Ray
report with a checkpoint each time) -> register the *best* adapter, not the last.

The new LoRA starts with B=0, so step 0 is exactly the parent: if no GRPO step beats
it on validation, the registered adapter is that identity one and the metrics say so.
The manifest records base -> merged SFT -> GRPO, and ``adapters.load`` rebuilds exactly
that chain (the failure this prevents: a GRPO adapter applied to the raw base).
The glue both recipes share is in ``common.py``; lines that only exist for Ray are tagged ``# [ray]``.
"""
from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from querytune.experiments import Task
from querytune.platform import adapters, data, models
from querytune.platform.config import GrpoTrainConfig
from querytune.platform.recipes import common

BEST_SUBDIR = "best"  # inside eval checkpoints: the validation-best adapter so far
BEST_FILE = "best.json"


# --------------------------------------------------------------------------- parent
def open_parent(cfg: GrpoTrainConfig) -> tuple[Path, adapters.Manifest]:
    """The parent adapter's folder and manifest; refused if trained for another task or base.

    Called on the driver (fail before any worker starts) and in every worker. The base is
    compared by content hash whenever the names differ; ``adapters.load`` then re-checks
    the hash of the base it actually loads.
    """
    folder = adapters.resolve(cfg.grpo.parent, cfg.run.storage_path)
    parent = adapters.read_manifest(folder)
    label = f"grpo.parent={cfg.grpo.parent!r}"
    if parent.task != cfg.task:
        raise adapters.AdapterError(
            f"{label} was trained for task {parent.task!r}, but this run's task is {cfg.task!r}: "
            f"pick an adapter of task {cfg.task!r} (querytune adapters list) or set task: {parent.task}")
    if parent.base.model != cfg.model.name:
        actual = models.content_hash(models.resolve(cfg.model.name))
        if actual != parent.base.hash:
            raise adapters.AdapterError(
                f"{label} was trained on base {parent.base.model!r} ({parent.base.hash[:19]}…), but "
                f"model.name={cfg.model.name!r} is {actual[:19]}…: set model.name={parent.base.model} "
                f"or train an SFT adapter on {cfg.model.name!r} first")
    return folder, parent


# --------------------------------------------------------------------------- rewards
def completion_text(completion: str | list[dict]) -> str:
    """TRL hands conversational completions as message lists; rewards score the text."""
    return completion if isinstance(completion, str) else completion[-1]["content"]


def reward_functions(task: Task, cfg: GrpoTrainConfig, columns: list[str]) -> tuple[list[Callable], list[float]]:
    """The task's reward, plus a parse-or-not reward when ``grpo.format_reward_weight`` > 0.

    TRL also passes ``completion_ids``, ``trainer_state``, ``log_extra`` and ``log_metric``;
    the task gets only what its protocol promises: the example columns, as lists.
    """
    keep = set(columns) - {"prompt"}

    def task_reward(prompts: list, completions: list, **kwargs: Any) -> list[float]:
        return task.reward(prompts, completions, **{k: v for k, v in kwargs.items() if k in keep})

    def format_reward(completions: list, **_: Any) -> list[float]:
        scores = []
        for completion in completions:
            try:
                task.parse(completion_text(completion))
                scores.append(1.0)
            except ValueError:  # ParseError, the task's "does not follow the output language"
                scores.append(0.0)
        return scores

    if cfg.grpo.format_reward_weight > 0:
        return [task_reward, format_reward], [1.0, cfg.grpo.format_reward_weight]
    return [task_reward], [1.0]


# --------------------------------------------------------------------------- best step
@dataclass
class Best:
    """The validation-best adapter so far. Ties keep the earlier step, so the parent
    (step 0) stays selected unless a GRPO step strictly beats it."""

    step: int = -1
    score: float = float("nan")
    parent_score: float = float("nan")
    metrics: dict[str, float] = field(default_factory=dict)

    def offer(self, step: int, metrics: dict[str, float], model, folder: Path) -> bool:
        """Keep ``model``'s adapter in ``folder`` if ``metrics`` beat the best so far."""
        score = metrics.get("val_score", float("nan"))
        if step == 0:
            self.parent_score = score
        if self.step >= 0 and not score > self.score:
            return False
        self.step, self.score, self.metrics = step, score, dict(metrics)
        shutil.rmtree(folder, ignore_errors=True)
        model.save_pretrained(folder, safe_serialization=True)
        return True

    def note(self) -> str:
        if self.step == 0:
            return (f"no GRPO step beat the SFT parent on validation (val_score {self.parent_score:.4f}); "
                    "the registered adapter is the step-0 one, identical in behaviour to the parent")
        return f"step {self.step} raised val_score from {self.parent_score:.4f} (parent) to {self.score:.4f}"

    def save(self, folder: Path, adapter_dir: Path) -> None:
        shutil.copytree(adapter_dir, folder / BEST_SUBDIR)
        (folder / BEST_FILE).write_text(json.dumps(asdict(self)))

    @classmethod
    def restore(cls, checkpoint, adapter_dir: Path) -> "Best":
        """The best step a Ray checkpoint recorded (none for a fresh run), its adapter put in ``adapter_dir``."""
        if checkpoint is None:
            return cls()
        with checkpoint.as_directory() as folder:
            if not (Path(folder) / BEST_FILE).is_file():
                return cls()
            shutil.rmtree(adapter_dir, ignore_errors=True)
            shutil.copytree(Path(folder) / BEST_SUBDIR, adapter_dir)
            return cls(**json.loads((Path(folder) / BEST_FILE).read_text()))


def use_best(model, best_dir: Path) -> None:
    """Put the validation-best LoRA weights back into the live model."""
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    set_peft_model_state_dict(model, load_file(best_dir / adapters.WEIGHTS, device=str(model.device)))


# --------------------------------------------------------------------------- trainer
def grpo_args(cfg: GrpoTrainConfig, output_dir: str, use_gpu: bool, reward_weights: list[float]):
    from trl import GRPOConfig

    g = cfg.grpo
    return GRPOConfig(
        output_dir=output_dir,
        max_steps=g.steps,
        learning_rate=g.lr,
        per_device_train_batch_size=g.batch_size,  # completions, i.e. batch_size / num_generations prompts
        gradient_accumulation_steps=g.grad_accum,
        num_generations=g.num_generations,
        temperature=g.temperature,
        scale_rewards=g.scale_rewards,
        num_iterations=g.num_iterations,
        lr_scheduler_type=g.lr_scheduler,
        max_completion_length=g.max_completion_length,
        beta=g.beta,  # > 0: KL to the parent (the LoRA switched off); TRL's default 0 drifts
        reward_weights=reward_weights,
        use_vllm=g.use_vllm,
        vllm_mode="colocate",  # the engine lives in this worker's process, on its GPU
        vllm_gpu_memory_utilization=g.vllm_gpu_memory_utilization,
        vllm_max_model_length=g.vllm_max_model_length,
        gradient_checkpointing=g.gradient_checkpointing,
        logging_steps=1,
        save_strategy="steps",
        save_steps=g.eval_every,  # each save is an eval + Ray report (see common.ray_report)
        **common.runtime_args(cfg, use_gpu),
    )


def train_loop(config: dict) -> None:
    """Ray Train worker entry point."""
    import ray.train
    from trl import GRPOTrainer

    cfg, task, use_gpu = common.start(config, GrpoTrainConfig)
    if cfg.grpo.use_vllm and not use_gpu:
        raise RuntimeError("grpo.use_vllm=true but this worker sees no GPU: vLLM rollouts run on GPU only")
    previous = ray.train.get_checkpoint()  # [ray] resume
    if common.rerun(previous):
        return
    best_dir = Path(tempfile.mkdtemp(prefix="querytune-grpo-best-"))
    best = Best.restore(previous, best_dir)

    phases = common.Phases()
    with phases("model"):
        parent = open_parent(cfg)
        base_dir = models.resolve(cfg.model.name)
        model, tokenizer, _ = adapters.load(str(parent[0]), base=str(base_dir), dtype=cfg.model.dtype,
                                            device="cuda" if use_gpu else "cpu",
                                            merge=True)  # base -> SFT chain merged: a plain model for the new LoRA
    model.train()
    with phases("data"):
        train_rows, val_rows, fingerprint = common.load_data(task, cfg)
        train_ds = data.to_prompts(task, train_rows)

    def score(step: int, model) -> dict[str, Any]:
        scores = common.val_metrics(task, model, tokenizer, val_rows, cfg.grpo.max_completion_length)
        best.offer(step, scores, model, best_dir)
        return {**scores, "best_step": best.step, "best_val_score": best.score}

    funcs, weights = reward_functions(task, cfg, train_ds.column_names)
    reporter = common.ray_report(score, phases, score_at_start=True,
                                 add_to_checkpoint=lambda tmp: best.save(tmp, best_dir))
    with phases("trainer"):  # the colocated vLLM engine starts here
        trainer = GRPOTrainer(model=model, reward_funcs=funcs, train_dataset=train_ds, processing_class=tokenizer,
                              args=grpo_args(cfg, tempfile.mkdtemp(prefix="querytune-grpo-"), use_gpu, weights),
                              peft_config=common.lora_config(cfg.grpo.lora), callbacks=[reporter])

    resume_from, start = common.resume_point(previous)
    with phases("train"):
        if start < cfg.grpo.steps:  # killed after the last save: HF would take one step past max_steps
            trainer.train(resume_from_checkpoint=resume_from)

    metrics = {"train_runtime_s": phases.seconds["train"], "steps": max(start, trainer.state.global_step),
               "world_size": trainer.args.world_size, "resumed_from_step": start, **reporter.last_logs,
               "last_val_score": reporter.scored[1].get("val_score", float("nan")), **best.metrics,
               "selected_step": best.step, "parent_val_score": best.parent_score, "note": best.note(),
               **phases.metrics()}
    if common.is_rank0():
        use_best(trainer.model, best_dir)
    common.save_final(trainer, cfg, base_dir, fingerprint, metrics, parents=adapters.lineage_for_child(*parent))
