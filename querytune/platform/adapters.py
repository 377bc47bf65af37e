"""Adapter registry and lineage: an adapter cannot be loaded onto the wrong base.

Every adapter folder holds the PEFT files plus ``querytune.json`` (the manifest):
base model name and content hash, task, recipe, resolved config, dataset fingerprint,
metrics and code version. An adapter trained on top of another one (GRPO on a merged
SFT model) carries copies of its ancestors under ``parents/0``, ``parents/1``, ... so
``load`` can rebuild base -> merge ancestors -> apply adapter without looking anything
up. A base whose hash differs from the recorded one is refused.

Registry layout: ``<storage>/adapters/<name>/``. Writes go to a temporary folder that is
renamed into place, and the manifest is written last, so a crashed run never leaves a
listed half-adapter. ``register(..., keep_previous=True)`` (sweeps' ``<task>-best``) keeps
the version it replaces as ``<name>.v<N>``, listed and loadable like any adapter.

The manifest records the sha256 of every file beside it; ``resolve`` refuses a folder whose
files differ (tampered, truncated), and ``load`` refuses weights that are not finite (NaN).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, Field

from querytune import __version__
from querytune.platform import models, storage

MANIFEST = "querytune.json"
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
WEIGHTS = "adapter_model.safetensors"


class AdapterError(ValueError):
    """An adapter that cannot be found, trusted or loaded as asked."""


class BaseRef(BaseModel):
    model: str = Field(description="model name as given to models.resolve")
    hash: str = Field(description="content hash of the base weights")


class ParentRef(BaseModel):
    name: str
    recipe: str
    dir: str = Field(description="folder inside this adapter holding the parent's PEFT files")
    merged: bool = Field(True, description="merged into the base before this adapter is applied")


class Manifest(BaseModel):
    format: int = 1
    name: str = ""
    task: str
    recipe: str
    base: BaseRef
    parents: list[ParentRef] = Field(default_factory=list)
    config: dict[str, Any] = Field(default_factory=dict)
    data_fingerprint: str = ""
    metrics: dict[str, Any] = Field(default_factory=dict)
    probe: dict[str, Any] = Field(default_factory=dict, description="logits the trained in-memory model gave "
                                  "for a fixed prompt; load(verify=True) checks a reload reproduces them")
    files: dict[str, str] = Field(default_factory=dict, description="sha256 of each file of the adapter folder "
                                  "(relative path -> hex), checked by resolve; empty in manifests before it")
    code_version: str = Field(default_factory=lambda: code_version())
    created: str = Field(default_factory=lambda: dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"))


def code_version() -> str:
    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=Path(__file__).parent).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        sha = ""
    return f"{__version__}+{sha}" if sha else __version__


def check_name(name: str) -> str:
    """Registry names are plain folder names: nothing can escape the adapter folder."""
    if not NAME_RE.match(name or "") or ".." in name:
        raise AdapterError(f"adapter name {name!r} is not allowed: use letters, digits, '.', '_' and '-' "
                           "(no '/', no '..'), up to 128 characters")
    return name


def registry_root(storage_path: str) -> str:
    return storage.join(storage_path, "adapters")


def read_manifest(folder: str | Path) -> Manifest:
    from pydantic import ValidationError

    path = storage.join(folder, MANIFEST)
    if not storage.exists(path):
        raise AdapterError(f"{folder} is not a querytune adapter: {MANIFEST} is missing")
    try:
        return Manifest.model_validate_json(storage.read_text(path))
    except (ValidationError, UnicodeDecodeError) as err:
        first = str(err).splitlines()[:3]
        raise AdapterError(f"{path}: corrupt manifest ({' '.join(line.strip() for line in first)})") from None


def file_hashes(folder: Path) -> dict[str, str]:
    """sha256 of every file under ``folder`` but the manifest, by relative path."""
    hashes = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.name != MANIFEST):
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        hashes[path.relative_to(folder).as_posix()] = digest.hexdigest()
    return hashes


def check_files(folder: Path, manifest: Manifest) -> None:
    """The files are the ones the manifest was written with (a copy or upload may not alter them)."""
    actual = file_hashes(folder)
    changed = sorted(name for name, digest in manifest.files.items() if actual.get(name) != digest)
    if changed:
        raise AdapterError(f"{folder}: {', '.join(changed)} differ from what {MANIFEST} recorded (missing, "
                           "modified or truncated): the adapter is corrupt; register it again from its run")


def check_finite(folder: Path, manifest: Manifest) -> None:
    """Weights of the adapter and its ancestors hold no NaN or infinity (a diverged run scores 0% silently)."""
    import torch
    from safetensors.torch import load_file

    for sub in ["", *(ref.dir for ref in manifest.parents)]:
        for key, tensor in load_file(folder / sub / WEIGHTS).items():
            if not torch.isfinite(tensor).all():
                raise AdapterError(f"{folder / sub / WEIGHTS}: tensor {key} holds NaN or infinite values: "
                                   "the run that wrote it diverged; retrain it (e.g. a lower learning rate)")


def write_adapter(folder: Path, peft_model, manifest: Manifest, parents: list[tuple[ParentRef, Path]] = ()) -> Path:
    """Save PEFT weights, ancestor copies and (last) the manifest into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    peft_model.save_pretrained(folder, safe_serialization=True)
    for ref, src in parents:
        shutil.copytree(src, folder / ref.dir, dirs_exist_ok=True, ignore=shutil.ignore_patterns("parents"))
    manifest.parents = [ref for ref, _ in parents]
    if manifest.parents:
        _block_plain_peft_load(folder, manifest.parents)
    (folder / "config.yaml").write_text(yaml.safe_dump(manifest.config, sort_keys=False))
    manifest.files = file_hashes(folder)
    (folder / MANIFEST).write_text(manifest.model_dump_json(indent=2))
    return folder


def _block_plain_peft_load(folder: Path, parents: list[ParentRef]) -> None:
    """A chained adapter put straight on the base is silently wrong (the 0% failure), and PEFT's
    auto loader would do exactly that: point its base at a name that cannot load and says why."""
    config_path = folder / "adapter_config.json"
    config = json.loads(config_path.read_text())
    chain = "+".join(ref.name for ref in parents)
    config["base_model_name_or_path"] = (f"querytune-chain:base+merged({chain}) - not the raw base: "
                                         "load with querytune.platform.adapters.load or export --merge")
    config_path.write_text(json.dumps(config, indent=2))


def lineage_for_child(parent_dir: Path, parent: Manifest) -> list[tuple[ParentRef, Path]]:
    """The ancestors a child of ``parent`` must carry: the parent's own ancestors, then the parent."""
    refs = [*parent.parents, ParentRef(name=parent.name or parent_dir.name, recipe=parent.recipe, dir="")]
    sources = [parent_dir / ref.dir for ref in parent.parents] + [parent_dir]
    return [(ref.model_copy(update={"dir": f"parents/{i}"}), src) for i, (ref, src) in enumerate(zip(refs, sources))]


def register(src: str | Path, name: str, storage_path: str, keep_previous: bool = False) -> str:
    """Copy a finished adapter folder into the registry under ``name``; returns its path.

    ``keep_previous``: the version it replaces stays in the registry as ``<name>.v<N>``.
    """
    check_name(name)
    src = storage.local_path(src)
    manifest = read_manifest(src)
    manifest.name = name
    root = registry_root(storage_path)
    dest = storage.join(root, name)
    if storage.is_uri(root):
        if keep_previous and storage.exists(storage.join(dest, MANIFEST)):
            _keep_remote_version(root, name)
        staging = Path(tempfile.mkdtemp())
        try:
            _copy_with_manifest_last(src, staging / name, manifest)
            storage.upload(staging / name, dest)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return dest
    Path(root).mkdir(parents=True, exist_ok=True)
    tmp = Path(root) / f".tmp-{name}-{uuid.uuid4().hex[:8]}"
    _copy_with_manifest_last(src, tmp, manifest)
    old = Path(root) / f".old-{name}-{uuid.uuid4().hex[:8]}"
    if Path(dest).exists():
        os.replace(dest, old)
    os.replace(tmp, dest)
    if keep_previous and (old / MANIFEST).is_file():
        archived = Path(root) / next_version(root, name)
        os.replace(old, archived)
        _rename_manifest(archived)
    shutil.rmtree(old, ignore_errors=True)
    return dest


def next_version(root: str, name: str) -> str:
    """``<name>.v<N>``, one past the highest kept version."""
    pattern = re.compile(rf"^{re.escape(name)}\.v(\d+)$")
    kept = [int(m.group(1)) for d in storage.list_dirs(root) if (m := pattern.match(d))]
    return f"{name}.v{max(kept, default=0) + 1}"


def _rename_manifest(folder: Path) -> None:
    """A kept version's manifest names its own folder (written aside, then renamed over)."""
    manifest = read_manifest(folder)
    manifest.name = folder.name
    (folder / f".{MANIFEST}.tmp").write_text(manifest.model_dump_json(indent=2))
    os.replace(folder / f".{MANIFEST}.tmp", folder / MANIFEST)


def _keep_remote_version(root: str, name: str) -> None:
    """The URI counterpart: download the current version, rename its manifest, upload it as ``<name>.v<N>``."""
    staging = Path(tempfile.mkdtemp()) / next_version(root, name)
    try:
        storage.download(storage.join(root, name), staging)
        _rename_manifest(staging)
        storage.upload(staging, storage.join(root, staging.name))
    finally:
        shutil.rmtree(staging.parent, ignore_errors=True)


def _copy_with_manifest_last(src: Path, dest: Path, manifest: Manifest) -> None:
    shutil.copytree(src, dest, ignore=shutil.ignore_patterns(MANIFEST))
    (dest / MANIFEST).write_text(manifest.model_dump_json(indent=2))


def scan(storage_path: str) -> tuple[list[Manifest], dict[str, str]]:
    """(complete adapters, {name: reason} of folders whose manifest is corrupt).

    A folder without a manifest is not an adapter (a crash before its last write) and is in neither.
    """
    root = registry_root(storage_path)
    found, broken = [], {}
    for name in storage.list_dirs(root):
        folder = storage.join(root, name)
        if name.startswith(".") or not storage.exists(storage.join(folder, MANIFEST)):
            continue
        try:
            found.append(read_manifest(folder))
        except AdapterError as err:
            broken[name] = str(err)
    return found, broken


def list_adapters(storage_path: str) -> list[Manifest]:
    """Complete adapters only: folders whose manifest was written (and reads)."""
    return scan(storage_path)[0]


def resolve(name_or_path: str, storage_path: str = "runs") -> Path:
    """A registry name or an adapter folder/URI -> local folder with a manifest."""
    as_path = Path(name_or_path).expanduser()
    if storage.is_uri(name_or_path) or as_path.is_dir():
        folder = storage.local_path(name_or_path)
    else:
        check_name(name_or_path)
        known = storage.join(registry_root(storage_path), name_or_path)
        if not storage.exists(known):
            names = ", ".join(m.name for m in list_adapters(storage_path)) or "none registered"
            raise AdapterError(f"no adapter named {name_or_path!r} under {registry_root(storage_path)} "
                               f"(known: {names})")
        folder = storage.local_path(known)
    manifest = read_manifest(folder)
    if not (folder / WEIGHTS).is_file() or any(folder.rglob("*.bin")):  # rglob: ancestors in parents/ too
        raise AdapterError(f"{folder}: adapters load only from {WEIGHTS} (pickle files are refused)")
    check_files(folder, manifest)
    return folder


PROBE_TEXT = "Find Python files with async functions"


def probe_logits(model, tokenizer) -> list[float]:
    """Last-position logits (first 16) for a fixed prompt: a fingerprint of the model's behaviour."""
    import torch

    ids = tokenizer(PROBE_TEXT, return_tensors="pt").to(model.device)
    with torch.inference_mode():
        return model(**ids).logits[0, -1, :16].float().tolist()


def verify_probe(model, tokenizer, manifest: Manifest, atol: float = 1e-3) -> None:
    if not manifest.probe:
        return
    got = probe_logits(model, tokenizer)
    worst = max(abs(a - b) for a, b in zip(got, manifest.probe["logits"]))
    if worst > atol:
        raise AdapterError(f"adapter {manifest.name or '?'} reloaded with logits {worst:.2e} away from what "
                           f"training produced (tolerance {atol}): wrong base or corrupted files")


def check_base(manifest: Manifest, base_dir: Path) -> None:
    actual = models.content_hash(base_dir)
    if actual != manifest.base.hash:
        raise AdapterError(
            f"adapter {manifest.name or '?'} was trained on base {manifest.base.model!r} with hash "
            f"{manifest.base.hash[:19]}…, but {base_dir} has {actual[:19]}…: load it with the base it names "
            f"(model: {manifest.base.model}) or retrain it on this base")


def load(name_or_path: str, storage_path: str = "runs", *, base: str | None = None, dtype: str = "auto",
         device: str | None = None, merge: bool = False, verify: bool = False):
    """(model, tokenizer, manifest): base -> merged ancestors -> this adapter, hash-checked.

    ``base`` may name another copy of the same base (same hash); a different one is refused.
    ``merge=True`` folds this adapter in too (a plain model, fastest to run).
    ``verify=True`` checks the reload against the logits recorded at training time.
    """
    from peft import PeftModel

    folder = resolve(name_or_path, storage_path)
    manifest = read_manifest(folder)
    check_finite(folder, manifest)
    base_dir = models.resolve(base or manifest.base.model)
    check_base(manifest, base_dir)
    model, tokenizer, _ = models.load_model(str(base_dir), dtype=dtype, device=device)
    for ref in manifest.parents:
        model = PeftModel.from_pretrained(model, folder / ref.dir).merge_and_unload()
    model = PeftModel.from_pretrained(model, folder)
    if merge:
        model = model.merge_and_unload()
    model.eval()
    if verify:
        verify_probe(model, tokenizer, manifest)
    return model, tokenizer, manifest


def export_merged(name_or_path: str, out: str | Path, storage_path: str = "runs") -> Path:
    """Write the whole chain merged into one plain Hugging Face model folder (safetensors)."""
    model, tokenizer, manifest = load(name_or_path, storage_path, dtype="float32", device="cpu", merge=True)
    out = Path(out)
    tmp = out.with_name(f".{out.name}.tmp-{uuid.uuid4().hex[:8]}")
    model.save_pretrained(tmp, safe_serialization=True)
    tokenizer.save_pretrained(tmp)
    (tmp / "querytune-export.json").write_text(json.dumps(
        {"exported_from": manifest.model_dump(), "merged": True}, indent=2))
    if out.exists():
        shutil.rmtree(out)
    os.replace(tmp, out)
    return out
