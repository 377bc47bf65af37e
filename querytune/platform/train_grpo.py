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
Lines that only exist for Ray are tagged ``# [ray]``.
"""
from __future__ import annotations

import json
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from querytune.experiments import get_task
from querytune.platform import adapters, data, models
from querytune.platform.config import TrainConfig
from querytune.platform.launch import ADAPTER_SUBDIR, HF_STATE_SUBDIR
from querytune.platform.train_sft import hf_state, resumed_step, runtime_args, val_metrics

BEST_SUBDIR = "best"  # inside eval checkpoints: the validation-best adapter so far
BEST_FILE = "best.json"


# --------------------------------------------------------------------------- parent
def open_parent(cfg: TrainConfig) -> tuple[Path, adapters.Manifest]:
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


def reward_functions(task, cfg: TrainConfig, columns: list[str]) -> tuple[list[Callable], list[float]]:
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
    def restore(cls, folder: Path, adapter_dir: Path) -> "Best":
        if not (folder / BEST_FILE).is_file():
            return cls()
        shutil.rmtree(adapter_dir, ignore_errors=True)
        shutil.copytree(folder / BEST_SUBDIR, adapter_dir)
        return cls(**json.loads((folder / BEST_FILE).read_text()))


def eval_callback(task, tokenizer, val_rows: list[dict], cfg: TrainConfig, best: Best, best_dir: Path):
    """Score validation at step 0 and at each HF save; every save becomes a Ray report + checkpoint."""
    import ray.train
    from transformers import TrainerCallback

    is_rank0 = ray.train.get_context().get_world_rank() == 0

    class EvalReport(TrainerCallback):
        def __init__(self) -> None:
            self.started = time.time()
            self.last_logs: dict[str, float] = {}
            self.last_val_score = float("nan")

        def evaluate(self, step: int, model) -> dict[str, Any]:
            metrics: dict[str, Any] = {"step": step, "elapsed_s": time.time() - self.started, **self.last_logs}
            if is_rank0:
                scores = val_metrics(task, model, tokenizer, val_rows, cfg.grpo.max_completion_length)
                best.offer(step, scores, model, best_dir)
                self.last_val_score = scores.get("val_score", float("nan"))
                metrics.update(scores, best_step=best.step, best_val_score=best.score)
            return metrics

        def on_train_begin(self, args, state, control, model=None, **kw):
            if state.global_step == 0:  # the untouched parent: what every later step must beat
                ray.train.report(self.evaluate(0, model))  # [ray] metrics only, nothing to resume yet

        def on_log(self, args, state, control, logs=None, **kw):
            self.last_logs.update({k: v for k, v in (logs or {}).items() if isinstance(v, (int, float))})

        def on_save(self, args, state, control, model=None, **kw):
            metrics = self.evaluate(state.global_step, model)
            source = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            with tempfile.TemporaryDirectory() as tmp:  # [ray] checkpoint = HF state + best adapter so far
                shutil.copytree(source, Path(tmp) / HF_STATE_SUBDIR)
                if is_rank0:
                    best.save(Path(tmp), best_dir)
                ray.train.report(metrics, checkpoint=ray.train.Checkpoint.from_directory(tmp))
            shutil.rmtree(source, ignore_errors=True)

    return EvalReport()


# --------------------------------------------------------------------------- trainer
def grpo_args(cfg: TrainConfig, output_dir: str, use_gpu: bool, reward_weights: list[float]):
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
        save_steps=g.eval_every,  # each save is an eval + Ray report (see eval_callback)
        **runtime_args(cfg, use_gpu),
    )


def new_lora(cfg: TrainConfig):
    from peft import LoraConfig

    lora = cfg.grpo.lora
    return LoraConfig(r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout,
                      target_modules=lora.target_modules, task_type="CAUSAL_LM", bias="none")


def use_best(model, best_dir: Path) -> None:
    """Put the validation-best LoRA weights back into the live model."""
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    set_peft_model_state_dict(model, load_file(best_dir / adapters.WEIGHTS, device=str(model.device)))


def save_final(trainer, cfg: TrainConfig, base_dir: Path, parent: tuple[Path, adapters.Manifest],
               fingerprint: str, metrics: dict, best_dir: Path) -> None:
    """Rank 0 writes the best adapter + manifest + parent chain; every rank reports (a barrier)."""
    import ray.train

    with tempfile.TemporaryDirectory() as tmp:
        if ray.train.get_context().get_world_rank() == 0:
            model = trainer.model.eval()
            use_best(model, best_dir)
            manifest = adapters.Manifest(
                task=cfg.task, recipe="grpo", config=cfg.model_dump(mode="json"), data_fingerprint=fingerprint,
                base=adapters.BaseRef(model=cfg.model.name, hash=models.content_hash(base_dir)), metrics=metrics,
                probe={"text": adapters.PROBE_TEXT, "logits": adapters.probe_logits(model, trainer.processing_class)})
            adapters.write_adapter(Path(tmp) / ADAPTER_SUBDIR, model, manifest,
                                   parents=adapters.lineage_for_child(*parent))
            checkpoint = ray.train.Checkpoint.from_directory(tmp)
        else:
            checkpoint = None
        ray.train.report({**metrics, "done": 1}, checkpoint=checkpoint)  # [ray] final adapter


def train_loop(config: dict) -> None:
    """Ray Train worker entry point."""
    import ray.train
    import torch
    from trl import GRPOTrainer

    cfg = TrainConfig.model_validate(config["cfg"])
    use_gpu = cfg.scaling.use_gpu and torch.cuda.is_available()
    if cfg.grpo.use_vllm and not use_gpu:
        raise RuntimeError("grpo.use_vllm=true but this worker sees no GPU: vLLM rollouts run on GPU only")
    torch.manual_seed(cfg.run.seed)
    task = get_task(cfg.task)

    previous = ray.train.get_checkpoint()  # [ray] resume
    best_dir = Path(tempfile.mkdtemp(prefix="querytune-grpo-best-"))
    best = Best()
    if previous is not None:
        with previous.as_directory() as folder:
            if (Path(folder) / ADAPTER_SUBDIR).is_dir():  # the run had already finished
                shutil.copytree(folder, tmp := tempfile.mkdtemp(), dirs_exist_ok=True)
                ray.train.report({"done": 1}, checkpoint=ray.train.Checkpoint.from_directory(tmp))
                return
            best = Best.restore(Path(folder), best_dir)

    parent = open_parent(cfg)
    base_dir = models.resolve(cfg.model.name)
    device = "cuda" if use_gpu else "cpu"
    model, tokenizer, _ = adapters.load(str(parent[0]), base=str(base_dir), dtype=cfg.model.dtype, device=device,
                                        merge=True)  # base -> SFT chain merged: a plain model for the new LoRA
    model.train()

    splits = data.build(task, cfg.data)
    fingerprint = data.fingerprint(splits)
    train_ds = data.to_prompts(task, splits["train"])
    val_rows = list(splits["val"].select(range(min(cfg.data.val_samples, len(splits["val"])))))

    output_dir = tempfile.mkdtemp(prefix="querytune-grpo-")
    funcs, weights = reward_functions(task, cfg, train_ds.column_names)
    reporter = eval_callback(task, tokenizer, val_rows, cfg, best, best_dir)
    trainer = GRPOTrainer(model=model, reward_funcs=funcs, args=grpo_args(cfg, output_dir, use_gpu, weights),
                          train_dataset=train_ds, processing_class=tokenizer, peft_config=new_lora(cfg),
                          callbacks=[reporter])

    resume_from = hf_state(previous)
    start = resumed_step(resume_from)
    began = time.time()
    if start < cfg.grpo.steps:  # killed after the last save: HF would take one step past max_steps
        trainer.train(resume_from_checkpoint=resume_from)

    metrics = {"train_runtime_s": time.time() - began, "steps": max(start, trainer.state.global_step),
               "world_size": trainer.args.world_size, "resumed_from_step": start,
               **reporter.last_logs, "last_val_score": reporter.last_val_score, **best.metrics,
               "selected_step": best.step, "parent_val_score": best.parent_score, "note": best.note()}
    save_final(trainer, cfg, base_dir, parent, fingerprint, metrics, best_dir)
