"""CRUD routers for the simple catalog resources (sites, organisations): admins write, everyone signed in reads.

No ``from __future__ import annotations`` here: FastAPI must see the body models, which are local variables. The
models are chosen at run time, so mypy cannot check them as types: the ``type: ignore`` comments say so."""

from typing import Any

from fastapi import APIRouter, status
from sqlmodel import SQLModel

from api import crud
from api.db import table
from api.deps import Admin, CurrentUser, SessionDep, WriteSessionDep, org_scope


def catalog_router(
    entity: str,
    model: type[SQLModel],
    create_model: type[SQLModel],
    update_model: type[SQLModel],
    public: type[Any],
    *,
    own_only: bool = False,
) -> APIRouter:
    """``GET/POST /{entity}s`` and ``GET/PATCH/DELETE /{entity}s/{id}`` for ``model``. With ``own_only`` (the
    organisations) an SME reads only its own row: the others are not its business."""
    router = APIRouter(prefix=f"/{entity}s", tags=[f"{entity}s"])

    @router.get("", response_model=list[public], summary=f"List {entity}s")  # type: ignore[valid-type]
    def list_all(session: SessionDep, user: CurrentUser) -> Any:
        own = org_scope(user) if own_only else None
        return crud.list_rows(session, model, *([table(model).c.id == own] if own is not None else []))

    @router.get("/{entity_id}", response_model=public, summary=f"Get one {entity}")
    def get_one(entity_id: str, session: SessionDep, user: CurrentUser) -> Any:
        own = org_scope(user) if own_only else None
        if own is not None and entity_id != own:
            raise crud.NotFound(entity, entity_id)
        return crud.get_or_404(session, model, entity_id, entity)

    @router.post("", response_model=public, status_code=status.HTTP_201_CREATED, summary=f"Create a {entity}")
    def create(body: create_model, session: WriteSessionDep, admin: Admin) -> Any:  # type: ignore[valid-type]
        row = crud.create(session, model.model_validate(body), admin.name, entity)
        session.commit()
        return row

    @router.patch("/{entity_id}", response_model=public, summary=f"Change a {entity}")
    def change(entity_id: str, body: update_model, session: WriteSessionDep, admin: Admin) -> Any:  # type: ignore[valid-type]
        row = crud.get_or_404(session, model, entity_id, entity)
        changes = body.model_dump(exclude_unset=True)  # type: ignore[attr-defined]
        crud.patch(session, row, changes, admin.name, entity)
        session.commit()
        return row

    @router.delete("/{entity_id}", status_code=status.HTTP_204_NO_CONTENT, summary=f"Delete a {entity}")
    def remove(entity_id: str, session: WriteSessionDep, admin: Admin) -> None:
        crud.delete(session, crud.get_or_404(session, model, entity_id, entity), admin.name, entity)
        session.commit()

    return router
