"""LoRA SFT: the per-worker loop that Ray Train runs (TRL SFTTrainer + PEFT).

Read top to bottom: config -> task, base model and data -> TRL trainer -> resume from Ray's
checkpoint if there is one -> train (a Ray report with the val task metric and a checkpoint
at every epoch) -> save adapter + manifest (with the time of each phase) as the final checkpoint.
The glue both recipes share is in ``common.py``; lines that only exist for Ray are tagged ``# [ray]``.
"""
from __future__ import annotations

import tempfile

from querytune.platform import data, models
from querytune.platform.config import SftTrainConfig
from querytune.platform.recipes import common

#: SFTConfig argument <- SftSection field: TRL's names for our settings (the rest keep theirs)
SFT_CONFIG_NAMES = {"num_train_epochs": "epochs", "learning_rate": "lr", "per_device_train_batch_size": "batch_size",
                    "gradient_accumulation_steps": "grad_accum", "lr_scheduler_type": "scheduler",
                    # transformers 5 has no warmup_ratio: a warmup_steps float in [0, 1) is that share of the steps
                    "warmup_steps": "warmup_ratio"}
SFT_CONFIG_SAME = ("max_steps", "weight_decay", "max_length", "packing", "gradient_checkpointing", "logging_steps")


def sft_args(cfg: SftTrainConfig, output_dir: str, use_gpu: bool):
    from trl import SFTConfig

    section = {arg: getattr(cfg.sft, field) for arg, field in SFT_CONFIG_NAMES.items()}
    section |= {field: getattr(cfg.sft, field) for field in SFT_CONFIG_SAME}
    return SFTConfig(output_dir=output_dir, save_strategy="epoch", disable_tqdm=False, **section,
                     **common.runtime_args(cfg, use_gpu))


def train_loop(config: dict) -> None:
    """Ray Train worker entry point."""
    import ray
    import ray.train
    from trl import SFTTrainer

    cfg, task, use_gpu = common.start(config, SftTrainConfig)
    previous = ray.train.get_checkpoint()  # [ray] resume
    if common.rerun(previous):
        return

    phases = common.Phases()
    with phases("model"):
        base_dir = models.resolve(cfg.model.name)
        model, tokenizer, _ = models.load_model(str(base_dir), cfg.model.dtype, "cuda" if use_gpu else "cpu",
                                                cfg.model.attn_implementation)
    with phases("data"):
        train_rows, val_rows, fingerprint = common.load_data(task, cfg)
        train_ds = data.to_sft(task, train_rows)

    def score(step: int, model) -> dict[str, float]:
        return common.val_metrics(task, model, tokenizer, val_rows, cfg.sft.max_new_tokens)

    reporter = common.ray_report(score, phases)
    with phases("trainer"):  # TRL tokenizes the rows here
        trainer = SFTTrainer(model=model, args=sft_args(cfg, tempfile.mkdtemp(prefix="querytune-sft-"), use_gpu),
                             train_dataset=train_ds, processing_class=tokenizer,
                             peft_config=common.lora_config(cfg.lora), callbacks=[reporter])

    resume_from, start = common.resume_point(previous)
    with phases("train"):
        result = trainer.train(resume_from_checkpoint=resume_from)

    metrics = {"train_loss": result.training_loss, "train_runtime_s": phases.seconds["train"],
               "train_examples": len(train_ds), "epochs": cfg.sft.epochs, "world_size": trainer.args.world_size,
               "resumed_from_step": start, "first_loss": reporter.first_loss,
               "last_loss": reporter.last_logs.get("loss"),
               "node_id": ray.get_runtime_context().get_node_id()}  # [ray] where it trained (provenance)
    if common.is_rank0():
        step, scores = reporter.scored  # the last epoch's save scored this very model already
        metrics.update(scores if step == trainer.state.global_step else score(step, trainer.model))
    metrics.update(phases.metrics())
    common.save_final(trainer, cfg, base_dir, fingerprint, metrics)
