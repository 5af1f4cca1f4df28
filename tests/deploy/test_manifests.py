"""Static checks of deploy/: the real tree passes `deploy/validate`, broken copies fail it, and the
rendered manifests keep the properties that make rollouts safe and pods locked down."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
VALIDATE = DEPLOY / "validate"
OVERLAYS = ("base", "dev", "production")


def run_validate(*args: str | Path) -> subprocess.CompletedProcess[str]:
    # The tools live beside this interpreter: pytest's environment is the one that must have them.
    env = {**os.environ, "PYTHON": sys.executable}
    return subprocess.run(
        [str(VALIDATE), *map(str, args)],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,  # the first run builds kustomize
        check=False,
    )


@pytest.fixture(scope="module")
def validation(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """Runs the validation on the real tree once; returns its output and where the builds were written."""
    out = tmp_path_factory.mktemp("rendered")
    result = run_validate(DEPLOY, "--render-to", out)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "all checks passed" in result.stdout
    return result.stdout, out


@pytest.fixture(scope="module")
def rendered(validation: tuple[str, Path]) -> dict[str, list[dict[str, Any]]]:
    """Each build's objects."""
    _, out = validation
    return {
        name: [doc for doc in yaml.safe_load_all((out / f"{name}.yaml").read_text()) if doc]
        for name in (*OVERLAYS, "routing")
    }


@pytest.fixture
def deploy_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "deploy"
    shutil.copytree(DEPLOY / "k8s", copy / "k8s")
    shutil.copytree(DEPLOY / "docker", copy / "docker")
    shutil.copytree(DEPLOY / "nginx", copy / "nginx")
    return copy


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert text.count(old) == 1, f"{old!r} no longer appears exactly once in {path}"
    path.write_text(text.replace(old, new))


def objects(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for doc in docs if doc["kind"] == kind}


def config(docs: list[dict[str, Any]]) -> dict[str, str]:
    (config_map,) = objects(docs, "ConfigMap").values()
    data: dict[str, str] = config_map["data"]
    return data


# --- the real tree ------------------------------------------------------------------------------


def test_real_tree_passes_every_check(rendered: dict[str, list[dict[str, Any]]]) -> None:
    for name in OVERLAYS:
        kinds = {doc["kind"] for doc in rendered[name]}
        assert {"Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"} <= kinds, name
        assert {"ConfigMap", "NetworkPolicy", "ServiceAccount"} <= kinds, name


@pytest.mark.parametrize("name", OVERLAYS)
def test_pods_are_locked_down(rendered: dict[str, list[dict[str, Any]]], name: str) -> None:
    for deployment in objects(rendered[name], "Deployment").values():
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
        assert pod["automountServiceAccountToken"] is False
        tmp_volumes = {v["name"] for v in pod["volumes"] if "emptyDir" in v}
        for container in pod["containers"]:
            security = container["securityContext"]
            assert security["allowPrivilegeEscalation"] is False
            assert security["readOnlyRootFilesystem"] is True
            assert security["capabilities"]["drop"] == ["ALL"]
            mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
            assert mounts.get("/tmp") in tmp_volumes
            assert {"cpu", "memory"} <= container["resources"]["requests"].keys()
            assert {"cpu", "memory"} <= container["resources"]["limits"].keys()
            assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
            # The Mongo URL carries credentials: it comes from a Secret, never from the ConfigMap.
            (mongo_url,) = [e for e in container["env"] if e["name"] == "MONGO_URL"]
            assert mongo_url["valueFrom"]["secretKeyRef"]["key"] == "url"
        assert "MONGO_URL" not in config(rendered[name])


@pytest.mark.parametrize("name", OVERLAYS)
def test_service_rollout_drops_nothing(rendered: dict[str, list[dict[str, Any]]], name: str) -> None:
    deployment = objects(rendered[name], "Deployment")["contact-search"]
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    pre_stop = container["lifecycle"]["preStop"]["sleep"]["seconds"]
    shutdown_grace = int(config(rendered[name])["SHUTDOWN_GRACE"])
    assert pod["terminationGracePeriodSeconds"] > pre_stop + shutdown_grace
    assert pod["topologySpreadConstraints"]


@pytest.mark.parametrize(
    ("name", "replicas", "hpa_min", "hpa_max"),
    [("base", 2, 2, 6), ("dev", 1, 1, 2), ("production", 3, 3, 20)],
)
def test_replica_counts_per_overlay(
    rendered: dict[str, list[dict[str, Any]]], name: str, replicas: int, hpa_min: int, hpa_max: int
) -> None:
    docs = rendered[name]
    hpa = objects(docs, "HorizontalPodAutoscaler")["contact-search"]["spec"]
    assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "contact-search"}
    assert objects(docs, "Deployment")["contact-search"]["spec"]["replicas"] == replicas
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (hpa_min, hpa_max)


@pytest.mark.parametrize("name", OVERLAYS)
def test_indexer_is_scraped_on_its_metrics_port(rendered: dict[str, list[dict[str, Any]]], name: str) -> None:
    indexer = objects(rendered[name], "Deployment")["contact-search-indexer"]
    template = indexer["spec"]["template"]
    metrics_port = config(rendered[name])["METRICS_PORT"]
    assert template["metadata"]["annotations"]["prometheus.io/scrape"] == "true"
    assert template["metadata"]["annotations"]["prometheus.io/port"] == metrics_port
    (container,) = template["spec"]["containers"]
    assert container["command"] + container["args"] == ["python", "-m", "indexer", "run"]
    assert [p["containerPort"] for p in container["ports"]] == [int(metrics_port)]


@pytest.mark.parametrize("name", OVERLAYS)
def test_network_policies_allow_only_dns_mongo_and_elasticsearch(
    rendered: dict[str, list[dict[str, Any]]], name: str
) -> None:
    policies = objects(rendered[name], "NetworkPolicy")
    ingress_ports = {"contact-search": {8080}, "contact-search-indexer": {9108}}
    assert policies.keys() == ingress_ports.keys()
    for policy_name, policy in policies.items():
        spec = policy["spec"]
        assert spec["policyTypes"] == ["Ingress", "Egress"]
        assert {p["port"] for rule in spec["ingress"] for p in rule["ports"]} == ingress_ports[policy_name]
        assert {p["port"] for rule in spec["egress"] for p in rule["ports"]} == {53, 27017, 9200}


def test_only_dev_ships_a_secret(rendered: dict[str, list[dict[str, Any]]]) -> None:
    assert objects(rendered["base"], "Secret") == {}
    assert objects(rendered["production"], "Secret") == {}
    assert len(objects(rendered["dev"], "Secret")) == 1


def test_ingress_sends_exactly_the_lookup_to_the_service(rendered: dict[str, list[dict[str, Any]]]) -> None:
    ingresses = objects(rendered["routing"], "Ingress")
    assert ingresses.keys() == {"contact-search", "rocketchat"}
    service = objects(rendered["base"], "Service")["contact-search"]
    port_names = {port["name"] for port in service["spec"]["ports"]}
    (ours,) = ingresses["contact-search"]["spec"]["rules"]
    (rocket_chat,) = ingresses["rocketchat"]["spec"]["rules"]
    assert ours["host"] == rocket_chat["host"]
    assert [(path["path"], path["pathType"]) for path in ours["http"]["paths"]] == [
        ("/api/v1/omnichannel/contact.search", "Exact"),
        ("/api/v1/omnichannel/contacts.search", "Exact"),
        ("/api/v1/omnichannel/contacts.get", "Exact"),
        ("/api/v1/livechat/visitors.search", "Exact"),
        ("/api/v1/livechat/visitors.autocomplete", "Exact"),
    ]
    for path in ours["http"]["paths"]:
        assert path["backend"]["service"]["name"] == "contact-search"
        assert path["backend"]["service"]["port"]["name"] in port_names
    assert [(p["path"], p["pathType"]) for p in rocket_chat["http"]["paths"]] == [("/", "Prefix")]
    for ingress in ingresses.values():
        assert ingress["spec"]["ingressClassName"] == "nginx"
        assert "nginx.ingress.kubernetes.io/use-regex" not in ingress["metadata"].get("annotations", {})


def test_nginx_snippet_sends_exactly_the_lookup_to_the_service() -> None:
    lines = [line.strip() for line in (DEPLOY / "nginx/contact-search.conf").read_text().splitlines()]
    directives = [line for line in lines if line and not line.startswith("#")]
    assert [line for line in directives if line.startswith("location")] == [
        r"location ~ ^/api/v1/(?:omnichannel/(?:contact\.search|contacts\.search|contacts\.get)"
        r"|livechat/visitors\.(?:search|autocomplete))$ {"
    ]
    # No URI after the address: the request's path and query string go through unchanged.
    assert "proxy_pass http://127.0.0.1:8080;" in directives


def test_nginx_snippet_passes_nginx_t(validation: tuple[str, Path]) -> None:
    if shutil.which("nginx") is None:
        pytest.skip("nginx is not installed here (apt-get install nginx-light); deploy/validate skips nginx -t too")
    output, _ = validation
    assert "ok    nginx/contact-search.conf: nginx -t" in output


def test_compose_starts_in_health_order() -> None:
    compose = yaml.safe_load((DEPLOY / "docker" / "compose.yaml").read_text())
    services = compose["services"]
    assert services["mongo"]["command"][:2] == ["--replSet", "rs0"]
    assert "rs.initiate" in " ".join(services["mongo"]["healthcheck"]["test"])
    assert services["elasticsearch"]["image"] == "docker.elastic.co/elasticsearch/elasticsearch:9.5.0"
    assert services["indexer"]["depends_on"] == {
        "mongo": {"condition": "service_healthy"},
        "elasticsearch": {"condition": "service_healthy"},
    }
    assert services["service"]["depends_on"]["indexer"] == {"condition": "service_healthy"}
    for name in ("indexer", "service"):
        assert services[name]["build"]["dockerfile"] == "deploy/docker/Dockerfile"
        assert services[name]["environment"]["MONGO_URL"].endswith("replicaSet=rs0}")


# --- broken copies fail -------------------------------------------------------------------------

Breakage = Callable[[Path], None]

BREAKAGES: dict[str, tuple[Breakage, list[str]]] = {
    "replicas not an integer": (
        lambda d: edit(d / "k8s/base/service-deployment.yaml", "replicas: 2\n", 'replicas: "two"\n'),
        ["deployment/contact-search ", "spec.replicas", "'two' is not of type 'integer'"],
    ),
    "unknown container field": (
        lambda d: edit(
            d / "k8s/base/indexer-deployment.yaml",
            "          imagePullPolicy: IfNotPresent\n",
            "          imagePullPolicy: IfNotPresent\n          imagePullPolicyy: Always\n",
        ),
        ["deployment/contact-search-indexer", "'imagePullPolicyy' was unexpected"],
    ),
    "overlay names a missing file": (
        lambda d: edit(
            d / "k8s/overlays/production/kustomization.yaml", "- ../../base\n", "- ../../base\n  - missing.yaml\n"
        ),
        ["FAIL  k8s/overlays/production: kustomize build", "missing.yaml"],
    ),
    "compose condition misspelled": (
        lambda d: edit(
            d / "docker/compose.yaml",
            "      indexer:\n        condition: service_healthy",
            "      indexer:\n        condition: healthy",
        ),
        ["FAIL  docker/compose.yaml: compose-spec schema", "'healthy' is not one of"],
    ),
    "compose depends on an undefined service": (
        lambda d: edit(
            d / "docker/compose.yaml", "      indexer:\n        condition:", "      indexr:\n        condition:"
        ),
        ["FAIL  docker/compose.yaml: service references", "'indexr' is not a service"],
    ),
    "Dockerfile lint": (
        lambda d: edit(
            d / "docker/Dockerfile",
            "RUN python -m venv /opt/venv\n",
            "RUN python -m venv /opt/venv\nRUN cd /opt && apt-get install curl\n",
        ),
        ["FAIL  docker/Dockerfile: hadolint", "DL3003"],
    ),
    "ingress field misspelled": (
        lambda d: edit(
            d / "k8s/routing/ingress.yaml",
            "contacts.get\n            pathType: Exact\n",
            "contacts.get\n            pathTyp: Exact\n",
        ),
        ["ingress/contact-search", "'pathType' is a required property"],
    ),
    "nginx directive misspelled": (
        lambda d: edit(
            d / "nginx/contact-search.conf", "    proxy_read_timeout 10s;\n", "    proxy_read_timout 10s;\n"
        ),
        ["FAIL  nginx/contact-search.conf: nginx -t", 'unknown directive "proxy_read_timout"'],
    ),
}


@pytest.mark.parametrize("breakage", BREAKAGES)
def test_broken_copy_fails_validation(deploy_copy: Path, breakage: str) -> None:
    if breakage.startswith("nginx") and shutil.which("nginx") is None:
        pytest.skip("nginx is not installed here (apt-get install nginx-light)")
    break_it, messages = BREAKAGES[breakage]
    break_it(deploy_copy)
    result = run_validate(deploy_copy)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "check(s) failed" in result.stderr
    for message in messages:
        assert message in output
