"""Queries and writes that routes and rounds share; routes hold no query logic of their own.

Every write goes through a function here that also appends to the audit log in the same transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypeVar, cast

from sqlalchemy import insert, update
from sqlalchemy.engine import CursorResult, Engine
from sqlmodel import Session, SQLModel, col, func, select

from api import models as m
from api.db import table, utcnow

T = TypeVar("T", bound=SQLModel)


class NotFound(LookupError):
    """The entity does not exist, or the caller may not see it (an SME asking for another organisation's)."""

    def __init__(self, entity: str, entity_id: object) -> None:
        super().__init__(f"{entity} {entity_id!r} not found")
        self.entity, self.entity_id = entity, entity_id


class Forbidden(PermissionError):
    """The caller's role may not do this (403)."""


class Conflict(ValueError):
    """The write conflicts with what is stored; ``field`` and ``rule`` say how."""

    def __init__(self, field: str, rule: str) -> None:
        super().__init__(f"{field}: {rule}")
        self.field, self.rule = field, rule


class Overspend(Conflict):
    """A debit larger than the voucher's balance."""


def audit(session: Session, actor: str, action: str, entity: str, entity_id: object, detail: Any = None) -> None:
    """Append one line to the audit log (in the caller's transaction, so it lands or not with the write)."""
    session.add(m.AuditEntry(actor=actor, action=action, entity=entity, entity_id=str(entity_id), detail=detail))


def insert_requests(write_engine: Engine, submissions: Sequence[tuple[dict[str, Any], str]]) -> None:
    """Store submitted requests (each the column values of a ``compute_request`` row and the submitting user's
    name) and their audit lines in one transaction, as one Core ``executemany`` per table: the API's hottest
    write skips the ORM's unit of work."""
    audit_lines = [
        {
            "at": values["created_at"],
            "actor": actor,
            "action": "create",
            "entity": "request",
            "entity_id": values["id"],
            "detail": {"org_id": values["org_id"]},
        }
        for values, actor in submissions
    ]
    with write_engine.begin() as connection:
        connection.execute(insert(table(m.ComputeRequest)), [values for values, _ in submissions])
        connection.execute(insert(table(m.AuditEntry)), audit_lines)


IMPORTED = {"Org": "org", "Voucher": "voucher", "VoucherEntry": "", "ComputeRequest": "request"}
"""What an import may create, by row type, and its audit entity ("": a voucher's opening ledger line, no entity)."""
ID_CHUNK = 1000  # ids per IN list: SQLite caps a statement's parameters


def insert_rows(session: Session, rows: Sequence[SQLModel], actor: str) -> dict[str, int]:
    """Insert an import's rows (parents before children, as given) with one ``executemany`` per table and an audit
    line each, so that a large import holds the write lock for seconds, not minutes; a row whose id exists
    already is a :class:`Conflict` and nothing is stored. Returns how many rows each entity got."""
    by_type: dict[type, list[SQLModel]] = {}
    for row in rows:
        if type(row).__name__ not in IMPORTED:
            raise TypeError(f"an import cannot create {type(row).__name__} rows")
        by_type.setdefault(type(row), []).append(row)
    counts: dict[str, int] = {}
    lines = []
    for model, group in by_type.items():
        core, entity = table(model), IMPORTED[model.__name__]
        generated = {"id"} if getattr(group[0], "id", None) is None else None  # a serial key: the database's
        values = [row.model_dump(exclude=generated) for row in group]
        if entity:
            ids = [value["id"] for value in values]
            for start in range(0, len(ids), ID_CHUNK):
                chunk = ids[start : start + ID_CHUNK]
                taken = session.execute(select(core.c.id).where(core.c.id.in_(chunk))).scalars().first()
                if taken is not None:
                    raise Conflict("id", f"{entity} {taken!r} already exists")
            counts[entity] = len(group)
            lines += [
                {
                    "actor": actor,
                    "action": "create",
                    "entity": entity,
                    "entity_id": value["id"],
                    "detail": jsonable(row),
                }
                for value, row in zip(values, group, strict=True)
            ]
        session.execute(insert(core), values)
    if lines:
        now = utcnow()
        session.execute(insert(table(m.AuditEntry)), [line | {"at": now} for line in lines])
    return counts


def jsonable(row: SQLModel) -> dict[str, Any]:
    return row.model_dump(mode="json")


def add_in_order(session: Session, rows: Sequence[SQLModel]) -> None:
    """Insert ``rows`` in their order (parents before children: the tables have no ORM relationships
    that would let the unit of work sort them), flushing whenever the table changes."""
    previous: type | None = None
    for row in rows:
        if previous is not None and type(row) is not previous:
            session.flush()
        session.add(row)
        previous = type(row)
    session.flush()


def get_or_404(session: Session, model: type[T], entity_id: object, entity: str | None = None) -> T:
    row = session.get(model, entity_id)
    if row is None:
        raise NotFound(entity or model.__name__.lower(), entity_id)
    return row


def create(session: Session, row: T, actor: str, entity: str) -> T:
    """Insert ``row``; a duplicate primary key is a :class:`Conflict` on ``id``."""
    key = getattr(row, "id", None)
    if key is not None and session.get(type(row), key) is not None:
        raise Conflict("id", f"{entity} {key!r} already exists")
    session.add(row)
    session.flush()
    audit(session, actor, "create", entity, getattr(row, "id", ""), jsonable(row))
    return row


def patch(session: Session, row: T, changes: dict[str, Any], actor: str, entity: str) -> T:
    before = {key: getattr(row, key) for key in changes}
    for key, value in changes.items():
        setattr(row, key, value)
    session.add(row)
    session.flush()
    detail = {"before": {k: str(v) for k, v in before.items()}, "after": {k: str(v) for k, v in changes.items()}}
    audit(session, actor, "update", entity, getattr(row, "id", ""), detail)
    return row


def delete(session: Session, row: SQLModel, actor: str, entity: str) -> None:
    detail = jsonable(row)
    session.delete(row)
    session.flush()
    audit(session, actor, "delete", entity, detail.get("id", ""), detail)


def list_rows(session: Session, model: type[T], *where: Any, order: Any = None, limit: int = 1000) -> Sequence[T]:
    query = select(model).where(*where)
    query = query.order_by(order if order is not None else table(model).c.id)
    return session.exec(query.limit(limit)).all()


# ---------------------------------------------------------------- vouchers


def post_entry(
    session: Session,
    voucher_id: str,
    amount_fen: int,
    kind: m.EntryKind,
    actor: str,
    *,
    request_id: str | None = None,
    round_id: int | None = None,
    note: str = "",
) -> m.VoucherEntry:
    """Move a voucher's balance by ``amount_fen`` and record the ledger line, atomically.

    A debit is one conditional ``UPDATE ... WHERE balance_fen >= amount``: two concurrent debits can never
    both pass on the same money, whatever the isolation level. Raises :class:`Overspend` otherwise.
    """
    vouchers = table(m.Voucher)
    statement = update(vouchers).where(vouchers.c.id == voucher_id)
    if amount_fen < 0:
        statement = statement.where(vouchers.c.balance_fen >= -amount_fen)
    done = cast("CursorResult[Any]", session.execute(statement.values(balance_fen=vouchers.c.balance_fen + amount_fen)))
    if done.rowcount != 1:
        if session.get(m.Voucher, voucher_id) is None:
            raise NotFound("voucher", voucher_id)
        raise Overspend("amount_fen", f"a debit of {-amount_fen} fen exceeds the balance of voucher {voucher_id}")
    entry = m.VoucherEntry(
        voucher_id=voucher_id,
        amount_fen=amount_fen,
        kind=kind,
        request_id=request_id,
        round_id=round_id,
        note=note,
        actor=actor,
    )
    session.add(entry)
    session.flush()
    voucher = session.get(m.Voucher, voucher_id)
    if voucher is not None:
        session.refresh(voucher)
    return entry


def post_entries(session: Session, entries: Sequence[dict[str, Any]], actor: str) -> None:
    """Post many ledger lines at once (a round's subsidies; dicts with ``voucher_id``, ``amount_fen``, ``kind``,
    ``request_id``, ``round_id``): one conditional ``UPDATE`` per voucher for their total, then the lines in
    one batch. Raises :class:`Overspend` if any voucher's total exceeds its balance."""
    totals: dict[str, int] = {}
    for entry in entries:
        totals[entry["voucher_id"]] = totals.get(entry["voucher_id"], 0) + entry["amount_fen"]
    vouchers = table(m.Voucher)
    for voucher_id, amount in sorted(totals.items()):
        statement = update(vouchers).where(vouchers.c.id == voucher_id)
        if amount < 0:
            statement = statement.where(vouchers.c.balance_fen >= -amount)
        done = cast("CursorResult[Any]", session.execute(statement.values(balance_fen=vouchers.c.balance_fen + amount)))
        if done.rowcount != 1:
            raise Overspend("amount_fen", f"debits of {-amount} fen exceed the balance of voucher {voucher_id}")
    if entries:
        now = utcnow()
        lines = [{"note": "", "actor": actor, "created_at": now, **entry} for entry in entries]
        session.execute(insert(table(m.VoucherEntry)), lines)


def subsidy_paid_fen(session: Session) -> int:
    """What the programme has paid out, net of refunds."""
    kinds = (m.EntryKind.SUBSIDY, m.EntryKind.REFUND)
    total = session.exec(select(func.sum(m.VoucherEntry.amount_fen)).where(col(m.VoucherEntry.kind).in_(kinds))).one()
    return -int(total or 0)


def ledger_sum(session: Session, voucher_id: str) -> int:
    query = select(func.sum(m.VoucherEntry.amount_fen)).where(m.VoucherEntry.voucher_id == voucher_id)
    return int(session.exec(query).one() or 0)


def ledger(session: Session, voucher_id: str) -> Sequence[m.VoucherEntry]:
    query = select(m.VoucherEntry).where(m.VoucherEntry.voucher_id == voucher_id).order_by(col(m.VoucherEntry.id))
    return session.exec(query).all()


# ---------------------------------------------------------------- requests


def visible_request(session: Session, request_id: str, org_id: str | None) -> m.ComputeRequest:
    """The request, if the caller (an SME of ``org_id``, or anyone when ``None``) may see it."""
    row = session.get(m.ComputeRequest, request_id)
    if row is None or (org_id is not None and row.org_id != org_id):
        raise NotFound("request", request_id)
    return row


def by_idempotency_key(session: Session, org_id: str, key: str) -> m.ComputeRequest | None:
    query = select(m.ComputeRequest).where(m.ComputeRequest.org_id == org_id, m.ComputeRequest.idempotency_key == key)
    return session.exec(query).first()


def cancel_request(
    session: Session, request_id: str, org_id: str | None, actor: str, now: datetime
) -> m.ComputeRequest:
    """Cancel a pending request, or an allocated one that has not started (its subsidy goes back to the
    voucher as a refund entry), at most once whatever runs concurrently.

    The request row is read ``FOR UPDATE``: concurrent cancels of one request, and a round committing an
    allocation for it (which locks the requests it places, see :func:`api.round_commit.hold`), queue on that row
    and each sees the status the one before it left, on PostgreSQL's READ COMMITTED as on SQLite. The allocation
    moves to ``cancelled`` by a conditional ``UPDATE`` that also says whether a refund is owed, so a refund
    follows only the one update that made the change. Locks are taken request first, then allocation, then
    voucher: the order a round takes them in.
    """
    row = session.exec(
        select(m.ComputeRequest)
        .where(m.ComputeRequest.id == request_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()
    if row is None or (org_id is not None and row.org_id != org_id):
        raise NotFound("request", request_id)
    if row.status not in (m.RequestStatus.PENDING, m.RequestStatus.ALLOCATED):
        raise Conflict("status", f"a {row.status.value} request cannot be cancelled")
    if row.status == m.RequestStatus.ALLOCATED:
        allocations = table(m.Allocation)
        cancelled = session.execute(
            update(allocations)
            .where(
                allocations.c.request_id == row.id,
                allocations.c.status == m.AllocationStatus.ALLOCATED,
                allocations.c.start > now,
            )
            .values(status=m.AllocationStatus.CANCELLED)
            .returning(allocations.c.subsidy_fen, allocations.c.voucher_id)
        ).first()
        if cancelled is None:
            raise Conflict("status", "the allocation has started and can no longer be cancelled")
        subsidy_fen, voucher_id = cancelled
        if subsidy_fen and voucher_id:
            post_entry(
                session,
                voucher_id,
                subsidy_fen,
                m.EntryKind.REFUND,
                actor,
                request_id=row.id,
                note="allocation cancelled",
            )
    before = row.status.value
    row.status, row.updated_at = m.RequestStatus.CANCELLED, utcnow()
    session.add(row)
    session.flush()
    audit(session, actor, "cancel", "request", row.id, {"before": before})
    return row


def allocation_of(session: Session, request_id: str) -> m.Allocation | None:
    return session.exec(select(m.Allocation).where(m.Allocation.request_id == request_id)).first()


def advance_lifecycle(session: Session, now: datetime) -> int:
    """``allocated`` -> ``running`` once an allocation starts, ``running`` -> ``completed`` once it ends."""
    moved = 0
    steps = (
        (m.AllocationStatus.ALLOCATED, m.Allocation.start, m.AllocationStatus.RUNNING, m.RequestStatus.RUNNING),
        (m.AllocationStatus.RUNNING, m.Allocation.end, m.AllocationStatus.COMPLETED, m.RequestStatus.COMPLETED),
    )
    for status, column, next_status, request_status in steps:
        for allocation in session.exec(select(m.Allocation).where(m.Allocation.status == status, column <= now)):
            allocation.status = next_status
            request = session.get(m.ComputeRequest, allocation.request_id)
            if request is not None:
                request.status, request.updated_at = request_status, now
                session.add(request)
            session.add(allocation)
            moved += 1
    session.flush()
    return moved
