"""One set of limits, the same on SQLite and PostgreSQL: every out-of-range, non-finite or unknown input is a
422 that names the field and stores nothing; 64-bit money; an Idempotency-Key reused for another request is a
409; one submission's failure never fails another's."""

from __future__ import annotations

from concurrent.futures import Future
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from api import crud
from api import models as m
from api.app import create_app
from api.db import utcnow
from api.group_commit import SubmissionWriter
from api.models.limits import MAX_FEN
from tests.api.test_requests import count
from tests.api.test_rounds import state
from tests.api.tiny import ADMIN, at, make_user, request_body, run_round_now

BIG_INT = "404451988718962606080"  # beyond 64 bits


def fields_of(response: Any) -> list[str]:
    return [error["field"] for error in response.json()["detail"]]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"max_cost_cny": "1e17"}, "max_cost_cny"),
        ({"max_cost_cny": "1" + "0" * 2000}, "max_cost_cny"),
        ({"max_cost_cny": "NaN"}, "max_cost_cny"),
        ({"accelerators": 10**20}, "accelerators"),
        ({"earliest_start": "0001-01-01T00:00:00+14:00"}, "earliest_start"),
        ({"deadline": "9999-12-31T23:59:59-14:00"}, "deadline"),
        ({"gpu_type": "H800"}, "gpu_type"),
        ({"org_id": "x" * 65}, "org_id"),
    ],
)
def test_a_submission_out_of_range_is_a_422_naming_the_field(client: TestClient, changes: dict, field: str) -> None:
    sme = make_user(client, "alpha", "sme", "sme-a")
    before = count(client.app.state.engine, m.ComputeRequest)
    response = client.post("/requests", headers=sme, json=request_body(**changes))
    assert response.status_code == 422, response.text
    assert field in fields_of(response)
    assert count(client.app.state.engine, m.ComputeRequest) == before


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        (
            "post",
            "/policy",
            {
                "sme_reserve_pct": 20,
                "reserve_release_hours": 24,
                "carbon_weight_per_kg": 0.2,
                "class_weights": {"key_project": "NaN", "sme": 3, "research": 2, "large": 1},
            },
            "class_weights.key_project",
        ),
        (
            "post",
            "/policy",
            {
                "sme_reserve_pct": 20,
                "reserve_release_hours": 10**12,
                "carbon_weight_per_kg": 0.2,
                "class_weights": {"key_project": 4, "sme": 3, "research": 2, "large": 1},
            },
            "reserve_release_hours",
        ),
        (
            "post",
            "/policy",
            {
                "sme_reserve_pct": 20,
                "reserve_release_hours": 24,
                "carbon_weight_per_kg": "Infinity",
                "class_weights": {"key_project": 4, "sme": 3, "research": 2, "large": 1},
            },
            "carbon_weight_per_kg",
        ),
        ("patch", "/sites/s1", {"grid_co2_g_per_kwh": "Infinity"}, "grid_co2_g_per_kwh"),
        ("patch", "/programme", {"voucher_budget_fen": MAX_FEN + 1}, "voucher_budget_fen"),
        ("patch", "/programme", {"voucher_budget": 5}, "voucher_budget"),
        ("post", "/vouchers/v-a/adjustments", {"amount_fen": 2**63 - 1}, "amount_fen"),
        ("patch", "/pools/p-a800", {"capacity": -1}, "capacity"),
        ("post", "/orgs", {"id": "../../etc", "name": "x", "org_class": "sme"}, "id"),
    ],
)
def test_admin_input_out_of_range_is_a_422_and_changes_nothing(
    client: TestClient, method: str, path: str, body: dict, field: str
) -> None:
    before = client.get("/audit", headers=ADMIN).json()
    response = getattr(client, method)(path, headers=ADMIN, json=body)
    assert response.status_code == 422, response.text
    assert field in fields_of(response)
    assert client.get("/audit", headers=ADMIN).json() == before


@pytest.mark.parametrize("path", ["/requests", "/rounds", "/audit", "/rounds/1", "/users/1/token"])
def test_integers_beyond_64_bits_in_paths_and_queries_are_a_422(client: TestClient, path: str) -> None:
    url = f"{path}?limit={BIG_INT}" if path.count("/") == 1 else path.replace("1", BIG_INT)
    method = client.post if path.endswith("token") else client.get
    response = method(url, headers=ADMIN)
    assert response.status_code == 422, response.text
    assert client.get("/requests?limit=-1", headers=ADMIN).status_code == 422


def test_money_is_64_bit_on_every_backend(client: TestClient, engine: Engine) -> None:
    """CNY 21,474,836.48 and more failed on PostgreSQL's 32-bit integer columns."""
    response = client.patch("/programme", headers=ADMIN, json={"voucher_budget_fen": 2**31 + 12_345})
    assert response.status_code == 200, response.text
    assert client.get("/programme", headers=ADMIN).json()["voucher_budget_fen"] == 2**31 + 12_345
    entry = client.post("/vouchers/v-a/adjustments", headers=ADMIN, json={"amount_fen": 2**31 - 1})
    assert entry.status_code == 201, entry.text
    assert client.get("/vouchers/v-a", headers=ADMIN).json()["voucher"]["balance_fen"] == 200_000 + 2**31 - 1
    sme = make_user(client, "alpha", "sme", "sme-a")
    response = client.post("/requests", headers=sme, json=request_body(max_cost_cny="21474836.48"))
    assert response.status_code == 201, response.text
    assert response.json()["max_cost_fen"] == 2_147_483_648


def test_the_budget_cannot_drop_below_what_was_paid(client: TestClient) -> None:
    assert run_round_now(client)["status"] == "committed"
    paid = client.get("/programme", headers=ADMIN).json()["subsidy_paid_fen"]
    assert paid > 0
    response = client.patch("/programme", headers=ADMIN, json={"voucher_budget_fen": paid - 1})
    assert response.status_code == 409 and fields_of(response) == ["voucher_budget_fen"]
    assert client.patch("/programme", headers=ADMIN, json={"voucher_budget_fen": paid}).status_code == 200


def test_an_idempotency_key_reused_for_another_request_is_a_409_and_empty_keys_are_refused(
    client: TestClient,
) -> None:
    sme = make_user(client, "alpha", "sme", "sme-a")
    first = client.post("/requests", headers=sme | {"Idempotency-Key": "k1"}, json=request_body())
    assert first.status_code == 201
    # the same request, its times written in another zone: the same request back
    same = request_body(earliest_start=at(1).replace("+00:00", "Z"))
    again = client.post("/requests", headers=sme | {"Idempotency-Key": "k1"}, json=same)
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    other = client.post("/requests", headers=sme | {"Idempotency-Key": "k1"}, json=request_body(accelerators=8))
    assert other.status_code == 409, other.text
    assert fields_of(other) == ["Idempotency-Key"] and "accelerators" in other.json()["detail"][0]["rule"]
    empty = client.post("/requests", headers=sme | {"Idempotency-Key": ""}, json=request_body())
    assert empty.status_code == 422
    assert count(client.app.state.engine, m.ComputeRequest) == 3  # the two seeded and the first


def test_one_bad_submission_in_a_batch_fails_alone(client: TestClient, engine: Engine) -> None:
    """Whatever the database refuses in one submission (here a value its column type cannot take), the others
    written in the same batch are stored."""
    writer = SubmissionWriter(client.app.state.write_engine)

    def row(request_id: str, **changes: Any) -> dict[str, Any]:
        values = {
            "id": request_id,
            "org_id": "sme-a",
            "accelerators": 2,
            "duration_hours": 2,
            "accelerator_types": "*",
            "sites": "*",
            "voucher_id": None,
            "max_cost_fen": None,
            "status": m.RequestStatus.PENDING,
            "reason_code": None,
            "reason": None,
            "decided_round_id": None,
            "idempotency_key": None,
            "submitted_by": "t",
            "earliest_start": utcnow(),
            "deadline": utcnow() + timedelta(hours=8),
            "created_at": utcnow(),
            "updated_at": utcnow(),
        }
        return values | changes

    batch: list[tuple[tuple[dict[str, Any], str], Future[None]]] = [
        ((row("ok-1"), "t"), Future()),
        ((row("poison", created_at="not a time"), "t"), Future()),
        ((row("ok-2"), "t"), Future()),
    ]
    writer._write(batch)
    assert batch[0][1].exception() is None and batch[2][1].exception() is None
    assert batch[1][1].exception() is not None
    for request_id in ("ok-1", "ok-2"):
        assert client.get(f"/requests/{request_id}", headers=ADMIN).status_code == 200
    assert client.get("/requests/poison", headers=ADMIN).status_code == 404


def test_a_database_conflict_is_a_409_without_the_databases_own_words(client: TestClient) -> None:
    """Two users of one name: the unique key answers, but not with table, constraint or other rows' names."""
    assert client.post("/users", headers=ADMIN, json={"name": "twin", "role": "auditor"}).status_code == 201
    response = client.post("/users", headers=ADMIN, json={"name": "twin", "role": "auditor"})
    assert response.status_code == 409, response.text
    rule = response.json()["detail"][0]["rule"]
    assert rule.startswith("conflicts with stored data") and "user" not in rule.lower() and "unique" not in rule.lower()


@pytest.mark.parametrize(
    ("files", "field"),
    [
        ({"orgs": "org_id,name,org_class\nu16,Org,sme\n".encode("utf-16")}, "orgs.csv"),
        ({"orgs": b"org_id,name,org_class\nlat,Caf\xe9,sme\n"}, "orgs.csv"),
        ({"orgs": f"org_id,name,org_class\nbig,{'x' * 140_000},sme\n".encode()}, "orgs.csv row 1"),
        ({"orgs": f"org_id,name,org_class\nlong,{'x' * 300},sme\n".encode()}, "orgs.csv row 1 (org long): name"),
        ({"orgs": f"org_id,name,org_class\n{'x' * 100},n,sme\n".encode()}, "orgs.csv row 1"),
        ({"orgs": b"org_id,name,org_class\nnul,a\x00b,sme\n"}, "orgs.csv row 1: name"),
        (
            {
                "vouchers": f"voucher_id,org_id,ratio_pct,balance_cny,valid_from,valid_until\n"
                f"vx,sme-a,30,10,{at(0)},9999-12-31T23:59:59+00:00\n".encode()
            },
            "vouchers.csv",
        ),
        (
            {
                "vouchers": f"voucher_id,org_id,ratio_pct,balance_cny,valid_from,valid_until\n"
                f"vy,sme-a,30,1e15,{at(0)},{at(40)}\n".encode()
            },
            "vouchers.csv row 1 (voucher vy): balance_fen",
        ),
    ],
)
def test_an_import_meets_the_apis_own_rules(client: TestClient, engine: Engine, files: dict, field: str) -> None:
    before = state(engine)
    response = client.post("/imports/scenario", headers=ADMIN, files={k: (f"{k}.csv", v) for k, v in files.items()})
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["field"].startswith(field), response.json()
    assert state(engine) == before
    assert client.get("/orgs", headers=ADMIN).status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", "/orgs", {"id": "zz-nul", "name": "a\u0000b", "org_class": "sme"}),
        ("patch", "/orgs/sme-a", {"name": "a\u0000b"}),
        ("post", "/vouchers/v-a/adjustments", {"amount_fen": 1, "note": "a\u0000b"}),
        ("get", "/orgs/a%00b", None),
        ("get", "/audit?entity=a%00b", None),
        ("patch", "/programme", {"voucher_budget_fen": None}),
        ("patch", "/sites/s1", {"name": None}),
        ("get", "/rounds/2147483648", None),
        ("get", "/allocations?round_id=2147483648", None),
    ],
)
def test_nul_characters_nulls_and_ids_beyond_the_keys_are_a_4xx(
    client: TestClient, engine: Engine, method: str, path: str, body: dict | None
) -> None:
    before = state(engine)
    kwargs = {} if body is None else {"json": body}
    response = getattr(client, method)(path, headers=ADMIN, **kwargs)
    assert response.status_code == 422, response.text
    assert state(engine) == before


def test_an_sme_sees_only_its_own_organisation(client: TestClient) -> None:
    sme = make_user(client, "alpha", "sme", "sme-a")
    assert [o["id"] for o in client.get("/orgs", headers=sme).json()] == ["sme-a"]
    assert client.get("/orgs/sme-b", headers=sme).status_code == 404
    assert client.get("/orgs/sme-a", headers=sme).status_code == 200
    assert len(client.get("/orgs", headers=ADMIN).json()) == 4


def test_every_input_model_refuses_unknown_fields() -> None:
    inputs = [cls for name, cls in vars(m).items() if name.endswith(("Create", "Update")) and isinstance(cls, type)]
    assert len(inputs) >= 12
    assert [cls.__name__ for cls in inputs if cls.model_config.get("extra") != "forbid"] == []


def test_a_500_says_it_closes_the_connection(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_: Any, **__: Any) -> Any:
        raise RuntimeError("disk on fire")

    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        monkeypatch.setattr(crud, "list_rows", broken)
        response = client.get("/requests", headers=ADMIN)
    assert response.status_code == 500 and response.headers["connection"] == "close"
    assert response.json()["detail"][0]["field"] == "server" and "disk" not in response.text
