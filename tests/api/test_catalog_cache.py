"""The catalogue cache: a change to sites, pools, the policy, vouchers or users holds for the very next request,
whoever writes it (this process, another server process, plain SQL), because triggers move its version."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from api.settings import Settings
from tests.api.tiny import ADMIN, bearer, make_user, request_body

CATALOG_TABLES = ("site", "pool", "maintenance", "org", "user", "voucher", "policyversion", "programme")
LARGE = request_body(accelerators=24, accelerator_types="910B")  # only p-910b (32) fits


def version(connection: sa.Connection) -> int:
    return connection.exec_driver_sql("SELECT version FROM catalog_version WHERE id = 1").scalar_one()


def counters(connection: sa.Connection) -> dict[str, int]:
    columns = ", ".join(f"v_{table}" for table in CATALOG_TABLES)
    row = connection.exec_driver_sql(f"SELECT {columns} FROM catalog_version WHERE id = 1").one()
    return dict(zip(CATALOG_TABLES, row, strict=True))


def test_every_write_to_a_catalogue_table_moves_the_version_and_its_own_counter_only(
    settings: Settings, client: TestClient
) -> None:
    engine = sa.create_engine(settings.database_url)
    try:
        for table in CATALOG_TABLES:
            with engine.begin() as connection:
                before, before_counters = version(connection), counters(connection)
                assert connection.exec_driver_sql(f'UPDATE "{table}" SET id = id').rowcount >= 1, table
            with engine.connect() as connection:
                assert version(connection) > before, table
                after = counters(connection)
            assert {t for t in CATALOG_TABLES if after[t] != before_counters[t]} == {table}
    finally:
        engine.dispose()


def test_an_admin_changing_a_pool_holds_for_the_next_submission(client: TestClient) -> None:
    sme = make_user(client, "alpha", "sme", "sme-a")
    assert client.post("/requests", headers=sme, json=LARGE).status_code == 201
    assert client.patch("/pools/p-910b", headers=ADMIN, json={"capacity": 16}).status_code == 200
    refused = client.post("/requests", headers=sme, json=LARGE)
    assert refused.status_code == 422 and refused.json()["detail"][0]["field"] == "accelerators"
    assert client.patch("/pools/p-910b", headers=ADMIN, json={"capacity": 32}).status_code == 200
    assert client.post("/requests", headers=sme, json=LARGE).status_code == 201


def test_a_write_from_outside_the_process_holds_for_the_next_request(settings: Settings, client: TestClient) -> None:
    """Plain SQL on another connection stands for another server process (or an operator's psql)."""
    sme = make_user(client, "alpha", "sme", "sme-a")
    assert client.post("/requests", headers=sme, json=LARGE).status_code == 201
    engine = sa.create_engine(settings.database_url)
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql("UPDATE pool SET capacity = 16 WHERE id = 'p-910b'")
        assert client.post("/requests", headers=sme, json=LARGE).status_code == 422
        with engine.begin() as connection:
            connection.exec_driver_sql("""DELETE FROM "user" WHERE name = 'alpha'""")
        assert client.post("/requests", headers=sme, json=request_body()).status_code == 401
        assert client.get("/users/me", headers=sme).status_code == 401
    finally:
        engine.dispose()


@pytest.mark.parametrize("path", ["/users/me", "/requests"])
def test_a_rotated_or_deleted_token_stops_at_once(client: TestClient, path: str) -> None:
    user = client.post("/users", headers=ADMIN, json={"name": "alpha", "role": "sme", "org_id": "sme-a"}).json()
    old = bearer(user["token"])
    assert client.get(path, headers=old).status_code == 200
    new = bearer(client.post(f"/users/{user['id']}/token", headers=ADMIN).json()["token"])
    assert client.get(path, headers=old).status_code == 401
    assert client.get(path, headers=new).status_code == 200
    assert client.delete(f"/users/{user['id']}", headers=ADMIN).status_code == 204
    assert client.get(path, headers=new).status_code == 401


def test_the_cache_reloads_only_the_tables_that_changed(client: TestClient) -> None:
    cache = client.app.state.catalog
    first = cache.current()
    assert client.post("/vouchers/v-a/adjustments", headers=ADMIN, json={"amount_fen": 100}).status_code == 201
    second = cache.current()
    assert second.version > first.version
    assert second.vouchers is not first.vouchers and second.vouchers["v-a"].balance_fen == 200_100
    assert second.orgs is first.orgs and second.users is first.users and second.pools is first.pools
    assert client.patch("/orgs/sme-b", headers=ADMIN, json={"name": "Beta Renamed"}).status_code == 200
    third = cache.current()
    assert third.orgs["sme-b"].name == "Beta Renamed" and third.vouchers is second.vouchers
