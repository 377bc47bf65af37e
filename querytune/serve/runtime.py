"""Adapters loaded and unloaded while the server runs (vLLM's and LoRAX's runtime LoRA loading).

``POST /v1/load_lora_adapter {"lora_name": ...}`` names a registry adapter (``querytune
adapters list``), never a path; it is served under that name until ``POST
/v1/unload_lora_adapter``. Before it is accepted its manifest is read and its files are
checked (as for a configured adapter), its task must import, and its base hash must be
the hash of a served deployment's base: an adapter trained on another base is a 400
naming both. Loading and unloading one name take its own ``asyncio.Lock``.

``RuntimeAdapters`` holds what was loaded. ``--local`` keeps it in the service; on Ray it
is a small deployment of its own (``app.build_app``), so every ingress replica sees the
same adapters. The engines load an adapter's weights on the first request that names it.
"""
from __future__ import annotations

import asyncio

from querytune.platform import adapters
from querytune.serve.catalog import ServedModel
from querytune.serve.config import ServeConfig
from querytune.serve.schemas import ApiError


class RuntimeAdapters:
    """The adapters added at runtime, on top of the configured catalog."""

    def __init__(self, cfg: ServeConfig, catalog: dict[str, ServedModel]):
        self.cfg = cfg
        self.static = dict(catalog)
        self.loaded: dict[str, ServedModel] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def lock(self, name: str) -> asyncio.Lock:
        return self._locks.setdefault(name, asyncio.Lock())

    async def get(self, name: str) -> ServedModel | None:
        return self.loaded.get(name)

    async def entries(self) -> list[ServedModel]:
        return list(self.loaded.values())

    async def load(self, name: str, deployment: str | None = None) -> ServedModel | ApiError:
        async with self.lock(name):
            limit = self.cfg.limits.max_runtime_adapters
            if name in self.static or name in self.loaded:
                return ApiError(400, "already_loaded", f"model {name!r} is already served; unload it first "
                                "(POST /v1/unload_lora_adapter) to load it again", "lora_name")
            if limit == 0:
                return ApiError(403, "runtime_loading_off", "runtime adapter loading is off "
                                "(limits.max_runtime_adapters=0)", "lora_name")
            if len(self.loaded) >= limit:
                return ApiError(422, "too_many", f"{len(self.loaded)} adapters are loaded at runtime; the limit is "
                                f"{limit} (limits.max_runtime_adapters): unload one first", "lora_name")
            entry = await asyncio.to_thread(self._check, name, deployment)
            if isinstance(entry, ServedModel):
                self.loaded[name] = entry
            return entry

    async def unload(self, name: str) -> ServedModel | ApiError:
        async with self.lock(name):
            if name in self.static:
                return ApiError(400, "configured", f"model {name!r} is in the serve config, not loaded at runtime: "
                                "remove it from the config instead", "lora_name")
            if name not in self.loaded:
                return ApiError(404, "model_not_found", f"no adapter named {name!r} was loaded at runtime (loaded: "
                                f"{', '.join(sorted(self.loaded)) or 'none'})", "lora_name")
            return self.loaded.pop(name)

    def _check(self, name: str, deployment: str | None) -> ServedModel | ApiError:
        """The registry adapter ``name`` as a served model of a deployment with its base, or why not."""
        from querytune.experiments import get_task

        storage_path = next(iter(self.static.values())).storage_path
        try:
            adapters.check_name(name)
            folder = adapters.resolve(name, storage_path)
            manifest = adapters.read_manifest(folder)
        except adapters.AdapterError as err:
            status, kind = (404, "adapter_not_found") if "no adapter named" in str(err) else (400, "bad_adapter")
            return ApiError(status, kind, str(err).replace(str(storage_path), "<registry>"), "lora_name")
        try:
            get_task(manifest.task)
        except KeyError:
            return ApiError(400, "bad_adapter", f"adapter {name!r} is of task {manifest.task!r}, which this server "
                            "does not have", "lora_name")
        served = {e.deployment: e for e in self.static.values()}  # one entry per deployment: its base and hash
        if deployment is not None and deployment not in served:
            return ApiError(404, "deployment_not_found", f"no LLM deployment named {deployment!r} (deployments: "
                            f"{', '.join(sorted(served))})", "deployment")
        candidates = [served[deployment]] if deployment else list(served.values())
        match = next((e for e in candidates if e.base_hash == manifest.base.hash), None)
        if match is None:
            bases = "; ".join(f"{e.deployment}: {e.base} {e.base_hash[:19]}…" for e in candidates)
            return ApiError(400, "base_mismatch", f"adapter {name!r} was trained on base {manifest.base.model!r} "
                            f"with hash {manifest.base.hash[:19]}…, but this server serves {bases}: an adapter runs "
                            "only on the base it was trained on", "lora_name")
        engine = next(d.engine for d in self.cfg.deployments if d.name == match.deployment)
        if engine == "vllm" and manifest.parents:
            return ApiError(400, "bad_adapter", f"adapter {name!r} was trained on a merged parent; vLLM deployment "
                            f"{match.deployment!r} applies a LoRA to the raw base only", "lora_name")
        return ServedModel(name=name, deployment=match.deployment, adapter=name, storage_path=storage_path,
                           task=manifest.task, base=match.base, base_hash=manifest.base.hash, recipe=manifest.recipe,
                           has_parents=bool(manifest.parents), constrained=True, runtime=True)
