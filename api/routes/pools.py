"""Pools (one accelerator type at one site) and their maintenance windows."""

from __future__ import annotations

from typing import Any

from fastapi import status

from api import crud
from api import models as m
from api.crud_router import catalog_router
from api.deps import Admin, CurrentUser, IntId, SessionDep, WriteSessionDep

router = catalog_router("pool", m.Pool, m.PoolCreate, m.PoolUpdate, m.PoolPublic)


@router.get("/{pool_id}/maintenance", response_model=list[m.MaintenancePublic], summary="List a pool's maintenance")
def list_maintenance(pool_id: str, session: SessionDep, _: CurrentUser) -> Any:
    crud.get_or_404(session, m.Pool, pool_id, "pool")
    return crud.list_rows(session, m.Maintenance, m.Maintenance.pool_id == pool_id)


@router.post(
    "/{pool_id}/maintenance",
    response_model=m.MaintenancePublic,
    status_code=status.HTTP_201_CREATED,
    summary="Add a maintenance window (lowers capacity for rounds to come)",
)
def add_maintenance(pool_id: str, body: m.MaintenanceCreate, session: WriteSessionDep, admin: Admin) -> Any:
    pool = crud.get_or_404(session, m.Pool, pool_id, "pool")
    if body.capacity_lost > pool.capacity:
        raise crud.Conflict("capacity_lost", f"must not exceed the pool's capacity {pool.capacity}")
    row = crud.create(session, m.Maintenance(pool_id=pool_id, **body.model_dump()), admin.name, "maintenance")
    session.commit()
    return row


@router.delete("/{pool_id}/maintenance/{window_id}", status_code=status.HTTP_204_NO_CONTENT)
def remove_maintenance(pool_id: str, window_id: IntId, session: WriteSessionDep, admin: Admin) -> None:
    row = crud.get_or_404(session, m.Maintenance, window_id, "maintenance")
    if row.pool_id != pool_id:
        raise crud.NotFound("maintenance", window_id)
    crud.delete(session, row, admin.name, "maintenance")
    session.commit()
