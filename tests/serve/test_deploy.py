"""Every KubeRay manifest's serve config builds our application, and exposes nothing without a key.

A manifest that only names its files passed its old test while Ray refused its app args
(`args: {config: ...}`); here the app is built from the manifest's own ``serveConfigV2``,
the way Ray's build task builds it on the head pod, over tiny adapters registered under the
names it serves.
"""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from querytune.platform.config import ConfigError
from querytune.serve.app import build_from_args
from querytune.serve.config import LOOPBACK_HOSTS, ServeFile, load_serve_file
from tests.reliability.conftest import write_random_adapter

REPO = Path(__file__).resolve().parents[2]
SERVICES = [path for path in sorted(REPO.glob("deploy/*.yaml")) if yaml.safe_load(path.read_text())["kind"]
            == "RayService"]
KEY_ENV = "QUERYTUNE_API_KEY"


def serve_config(manifest: Path) -> dict:
    return yaml.safe_load(yaml.safe_load(manifest.read_text())["spec"]["serveConfigV2"])


def head_env(manifest: Path) -> dict[str, dict]:
    head = yaml.safe_load(manifest.read_text())["spec"]["rayClusterConfig"]["headGroupSpec"]
    return {var["name"]: var for container in head["template"]["spec"]["containers"]
            for var in container.get("env", [])}


@pytest.fixture(scope="module")
def manifest_registry(tiny_model, tmp_path_factory) -> str:
    """Tiny adapters under every adapter name the manifests serve, with the task each route needs."""
    storage = tmp_path_factory.mktemp("deploy-registry")
    names = {}
    for manifest in SERVICES:
        args = serve_config(manifest)["applications"][0]["args"]
        names.update({spec["model"]: route for route, spec in args["routes"].items()})
    for seed, (name, task) in enumerate(names.items()):
        write_random_adapter(storage, name, task, seed)
    return str(storage)


def test_there_is_a_rayservice_manifest():
    assert SERVICES, "no RayService under deploy/"


@pytest.mark.parametrize("manifest", SERVICES, ids=lambda p: p.name)
def test_the_manifest_builds_the_app_as_ray_would(manifest, manifest_registry, tmp_path, monkeypatch):
    from ray.serve.schema import ServeDeploySchema

    ServeDeploySchema.model_validate(serve_config(manifest))  # what KubeRay's Ray accepts
    config = tmp_path / "serve.yaml"
    config.write_text(yaml.safe_dump(serve_config(manifest)))
    file = load_serve_file(config, [f"storage_path={manifest_registry}"])  # the bucket: a local registry here
    monkeypatch.setenv(KEY_ENV, "k8s-secret-value")
    application = build_from_args(file.app.args.model_dump(mode="json"))
    assert type(application).__name__ == "Application"


@pytest.mark.parametrize("manifest", SERVICES, ids=lambda p: p.name)
def test_the_manifest_requires_a_key_off_loopback_and_takes_it_from_a_secret(manifest, manifest_registry,
                                                                              monkeypatch):
    data = serve_config(manifest)
    args = {**data["applications"][0]["args"], "storage_path": manifest_registry}
    if data["http_options"]["host"] in LOOPBACK_HOSTS:
        return  # loopback only: a key is the operator's choice
    assert args["api_key_env"] == KEY_ENV
    assert head_env(manifest)[KEY_ENV]["valueFrom"]["secretKeyRef"]  # where Ray builds the app
    monkeypatch.delenv(KEY_ENV, raising=False)
    with pytest.raises(ConfigError, match=KEY_ENV):
        build_from_args(args)  # a head pod without the secret builds nothing
    with pytest.raises(ValueError, match="api_key_env is null"):
        ServeFile.model_validate({**data, "applications": [{**data["applications"][0],
                                                            "args": {**args, "api_key_env": None}}]})


@pytest.mark.parametrize("path", sorted(REPO.glob("deploy/*.yaml")), ids=lambda p: p.name)
def test_no_manifest_opens_the_ray_dashboard_to_every_address(path):
    text = path.read_text()
    assert "dashboard-host: 0.0.0.0" not in text and "dashboard-host: \"0.0.0.0\"" not in text
