"""Static checks of deploy/: the real tree passes `deploy/validate`, broken copies fail it, and the
rendered manifests keep the properties that make rollouts safe and pods locked down."""

from __future__ import annotations

import json
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
CHART = DEPLOY / "helm" / "contact-search"
# The chart's renders: its default values, and each ci/NAME-values.yaml.
RENDERS = ("default", "all-on", "basic-auth")
FULLNAME = "contact-search"  # the release deploy/validate renders is named contact-search


def run_validate(*args: str | Path) -> subprocess.CompletedProcess[str]:
    # The tools live beside this interpreter: pytest's environment is the one that must have them.
    env = {**os.environ, "PYTHON": sys.executable}
    return subprocess.run(
        [str(VALIDATE), *map(str, args)],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,  # the first run may build helm and kustomize (make test-tools does it before)
        check=False,
    )


@pytest.fixture(scope="module")
def validation(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """Runs the validation on the real tree once; returns its output and where the renders were written."""
    out = tmp_path_factory.mktemp("rendered")
    result = run_validate(DEPLOY, "--render-to", out)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "all checks passed" in result.stdout
    return result.stdout, out


@pytest.fixture(scope="module")
def rendered(validation: tuple[str, Path]) -> dict[str, list[dict[str, Any]]]:
    """Each render's objects."""
    _, out = validation
    return {
        name: [doc for doc in yaml.safe_load_all((out / f"{name}.yaml").read_text()) if doc]
        for name in (*RENDERS, "routing")
    }


@pytest.fixture
def deploy_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "deploy"
    for part in ("k8s", "docker", "nginx", "helm", "monitoring", "local"):
        shutil.copytree(DEPLOY / part, copy / part, symlinks=True)
    return copy


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert text.count(old) == 1, f"{old!r} no longer appears exactly once in {path}"
    path.write_text(text.replace(old, new))


def objects(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for doc in docs if doc["kind"] == kind}


def config(docs: list[dict[str, Any]]) -> dict[str, str]:
    data: dict[str, str] = objects(docs, "ConfigMap")[FULLNAME]["data"]
    return data


def pod_specs(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Every pod template: the Deployments' and the CronJobs' (verify, reindex)."""
    pods = {name: d["spec"]["template"]["spec"] for name, d in objects(docs, "Deployment").items()}
    for name, cron in objects(docs, "CronJob").items():
        pods[name] = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return pods


def env_of(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {entry["name"]: entry for entry in container["env"]}


def mounted_file(pod: dict[str, Any], container: dict[str, Any], path: str) -> tuple[dict[str, Any], str]:
    """The volume a file path of a container lies in, and the file's path inside that volume."""
    for mount in container["volumeMounts"]:
        prefix = mount["mountPath"].rstrip("/") + "/"
        if path.startswith(prefix):
            (volume,) = [v for v in pod["volumes"] if v["name"] == mount["name"]]
            return volume, path[len(prefix) :]
    raise AssertionError(f"{path} is in no volume of {container['name']}")


# --- the real tree ------------------------------------------------------------------------------


def test_real_tree_passes_every_check(rendered: dict[str, list[dict[str, Any]]]) -> None:
    for name in ("default", "all-on"):
        kinds = {doc["kind"] for doc in rendered[name]}
        assert {"Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"} <= kinds, name
        assert {"ConfigMap", "NetworkPolicy", "ServiceAccount", "CronJob"} <= kinds, name
    assert not {"PodMonitor", "PrometheusRule"} & {doc["kind"] for doc in rendered["default"]}
    assert {"PodMonitor", "PrometheusRule"} <= {doc["kind"] for doc in rendered["all-on"]}


@pytest.mark.parametrize("name", RENDERS)
def test_pods_are_locked_down(rendered: dict[str, list[dict[str, Any]]], name: str) -> None:
    for pod in pod_specs(rendered[name]).values():
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
            # Rocket.Chat's own Secret shape: the MongoDB URL under `mongo-uri`, never in the ConfigMap.
            secret = env_of(container)["MONGO_URL"]["valueFrom"]["secretKeyRef"]
            assert secret["key"] == "mongo-uri"
            _, tag = container["image"].rsplit(":", 1)
            assert tag and tag != "latest", container["image"]
    assert "MONGO_URL" not in config(rendered[name])


def test_default_values_name_rocket_chats_secret_and_the_charts_version(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    for pod in pod_specs(rendered["default"]).values():
        (container,) = pod["containers"]
        assert container["image"] == f"contact-search:{chart['appVersion']}"
        assert env_of(container)["MONGO_URL"]["valueFrom"]["secretKeyRef"]["name"] == "rocketchat-rocketchat"
    assert config(rendered["default"])["ROCKETCHAT_URL"] == "http://rocketchat-rocketchat:80"


@pytest.mark.parametrize("name", RENDERS)
def test_probes(rendered: dict[str, list[dict[str, Any]]], name: str) -> None:
    deployments = objects(rendered[name], "Deployment")
    (service,) = deployments[FULLNAME]["spec"]["template"]["spec"]["containers"]
    assert service["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert service["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    (indexer,) = deployments[f"{FULLNAME}-indexer"]["spec"]["template"]["spec"]["containers"]
    assert indexer["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert "readinessProbe" not in indexer  # the standby replica serves nothing


@pytest.mark.parametrize("name", RENDERS)
def test_service_rollout_drops_nothing(rendered: dict[str, list[dict[str, Any]]], name: str) -> None:
    deployment = objects(rendered[name], "Deployment")[FULLNAME]
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    pre_stop = container["lifecycle"]["preStop"]["sleep"]["seconds"]
    shutdown_grace = int(config(rendered[name])["SHUTDOWN_GRACE"])
    assert pod["terminationGracePeriodSeconds"] > pre_stop + shutdown_grace
    assert pod["topologySpreadConstraints"]
    # A change of setting rolls the pods.
    assert deployment["spec"]["template"]["metadata"]["annotations"]["checksum/config"]


@pytest.mark.parametrize(("name", "hpa"), [("default", (2, 6)), ("all-on", (3, 20)), ("basic-auth", None)])
def test_replicas_belong_to_the_hpa_when_there_is_one(
    rendered: dict[str, list[dict[str, Any]]], name: str, hpa: tuple[int, int] | None
) -> None:
    docs = rendered[name]
    deployment = objects(docs, "Deployment")[FULLNAME]
    autoscalers = objects(docs, "HorizontalPodAutoscaler")
    if hpa is None:
        assert autoscalers == {}
        assert deployment["spec"]["replicas"] == 3
        return
    spec = autoscalers[FULLNAME]["spec"]
    assert spec["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": FULLNAME}
    assert (spec["minReplicas"], spec["maxReplicas"]) == hpa
    assert "replicas" not in deployment["spec"]  # an upgrade does not reset what the HPA chose
    assert objects(docs, "Deployment")[f"{FULLNAME}-indexer"]["spec"]["replicas"] == 2


@pytest.mark.parametrize("name", ("default", "all-on"))
def test_disruption_budgets_let_a_drain_evict_unhealthy_pods(
    rendered: dict[str, list[dict[str, Any]]], name: str
) -> None:
    budgets = objects(rendered[name], "PodDisruptionBudget")
    assert budgets.keys() == {FULLNAME, f"{FULLNAME}-indexer"}
    for budget in budgets.values():
        assert budget["spec"]["unhealthyPodEvictionPolicy"] == "AlwaysAllow"
        assert budget["spec"]["maxUnavailable"] == 1


@pytest.mark.parametrize(("name", "workers"), [("default", 1), ("all-on", 2)])
def test_both_processes_declare_a_metrics_port_and_every_one_is_scraped(
    rendered: dict[str, list[dict[str, Any]]], name: str, workers: int
) -> None:
    docs = rendered[name]
    metrics_port = int(config(docs)["METRICS_PORT"])
    deployments = objects(docs, "Deployment")
    (service,) = deployments[FULLNAME]["spec"]["template"]["spec"]["containers"]
    (indexer,) = deployments[f"{FULLNAME}-indexer"]["spec"]["template"]["spec"]["containers"]
    expected = {"metrics": metrics_port} | {f"metrics-{i}": metrics_port + i for i in range(1, workers)}
    assert {p["name"]: p["containerPort"] for p in service["ports"] if p["name"] != "http"} == expected
    assert {p["name"]: p["containerPort"] for p in indexer["ports"]} == {"metrics": metrics_port}
    assert indexer["command"] + indexer["args"] == ["python", "-m", "indexer", "run"]
    monitors = objects(docs, "PodMonitor")
    if name == "default":
        assert monitors == {}
        return
    assert [e["port"] for e in monitors[FULLNAME]["spec"]["podMetricsEndpoints"]] == list(expected)
    assert [e["port"] for e in monitors[f"{FULLNAME}-indexer"]["spec"]["podMetricsEndpoints"]] == ["metrics"]
    for monitor in monitors.values():
        assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"


def test_elasticsearch_credentials_and_ca_are_mounted_files(rendered: dict[str, list[dict[str, Any]]]) -> None:
    for name, files in (
        ("all-on", {"ES_API_KEY_FILE": "api-key"}),
        ("basic-auth", {"ES_USERNAME_FILE": "username", "ES_PASSWORD_FILE": "password"}),
    ):
        for pod in pod_specs(rendered[name]).values():
            (container,) = pod["containers"]
            env = env_of(container)
            assert env["ES_URL"]["valueFrom"]["secretKeyRef"] == {
                "name": "contact-search-elasticsearch",
                "key": "es-url",
            }
            for setting, key in files.items():
                volume, path = mounted_file(pod, container, env[setting]["value"])
                assert volume["secret"]["secretName"] == "contact-search-elasticsearch"
                assert {"key": key, "path": path} in volume["secret"]["items"]
            assert not {"ES_API_KEY", "ES_PASSWORD", "ES_USERNAME"} & env.keys()  # never the value itself
            volume, path = mounted_file(pod, container, env["ES_CA_CERTS"]["value"])
            source = volume.get("secret") or volume["configMap"]
            assert {"key": path, "path": path} in source["items"]
    (default_pod, *_) = pod_specs(rendered["default"]).values()
    default_env = env_of(default_pod["containers"][0])
    assert default_env["ES_URL"]["value"] == "http://elasticsearch:9200"
    assert not {"ES_API_KEY_FILE", "ES_PASSWORD_FILE", "ES_CA_CERTS"} & default_env.keys()


def test_extra_env_and_volumes_reach_every_container(rendered: dict[str, list[dict[str, Any]]]) -> None:
    for pod in pod_specs(rendered["all-on"]).values():
        (container,) = pod["containers"]
        assert env_of(container)["REQUEST_LOG"]["value"] == "0.01"
        assert {"name": "extra-ca", "configMap": {"name": "corporate-ca"}} in pod["volumes"]
        assert {"name": "extra-ca", "mountPath": "/etc/ssl/corporate", "readOnly": True} in container["volumeMounts"]
        assert pod["imagePullSecrets"] == [{"name": "registry-credentials"}]


@pytest.mark.parametrize(("name", "es_port"), [("default", 9200), ("all-on", 443)])
def test_network_policies_allow_only_dns_mongo_elasticsearch_and_rocket_chat(
    rendered: dict[str, list[dict[str, Any]]], name: str, es_port: int
) -> None:
    docs = rendered[name]
    policies = objects(docs, "NetworkPolicy")
    metrics = int(config(docs)["METRICS_PORT"])
    workers = int(config(docs)["WORKERS"])
    ingress_ports = {
        FULLNAME: {8080, *range(metrics, metrics + workers)},
        f"{FULLNAME}-indexer": {metrics},
        f"{FULLNAME}-jobs": set(),
    }
    assert policies.keys() == ingress_ports.keys()
    for policy_name, policy in policies.items():
        spec = policy["spec"]
        assert spec["policyTypes"] == ["Ingress", "Egress"]
        assert {p["port"] for rule in spec["ingress"] for p in rule["ports"]} == ingress_ports[policy_name]
        # Only the service falls back to Rocket.Chat (3000: its pods' port).
        extra = {3000} if policy_name == FULLNAME else set()
        assert {p["port"] for rule in spec["egress"] for p in rule["ports"]} == {53, 27017, es_port} | extra
    if name == "all-on":
        api_rule, metrics_rule = policies[FULLNAME]["spec"]["ingress"]
        assert api_rule["from"][0]["namespaceSelector"]["matchLabels"] == {
            "kubernetes.io/metadata.name": "ingress-nginx"
        }
        assert metrics_rule["from"][0]["namespaceSelector"]["matchLabels"] == {
            "kubernetes.io/metadata.name": "monitoring"
        }


def test_verify_runs_on_a_schedule_and_reindex_on_demand(rendered: dict[str, list[dict[str, Any]]]) -> None:
    jobs = objects(rendered["default"], "CronJob")
    verify, reindex = jobs[f"{FULLNAME}-verify"]["spec"], jobs[f"{FULLNAME}-reindex"]["spec"]
    assert verify["suspend"] is False and reindex["suspend"] is True  # reindex: kubectl create job --from=cronjob/...
    for spec in (verify, reindex):
        assert spec["concurrencyPolicy"] == "Forbid"
        job = spec["jobTemplate"]["spec"]
        assert job["backoffLimit"] == 0  # a failure stays visible as the Job's failure, with its exit code
        pod = job["template"]["spec"]
        assert pod["restartPolicy"] == "Never"
        (container,) = pod["containers"]
        assert container["command"] == ["python", "-m", "indexer"]
        assert env_of(container)["METRICS_PORT"]["value"] == "0"
    assert verify["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"] == ["verify"]
    assert reindex["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"] == ["reindex"]
    repaired = objects(rendered["all-on"], "CronJob")[f"{FULLNAME}-verify"]["spec"]["jobTemplate"]["spec"]
    assert repaired["template"]["spec"]["containers"][0]["args"] == ["verify", "--repair"]
    assert objects(rendered["basic-auth"], "CronJob") == {}


def test_the_chart_ships_the_alerts_and_the_dashboard_as_they_are(rendered: dict[str, list[dict[str, Any]]]) -> None:
    (rule,) = objects(rendered["all-on"], "PrometheusRule").values()
    assert rule["spec"] == yaml.safe_load((DEPLOY / "monitoring" / "alerts.yaml").read_text())
    dashboard = objects(rendered["all-on"], "ConfigMap")[f"{FULLNAME}-dashboard"]
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(dashboard["data"]["contact-search.json"]) == json.loads(
        (DEPLOY / "monitoring" / "dashboard.json").read_text()
    )


def test_routing_reaches_the_charts_service(rendered: dict[str, list[dict[str, Any]]]) -> None:
    service = objects(rendered["default"], "Service")[FULLNAME]
    port_names = {port["name"] for port in service["spec"]["ports"]}
    for path in objects(rendered["routing"], "Ingress")["contact-search"]["spec"]["rules"][0]["http"]["paths"]:
        assert path["backend"]["service"]["name"] == FULLNAME
        assert path["backend"]["service"]["port"]["name"] in port_names


def test_ingress_sends_exactly_the_lookup_to_the_service(rendered: dict[str, list[dict[str, Any]]]) -> None:
    ingresses = objects(rendered["routing"], "Ingress")
    assert ingresses.keys() == {"contact-search", "rocketchat"}
    service = objects(rendered["default"], "Service")[FULLNAME]
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
    # Our paths (one per line, checked against the service's routes in test_gateway_api.py), and Rocket.Chat's
    # fallback for when the service cannot be reached.
    assert [line for line in directives if line.startswith("location")] == [
        'location ~ "(?x) ^(?:',
        "location @contact_search_fallback {",
    ]
    # No URI after the address: the request's path and query string go through unchanged.
    assert "proxy_pass http://127.0.0.1:8080;" in directives
    assert "error_page 502 504 = @contact_search_fallback;" in directives
    assert "proxy_intercept_errors on;" not in directives  # the service's own 502/503 go to the caller as they are


def test_nginx_snippet_passes_nginx_t(validation: tuple[str, Path]) -> None:
    assert shutil.which("nginx"), "nginx is not installed: `make test-tools` installs it (Debian's nginx-light)"
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
        lambda d: edit(
            d / "helm/contact-search/templates/service-deployment.yaml",
            "  replicas: {{ .Values.service.replicas }}\n",
            '  replicas: "{{ .Values.service.replicas }}"\n',
        ),
        ["deployment/contact-search ", "spec.replicas", "'3' is not of type 'integer'"],
    ),
    "a value of the wrong type": (
        lambda d: edit(d / "helm/contact-search/ci/basic-auth-values.yaml", "  replicas: 3\n", '  replicas: "three"\n'),
        # The chart's values schema refuses it before anything renders.
        ["helm lint --strict", "at '/service/replicas': got string, want integer"],
    ),
    "unknown container field": (
        lambda d: edit(
            d / "helm/contact-search/templates/indexer-deployment.yaml",
            "          imagePullPolicy: {{ .Values.image.pullPolicy }}\n",
            "          imagePullPolicy: {{ .Values.image.pullPolicy }}\n          imagePullPolicyy: Always\n",
        ),
        ["deployment/contact-search-indexer", "'imagePullPolicyy' was unexpected"],
    ),
    "image tag latest": (
        lambda d: edit(d / "helm/contact-search/values.yaml", '  tag: ""\n', "  tag: latest\n"),
        ["FAIL  helm/contact-search (default values): helm template", "pin a version"],
    ),
    "a misspelled value": (
        lambda d: edit(
            d / "helm/contact-search/ci/basic-auth-values.yaml",
            "networkPolicy:\n  enabled: false\n",
            "networkPolicies:\n  enabled: false\n",
        ),
        [
            "FAIL  helm/contact-search (basic-auth values): helm lint --strict",
            "additional properties 'networkPolicies' not allowed",
        ],
    ),
    "PodMonitor scrapes a port the pods do not name": (
        lambda d: edit(
            d / "helm/contact-search/templates/podmonitor.yaml",
            "metrics-{{ $worker }}{{ end }}",
            "metric-{{ $worker }}{{ end }}",
        ),
        [
            "FAIL  helm/contact-search (all-on values): prometheus-operator objects",
            "port 'metric-1' is not a named port",
        ],
    ),
    "alert expression broken": (
        lambda d: edit(
            d / "monitoring/alerts.yaml",
            "(contact_search_indexer_lag_seconds) > 60",
            "(contact_search_indexer_lag_seconds) > > 60",
        ),
        ["FAIL  helm/contact-search (all-on values): PrometheusRule groups: promtool check rules", "parse error"],
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
            d / "nginx/contact-search.conf", "    proxy_read_timeout 15s;\n", "    proxy_read_timout 15s;\n"
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
