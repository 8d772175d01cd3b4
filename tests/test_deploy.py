"""What ships beside the code: the image, compose, Kubernetes manifests, dashboard and alerts.

CI lints the Dockerfile with hadolint and validates the manifests against Kubernetes'
schemas (`.ci/run`); these tests pin what those tools cannot know: every metric the
dashboard and the alert rules name is one the bot exports, and the manifests keep the
properties the README promises (two replicas, probes, a non-root read-only container,
tokens from a Secret, a disruption budget).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import promql_parser
import pytest
import yaml

from bot.observability.metrics import exported_names

ROOT = Path(__file__).resolve().parent.parent
DASHBOARD = ROOT / "deploy" / "grafana" / "backup-bot-dashboard.json"
ALERTS = ROOT / "deploy" / "grafana" / "alerts.yaml"
KUBERNETES = ROOT / "deploy" / "kubernetes"
# Series Prometheus adds to every scrape target itself.
PROMETHEUS_OWN = frozenset({"up"})


def dashboard_queries() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]


def alert_rules() -> list[dict[str, Any]]:
    rules = yaml.safe_load(ALERTS.read_text())
    return [rule for group in rules["groups"] for rule in group["rules"]]


def metric_names(query: str) -> set[str]:
    """The metrics a PromQL query selects, read from its parsed syntax tree."""
    names: set[str] = set()

    def visit(node: Any) -> None:
        if isinstance(node, promql_parser.VectorSelector) and node.name:
            names.add(node.name)

    # Grafana's template variables are text in a label matcher; the parser takes them as is.
    promql_parser.walk(promql_parser.parse(query), visit)
    return names


def test_every_metric_the_dashboard_and_alerts_name_is_exported() -> None:
    """A renamed or misspelt metric fails here instead of drawing an empty panel."""
    queries = dashboard_queries() + [str(rule["expr"]) for rule in alert_rules()]
    named = set().union(*(metric_names(query) for query in queries))
    assert named, "no query names a metric"
    unknown = named - exported_names() - PROMETHEUS_OWN
    assert not unknown, unknown
    assert any(name.startswith("backup_bot_restore") for name in named)


def test_the_metric_names_are_read_from_the_syntax_tree() -> None:
    """Names inside functions, ranges and subqueries count; label names and values do not."""
    query = (
        'sum by (le) (rate(backup_bot_slack_ack_seconds_bucket{job="backup_bot_x"}[5m]))'
        " and deriv(max(backup_bot_outbox_depth)[30m:1m]) > 0 or up == 0"
    )
    assert metric_names(query) == {
        "backup_bot_slack_ack_seconds_bucket",
        "backup_bot_outbox_depth",
        "up",
    }


def test_the_alert_rules_cover_what_an_operator_must_hear_about() -> None:
    """Bot down, outbox growing, Atlassian failing and restores waiting on consent for hours."""
    rules = {rule["alert"]: rule for rule in alert_rules()}
    for wanted in (
        "BackupBotDown",
        "BackupBotOutboxGrowing",
        "BackupBotAtlassianErrors",
        "BackupBotRestoreWaitingOnConsent",
    ):
        assert wanted in rules, sorted(rules)
    for rule in rules.values():
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}
        assert rule["annotations"]["summary"]
        assert re.fullmatch(r"\d+[smh]", rule["for"])
    assert "AWAITING_CONSENT" in rules["BackupBotRestoreWaitingOnConsent"]["expr"]


def test_the_dockerfile_builds_in_one_stage_and_runs_slim_as_non_root() -> None:
    """Two stages, the final one from a slim base, a numeric non-root user and a healthcheck."""
    lines = [line.strip() for line in (ROOT / "Dockerfile").read_text().splitlines()]
    stages = [line for line in lines if line.startswith("FROM ")]
    assert len(stages) == 2
    assert "slim" in next(line for line in lines if line.startswith("ARG PYTHON_IMAGE="))
    final = lines[lines.index(stages[-1]) :]
    assert not any(re.search(r"apt-get|gcc|build-essential", line) for line in final)
    (user,) = [line for line in final if line.startswith("USER ")]
    assert user.split()[1].split(":")[0] not in {"0", "root"}
    assert any(line.startswith("HEALTHCHECK") for line in final)
    assert any("/healthz" in line for line in final)
    assert 'ENTRYPOINT ["backup-bot", "serve"]' in final


def test_compose_keeps_redis_on_a_volume_with_the_append_only_file() -> None:
    """Redis writes its AOF to a named volume; the bot reads its settings from .env."""
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    redis, bot = compose["services"]["redis"], compose["services"]["bot"]
    assert redis["command"][redis["command"].index("--appendonly") + 1] == "yes"
    volume = redis["volumes"][0].split(":")[0]
    assert volume in compose["volumes"]
    assert bot["env_file"] == ".env"
    assert bot["environment"]["REDIS_URL"].startswith("redis://redis:")
    assert bot["read_only"] is True


def kubernetes(kind: str) -> dict[str, Any]:
    for path in sorted(KUBERNETES.glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            if document and document.get("kind") == kind:
                return dict(document)
    raise AssertionError(f"no {kind} in {KUBERNETES}")


def test_the_deployment_runs_two_locked_down_replicas_with_both_probes() -> None:
    """Two replicas, liveness on /healthz and readiness on /readyz, non-root, read-only root."""
    deployment = kubernetes("Deployment")
    assert deployment["spec"]["replicas"] == 2
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["resources"]["requests"]
    assert container["resources"]["limits"]["memory"]
    secrets = {
        entry["name"] for entry in container["env"] if "secretKeyRef" in entry.get("valueFrom", {})
    }
    assert {
        "SLACK_BOT_TOKEN",
        "SLACK_SIGNING_SECRET",
        "ATLASSIAN_API_TOKEN",
        "REDIS_URL",
    } <= secrets
    assert pod["terminationGracePeriodSeconds"] > 30


@pytest.mark.parametrize("kind", ["Service", "PodDisruptionBudget"])
def test_the_service_and_the_disruption_budget_select_the_deployments_pods(kind: str) -> None:
    """Both select the pods the Deployment labels, so traffic and drains reach the bot."""
    labels = kubernetes("Deployment")["spec"]["template"]["metadata"]["labels"]
    spec = kubernetes(kind)["spec"]
    selector = spec["selector"].get("matchLabels", spec["selector"])
    assert selector.items() <= labels.items()
