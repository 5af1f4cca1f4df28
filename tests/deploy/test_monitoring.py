"""The alert rules: promtool's unit tests pass (and fail when an alert changes), every alert is tested firing and
not firing, and every alert's runbook_url is a section of docs/operations.md."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
ALERTS = REPO / "deploy" / "monitoring" / "alerts.yaml"
ALERT_TESTS = Path(__file__).parent / "alerts_test.yaml"
RUNBOOK = REPO / "docs" / "operations.md"


def promtool() -> str:
    found = shutil.which("promtool")
    assert found, "promtool is missing: `make test-tools` installs it (Debian's prometheus package)"
    return found


def rules() -> list[dict[str, Any]]:
    return [rule for group in yaml.safe_load(ALERTS.read_text())["groups"] for rule in group["rules"]]


def promtool_test(tests: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool(), "test", "rules", str(tests)], capture_output=True, text=True, timeout=120, check=False
    )


def test_alert_unit_tests_pass() -> None:
    result = promtool_test(ALERT_TESTS)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_alert_unit_tests_fail_when_a_threshold_moves(tmp_path: Path) -> None:
    rules_copy = tmp_path / "deploy" / "monitoring" / "alerts.yaml"
    rules_copy.parent.mkdir(parents=True)
    text = ALERTS.read_text()
    assert text.count("(contact_search_indexer_lag_seconds) > 60") == 1
    rules_copy.write_text(
        text.replace("(contact_search_indexer_lag_seconds) > 60", "(contact_search_indexer_lag_seconds) > 600")
    )
    tests_copy = tmp_path / "tests" / "deploy" / "alerts_test.yaml"
    tests_copy.parent.mkdir(parents=True)
    shutil.copy(ALERT_TESTS, tests_copy)
    result = promtool_test(tests_copy)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "alertname: ContactSearchIndexerLagging" in result.stdout + result.stderr


def test_every_alert_is_tested_firing_and_silent() -> None:
    cases = [
        case for test in yaml.safe_load(ALERT_TESTS.read_text())["tests"] for case in test.get("alert_rule_test", [])
    ]
    for rule in rules():
        own = [case for case in cases if case["alertname"] == rule["alert"]]
        assert any(case["exp_alerts"] for case in own), f"{rule['alert']} is never tested firing"
        assert any(not case["exp_alerts"] for case in own), f"{rule['alert']} is never tested silent"


def heading_anchors(markdown: str) -> set[str]:
    """GitHub's anchors of a document's headings: lower case, punctuation dropped, spaces to hyphens."""
    anchors = set()
    for line in markdown.splitlines():
        heading = re.match(r"#{1,6} (.+)", line)
        if heading:
            text = re.sub(r"[^\w\- ]", "", heading.group(1).strip().lower())
            anchors.add(text.replace(" ", "-"))
    return anchors


def test_every_alert_links_its_runbook_section() -> None:
    anchors = heading_anchors(RUNBOOK.read_text())
    for rule in rules():
        link = rule["annotations"]["runbook_url"]
        page, _, anchor = link.partition("#")
        assert page == "docs/operations.md", link
        assert anchor == rule["alert"].lower(), link
        assert anchor in anchors, f"docs/operations.md has no section for {rule['alert']}"
        assert rule["labels"]["severity"] in {"warning", "critical"}


@pytest.mark.parametrize("rule", rules(), ids=lambda rule: rule["alert"])
def test_alerts_say_what_and_how_long(rule: dict[str, Any]) -> None:
    assert rule["for"], rule["alert"]  # a blip does not page
    assert {"summary", "description", "runbook_url"} <= rule["annotations"].keys()
