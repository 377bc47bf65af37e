"""Baseline of the SFT benchmark: a plain TRL ``SFTTrainer`` with its default settings.

Same base model, same rows, same LoRA (rank, alpha, modules) and epochs as the
config it is given; everything else is TRL's default (batch 8, gradient
checkpointing on, lr 2e-5, no Ray). The model is loaded in bf16, as a real Qwen3
checkpoint would be with ``dtype="auto"``. Writes ``{"wall_s", "train_s", ...}`` as
JSON to ``--result``.

    python -m bench.trl_baseline configs/sourcegraph/sft-gpu.yaml --adapter /tmp/a --result /tmp/r.json
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def main() -> None:
    began = time.perf_counter()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config")
    parser.add_argument("--adapter", required=True, help="folder the trained adapter is saved to")
    parser.add_argument("--result", required=True, help="JSON file with the timings")
    args = parser.parse_args()

    import torch
    from peft import LoraConfig
    from trl import SFTConfig, SFTTrainer

    from querytune.experiments import get_task
    from querytune.platform import data, models
    from querytune.platform.config import SftTrainConfig, load_config

    cfg = load_config(args.config, SftTrainConfig)
    gpu = torch.cuda.is_available()  # on a CPU (a smoke test) TRL's default bf16 is refused
    task = get_task(cfg.task)
    rows = data.to_sft(task, data.build(task, cfg.data)["train"])
    trainer = SFTTrainer(
        model=str(models.resolve(cfg.model.name)),
        args=SFTConfig(output_dir=args.adapter, num_train_epochs=cfg.sft.epochs, report_to="none",
                       bf16=gpu, use_cpu=not gpu, model_init_kwargs={"dtype": torch.bfloat16}),
        train_dataset=rows,
        peft_config=LoraConfig(r=cfg.lora.r, lora_alpha=cfg.lora.alpha, target_modules=cfg.lora.target_modules,
                               task_type="CAUSAL_LM"),
    )
    trained = time.perf_counter()
    output = trainer.train()
    train_s = time.perf_counter() - trained
    trainer.save_model(args.adapter)
    Path(args.result).write_text(json.dumps({
        "wall_s": time.perf_counter() - began, "train_s": train_s, "steps": output.global_step,
        "train_loss": output.training_loss, "examples": len(rows),
        "batch_size": trainer.args.per_device_train_batch_size,
        "gradient_checkpointing": trainer.args.gradient_checkpointing}))


if __name__ == "__main__":
    main()
