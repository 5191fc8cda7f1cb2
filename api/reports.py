"""The utilisation report of committed allocations, per day, site, pool and organisation class, and its exports."""

from __future__ import annotations

import io
import math
from collections.abc import Callable
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
from sqlmodel import Session, col, select

from api import models as m
from scheduler import export as spreadsheet

CLASSES = [c.value for c in m.OrgClassName]
FORMATS = {
    "csv": ("text/csv; charset=utf-8", "csv"),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx"),
    "parquet": ("application/vnd.apache.parquet", "parquet"),
}
COLUMNS = [
    "day",
    "site",
    "pool_id",
    "accelerator_type",
    "capacity_acc_h",
    "used_acc_h",
    "utilisation_pct",
    "sme_acc_h",
    "sme_share_pct",
    *[f"used_acc_h_{c}" for c in CLASSES],
    "subsidy_cny",
    "co2_kg",
]


def utilisation_frame(session: Session) -> pd.DataFrame:
    """One row per programme day and pool: capacity (after maintenance) and used accelerator-hours, utilisation,
    the SME share of what was used, use per organisation class, and the subsidy and CO2 of the allocations,
    spread over their hours. Days are the programme's local days."""
    programme = session.get(m.Programme, 1)
    if programme is None:
        return pd.DataFrame(columns=COLUMNS)
    slots, step = programme.horizon_slots, timedelta(minutes=programme.slot_minutes)
    slot_h = programme.slot_minutes / 60
    start = programme.horizon_start

    def slot_of(when: datetime, rounding: Callable[[float], int]) -> int:
        return min(slots, max(0, rounding((when - start) / step)))

    local = start + timedelta(minutes=programme.utc_offset_minutes)
    days = np.array([(local + t * step).date().isoformat() for t in range(slots)])
    pools = session.exec(select(m.Pool).order_by(col(m.Pool.id))).all()
    maintenance = session.exec(select(m.Maintenance)).all()
    live = (m.AllocationStatus.ALLOCATED, m.AllocationStatus.RUNNING, m.AllocationStatus.COMPLETED)
    allocations = session.exec(select(m.Allocation).where(col(m.Allocation.status).in_(live))).all()
    frames = []
    for pool in pools:
        available = np.full(slots, pool.capacity, dtype=float)
        for w in maintenance:
            if w.pool_id == pool.id:
                available[slot_of(w.start, math.ceil) : slot_of(w.end, math.floor)] -= w.capacity_lost
        used = {c: np.zeros(slots) for c in CLASSES}
        subsidy, co2 = np.zeros(slots), np.zeros(slots)
        for a in allocations:
            if a.pool_id != pool.id:
                continue
            first, last = slot_of(a.start, math.floor), slot_of(a.end, math.ceil)
            run = max(1, round((a.end - a.start) / step))
            used[a.org_class][first:last] += a.accelerators
            subsidy[first:last] += a.subsidy_fen / 100 / run
            co2[first:last] += a.co2_g / 1000 / run
        frame = pd.DataFrame(
            {
                "day": days,
                "capacity_acc_h": np.clip(available, 0, None) * slot_h,
                **{f"used_acc_h_{c}": used[c] * slot_h for c in CLASSES},
                "subsidy_cny": subsidy,
                "co2_kg": co2,
            }
        )
        frame = frame.groupby("day", as_index=False).sum()
        frame.insert(1, "site", pool.site_id)
        frame.insert(2, "pool_id", pool.id)
        frame.insert(3, "accelerator_type", pool.accelerator_type)
        frames.append(frame)
    if not frames:
        return pd.DataFrame(columns=COLUMNS)
    out = pd.concat(frames, ignore_index=True)
    out["used_acc_h"] = out[[f"used_acc_h_{c}" for c in CLASSES]].sum(axis=1)
    out["utilisation_pct"] = (100 * out["used_acc_h"] / out["capacity_acc_h"].where(out["capacity_acc_h"] > 0)).round(2)
    out["sme_acc_h"] = out["used_acc_h_sme"]
    out["sme_share_pct"] = (100 * out["sme_acc_h"] / out["used_acc_h"].where(out["used_acc_h"] > 0)).round(2)
    out["subsidy_cny"] = out["subsidy_cny"].round(2)
    out["co2_kg"] = out["co2_kg"].round(3)
    return out[COLUMNS]


def export(frame: pd.DataFrame, fmt: str) -> bytes:
    """``frame`` as CSV, Excel (xlsx) or Parquet bytes.

    CSV and Excel are written by :mod:`scheduler.report.export`: text a spreadsheet would run as a formula (an
    accelerator type ``=HYPERLINK(...)``) gets a leading ``'`` and is stored as text, never as a formula.
    Parquet is not opened in spreadsheets and keeps the raw values."""
    buffer = io.BytesIO()
    if fmt == "csv":
        text = io.StringIO()
        spreadsheet.write_csv(frame, text)
        buffer.write(text.getvalue().encode("utf-8"))
    elif fmt == "xlsx":
        spreadsheet.write_xlsx({"utilisation": frame}, buffer)
    elif fmt == "parquet":
        spreadsheet.write_parquet(frame, buffer)
    else:
        raise ValueError(f"format: must be one of {', '.join(FORMATS)}")
    return buffer.getvalue()


def utilisation_ratio(frame: pd.DataFrame) -> float:
    capacity = float(frame["capacity_acc_h"].sum()) if len(frame) else 0.0
    return float(frame["used_acc_h"].sum()) / capacity if capacity > 0 else 0.0
