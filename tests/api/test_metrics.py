"""``/metrics`` is valid Prometheus text: every figure parses, with its type."""

from __future__ import annotations

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from tests.api.tiny import ADMIN, run_round_now

GAUGES = {
    "pcs_requests_pending",
    "pcs_round_lease_age_seconds",
    "pcs_round_lease_silence_seconds",
    "pcs_utilisation_ratio",
}
LAST_ROUND = {
    "pcs_last_round_timestamp_seconds",
    "pcs_last_round_gap",
    "pcs_last_round_duration_seconds",
    "pcs_last_round_placed",
}


def families(client: TestClient) -> dict[str, tuple[str, dict[tuple[tuple[str, str], ...], float]]]:
    response = client.get("/metrics", headers=ADMIN)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {
        family.name: (family.type, {tuple(sorted(s.labels.items())): s.value for s in family.samples})
        for family in text_string_to_metric_families(response.text)
    }


def test_metrics_parse_with_their_types_before_and_after_a_round(client: TestClient) -> None:
    before = families(client)
    assert {name: kind for name, (kind, _) in before.items()} == {name: "gauge" for name in GAUGES} | {
        "pcs_rounds": "counter"  # the parser names a counter without its _total
    }
    assert before["pcs_requests_pending"][1] == {(): 2.0} and before["pcs_rounds"][1] == {}
    run_round_now(client)
    after = families(client)
    assert set(after) == GAUGES | LAST_ROUND | {"pcs_rounds"}
    assert after["pcs_rounds"][1] == {(("status", "committed"),): 1.0}
    assert after["pcs_last_round_placed"][1][()] > 0
