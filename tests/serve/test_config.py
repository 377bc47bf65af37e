"""Serve YAMLs: ours and Ray's schema both accept every shipped file; mistakes name the key."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from querytune.platform.config import ConfigError
from querytune.serve.catalog import CatalogError, resolve_catalog
from querytune.serve.config import ServeConfig, load_serve_file
from tests.serve.conftest import tiny_serve_config

REPO = Path(__file__).resolve().parents[2]
SERVE_FILES = sorted(REPO.glob("configs/**/serve*.yaml"))


@pytest.mark.parametrize("path", SERVE_FILES, ids=lambda p: str(p.relative_to(REPO)))
def test_shipped_serve_file_is_valid_for_querytune_and_for_ray(path):
    from ray.serve.schema import ServeDeploySchema

    file = load_serve_file(path)
    assert file.http_options.host == "127.0.0.1"  # loopback unless someone decides otherwise
    assert file.app.import_path == "querytune.serve.app:build_from_args"
    ServeDeploySchema.model_validate(yaml.safe_load(path.read_text()))  # what `serve run FILE` checks


def test_overrides_address_the_application_args():
    file = load_serve_file(REPO / "configs/serve.yaml", ["routes.qmd.model=qmd-grpo", "limits.max_tokens=64"])
    assert file.app.args.routes["qmd"].model == "qmd-grpo" and file.app.args.limits.max_tokens == 64


BAD_SETTINGS = {  # edit of the application args -> what the error must say
    "min above max": (lambda a: a["deployments"][0]["replica"]["autoscaling"].update(min_replicas=3),
                      r"autoscaling: .*max_replicas \(2\) must be greater than or equal to min_replicas \(3\)"),
    "lora rank": (lambda a: a["deployments"][0].update(vllm={"max_lora_rank": 12}), "max_lora_rank=12: vLLM accepts"),
    "engine": (lambda a: a["deployments"][0].update(engine="tgi"), "deployments.0.engine"),
    "typo": (lambda a: a["limits"].update(max_tokns=5), "limits.max_tokns: unknown key"),
    "route": (lambda a: a["routes"].update(bing={"model": "x"}), "routes.bing"),
}


@pytest.mark.parametrize("edit,message", BAD_SETTINGS.values(), ids=BAD_SETTINGS.keys())
def test_a_bad_setting_names_its_key(tmp_path, edit, message):
    data = yaml.safe_load((REPO / "configs/serve.yaml").read_text())
    edit(data["applications"][0]["args"])
    path = tmp_path / "serve.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match=message):
        load_serve_file(path)


def test_a_file_without_one_application_is_refused(tmp_path):
    path = tmp_path / "serve.yaml"
    path.write_text("http_options: {port: 8000}\n")
    with pytest.raises(ConfigError, match="exactly one application"):
        load_serve_file(path)


def test_catalog_refuses_unknown_adapters_and_routes_to_nothing(registry):
    with pytest.raises(CatalogError, match="no adapter named 'ghost'"):
        resolve_catalog(tiny_serve_config(registry, deployments=[{"name": "d", "adapters": [{"adapter": "ghost"}]}]))
    with pytest.raises(CatalogError, match=r"routes.qmd.model='qmd-tiny' is not served"):
        resolve_catalog(tiny_serve_config(registry, deployments=[{"name": "d", "adapters": [{"adapter": "sg-tiny"}]}]))


def test_catalog_names_models_after_the_registry_and_keeps_their_tasks(registry):
    catalog = resolve_catalog(tiny_serve_config(registry))
    assert set(catalog) == {"sg-tiny", "qmd-tiny"} and catalog["qmd-tiny"].task == "qmd"
    assert catalog["sg-tiny"].base == "tiny-qwen3" and not catalog["sg-tiny"].has_parents
    assert Path(catalog["sg-tiny"].storage_path).is_absolute()  # replicas run elsewhere


def test_duplicate_deployment_names_are_refused():
    with pytest.raises(ValueError, match="deployment names must be unique"):
        ServeConfig.model_validate({"deployments": [{"name": "d", "adapters": [{"adapter": "a"}]},
                                                    {"name": "d", "adapters": [{"adapter": "b"}]}]})
