"""`ray job submit --working-dir . -- querytune ...` against a real 2-node cluster."""
from __future__ import annotations

import json


def test_submitted_training_lands_its_adapter_in_shared_storage(two_node_cluster, tiny_model):
    done = two_node_cluster.submit("querytune", "train", "tests/data/tiny_train.yaml",
                                   "--set", f"run.storage_path={two_node_cluster.storage}")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "succeeded" in done.stdout

    adapter = two_node_cluster.storage / "adapters" / "tiny-job"
    manifest = json.loads((adapter / "querytune.json").read_text())
    assert manifest["task"] == "tests.toy:ToyTask" and manifest["base"]["model"] == "tiny-qwen3"
    assert (adapter / "adapter_model.safetensors").stat().st_size > 0
