"""What a server answers for: each served model name resolved to its adapter, task and base.

Resolved once when the application is built (on the driver, or on the cluster for
``serve deploy``), so a wrong adapter name, a task that does not import, two adapters
on different bases in one deployment, a route naming nothing or an adapter of another
task, and a model name a manifest made up (``../../etc/passwd <script>``) all fail
before any replica starts. Replicas get the resolved entries and load the weights themselves.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from querytune.platform import adapters, storage
from querytune.serve.config import NAME_PATTERN, LLMDeployment, ServeConfig


class CatalogError(ValueError):
    """A serve config whose adapters, tasks or routes do not fit together."""


@dataclass(frozen=True)
class ServedModel:
    name: str  # what clients send as "model", and what routes point at
    deployment: str  # the LLM deployment holding it
    adapter: str  # registry name or folder, resolved again on each replica
    storage_path: str
    task: str
    base: str  # base model name given to models.resolve
    base_hash: str
    recipe: str
    has_parents: bool  # trained on a merged ancestor (GRPO on SFT)
    constrained: bool
    runtime: bool = False  # loaded by POST /v1/load_lora_adapter, not in the serve config


def absolute(path: str) -> str:
    """Storage paths travel to replicas whose working directory differs from ours."""
    return path if storage.is_uri(path) else str(Path(path).expanduser().resolve())


def resolve_catalog(cfg: ServeConfig) -> dict[str, ServedModel]:
    """Served model name -> entry, for every adapter of every deployment; routes checked."""
    storage_path = absolute(cfg.storage_path)
    catalog: dict[str, ServedModel] = {}
    for deployment in cfg.deployments:
        for entry in _deployment_models(deployment, storage_path):
            if entry.name in catalog:
                raise CatalogError(f"model name {entry.name!r} is served twice (deployments "
                                   f"{catalog[entry.name].deployment!r} and {entry.deployment!r}); give one "
                                   "of them another 'name'")
            catalog[entry.name] = entry
    for route, spec in cfg.routes.items():
        _check_route(route, spec.model, catalog)
    return catalog


def _check_route(route: str, model: str, catalog: dict[str, ServedModel]) -> None:
    """A route writes its own task's prompts and parses its answers: the adapter must be of that task."""
    from querytune.experiments import get_task

    if model not in catalog:
        raise CatalogError(f"routes.{route}.model={model!r} is not served; served models: "
                           f"{', '.join(sorted(catalog))}")
    task = catalog[model].task
    if task != route and get_task(task).name != route:
        raise CatalogError(f"routes.{route}.model={model!r} is an adapter of task {task!r}, not {route!r}: "
                           f"point routes.{route}.model at a {route} adapter")


def _deployment_models(deployment: LLMDeployment, storage_path: str) -> list[ServedModel]:
    from querytune.experiments import get_task

    entries = []
    for spec in deployment.adapters:
        try:
            folder = adapters.resolve(spec.adapter, storage_path)
        except adapters.AdapterError as err:
            raise CatalogError(f"deployment {deployment.name!r}: {err}") from None
        manifest = adapters.read_manifest(folder)
        task = spec.task or manifest.task
        try:
            get_task(task)
        except KeyError as err:
            raise CatalogError(f"deployment {deployment.name!r}, adapter {spec.adapter!r}: {err.args[0]}") from None
        name = spec.name or manifest.name or folder.name
        if not re.fullmatch(NAME_PATTERN, name):
            raise CatalogError(f"deployment {deployment.name!r}, adapter {spec.adapter!r}: model name {name!r} "
                               f"(from its manifest) does not match {NAME_PATTERN}; give the adapter a 'name'")
        entries.append(ServedModel(
            name=name, deployment=deployment.name, adapter=spec.adapter,
            storage_path=storage_path, task=task, base=deployment.base or manifest.base.model,
            base_hash=manifest.base.hash, recipe=manifest.recipe, has_parents=bool(manifest.parents),
            constrained=spec.constrained))
    hashes = {e.base_hash for e in entries}
    if len(hashes) > 1:
        listing = "; ".join(f"{e.name}: {e.base} {e.base_hash[:19]}…" for e in entries)
        raise CatalogError(f"deployment {deployment.name!r}: its adapters were trained on different bases "
                           f"({listing}); one deployment serves one base, so put them in separate deployments")
    return entries
