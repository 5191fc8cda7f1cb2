"""Access control (SME isolation, roles, hashed tokens) and the administrators' CRUD, each write audited."""

from __future__ import annotations

import time
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from api import models as m
from api.auth import hash_token
from api.seed import ensure_admin
from tests.api.tiny import ADMIN, ADMIN_TOKEN, at, bearer, make_user, request_body, run_round_now


@pytest.fixture
def smes(client: TestClient) -> tuple[dict, dict]:
    alpha, beta = make_user(client, "alpha", "sme", "sme-a"), make_user(client, "beta", "sme", "sme-b")
    assert client.post("/requests", headers=alpha, json=request_body(request_id="alpha-1")).status_code == 201
    return alpha, beta


def test_sme_cannot_read_or_change_another_orgs_data(client: TestClient, smes: tuple[dict, dict]) -> None:
    alpha, beta = smes
    assert client.get("/requests/alpha-1", headers=beta).status_code == 404
    assert client.get("/allocations/alpha-1", headers=beta).status_code == 404
    assert client.post("/requests/alpha-1/cancel", headers=beta).status_code == 404
    assert client.get("/vouchers/v-a", headers=beta).status_code == 404
    assert client.get("/vouchers/v-a/ledger", headers=beta).status_code == 404
    assert [r["id"] for r in client.get("/requests", headers=beta).json()] == ["seed-b"]
    assert {d["org_id"] for d in client.get("/allocations", headers=beta).json()} == {"sme-b"}
    assert [v["id"] for v in client.get("/vouchers", headers=beta).json()] == ["v-b"]
    # submitting in another organisation's name is refused too (as if it did not exist)
    assert client.post("/requests", headers=beta, json=request_body(org_id="sme-a")).status_code == 404
    assert client.get("/requests/alpha-1", headers=alpha).json()["status"] == "pending"


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        (
            "post",
            "/pools",
            {
                "id": "x",
                "site_id": "s1",
                "accelerator_type": "A800",
                "capacity": 1,
                "price_fen_per_hour": 1,
                "power_w": 1,
            },
        ),
        ("patch", "/pools/p-a800", {"capacity": 1000}),
        (
            "post",
            "/policy",
            {
                "sme_reserve_pct": 90,
                "reserve_release_hours": 0,
                "carbon_weight_per_kg": 0,
                "class_weights": {"sme": 1, "large": 1, "research": 1, "key_project": 1},
            },
        ),
        ("post", "/vouchers/v-a/adjustments", {"amount_fen": 100}),
        ("patch", "/programme", {"voucher_budget_fen": 1}),
        ("post", "/rounds", None),
        ("post", "/sites", {"id": "s9", "name": "x", "region": "x", "pue": 1.1, "grid_co2_g_per_kwh": 1}),
        ("delete", "/orgs/big", None),
        ("post", "/users", {"name": "mallory", "role": "admin"}),
    ],
)
def test_only_admins_change_pools_policy_and_vouchers(
    client: TestClient, smes: tuple[dict, dict], method: str, path: str, body: dict | None
) -> None:
    alpha, _ = smes
    auditor = make_user(client, "audrey", "auditor")
    before = client.get("/audit", headers=ADMIN).json()
    for who in (alpha, auditor):
        kwargs = {"json": body} if body is not None else {}
        assert getattr(client, method)(path, headers=who, **kwargs).status_code == 403
    assert client.get("/audit", headers=ADMIN).json() == before


def test_auditor_reads_rounds_decisions_ledger_and_audit_but_writes_nothing(
    client: TestClient, smes: tuple[dict, dict]
) -> None:
    auditor = make_user(client, "audrey", "auditor")
    run_round_now(client)
    assert len(client.get("/rounds", headers=auditor).json()) == 1
    assert len(client.get("/allocations", headers=auditor).json()) == 3
    assert client.get("/vouchers/v-b/ledger", headers=auditor).status_code == 200
    assert client.get("/audit", headers=auditor).status_code == 200
    assert client.get("/reports/utilisation", headers=auditor).status_code == 200
    assert client.post("/requests", headers=auditor, json=request_body(org_id="sme-a")).status_code == 403
    assert client.post("/requests/alpha-1/cancel", headers=auditor).status_code == 403
    sme = smes[0]
    assert client.get("/rounds", headers=sme).status_code == 403
    assert client.get("/audit", headers=sme).status_code == 403


def test_tokens_are_hashed_at_rest_and_checked(client: TestClient, engine: Engine) -> None:
    assert client.get("/requests").status_code == 401
    assert client.get("/requests", headers={"Authorization": "Bearer nope"}).status_code == 401
    token = client.post("/users", headers=ADMIN, json={"name": "z", "role": "sme", "org_id": "big"}).json()["token"]
    with Session(engine) as session:
        stored = {u.token_hash for u in session.exec(select(m.User))}
    assert token not in stored and hash_token(token) in stored and hash_token(ADMIN_TOKEN) in stored


def test_admin_crud_is_audited(client: TestClient) -> None:
    site = {"id": "s3", "name": "Three", "region": "gansu", "pue": 1.15, "grid_co2_g_per_kwh": 477.2}
    assert client.post("/sites", headers=ADMIN, json=site).status_code == 201
    assert client.post("/sites", headers=ADMIN, json=site).status_code == 409
    pool = {
        "id": "p3",
        "site_id": "s3",
        "accelerator_type": "910B",
        "capacity": 8,
        "price_fen_per_hour": 298,
        "speed": "0.8",
        "power_w": 400,
        "domestic": True,
    }
    assert client.post("/pools", headers=ADMIN, json=pool).status_code == 201
    assert client.patch("/pools/p3", headers=ADMIN, json={"capacity": 12}).json()["capacity"] == 12
    window = {"start": at(5), "end": at(9), "capacity_lost": 4}
    assert client.post("/pools/p3/maintenance", headers=ADMIN, json=window).status_code == 201
    assert (
        client.post("/orgs", headers=ADMIN, json={"id": "kp", "name": "Key", "org_class": "key_project"}).status_code
        == 201
    )
    voucher = {
        "id": "v-kp",
        "org_id": "kp",
        "ratio_pct": 20,
        "balance_fen": 5000,
        "valid_from": at(0),
        "valid_until": at(48),
    }
    assert client.post("/vouchers", headers=ADMIN, json=voucher).status_code == 201
    assert client.patch("/vouchers/v-kp", headers=ADMIN, json={"ratio_pct": 25}).json()["ratio_pct"] == 25
    policy = client.get("/policy", headers=ADMIN).json()
    new_policy = {k: policy[k] for k in ("reserve_release_hours", "class_weights", "carbon_weight_per_kg")}
    created = client.post("/policy", headers=ADMIN, json=new_policy | {"sme_reserve_pct": 30})
    assert created.status_code == 201 and created.json()["id"] == policy["id"] + 1
    assert client.get("/policy", headers=ADMIN).json()["sme_reserve_pct"] == 30
    assert client.patch("/programme", headers=ADMIN, json={"voucher_budget_fen": 5}).json()["budget_left_fen"] == 5
    assert client.delete("/sites/s3", headers=ADMIN).status_code == 409  # a pool still stands there
    audit = client.get("/audit", headers=ADMIN).json()
    entities = [(a["action"], a["entity"]) for a in audit]
    for expected in [
        ("create", "site"),
        ("create", "pool"),
        ("update", "pool"),
        ("create", "maintenance"),
        ("create", "org"),
        ("create", "voucher"),
        ("update", "voucher"),
        ("create", "policy"),
        ("update", "programme"),
    ]:
        assert expected in entities
    assert all(a["actor"] == "admin" for a in audit[:9])


def test_changing_a_voucher_keeps_its_validity_ordered(client: TestClient) -> None:
    response = client.patch("/vouchers/v-a", headers=ADMIN, json={"valid_until": at(-5)})
    assert response.status_code == 422 and response.json()["detail"][0]["field"] == "valid_until"
    assert client.get("/vouchers/v-a", headers=ADMIN).json()["voucher"]["valid_until"] != at(-5)


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        (
            "/pools",
            {
                "id": "bad id",
                "site_id": "s1",
                "accelerator_type": "A800",
                "capacity": 1,
                "price_fen_per_hour": 1,
                "power_w": 1,
            },
            "id",
        ),
        (
            "/pools",
            {
                "id": "p9",
                "site_id": "s1",
                "accelerator_type": "A800",
                "capacity": 0,
                "price_fen_per_hour": 1,
                "power_w": 1,
            },
            "capacity",
        ),
        (
            "/pools",
            {
                "id": "p9",
                "site_id": "s1",
                "accelerator_type": "A800",
                "capacity": 1,
                "price_fen_per_hour": 1,
                "power_w": 1,
                "speed": "fast",
            },
            "speed",
        ),
        (
            "/vouchers",
            {"id": "v9", "org_id": "big", "ratio_pct": 30, "balance_fen": 1, "valid_from": at(5), "valid_until": at(1)},
            "valid_until",
        ),
        (
            "/vouchers",
            {
                "id": "v9",
                "org_id": "big",
                "ratio_pct": 130,
                "balance_fen": 1,
                "valid_from": at(0),
                "valid_until": at(1),
            },
            "ratio_pct",
        ),
        ("/vouchers/v-a/adjustments", {"amount_fen": 0}, "amount_fen"),
        ("/vouchers/v-a/adjustments", {"amount_fen": -999999999}, "amount_fen"),
        (
            "/policy",
            {
                "sme_reserve_pct": 20,
                "reserve_release_hours": 24,
                "carbon_weight_per_kg": 0,
                "class_weights": {"sme": 1, "large": 1},
            },
            "class_weights",
        ),
        ("/users", {"name": "loner", "role": "sme"}, "org_id"),
    ],
)
def test_bad_admin_input_names_field_and_writes_nothing(client: TestClient, path: str, body: dict, field: str) -> None:
    before = len(client.get("/audit", headers=ADMIN).json())
    response = client.post(path, headers=ADMIN, json=body)
    assert response.status_code in (409, 422), response.text
    assert field in [d["field"] for d in response.json()["detail"]], response.json()
    assert len(client.get("/audit", headers=ADMIN).json()) == before
    assert client.get("/vouchers/v-a", headers=ADMIN).json()["voucher"]["balance_fen"] == 200000


def test_the_last_administrator_cannot_be_deleted(client: TestClient) -> None:
    admins = [u for u in client.get("/users", headers=ADMIN).json() if u["role"] == "admin"]
    assert len(admins) == 1
    response = client.delete(f"/users/{admins[0]['id']}", headers=ADMIN)
    assert response.status_code == 409 and response.json()["detail"][0]["field"] == "user_id"
    second = make_user(client, "deputy", "admin")
    assert client.delete(f"/users/{admins[0]['id']}", headers=second).status_code == 204
    (deputy,) = [u for u in client.get("/users", headers=second).json() if u["role"] == "admin"]
    assert client.delete(f"/users/{deputy['id']}", headers=second).status_code == 409


def test_a_restart_never_undoes_a_rotation_of_the_admin_token(client: TestClient, engine: Engine) -> None:
    (admin,) = [u for u in client.get("/users", headers=ADMIN).json() if u["name"] == "admin"]
    rotated = client.post(f"/users/{admin['id']}/token", headers=ADMIN).json()["token"]
    assert ensure_admin(engine, ADMIN_TOKEN) is None  # what a restart with PCS_ADMIN_TOKEN does
    assert client.get("/users/me", headers=bearer(rotated)).status_code == 200
    assert client.get("/users/me", headers=ADMIN).status_code == 401


def test_errors_tell_an_sme_nothing_about_another_organisations_ids(client: TestClient) -> None:
    sme_a = make_user(client, "alpha", "sme", "sme-a")
    sme_b = make_user(client, "beta", "sme", "sme-b")
    assert client.post("/requests", headers=sme_b, json=request_body(request_id="theirs")).status_code == 201
    assert client.post("/requests", headers=sme_a, json=request_body(request_id="mine")).status_code == 201

    def rule(response: Any) -> str:
        return response.json()["detail"][0]["rule"]

    taken = [client.post("/requests", headers=sme_a, json=request_body(request_id=i)) for i in ("theirs", "mine")]
    assert [r.status_code for r in taken] == [409, 409] and rule(taken[0]) == rule(taken[1])
    vouchers = [client.post("/quotes", headers=sme_a, json=request_body(voucher_id=v)) for v in ("v-b", "v-none")]
    assert [r.status_code for r in vouchers] == [422, 422]
    assert rule(vouchers[0]).replace("v-b", "X") == rule(vouchers[1]).replace("v-none", "X")
    for path, unknown_path in (
        ("/requests/theirs", "/requests/nope"),
        ("/allocations/theirs", "/allocations/nope"),
        ("/vouchers/v-b", "/vouchers/nope"),
        ("/requests/theirs/cancel", "/requests/nope/cancel"),
    ):
        method = client.post if path.endswith("cancel") else client.get
        other, unknown = method(path, headers=sme_a), method(unknown_path, headers=sme_a)
        assert other.status_code == unknown.status_code == 404
        unknown_id = unknown_path.split("/")[2]
        assert other.json()["detail"].replace(path.split("/")[2], "X") == unknown.json()["detail"].replace(
            unknown_id, "X"
        )


def test_tokens_expire_after_the_ttl_and_a_rotation_renews_them(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = client.app.state.settings
    monkeypatch.setattr(client.app.state, "settings", settings.model_copy(update={"token_ttl_days": 1.5 / 86400}))
    created = client.post("/users", headers=ADMIN, json={"name": "brief", "role": "auditor"}).json()
    assert created["token_expires_at"] is not None
    assert client.get("/users/me", headers=bearer(created["token"])).status_code == 200
    time.sleep(1.6)
    expired = client.get("/users/me", headers=bearer(created["token"]))
    assert expired.status_code == 401 and "expired" in expired.json()["detail"]
    renewed = client.post(f"/users/{created['id']}/token", headers=ADMIN).json()
    assert client.get("/users/me", headers=bearer(renewed["token"])).status_code == 200
    assert client.get("/users/me", headers=ADMIN).json()["token_expires_at"] is None  # issued with no TTL
