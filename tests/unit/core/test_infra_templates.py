"""The deployment templates under infra/ stay in step with the code.

* ``infra/crossbridge.example.toml`` documents every ``Settings`` field (read from
  ``dataclasses.fields``, so a new field fails here until it is documented), each with a
  comment naming its variable and default, its values are the built-in defaults, and
  ``load_settings`` accepts it;
* ``infra/compose/crossbridge.env.example`` names every setting's variable;
* ``infra/compose/compose.yaml`` has the services of the Celery deployment, one executor
  setting everywhere, at least two workers and no secret written into it;
* ``infra/helm/values.yaml`` uses the KubernetesExecutor and takes the site secret from a
  Kubernetes Secret.
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
from pathlib import Path

import pytest
import yaml

from crossbridge.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parents[3]
INFRA = ROOT / "infra"
TOML_TEMPLATE = INFRA / "crossbridge.example.toml"
ENV_EXAMPLE = INFRA / "compose" / "crossbridge.env.example"
COMPOSE = INFRA / "compose" / "compose.yaml"
HELM_VALUES = INFRA / "helm" / "values.yaml"

ENV_ONLY = {"site_secret"}  # never in a config file (load_settings refuses it there)
FIELDS = [f.name for f in dataclasses.fields(Settings)]
FILE_FIELDS = [name for name in FIELDS if name not in ENV_ONLY]

AIRFLOW_SERVICES = {"airflow-init", "airflow-api-server", "airflow-scheduler", "airflow-dag-processor",
                    "airflow-triggerer", "airflow-worker"}
OTHER_SERVICES = {"postgres", "redis", "minio", "minio-init"}
# environment variable names whose values are secrets
SECRET_NAME = re.compile(r"PASSWORD|SECRET|FERNET|TOKEN|PRIVATE", re.I)
INTERPOLATION = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<default>[^}]*))?\}")
URL_PASSWORD = re.compile(r"://[^/:@\s]+:(?P<password>[^@\s]+)@")


def _comment_above(lines: list[str], index: int) -> str:
    """The comment block directly above line ``index`` (up to a blank line)."""
    block: list[str] = []
    i = index - 1
    while i >= 0 and lines[i].lstrip().startswith("#"):
        block.append(lines[i])
        i -= 1
    return "\n".join(reversed(block))


# ---- the settings template ---------------------------------------------------------------------

def test_toml_template_parses_under_one_crossbridge_table():
    data = tomllib.loads(TOML_TEMPLATE.read_text(encoding="utf-8"))
    assert set(data) == {"crossbridge"}
    assert set(data["crossbridge"]) <= set(FILE_FIELDS)
    assert "site_secret" not in data["crossbridge"]


@pytest.mark.parametrize("name", FILE_FIELDS)
def test_every_setting_is_in_the_toml_template_with_its_comment(name):
    lines = TOML_TEMPLATE.read_text(encoding="utf-8").splitlines()
    key = re.compile(rf"^\s*#?\s*{re.escape(name)}\s*=")
    found = [i for i, line in enumerate(lines) if key.match(line)]
    assert found, f"setting {name!r} is missing from {TOML_TEMPLATE.name}"
    comment = _comment_above(lines, found[0])
    assert comment, f"setting {name!r} has no comment above it"
    assert f"CROSSBRIDGE_{name.upper()}" in comment, f"the comment of {name!r} does not name its variable"
    assert "default" in comment.lower(), f"the comment of {name!r} does not give its default"


def test_the_site_secret_is_mentioned_but_never_a_key():
    text = TOML_TEMPLATE.read_text(encoding="utf-8")
    assert "CROSSBRIDGE_SITE_SECRET" in text
    assert not re.search(r"^\s*#?\s*site_secret\s*=", text, re.M)


def test_load_settings_accepts_the_template_and_it_holds_the_defaults():
    settings = load_settings(environ={"CROSSBRIDGE_CONFIG": str(TOML_TEMPLATE)})
    defaults = Settings()
    differ = {name: (getattr(settings, name), getattr(defaults, name)) for name in FIELDS
              if getattr(settings, name) != getattr(defaults, name)}
    assert not differ, f"template values (left) are not the built-in defaults (right): {differ}"


def test_env_example_names_every_setting():
    text = ENV_EXAMPLE.read_text(encoding="utf-8")
    named = set(re.findall(r"^\s*#?\s*(CROSSBRIDGE_[A-Z0-9_]+)=", text, re.M))
    missing = {f"CROSSBRIDGE_{name.upper()}" for name in FIELDS} - named
    assert not missing, f"{ENV_EXAMPLE.name} does not mention {sorted(missing)}"


def test_env_example_with_the_template_loads_and_leaves_the_secret_to_the_site():
    env = {}
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            env[name.strip()] = value
    assert env.get("CROSSBRIDGE_SITE_SECRET") == ""  # no secret shipped, not even a placeholder
    env["CROSSBRIDGE_CONFIG"] = str(TOML_TEMPLATE)  # the example's path is the container's
    settings = load_settings(environ=env)
    assert str(settings.workdir) == env["CROSSBRIDGE_WORKDIR"]
    assert settings.site_secret == ""


# ---- Docker Compose ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


def test_compose_has_the_celery_deployment_services(compose):
    assert AIRFLOW_SERVICES | OTHER_SERVICES <= set(compose["services"])
    images = {name: svc.get("image", "") for name, svc in compose["services"].items()}
    assert images["postgres"].startswith("postgres:15")
    assert images["redis"].startswith("redis:7")
    assert "minio/minio" in images["minio"] and "minio/mc" in images["minio-init"]
    assert compose["services"]["airflow-init"]["command"] == ["airflow", "db", "migrate"]


def test_compose_uses_one_executor_and_airflow_3_settings_everywhere(compose):
    envs = {name: compose["services"][name].get("environment") or {} for name in AIRFLOW_SERVICES}
    for name, env in envs.items():
        assert env.get("AIRFLOW__CORE__EXECUTOR") == "CeleryExecutor", name
        for key in ("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "AIRFLOW__CELERY__BROKER_URL",
                    "AIRFLOW__CELERY__RESULT_BACKEND", "AIRFLOW__CORE__EXECUTION_API_SERVER_URL",
                    "AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW__CORE__FERNET_KEY"):
            assert env.get(key), f"{name} lacks {key}"
    for key in ("AIRFLOW__CORE__FERNET_KEY", "AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"):
        assert len({env[key] for env in envs.values()}) == 1, f"{key} differs between services"
    assert envs["airflow-worker"]["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"].startswith("http://airflow-api-server:")


def test_compose_runs_at_least_two_workers_and_gives_them_the_settings(compose):
    worker = compose["services"]["airflow-worker"]
    assert worker["command"] == ["airflow", "celery", "worker"]
    assert int(worker["deploy"]["replicas"]) >= 2
    assert "crossbridge.env" in worker["env_file"]
    others = AIRFLOW_SERVICES - {"airflow-worker"}
    assert not any("env_file" in compose["services"][name] for name in others)  # site secret: workers only


def _items(node):
    """Every (key, value) pair of a YAML document, depth first."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield str(key), value
            yield from _items(value)
    elif isinstance(node, list):
        for item in node:
            yield from _items(item)


def _env_items(compose):
    for svc in compose["services"].values():
        env = svc.get("environment") or {}
        if isinstance(env, list):
            env = dict(item.partition("=")[::2] for item in env)
        yield from env.items()


def test_compose_holds_no_secret_but_change_me_placeholders(compose):
    text = COMPOSE.read_text(encoding="utf-8")
    for m in INTERPOLATION.finditer(text):
        if SECRET_NAME.search(m["name"]) and m["op"] in (":-", "-"):
            assert "change-me" in m["default"], f"${{{m['name']}}} defaults to a literal secret"
    for name, value in _env_items(compose):
        value = str(value)
        if SECRET_NAME.search(name) and "${" not in value:
            assert "change-me" in value, f"{name} is a literal secret"
        for m in URL_PASSWORD.finditer(value):
            assert m["password"].startswith("${"), f"{name} has a literal password in a URL"


def test_example_files_ship_no_secret():
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            if SECRET_NAME.search(name):
                assert value == "", f"{ENV_EXAMPLE.name} sets {name}"
            assert not URL_PASSWORD.search(value), f"{ENV_EXAMPLE.name}: password in {name}"


# ---- Helm --------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def helm() -> dict:
    return yaml.safe_load(HELM_VALUES.read_text(encoding="utf-8"))


def test_helm_values_use_the_kubernetes_executor_and_an_external_metadata_db(helm):
    assert helm["executor"] == "KubernetesExecutor"
    assert helm["postgresql"]["enabled"] is False
    assert helm["data"]["metadataSecretName"]
    for key in ("fernetKeySecretName", "jwtSecretName", "apiSecretKeySecretName"):
        assert helm[key], key
    assert helm["logs"]["persistence"]["enabled"] is False
    assert helm["dags"]["persistence"]["enabled"] is False and helm["dags"]["gitSync"]["enabled"] is False
    assert helm["airflowVersion"] == helm["defaultAirflowTag"]


def test_helm_task_pods_get_the_settings_and_the_secret_only_by_reference(helm):
    env = {item["name"]: item for item in helm["workers"]["env"]}
    site = env["CROSSBRIDGE_SITE_SECRET"]
    assert "value" not in site and site["valueFrom"]["secretKeyRef"]["name"]
    for name, item in env.items():
        if SECRET_NAME.search(name) or name == "CROSSBRIDGE_WAREHOUSE":
            assert "value" not in item and "secretKeyRef" in item["valueFrom"], name
    names = {f"CROSSBRIDGE_{f.upper()}" for f in FIELDS}
    assert set(env) & names >= {"CROSSBRIDGE_WORKDIR", "CROSSBRIDGE_SITE_SECRET", "CROSSBRIDGE_WAREHOUSE"}
    requests = helm["workers"]["resources"]["requests"]
    assert requests["cpu"] and requests["memory"] and helm["workers"]["resources"]["limits"]["memory"]
    # keys about secrets hold references (a Secret's name, or a key inside it), never values
    for key, value in _items(helm):
        if SECRET_NAME.search(key) and isinstance(value, str) and value:
            assert key.endswith("Name") or key == "secretKey", f"{key}: {value!r} looks like an inline secret"


def test_airflow_version_is_the_locked_one(compose, helm):
    lock = (ROOT / "uv.lock").read_text(encoding="utf-8")
    version = re.search(r'^name = "apache-airflow"\nversion = "([^"]+)"', lock, re.M)[1]
    assert helm["airflowVersion"] == version
    image = compose["x-airflow-common"]["build"]["args"]["AIRFLOW_IMAGE"]
    assert image == f"apache/airflow:{version}-python3.11"
    assert f"apache/airflow:{version}-python3.11" in (INFRA / "compose" / "Dockerfile").read_text(encoding="utf-8")
