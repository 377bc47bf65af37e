"""LoRA SFT: the per-worker loop that Ray Train runs (TRL SFTTrainer + PEFT).

Read top to bottom: config -> task, base model and data -> TRL trainer -> resume from
Ray's checkpoint if there is one -> train (a Ray report with the val task metric and a
checkpoint at every epoch) -> save adapter + manifest as the final checkpoint.
Lines that only exist for Ray are tagged ``# [ray]``.
"""
from __future__ import annotations

import math
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from querytune.experiments import get_task
from querytune.platform import adapters, data, models
from querytune.platform.config import TrainConfig
from querytune.platform.launch import ADAPTER_SUBDIR, HF_STATE_SUBDIR


def val_metrics(task, model, tokenizer, rows: list[dict], max_new_tokens: int) -> dict[str, float]:
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


def report_callback(task, tokenizer, val_rows: list[dict], cfg: TrainConfig):
    """A TrainerCallback that turns each HF save into a Ray report with the val metric."""
    import ray.train
    from transformers import TrainerCallback

    class RayReport(TrainerCallback):
        def __init__(self) -> None:
            self.started = time.time()
            self.last_logs: dict[str, float] = {}
            self.first_loss: float | None = None
            self.val: tuple[int, dict[str, float]] = (-1, {})  # the last val metrics, and their step

        def on_log(self, args, state, control, logs=None, **kw):
            self.last_logs.update({k: v for k, v in (logs or {}).items() if isinstance(v, (int, float))})
            if self.first_loss is None and "loss" in self.last_logs:
                self.first_loss = self.last_logs["loss"]

        def on_save(self, args, state, control, model=None, **kw):
            # the last log's own "epoch" (from a mid-epoch logging step) must not override the save's
            metrics: dict[str, Any] = {**self.last_logs, "epoch": state.epoch, "step": state.global_step,
                                       "elapsed_s": time.time() - self.started}
            if ray.train.get_context().get_world_rank() == 0:
                self.val = (state.global_step, val_metrics(task, model, tokenizer, val_rows, cfg.sft.max_new_tokens))
                metrics.update(self.val[1])
            source = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            with tempfile.TemporaryDirectory() as tmp:  # [ray] checkpoint = HF state under checkpoint/
                shutil.copytree(source, Path(tmp) / HF_STATE_SUBDIR)
                ray.train.report(metrics, checkpoint=ray.train.Checkpoint.from_directory(tmp))
            shutil.rmtree(source, ignore_errors=True)

    return RayReport()


def sft_args(cfg: TrainConfig, output_dir: str, use_gpu: bool):
    from trl import SFTConfig

    s = cfg.sft
    return SFTConfig(
        output_dir=output_dir,
        num_train_epochs=s.epochs,
        max_steps=s.max_steps,
        learning_rate=s.lr,
        per_device_train_batch_size=s.batch_size,
        gradient_accumulation_steps=s.grad_accum,
        warmup_steps=s.warmup_ratio,  # a float in [0, 1) is a ratio of total steps
        lr_scheduler_type=s.scheduler,
        weight_decay=s.weight_decay,
        max_length=s.max_length,
        packing=s.packing,
        gradient_checkpointing=s.gradient_checkpointing,
        logging_steps=s.logging_steps,
        save_strategy="epoch",
        disable_tqdm=False,
        **runtime_args(cfg, use_gpu),
    )


def runtime_args(cfg: TrainConfig, use_gpu: bool) -> dict[str, Any]:
    """Trainer arguments both recipes share: device and precision, seeds, no outside reporting."""
    return {"report_to": "none", "bf16": use_gpu, "use_cpu": not use_gpu, "seed": cfg.run.seed,
            "data_seed": cfg.data.seed, "ddp_find_unused_parameters": False, "dataloader_num_workers": 0}


def peft_config(cfg: TrainConfig):
    from peft import LoraConfig

    return LoraConfig(r=cfg.lora.r, lora_alpha=cfg.lora.alpha, lora_dropout=cfg.lora.dropout,
                      target_modules=cfg.lora.target_modules, task_type="CAUSAL_LM", bias="none")


def save_final(trainer, cfg: TrainConfig, base_dir: Path, fingerprint: str, metrics: dict) -> None:
    """Rank 0 writes adapter + manifest; every rank reports (a Ray report is a barrier)."""
    import ray.train

    with tempfile.TemporaryDirectory() as tmp:
        if ray.train.get_context().get_world_rank() == 0:
            model = trainer.model.eval()
            manifest = adapters.Manifest(
                task=cfg.task, recipe="sft", config=cfg.model_dump(mode="json"), data_fingerprint=fingerprint,
                base=adapters.BaseRef(model=cfg.model.name, hash=models.content_hash(base_dir)), metrics=metrics,
                probe={"text": adapters.PROBE_TEXT, "logits": adapters.probe_logits(model, trainer.processing_class)})
            adapters.write_adapter(Path(tmp) / ADAPTER_SUBDIR, trainer.model, manifest)
            checkpoint = ray.train.Checkpoint.from_directory(tmp)
        else:
            checkpoint = None
        ray.train.report({**metrics, "done": 1}, checkpoint=checkpoint)  # [ray] final adapter


def hf_state(checkpoint) -> str | None:
    """A local copy of the HF Trainer state inside a Ray checkpoint, to resume from."""
    if checkpoint is None:
        return None
    resume_dir = Path(tempfile.mkdtemp(prefix="querytune-resume-"))
    with checkpoint.as_directory() as folder:
        shutil.copytree(Path(folder) / HF_STATE_SUBDIR, resume_dir, dirs_exist_ok=True)
    return str(resume_dir)


def resumed_step(resume_dir: str | None) -> int:
    """The optimizer step an HF state folder was saved at (0 for a fresh run)."""
    if resume_dir is None:
        return 0
    import json

    return json.loads((Path(resume_dir) / "trainer_state.json").read_text())["global_step"]


def train_loop(config: dict) -> None:
    """Ray Train worker entry point."""
    import ray
    import ray.train
    import torch
    from trl import SFTTrainer

    cfg = TrainConfig.model_validate(config["cfg"])
    use_gpu = cfg.scaling.use_gpu and torch.cuda.is_available()
    torch.manual_seed(cfg.run.seed)
    task = get_task(cfg.task)

    previous = ray.train.get_checkpoint()  # [ray] resume
    if previous is not None:
        with previous.as_directory() as folder:
            if (Path(folder) / ADAPTER_SUBDIR).is_dir():  # the run had already finished: re-report it
                saved = adapters.read_manifest(Path(folder) / ADAPTER_SUBDIR).metrics
                shutil.copytree(folder, tmp := tempfile.mkdtemp(), dirs_exist_ok=True)
                ray.train.report({**saved, "done": 1, "rerun": 1},
                                 checkpoint=ray.train.Checkpoint.from_directory(tmp))
                return

    base_dir = models.resolve(cfg.model.name)
    device = "cuda" if use_gpu else "cpu"
    model, tokenizer, _ = models.load_model(str(base_dir), cfg.model.dtype, device, cfg.model.attn_implementation)

    splits = data.build(task, cfg.data)
    fingerprint = data.fingerprint(splits)
    train_ds = data.to_sft(task, splits["train"])
    val_rows = list(splits["val"].select(range(min(cfg.data.val_samples, len(splits["val"])))))

    output_dir = tempfile.mkdtemp(prefix="querytune-sft-")
    reporter = report_callback(task, tokenizer, val_rows, cfg)
    trainer = SFTTrainer(model=model, args=sft_args(cfg, output_dir, use_gpu), train_dataset=train_ds,
                         processing_class=tokenizer, peft_config=peft_config(cfg), callbacks=[reporter])

    resume_from = hf_state(previous)
    began = time.time()
    result = trainer.train(resume_from_checkpoint=resume_from)

    metrics = {"train_loss": result.training_loss, "train_runtime_s": time.time() - began,
               "train_examples": len(train_ds), "epochs": cfg.sft.epochs, "world_size": trainer.args.world_size,
               "resumed_from_step": resumed_step(resume_from), "first_loss": reporter.first_loss,
               "last_loss": reporter.last_logs.get("loss"),
               "node_id": ray.get_runtime_context().get_node_id()}  # [ray] where it trained (provenance)
    if ray.train.get_context().get_world_rank() == 0:
        step, scores = reporter.val  # the last epoch's save scored this very model already
        if step != trainer.state.global_step:
            scores = val_metrics(task, trainer.model, tokenizer, val_rows, cfg.sft.max_new_tokens)
        metrics.update(scores)
    save_final(trainer, cfg, base_dir, fingerprint, metrics)
