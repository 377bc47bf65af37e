"""The cluster launcher config and the KubeRay manifests are valid as shipped."""
import json
from pathlib import Path

import jsonschema
import ray
import yaml

from tests.cluster.conftest import REPO


def test_cluster_yaml_matches_rays_schema():
    schema = json.loads((Path(ray.__file__).parent / "autoscaler" / "ray-schema.json").read_text())
    config = yaml.safe_load((REPO / "cluster.yaml").read_text())
    jsonschema.validate(config, schema)
    assert config["available_node_types"]["head"]["resources"] == {"CPU": 0}
    assert any("'.[gpu]'" in cmd for cmd in config["setup_commands"])


def test_cluster_yaml_schema_rejects_a_typo():
    schema = json.loads((Path(ray.__file__).parent / "autoscaler" / "ray-schema.json").read_text())
    config = yaml.safe_load((REPO / "cluster.yaml").read_text())
    config["max_workerz"] = 3
    try:
        jsonschema.validate(config, schema)
    except jsonschema.ValidationError as err:
        assert "max_workerz" in str(err)
    else:
        raise AssertionError("the schema accepted an unknown top-level key")


def test_kuberay_manifests_point_at_real_entry_points():
    job = yaml.safe_load((REPO / "deploy/rayjob.yaml").read_text())
    service = yaml.safe_load((REPO / "deploy/rayservice.yaml").read_text())
    assert job["kind"] == "RayJob" and job["spec"]["entrypoint"].startswith("querytune sweep ")
    assert (REPO / job["spec"]["entrypoint"].split()[2]).is_file()
    app = yaml.safe_load(service["spec"]["serveConfigV2"])["applications"][0]
    module, attr = app["import_path"].split(":")
    assert hasattr(__import__(module, fromlist=[attr]), attr)  # tests/serve/test_deploy.py builds the app
