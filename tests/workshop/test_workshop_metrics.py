"""The hub's Prometheus metrics on the real stack: /hub/metrics answers an admin's token only,
and the spawn-duration histogram counts a spawn that just happened.

    curl -H "Authorization: token $ADMIN_TOKEN" http://127.0.0.1:8000/hub/metrics
"""
from __future__ import annotations

import uuid

import pytest
import requests
from labclient import HubClient, LabStack
from prometheus_client.parser import text_string_to_metric_families

pytestmark = [pytest.mark.docker, pytest.mark.integration]

SPAWN_HISTOGRAM = "jupyterhub_server_spawn_duration_seconds"


@pytest.fixture(scope="module")
def stack():
    with LabStack(instance=f"glws-metrics-{uuid.uuid4().hex[:8]}").running(log_name="workshop-metrics-hub.log") as lab:
        yield lab


@pytest.fixture(scope="module")
def admin(stack):
    hub = HubClient(stack.url)
    assert hub.login("admin", stack.admin_password).status_code == 302
    hub.create_token("admin", note="metrics test")
    return hub


def scrape(url: str, token: str | None) -> requests.Response:
    headers = {"Authorization": f"token {token}"} if token else {}
    return requests.get(f"{url}/hub/metrics", headers=headers, timeout=30)


def samples(text: str, name: str) -> dict[tuple, float]:
    """{(sample name, sorted labels): value} for one metric family."""
    found = {}
    for family in text_string_to_metric_families(text):
        if family.name == name:
            for sample in family.samples:
                found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def spawn_count(text: str, status: str = "success") -> float:
    counts = samples(text, SPAWN_HISTOGRAM)
    return counts.get((f"{SPAWN_HISTOGRAM}_count", (("status", status),)), 0.0)


def test_metrics_need_a_token_with_read_metrics(stack, admin):
    assert scrape(stack.url, None).status_code == 403
    assert admin.api("POST", "/users/mallory").status_code == 201
    user_token = admin.api("POST", "/users/mallory/tokens", json={"note": "no metrics"}).json()["token"]
    assert scrape(stack.url, user_token).status_code == 403
    response = scrape(stack.url, admin.token)
    assert response.status_code == 200
    assert SPAWN_HISTOGRAM in response.text


def test_spawn_duration_histogram_counts_a_spawn(stack, admin):
    before = scrape(stack.url, admin.token)
    assert before.status_code == 200
    assert admin.api("POST", "/users/metric-user").status_code == 201
    seconds = admin.start_server("metric-user")
    after = scrape(stack.url, admin.token).text

    assert spawn_count(after) == spawn_count(before.text) + 1
    # The observation is this spawn's: its duration is within what we timed from outside.
    buckets = {dict(labels)["le"]: value for (name, labels), value in samples(after, SPAWN_HISTOGRAM).items()
               if name.endswith("_bucket") and dict(labels).get("status") == "success"}
    assert buckets["+Inf"] == spawn_count(after)
    total = samples(after, SPAWN_HISTOGRAM)[(f"{SPAWN_HISTOGRAM}_sum", (("status", "success"),))]
    assert 0.2 < total <= seconds + 1, (total, seconds)
    admin.stop_server("metric-user")
