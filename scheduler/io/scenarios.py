"""Scenario files: a YAML file plus CSV files (or generator blocks) -> :class:`~scheduler.model.domain.Problem`.

:mod:`scheduler.io.scenario_writer` writes them back.

Every error is an :class:`~scheduler.model.errors.InputError` that names the file, the key or row, and the
rule broken, e.g. ``requests.csv row 12 (request r12): deadline: must be after earliest_start``.
Files are named relative to the directory of the scenario file that was loaded.

A scenario may name another with ``base:``; its own keys then override the base's (mappings merge
key by key, lists and other values are replaced). CSV paths resolve against the file that names them.
"""

from __future__ import annotations

import copy
import difflib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from scheduler.io import generator, parse, traces
from scheduler.io.scenario_tables import CsvRef, read_orgs, read_requests, read_vouchers
from scheduler.model.domain import (
    Commitment,
    MaintenanceWindow,
    OrgClass,
    Policy,
    Pool,
    Problem,
    Programme,
    Site,
)
from scheduler.model.errors import InputError
from scheduler.model.horizon import Horizon

DATA_KEYS = ("orgs", "vouchers", "requests")
TOP_KEYS = {"name": True, "horizon": True, "sites": True, "pools": True, "policy": True, "programme": True}
TOP_KEYS |= {"orgs": True, "vouchers": True, "requests": True, "commitments": False, "base": False}
HORIZON_KEYS = {"start": True, "slot_minutes": True, "slots": True}
SITE_KEYS = {"id": True, "name": True, "region": True, "pue": True, "grid_co2_g_per_kwh": True, "green_share": False}
POOL_KEYS = {"id": True, "site": True, "accelerator_type": True, "capacity": True, "price_cny_per_hour": True}
POOL_KEYS |= {"speed": True, "power_w": True, "domestic": False, "maintenance": False}
MAINTENANCE_KEYS = {"start": True, "end": True, "capacity_lost": True}
COMMITMENT_KEYS = {"pool": True, "start": True, "end": True, "accelerators": True, "sme": True}
POLICY_KEYS = {"sme_reserve_pct": True, "reserve_release_hours": True, "class_weights": True}
POLICY_KEYS |= {"carbon_weight_per_kg": True, "delay_weight_per_slot": False}
PROGRAMME_KEYS = {"voucher_budget_cny": True, "domestic_bonus_pct": True, "green_bonus_pct": False}
PROGRAMME_KEYS |= {"green_share_threshold": False}


@dataclass(frozen=True)
class Scenario:
    """A loaded scenario: its name, the problem it defines and the YAML file it came from."""

    name: str
    problem: Problem
    path: Path


class _Loader(yaml.SafeLoader):
    """Keeps timestamps as text (``parse_datetime`` insists on an offset) and refuses duplicate keys."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if key in seen:
                mark = key_node.start_mark
                raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


# ---------------------------------------------------------------- reading files


def _read_yaml(path: Path, label: str) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(label, f"file not found ({path})") from None
    try:
        data = yaml.load(text, Loader=_Loader)  # a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise InputError(label, f"invalid YAML{at}: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise InputError(label, f"invalid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise InputError(label, "must be a mapping of keys (name, horizon, sites, pools, ...)")
    return data


def _check_keys(data: Any, keys: Mapping[str, bool], where: str, what: str = "a mapping") -> dict[str, Any]:
    """``keys`` maps each allowed key to whether it is required."""
    if not isinstance(data, dict):
        raise InputError(where, f"must be {what}, got {data!r}")
    for key in data:
        if key not in keys:
            close = difflib.get_close_matches(str(key), list(keys), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; allowed: {', '.join(keys)}"
            raise InputError(where, f"unknown key {key!r}{hint}")
    for key, required in keys.items():
        if required and key not in data:
            raise InputError(where, f"missing key {key!r}")
    return data


class _Origins:
    """Which file declared each key (after ``base:`` merging), to name it in errors."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.by_key: dict[tuple[str, ...], str] = {}

    def label(self, path: Path) -> str:
        """The path relative to the loaded file's directory, or absolute where that is shorter."""
        return min(os.path.relpath(path, self.root), str(path), key=len)

    def file(self, *keys: str) -> str:
        for n in range(len(keys), 0, -1):
            if keys[:n] in self.by_key:
                return self.by_key[keys[:n]]
        return self.by_key[()]

    def locate(self, field: str) -> str:
        """The file that declared the dotted key ``field`` (``policy.class_weights.sme``)."""
        return self.file(*field.split("."))

    def where(self, *keys: str | int) -> str:
        """``scenario.yaml: pools[3].capacity`` for ``where("pools", 3, "capacity")``."""
        names = tuple(k for k in keys if isinstance(k, str))
        text = "".join(f"[{k}]" if isinstance(k, int) else f".{k}" for k in keys).lstrip(".")
        return f"{self.file(*names)}: {text}" if text else self.file()


def _merge(target: dict[str, Any], override: dict[str, Any], label: str, prefix: tuple, origins: _Origins) -> None:
    for key, value in override.items():
        here = (*prefix, key)
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value, label, here, origins)
            continue
        target[key] = copy.deepcopy(value)
        for old in [k for k in origins.by_key if k[: len(here)] == here]:
            del origins.by_key[old]
        origins.by_key[here] = label


def _resolve(path: Path, origins: _Origins, chain: tuple[Path, ...]) -> dict[str, Any]:
    """The merged keys of ``path`` and its chain of bases."""
    label = origins.label(path)
    raw = _check_keys(_read_yaml(path, label), dict.fromkeys(TOP_KEYS, False), label)
    for key in DATA_KEYS:
        if isinstance(raw.get(key), str):
            raw[key] = CsvRef(raw[key], path.parent / raw[key])
    base = raw.pop("base", None)
    data: dict[str, Any] = {}
    if base is not None:
        base_path = (path.parent / parse.text(base, f"{label}: base")).resolve()
        if base_path in chain:
            raise InputError(f"{label}: base", f"{base!r} leads back to a file that names it (a cycle)")
        if not base_path.is_file():
            raise InputError(f"{label}: base", f"file {base!r} not found ({base_path})")
        data = _resolve(base_path, origins, (*chain, base_path))
    for key in DATA_KEYS:
        # a source of another kind ({trace: ...} over {generator: ...}) replaces the base's, not merges into it
        if isinstance(raw.get(key), dict) and isinstance(data.get(key), dict) and set(raw[key]) != set(data[key]):
            del data[key]
    _merge(data, raw, label, (), origins)
    origins.by_key[()] = label  # the top file is resolved last, so it names the merged whole
    return data


def _list(data: Any, where: str, what: str) -> list[Any]:
    if not isinstance(data, list):
        raise InputError(where, f"must be a list of {what}")
    return data


# ---------------------------------------------------------------- YAML sections


def _horizon(data: Any, origins: _Origins) -> Horizon:
    at = lambda key: origins.where("horizon", key)  # noqa: E731
    data = _check_keys(data, HORIZON_KEYS, origins.where("horizon"))
    start = parse.when(data["start"], at("start"))
    minutes, slots = (
        parse.whole(1)(data["slot_minutes"], at("slot_minutes")),
        parse.whole(1)(data["slots"], at("slots")),
    )
    return parse.build(Horizon, origins.locate, start=start, slot_minutes=minutes, slots=slots)


def _sites(data: Any, origins: _Origins) -> tuple[Site, ...]:
    sites = []
    for i, item in enumerate(_list(data, origins.where("sites"), "sites")):
        at = lambda key, i=i: origins.where("sites", i, key)  # noqa: E731
        item = _check_keys(item, SITE_KEYS, origins.where("sites", i))
        values = {key: parse.text(item[key], at(key)) for key in ("id", "name", "region")}
        numbers = {
            key: parse.number(item[key], at(key)) for key in ("pue", "grid_co2_g_per_kwh", "green_share") if key in item
        }
        sites.append(parse.build(Site, origins.where("sites", i), **values, **numbers))
    return tuple(sites)


def _pools(data: Any, site_ids: set[str], horizon: Horizon, origins: _Origins) -> tuple[Pool, ...]:
    pools = []
    for i, item in enumerate(_list(data, origins.where("pools"), "pools")):
        at = lambda *key, i=i: origins.where("pools", i, *key)  # noqa: E731
        item = _check_keys(item, POOL_KEYS, at())
        site_id = parse.text(item["site"], at("site"))
        if site_id not in site_ids:
            raise InputError(at("site"), f"unknown site {site_id!r}; known: {', '.join(sorted(site_ids))}")
        maintenance = []
        for j, window in enumerate(
            _list(item.get("maintenance") or [], at("maintenance"), "{start, end, capacity_lost}")
        ):
            window = _check_keys(window, MAINTENANCE_KEYS, at("maintenance", j))
            start = horizon.slot_at_or_after(parse.when(window["start"], at("maintenance", j, "start")))
            end = horizon.slot_at_or_before(parse.when(window["end"], at("maintenance", j, "end")))
            if end <= start:
                raise InputError(at("maintenance", j, "end"), "must be after start by at least one whole slot")
            lost = parse.whole(1)(window["capacity_lost"], at("maintenance", j, "capacity_lost"))
            maintenance.append(MaintenanceWindow(start, end, lost))
        pool = {
            "id": parse.text(item["id"], at("id")),
            "site_id": site_id,
            "accelerator_type": parse.text(item["accelerator_type"], at("accelerator_type")),
            "capacity": parse.whole(1)(item["capacity"], at("capacity")),
            "price_fen_per_hour": parse.cny_to_fen(item["price_cny_per_hour"], at("price_cny_per_hour")),
            "speed": parse.fraction(item["speed"], at("speed")),
            "power_w": parse.whole(1)(item["power_w"], at("power_w")),
            "domestic": parse.flag(item.get("domestic", False), at("domestic")),
            "maintenance": tuple(maintenance),
        }
        pools.append(parse.build(Pool, at(), **pool))
    return tuple(pools)


def _policy(data: Any, origins: _Origins) -> Policy:
    at = lambda *key: origins.where("policy", *key)  # noqa: E731
    data = _check_keys(data, POLICY_KEYS, at())
    weights = data["class_weights"]
    if not isinstance(weights, dict):
        raise InputError(at("class_weights"), "must map each organisation class to a weight")
    kwargs: dict[str, Any] = {
        "sme_reserve_pct": parse.whole(0)(data["sme_reserve_pct"], at("sme_reserve_pct")),
        "reserve_release_hours": parse.whole(0)(data["reserve_release_hours"], at("reserve_release_hours")),
        "class_weights": {
            OrgClass.parse(name, at("class_weights", str(name))): parse.number(weight, at("class_weights", str(name)))
            for name, weight in weights.items()
        },
        "carbon_weight_per_kg": parse.number(data["carbon_weight_per_kg"], at("carbon_weight_per_kg")),
    }
    if "delay_weight_per_slot" in data:
        kwargs["delay_weight_per_slot"] = parse.number(data["delay_weight_per_slot"], at("delay_weight_per_slot"))
    return parse.build(Policy, origins.locate, **kwargs)


def _programme(data: Any, origins: _Origins) -> Programme:
    at = lambda key: origins.where("programme", key)  # noqa: E731
    data = _check_keys(data, PROGRAMME_KEYS, origins.where("programme"))
    kwargs: dict[str, Any] = {
        "voucher_budget_fen": parse.cny_to_fen(data["voucher_budget_cny"], at("voucher_budget_cny")),
        "domestic_bonus_pct": parse.whole(0)(data["domestic_bonus_pct"], at("domestic_bonus_pct")),
    }
    if "green_bonus_pct" in data:
        kwargs["green_bonus_pct"] = parse.whole(0)(data["green_bonus_pct"], at("green_bonus_pct"))
    if "green_share_threshold" in data:
        kwargs["green_share_threshold"] = parse.number(data["green_share_threshold"], at("green_share_threshold"))
    return parse.build(Programme, origins.locate, **kwargs)


def _commitments(data: Any, horizon: Horizon, pool_ids: set[str], origins: _Origins) -> tuple[Commitment, ...]:
    out = []
    for i, item in enumerate(_list(data, origins.where("commitments"), "commitments")):
        at = lambda key, i=i: origins.where("commitments", i, key)  # noqa: E731
        item = _check_keys(item, COMMITMENT_KEYS, origins.where("commitments", i))
        if item["pool"] not in pool_ids:
            raise InputError(at("pool"), f"unknown pool {item['pool']!r}")
        # a commitment holds whole slots, so it widens outwards to slot boundaries
        kwargs = {
            "pool_id": item["pool"],
            "start_slot": horizon.slot_at_or_before(parse.when(item["start"], at("start"))),
            "end_slot": horizon.slot_at_or_after(parse.when(item["end"], at("end"))),
            "accelerators": parse.whole(1)(item["accelerators"], at("accelerators")),
            "sme": parse.flag(item["sme"], at("sme")),
        }
        out.append(parse.build(Commitment, origins.where("commitments", i), **kwargs))
    return tuple(out)


def _source(data: dict[str, Any], key: str, origins: _Origins) -> CsvRef | dict[str, Any] | traces.TraceBlock:
    """A CSV reference, the parameters of a generator block, or (requests only) a trace block."""
    value = data[key]
    if isinstance(value, CsvRef):
        return value
    if isinstance(value, dict) and set(value) == {"generator"}:
        return value["generator"] or {}
    if key == "requests" and isinstance(value, dict) and set(value) == {"trace"}:
        # a relative trace path resolves against the file that set it (after base: merging)
        declared = origins.root / origins.file("requests", "trace", "file")
        return traces.TraceBlock(value["trace"] or {}, declared.resolve().parent)
    what = "a CSV path, a mapping {generator: {...}}" + (" or {trace: {...}}" if key == "requests" else "")
    raise InputError(origins.where(key), f"must be {what}, got {value!r}")


def _generated(make: Callable[[], tuple], key: str, origins: _Origins) -> tuple:
    try:
        return make()
    except InputError as exc:
        # name the file that set the offending parameter (generator blocks merge across base: files)
        declared = origins.file(key, *exc.field.split("."))
        raise exc.within(f"{declared}: {key}") from None


# ---------------------------------------------------------------- public API


def load_scenario(path: str | Path) -> Scenario:
    """Load the scenario file ``path`` (with its ``base:`` chain, CSV files and generator blocks).

    Raises
    ------
    InputError
        On any problem, naming the file, the key or row, and the rule broken.
    """
    resolved = Path(path).resolve()
    origins = _Origins(resolved.parent)
    data = _resolve(resolved, origins, (resolved,))
    _check_keys(data, TOP_KEYS, origins.file())
    name = parse.text(data["name"], origins.where("name"))
    horizon = _horizon(data["horizon"], origins)
    sites = _sites(data["sites"], origins)
    pools = _pools(data["pools"], {s.id for s in sites}, horizon, origins)
    policy, programme = _policy(data["policy"], origins), _programme(data["programme"], origins)

    source = _source(data, "orgs", origins)
    if isinstance(source, CsvRef):
        orgs = read_orgs(source, origins.where("orgs"), origins.label(source.path))
    else:
        orgs = _generated(lambda: generator.generate_orgs(source), "orgs", origins)
    source = _source(data, "vouchers", origins)
    if isinstance(source, CsvRef):
        vouchers = read_vouchers(
            source, origins.where("vouchers"), origins.label(source.path), {o.id for o in orgs}, horizon
        )
    else:
        vouchers = _generated(lambda: generator.generate_vouchers(orgs, horizon, source), "vouchers", origins)
    source = _source(data, "requests", origins)
    if isinstance(source, CsvRef):
        known = {
            "horizon": horizon,
            "org_ids": {o.id for o in orgs},
            "voucher_owner": {v.id: v.org_id for v in vouchers},
            "types": {p.accelerator_type for p in pools},
            "site_ids": {s.id for s in sites},
        }
        requests = read_requests(source, origins.where("requests"), origins.label(source.path), known)
    elif isinstance(source, traces.TraceBlock):
        block = source
        requests = _generated(
            lambda: traces.trace_requests(orgs, vouchers, pools, sites, horizon, block), "requests", origins
        )
    else:
        requests = _generated(
            lambda: generator.generate_requests(orgs, vouchers, pools, sites, horizon, source), "requests", origins
        )
    commitments = ()
    if "commitments" in data:
        commitments = _commitments(data["commitments"], horizon, {p.id for p in pools}, origins)
    problem = parse.build(
        Problem,
        origins.file(),
        horizon=horizon,
        sites=sites,
        pools=pools,
        orgs=orgs,
        vouchers=vouchers,
        requests=requests,
        policy=policy,
        programme=programme,
        commitments=commitments,
    )
    return Scenario(name=name, problem=problem, path=Path(path))
