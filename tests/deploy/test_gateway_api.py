"""deploy/k8s/routing/httproute.yaml checked offline against the Gateway API's own CRD schemas (the HTTPRoute CRD's
openAPIV3Schema, from the pinned Go module `sigs.k8s.io/gateway-api`, fetched with `go mod download` into the cache),
strictly (an unknown field fails, as `kubectl apply` with strict field validation refuses it); and the routes it
sends to us are exactly the service's API routes, as in the Ingress and the nginx snippet."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from service.app import create_app
from service.settings import Settings

REPO = Path(__file__).resolve().parents[2]
ROUTING = REPO / "deploy/k8s/routing"
VERSIONS = REPO / "deploy/local/versions.env"
MODULE = "sigs.k8s.io/gateway-api"


def api_paths() -> list[str]:
    """Every route of Rocket.Chat's API the service answers, sorted: what the routing must send to it."""
    app = create_app(Settings(mongo_url="mongodb://127.0.0.1:1/unused"))
    paths = {route.resource.canonical for route in app.router.routes() if route.resource is not None}
    return sorted(path for path in paths if path.startswith("/api/") and not path.endswith("/openapi.json"))


def cache_dir() -> Path:
    """Where deploy/local/stack keeps its downloads (CONTACT_SEARCH_CACHE, else by user)."""
    if os.environ.get("CONTACT_SEARCH_CACHE"):
        return Path(os.environ["CONTACT_SEARCH_CACHE"])
    if os.geteuid() == 0:
        return Path("/var/cache/contact-search")
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "contact-search"


def pinned_version() -> str:
    match = re.search(r"^GATEWAY_API_VERSION=(\S+)$", VERSIONS.read_text(), re.MULTILINE)
    assert match, f"GATEWAY_API_VERSION is not pinned in {VERSIONS}"
    return match.group(1)


@pytest.fixture(scope="module")
def crd_dir() -> Path:
    """The module's CRD directory: `go mod download` of the pinned version (once; then from the cache)."""
    go = shutil.which("go")
    assert go, "Go is missing: `make test-tools` needs it (it builds the local stack too)"
    environment = {
        **os.environ,
        "GOMODCACHE": str(cache_dir() / "go-mod"),
        "GOFLAGS": "-modcacherw",
        "GOTOOLCHAIN": "local",
    }
    result = subprocess.run(
        [go, "mod", "download", "-json", f"{MODULE}@{pinned_version()}"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        cwd=cache_dir() if cache_dir().is_dir() else None,
    )
    downloaded = json.loads(result.stdout or "{}")
    assert "Dir" in downloaded, result.stdout + result.stderr
    return Path(downloaded["Dir"]) / "config/crd/standard"


def strict(schema: Any) -> Any:
    """The schema with unknown fields refused wherever Kubernetes would prune them (no preserve-unknown-fields)."""
    if isinstance(schema, dict):
        schema = {key: strict(value) for key, value in schema.items()}
        open_ended = "additionalProperties" in schema or schema.get("x-kubernetes-preserve-unknown-fields")
        if "properties" in schema and not open_ended:
            schema["additionalProperties"] = False
        return schema
    if isinstance(schema, list):
        return [strict(item) for item in schema]
    return schema


@pytest.fixture(scope="module")
def httproute_validator(crd_dir: Path) -> jsonschema.protocols.Validator:
    crd = yaml.safe_load((crd_dir / "gateway.networking.k8s.io_httproutes.yaml").read_text())
    (served,) = [version for version in crd["spec"]["versions"] if version["name"] == "v1"]
    schema = strict(served["schema"]["openAPIV3Schema"])
    # apiVersion, kind and metadata are the API server's; the CRD leaves metadata open.
    schema["properties"]["metadata"] = {"type": "object"}
    return jsonschema.Draft7Validator(schema)


def routes(text: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(text) if doc]


def errors(validator: jsonschema.protocols.Validator, documents: list[dict[str, Any]]) -> list[str]:
    return [f"{doc['metadata']['name']}: {error.message}" for doc in documents for error in validator.iter_errors(doc)]


def test_the_httproutes_are_valid_against_the_gateway_api_crd(httproute_validator: jsonschema.Validator) -> None:
    documents = routes((ROUTING / "httproute.yaml").read_text())
    assert [doc["kind"] for doc in documents] == ["HTTPRoute", "HTTPRoute"]
    assert {doc["apiVersion"] for doc in documents} == {"gateway.networking.k8s.io/v1"}
    assert errors(httproute_validator, documents) == []


@pytest.mark.parametrize(
    ("old", "new", "complaint"),
    [
        ("type: Exact, value: /api/v1/omnichannel/contact.search", "type: Exakt, value: /x", "'Exakt' is not one of"),
        ("      backendRefs:\n        - name: contact-search", "      backendRefs:\n        - nme: x", "'nme' was"),
        ("        request: 15s", "        request: 15 seconds", "does not match"),
    ],
)
def test_a_broken_route_fails_the_check(
    httproute_validator: jsonschema.Validator, old: str, new: str, complaint: str
) -> None:
    text = (ROUTING / "httproute.yaml").read_text()
    assert text.count(old) == 1, old
    found = errors(httproute_validator, routes(text.replace(old, new)))
    assert any(complaint in error for error in found), found


def test_every_routing_file_sends_exactly_the_service_s_api_routes_to_it() -> None:
    ours, rocketchat = routes((ROUTING / "httproute.yaml").read_text())
    ((rule,),) = [ours["spec"]["rules"]]
    assert {match["path"]["type"] for match in rule["matches"]} == {"Exact"}
    assert sorted(match["path"]["value"] for match in rule["matches"]) == api_paths()
    assert [ref["name"] for ref in rule["backendRefs"]] == ["contact-search"]
    assert rocketchat["spec"]["rules"][0]["matches"] == [{"path": {"type": "PathPrefix", "value": "/"}}]
    assert ours["spec"]["parentRefs"] == rocketchat["spec"]["parentRefs"]
    assert ours["spec"]["hostnames"] == rocketchat["spec"]["hostnames"]

    ingress = routes((ROUTING / "ingress.yaml").read_text())[0]
    paths = ingress["spec"]["rules"][0]["http"]["paths"]
    assert {path["pathType"] for path in paths} == {"Exact"}
    assert sorted(path["path"] for path in paths) == api_paths()

    snippet = (REPO / "deploy/nginx/contact-search.conf").read_text()
    alternatives = re.findall(r"^\s*\|?\s*(/api/\S+)$", snippet, re.MULTILINE)
    assert sorted(path.replace("\\.", ".") for path in alternatives) == api_paths()
