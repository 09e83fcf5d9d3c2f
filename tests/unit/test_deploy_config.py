"""deploy/: what can be checked without Docker or a cluster.

The YAML files parse; deploy/dagster.yaml passes Dagster's instance config schema and its run
coordinator builds from it; the compose code-server command serves the code location and
`dagster definitions validate` loads it through deploy/workspace.yaml with that instance config
(against a real Postgres); `docker compose config` renders the compose file when
the docker CLI has the compose plugin; the Helm values use only keys of the chart's
values.schema.json when DAGSTER_HELM_SCHEMA names a copy of it; the dbt `warehouse` target renders.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from dagster._core.errors import DagsterInvalidConfigError
from dagster._core.instance.config import dagster_instance_config
from dagster._core.run_coordinator import QueuedRunCoordinator
from dagster._serdes import ConfigurableClassData

from tests.dbt.test_project_config import _render_profile

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
BIN = Path(sys.executable).parent
YAMLS = ["dagster.yaml", "docker-compose.yml", "workspace.yaml", "helm/values.yaml"]


def load(name: str) -> dict:
    return yaml.safe_load((DEPLOY / name).read_text())


@pytest.mark.parametrize("name", YAMLS)
def test_yaml_parses_to_a_mapping(name):
    assert isinstance(load(name), dict) and load(name)


def test_instance_config_passes_dagsters_schema(tmp_path, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@db.example:5432/orderflow?sslmode=require")
    config, _ = dagster_instance_config(str(DEPLOY))
    assert config["storage"]["postgres"]["postgres_url"] == {"env": "DATABASE_URL"}
    rc = config["run_coordinator"]
    coordinator = ConfigurableClassData(rc["module"], rc["class"], yaml.safe_dump(rc["config"])).rehydrate(as_type=QueuedRunCoordinator)
    limits = {(t["key"], t.get("value")): t["limit"] for t in coordinator.get_run_queue_config().tag_concurrency_limits}
    assert limits[("orderflow/ingest", "follow")] == 1 and limits[("orderflow/dbt", None)] == 1
    # the check is real: an unknown entry is refused
    (tmp_path / "dagster.yaml").write_text((DEPLOY / "dagster.yaml").read_text() + "\nrun_launchr: {}\n")
    with pytest.raises(DagsterInvalidConfigError, match="run_launchr"):
        dagster_instance_config(str(tmp_path))


def test_dockerfile_installs_with_constraints_and_serves_the_code_location():
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert "pip install -c constraints.txt" in dockerfile
    for line in dockerfile.splitlines():
        if line.startswith("COPY "):  # every source the build copies exists in the repository
            *sources, _ = line.split()[1:]
            assert all((REPO / s).exists() for s in sources), line
    module = "orderflow_dagster.definitions"
    assert f'"--module-name", "{module}"' in dockerfile and '"code-server", "start"' in dockerfile
    code_server = load("docker-compose.yml")["services"]["code-server"]["command"]
    helm_args = load("helm/values.yaml")["dagster-user-deployments"]["deployments"][0]["codeServerArgs"]
    assert module in code_server and module in helm_args
    workspace = load("workspace.yaml")["load_from"][0]["grpc_server"]
    assert workspace["host"] == "code-server" and str(workspace["port"]) in code_server


def test_compose_has_the_four_services_and_one_database_url():
    compose = load("docker-compose.yml")
    assert {"postgres", "code-server", "webserver", "daemon"} <= set(compose["services"])
    for name in ("code-server", "webserver", "daemon", "migrate"):
        env = compose["services"][name]["environment"]
        assert env["DATABASE_URL"].startswith("postgresql://") and env["DAGSTER_HOME"] == "/opt/dagster/home"


def _compose_cli() -> list[str] | None:
    if shutil.which("docker") and subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        return ["docker", "compose"]
    return ["docker-compose"] if shutil.which("docker-compose") else None


def test_docker_compose_config_renders(tmp_path):
    cli = _compose_cli()
    if cli is None:
        pytest.skip("no `docker compose` plugin or docker-compose binary on this machine")
    env = {**os.environ, "POSTGRES_PASSWORD": "compose-check"}
    done = subprocess.run([*cli, "-f", str(DEPLOY / "docker-compose.yml"), "config", "--quiet"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


# --- Helm values against the chart's schema -------------------------------------------------------

def unknown_keys(value, node: dict, root: dict, path: str = "") -> list[str]:
    """Paths in `value` that the JSON schema `node` does not define (local $refs followed; a
    reference outside the file, e.g. Kubernetes' own schemas, accepts anything)."""
    ref = node.get("$ref", "")
    if ref.startswith("#/definitions/"):
        node = {**root["definitions"][ref.rsplit("/", 1)[1]], **{k: v for k, v in node.items() if k != "$ref"}}
    elif ref:
        return []
    if "anyOf" in node:  # fits if any option fits: report the option with the fewest unknown keys
        base = {k: v for k, v in node.items() if k != "anyOf"}
        options = [unknown_keys(value, base | o, root, path) for o in node["anyOf"] if o.get("type") != "null"]
        return min(options, key=len, default=[])
    if isinstance(value, dict) and isinstance(node.get("properties"), dict) and node["properties"]:
        out = []
        for k, v in value.items():
            if k in node["properties"]:
                out += unknown_keys(v, node["properties"][k], root, f"{path}.{k}")
            elif not node.get("additionalProperties"):
                out.append(f"{path}.{k}")
        return out
    if isinstance(value, list) and isinstance(node.get("items"), dict):
        return [p for i, v in enumerate(value) for p in unknown_keys(v, node["items"], root, f"{path}[{i}]")]
    return []


def test_unknown_keys_finds_a_misspelt_key():
    schema = {"type": "object", "properties": {"runLauncher": {"$ref": "#/definitions/RL"}},
              "definitions": {"RL": {"type": "object", "properties": {
                  "type": {"type": "string"},
                  "config": {"anyOf": [{"$ref": "#/definitions/K8s"}, {"type": "null"}]},
                  "resources": {"$ref": "https://kubernetesjsonschema.dev/v1.18.0/_definitions.json#/x"}},
                  "additionalProperties": False},
                  "K8s": {"type": "object", "properties": {"envSecrets": {"type": "array", "items": {
                      "type": "object", "properties": {"name": {"type": "string"}}}}}}}}
    good = {"runLauncher": {"type": "K8sRunLauncher", "config": {"envSecrets": [{"name": "s"}]}, "resources": {"any": 1}}}
    assert unknown_keys(good, schema, schema) == []
    bad = {"runLauncher": {"tpye": "K8sRunLauncher", "config": {"envSecret": [], "envSecrets": [{"nmae": "s"}]}}}
    assert sorted(unknown_keys(bad, schema, schema)) == [
        ".runLauncher.config.envSecret", ".runLauncher.config.envSecrets[0].nmae", ".runLauncher.tpye"]


def test_helm_values_keys_exist_in_the_chart_schema():
    path = os.environ.get("DAGSTER_HELM_SCHEMA")
    if not path:
        pytest.skip("set DAGSTER_HELM_SCHEMA to the chart's values.schema.json "
                    "(helm pull dagster/dagster --version 1.13.27 --untar: dagster/values.schema.json)")
    import json

    schema = json.loads(Path(path).read_text())
    assert unknown_keys(load("helm/values.yaml"), schema, schema) == []


def test_helm_values_launch_runs_on_kubernetes_through_the_queue():
    values = load("helm/values.yaml")
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    queue = values["dagsterDaemon"]["runCoordinator"]
    assert queue["enabled"] and queue["type"] == "QueuedRunCoordinator"
    helm_tags = {t["key"] for t in queue["config"]["queuedRunCoordinator"]["tagConcurrencyLimits"]}
    compose_tags = {t["key"] for t in load("dagster.yaml")["run_coordinator"]["config"]["tag_concurrency_limits"]}
    assert helm_tags == compose_tags
    assert "postgresqlPassword" not in values["postgresql"]  # the password lives in a Kubernetes secret
    assert values["postgresql"]["postgresqlParams"]["sslmode"] == "require"


# --- dbt target for a larger warehouse -------------------------------------------------------------

def test_dbt_warehouse_target_keeps_the_url_and_scales_up(monkeypatch):
    url = "postgresql://orderflow:pw@warehouse.example:5432/orderflow?sslmode=verify-full&sslrootcert=/etc/ca.pem"
    monkeypatch.setenv("DBT_TARGET", "warehouse")
    big = _render_profile(monkeypatch, url)
    monkeypatch.setenv("DBT_TARGET", "default")
    small = _render_profile(monkeypatch, url)
    for key in ("host", "port", "user", "password", "database", "sslmode", "sslrootcert", "schema"):
        assert getattr(big, key) == getattr(small, key), key
    assert (big.sslmode, big.sslrootcert, big.retries, big.keepalives_idle) == ("verify-full", "/etc/ca.pem", 3, 30)
