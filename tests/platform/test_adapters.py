"""Adapter registry and lineage: names stay inside the registry, only safetensors load, and a
chained adapter (GRPO on a merged SFT model) can only be loaded the way it was trained."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from querytune.platform import adapters, models
from tests.conftest import TOY_TASK


def random_lora(model, seed: int):
    """A LoRA whose B is random, not zero: it changes the model, like a trained one."""
    import torch
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(seed)
    config = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "down_proj"], task_type="CAUSAL_LM",
                        init_lora_weights=False)
    return get_peft_model(model, config)


def logits(model, tokenizer):
    import torch

    ids = tokenizer(adapters.PROBE_TEXT, return_tensors="pt")
    with torch.inference_mode():
        return model(**ids).logits[0].float()


def base_model():
    model, tokenizer, _ = models.load_model("tiny-qwen3", dtype="float32", device="cpu")
    return model.eval(), tokenizer


def other_base(folder: Path) -> Path:
    """tiny-qwen3 with one weight changed: same architecture and name shape, another hash."""
    import torch

    model, tokenizer = base_model()
    with torch.no_grad():
        model.get_input_embeddings().weight[0, 0] += 1.0
    model.save_pretrained(folder / "other-base")
    tokenizer.save_pretrained(folder / "other-base")
    return folder / "other-base"


def manifest_for(recipe: str, base_dir: Path) -> adapters.Manifest:
    return adapters.Manifest(task=TOY_TASK, recipe=recipe,
                             base=adapters.BaseRef(model="tiny-qwen3", hash=models.content_hash(base_dir)))


@pytest.fixture(scope="module")
def registry(tiny_model, tmp_path_factory):
    """A registry holding ``sft`` (on the base) and ``grpo`` (on base + merged sft), both non-identity.

    Returns the storage path and the in-memory logits of each model as it was written.
    """
    storage = tmp_path_factory.mktemp("registry")
    base_dir = models.resolve("tiny-qwen3")
    model, tokenizer = base_model()
    sft = random_lora(model, seed=1).eval()
    expected = {"sft": logits(sft, tokenizer)}
    adapters.write_adapter(storage / "out-sft", sft, manifest_for("sft", base_dir))
    sft_dir = Path(adapters.register(storage / "out-sft", "sft", str(storage)))

    merged, _, sft_manifest = adapters.load("sft", str(storage), dtype="float32", device="cpu", merge=True)
    grpo = random_lora(merged, seed=2).eval()
    expected["grpo"] = logits(grpo, tokenizer)
    adapters.write_adapter(storage / "out-grpo", grpo, manifest_for("grpo", base_dir),
                           parents=adapters.lineage_for_child(sft_dir, sft_manifest))
    adapters.register(storage / "out-grpo", "grpo", str(storage))
    return storage, expected


def old_config(recipe: str, **sections) -> dict:
    """A resolved config as versions before one model per recipe wrote it (manifests, run records):
    every section of both recipes, whichever ran."""
    from querytune.platform import config

    parts = {"model": config.ModelSection, "lora": config.LoraSection, "data": config.DataSection,
             "sft": config.SftSection, "grpo": config.GrpoSection, "scaling": config.ScalingSection,
             "run": config.RunSection}
    return {"recipe": recipe, "task": TOY_TASK,
            **{key: {**part().model_dump(mode="json"), **sections.get(key, {})} for key, part in parts.items()}}


@pytest.fixture
def old_registry(tiny_model, tmp_path) -> Path:
    """A registry holding ``old-sft`` as an earlier version wrote it: a manifest without file hashes or
    probe, whose config has the sections of both recipes."""
    folder = tmp_path / "adapters" / "old-sft"
    random_lora(base_model()[0], seed=5).save_pretrained(folder, safe_serialization=True)
    manifest = {"format": 1, "name": "old-sft", "task": TOY_TASK, "recipe": "sft",
                "base": {"model": "tiny-qwen3", "hash": models.content_hash(models.resolve("tiny-qwen3"))},
                "parents": [], "config": old_config("sft", model={"name": "tiny-qwen3"}),
                "data_fingerprint": "sha256:0", "metrics": {"val_score": 0.5}, "code_version": "0.1.0",
                "created": "2026-11-20T10:00:00+00:00"}
    (folder / adapters.MANIFEST).write_text(json.dumps(manifest))
    return tmp_path


def test_an_adapter_registered_by_an_earlier_version_still_lists_and_loads(old_registry):
    storage = str(old_registry)
    assert [m.name for m in adapters.list_adapters(storage)] == ["old-sft"]
    manifest = adapters.read_manifest(adapters.resolve("old-sft", storage))
    assert manifest.files == {} and manifest.config["grpo"]["parent"] == "" and manifest.config["lora"]["r"] == 16
    model, _, loaded = adapters.load("old-sft", storage, dtype="float32", device="cpu")
    assert loaded.recipe == "sft" and model.peft_config["default"].r == 4


def test_an_adapter_of_an_earlier_version_can_be_a_grpo_parent(old_registry):
    from querytune.platform.config import GrpoTrainConfig
    from querytune.platform.recipes.grpo import open_parent

    cfg = GrpoTrainConfig(task=TOY_TASK, model={"name": "tiny-qwen3"}, grpo={"parent": "old-sft"},
                          run={"storage_path": str(old_registry)})
    folder, parent = open_parent(cfg)
    assert [ref.name for ref, _ in adapters.lineage_for_child(folder, parent)] == ["old-sft"]


# --------------------------------------------------------------------------- registry
@pytest.mark.parametrize("name", ["../x", "a/b", "/etc", "..", ".hidden", "", "a" * 129])
def test_names_cannot_escape_the_registry(registry, name):
    storage, _ = registry
    with pytest.raises(adapters.AdapterError, match="not allowed"):
        adapters.register(storage / "adapters" / "sft", name, str(storage))
    assert not (storage / "x").exists()


def test_a_folder_without_manifest_is_neither_listed_nor_loaded(registry):
    storage, _ = registry
    half = storage / "adapters" / "half"
    shutil.copytree(storage / "adapters" / "sft", half, ignore=shutil.ignore_patterns(adapters.MANIFEST))
    assert sorted(m.name for m in adapters.list_adapters(str(storage))) == ["grpo", "sft"]
    with pytest.raises(adapters.AdapterError, match="querytune.json is missing"):
        adapters.resolve("half", str(storage))
    shutil.rmtree(half)


def test_a_corrupt_manifest_is_listed_as_broken_and_the_others_still_list(registry):
    from typer.testing import CliRunner

    from querytune.cli import app

    storage, _ = registry
    torn = storage / "adapters" / "torn"
    shutil.copytree(storage / "adapters" / "sft", torn)
    (torn / adapters.MANIFEST).write_text('{"task": "toy", "recipe": ')  # a write cut short
    try:
        listed = CliRunner().invoke(app, ["adapters", "list", "--storage", str(storage)], env={"COLUMNS": "200"})
        assert listed.exit_code == 0, listed.output
        assert "sft" in listed.output and "grpo" in listed.output
        assert "broken: torn:" in listed.output and "corrupt manifest" in listed.output
        with pytest.raises(adapters.AdapterError, match="torn/querytune.json: corrupt manifest"):
            adapters.resolve("torn", str(storage))
    finally:
        shutil.rmtree(torn)


def test_a_tampered_adapter_is_refused_naming_the_file(registry, tmp_path):
    """One weight byte changed in place: the file still loads, into another model."""
    storage, _ = registry
    folder = shutil.copytree(storage / "adapters" / "sft", tmp_path / "tampered")
    weights = bytearray((folder / adapters.WEIGHTS).read_bytes())
    weights[-3] ^= 0x01
    (folder / adapters.WEIGHTS).write_bytes(weights)
    with pytest.raises(adapters.AdapterError, match="adapter_model.safetensors differ from what querytune.json"):
        adapters.load(str(folder), device="cpu")


def test_an_adapter_with_nan_weights_is_refused_on_load(registry, tmp_path):
    """A run that diverged writes NaN weights and an honest manifest: the hashes match, the weights are unusable."""
    from safetensors.torch import load_file, save_file

    storage, _ = registry
    folder = shutil.copytree(storage / "adapters" / "sft", tmp_path / "diverged")
    tensors = load_file(folder / adapters.WEIGHTS)
    key = sorted(tensors)[0]
    tensors[key][0, 0] = float("nan")
    save_file(tensors, folder / adapters.WEIGHTS, metadata={"format": "pt"})
    manifest = adapters.read_manifest(folder)
    manifest.files = adapters.file_hashes(folder)
    (folder / adapters.MANIFEST).write_text(manifest.model_dump_json())
    with pytest.raises(adapters.AdapterError, match=f"tensor {key} holds NaN"):
        adapters.load(str(folder), device="cpu")


def test_registering_over_a_name_with_keep_previous_keeps_the_old_version(registry, tmp_path):
    """What a sweep does to ``<task>-best``: the version it replaces stays listed and loadable."""
    storage, _ = registry
    for src in ("sft", "grpo"):
        adapters.register(storage / "adapters" / src, "toy-best", str(tmp_path), keep_previous=True)
    names = {m.name: m for m in adapters.list_adapters(str(tmp_path))}
    assert sorted(names) == ["toy-best", "toy-best.v1"]
    assert names["toy-best"].recipe == "grpo" and names["toy-best.v1"].recipe == "sft"
    _, _, kept = adapters.load("toy-best.v1", str(tmp_path), dtype="float32", device="cpu")
    assert kept.name == "toy-best.v1"
    adapters.register(storage / "adapters" / "sft", "toy-best", str(tmp_path))  # a plain register replaces
    assert sorted(m.name for m in adapters.list_adapters(str(tmp_path))) == ["toy-best", "toy-best.v1"]


@pytest.mark.parametrize("keep_safetensors", [True, False])
def test_pickle_weights_are_refused(registry, tmp_path, keep_safetensors):
    storage, _ = registry
    folder = tmp_path / "pickled"
    shutil.copytree(storage / "adapters" / "sft", folder)
    (folder / "adapter_model.bin").write_bytes(b"not loaded: pickle can run code")
    if not keep_safetensors:
        (folder / adapters.WEIGHTS).unlink()
    with pytest.raises(adapters.AdapterError, match="pickle files are refused"):
        adapters.load(str(folder), device="cpu")


def test_registered_adapter_reloads_with_the_logits_of_the_model_in_memory(registry):
    import torch

    storage, expected = registry
    model, tokenizer, manifest = adapters.load("sft", str(storage), dtype="float32", device="cpu")
    assert manifest.name == "sft" and manifest.parents == []
    torch.testing.assert_close(logits(model, tokenizer), expected["sft"], atol=1e-5, rtol=0)


# --------------------------------------------------------------------------- lineage
def test_child_manifest_names_its_merged_parent(registry):
    storage, _ = registry
    manifest = adapters.read_manifest(storage / "adapters" / "grpo")
    assert [(p.name, p.recipe, p.dir, p.merged) for p in manifest.parents] == [("sft", "sft", "parents/0", True)]
    assert (storage / "adapters" / "grpo" / "parents" / "0" / adapters.WEIGHTS).is_file()


def test_load_rebuilds_the_chain_and_a_plain_peft_load_on_the_base_is_wrong(registry):
    import torch
    from peft import PeftModel

    storage, expected = registry
    folder = storage / "adapters" / "grpo"
    chained, tokenizer, _ = adapters.load("grpo", str(storage), dtype="float32", device="cpu")
    torch.testing.assert_close(logits(chained, tokenizer), expected["grpo"], atol=1e-5, rtol=0)

    manual = PeftModel.from_pretrained(base_model()[0], folder / "parents" / "0").merge_and_unload()
    manual = PeftModel.from_pretrained(manual, folder).eval()
    torch.testing.assert_close(logits(manual, tokenizer), expected["grpo"], atol=1e-5, rtol=0)

    # The trap of the original project: the GRPO adapter straight on the raw base.
    raw = PeftModel.from_pretrained(base_model()[0], folder).eval()
    assert (logits(raw, tokenizer) - expected["grpo"]).abs().max() > 1e-2


def test_peft_auto_loader_cannot_put_a_chained_adapter_on_the_base(registry):
    from peft import AutoPeftModelForCausalLM

    storage, _ = registry
    with pytest.raises(Exception, match="adapters.load"):
        AutoPeftModelForCausalLM.from_pretrained(storage / "adapters" / "grpo")


def test_a_base_with_another_hash_is_refused_naming_the_base_needed(registry, tmp_path):
    storage, _ = registry
    with pytest.raises(adapters.AdapterError, match=r"trained on base 'tiny-qwen3'.*load it with the base it names"):
        adapters.load("grpo", str(storage), base=str(other_base(tmp_path)), device="cpu")


def test_merged_export_equals_the_chained_load(registry, tmp_path):
    import torch
    from transformers import AutoModelForCausalLM

    storage, expected = registry
    out = adapters.export_merged("grpo", tmp_path / "merged", str(storage))
    merged = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32).eval()
    torch.testing.assert_close(logits(merged, models.load_tokenizer(out)), expected["grpo"], atol=1e-4, rtol=0)


def test_a_grandchild_carries_the_whole_chain(registry):
    storage, _ = registry
    folder = storage / "adapters" / "grpo"
    lineage = adapters.lineage_for_child(folder, adapters.read_manifest(folder))
    assert [(ref.name, ref.dir) for ref, _ in lineage] == [("sft", "parents/0"), ("grpo", "parents/1")]
    assert [src for _, src in lineage] == [folder / "parents" / "0", folder]
