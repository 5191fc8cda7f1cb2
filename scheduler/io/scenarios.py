"""Scenario files: a YAML file plus CSV files (or generator blocks) -> :class:`~scheduler.model.domain.Problem`.

:mod:`scheduler.io.scenario_schema` holds the YAML file's schema; :mod:`scheduler.io.scenario_writer` writes
scenarios back.

Every error is an :class:`~scheduler.model.errors.InputError` that names the file, the key or row, and the
rule broken, e.g. ``requests.csv row 12 (request r12): deadline: must be after earliest_start``.
Files are named relative to the directory of the scenario file that was loaded.

A scenario may name another with ``base:``; its own keys then override the base's (mappings merge
key by key, lists and other values are replaced). CSV paths resolve against the file that names them.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import ValidationError

from scheduler.io import generator, parse, traces
from scheduler.io.scenario_schema import (
    DATA_KEYS,
    CommitmentSpec,
    GeneratorSource,
    HorizonSpec,
    Loc,
    PolicySpec,
    PoolSpec,
    ProgrammeSpec,
    ScenarioSpec,
    SiteSpec,
    TraceSource,
    first_error,
)
from scheduler.io.scenario_tables import CsvRef, read_orgs, read_requests, read_vouchers
from scheduler.model.domain import Commitment, MaintenanceWindow, Policy, Pool, Problem, Programme, Site
from scheduler.model.errors import InputError
from scheduler.model.horizon import Horizon

T = TypeVar("T")


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


class _Origins:
    """Which file declared each key (after ``base:`` merging), to name it in errors."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.by_key: dict[tuple[str, ...], str] = {}

    def label(self, path: Path) -> str:
        """The path relative to the loaded file's directory, or absolute where that is shorter."""
        return min(os.path.relpath(path, self.root), str(path), key=len)

    def file(self, *keys: str | int) -> str:
        names = tuple(k for k in keys if isinstance(k, str))
        for n in range(len(names), 0, -1):
            if names[:n] in self.by_key:
                return self.by_key[names[:n]]
        return self.by_key[()]

    def locate(self, field: str) -> str:
        """The file that declared the dotted key ``field`` (``policy.class_weights.sme``)."""
        return self.file(*field.split("."))

    def directory(self, *keys: str) -> Path:
        """The directory of the file that declared ``keys``: a relative path there resolves against it."""
        return (self.root / self.file(*keys)).resolve().parent

    def where(self, *keys: str | int, declared: Loc | None = None) -> str:
        """``scenario.yaml: pools[3].capacity`` for ``where("pools", 3, "capacity")``; the file is the one
        that declared ``declared`` (default: ``keys``)."""
        text = "".join(f"[{k}]" if isinstance(k, int) else f".{k}" for k in keys).lstrip(".")
        file = self.file(*(keys if declared is None else declared))
        return f"{file}: {text}" if text else file


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
    raw = _read_yaml(path, label)
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


def _validate(data: dict[str, Any], origins: _Origins) -> ScenarioSpec:
    try:
        return ScenarioSpec.model_validate(data)
    except ValidationError as exc:
        declared, at, rule = first_error(exc)
        raise InputError(origins.where(*at, declared=declared), rule) from None


# ---------------------------------------------------------------- YAML sections -> domain


def _fen(cny: Decimal) -> int:
    """Exact: the schema allows at most 2 decimals."""
    return int(cny * 100)


def _horizon(spec: HorizonSpec, origins: _Origins) -> Horizon:
    return parse.build(Horizon, origins.locate, start=spec.start, slot_minutes=spec.slot_minutes, slots=spec.slots)


def _sites(specs: Sequence[SiteSpec], origins: _Origins) -> tuple[Site, ...]:
    return tuple(parse.build(Site, origins.where("sites", i), **spec.model_dump()) for i, spec in enumerate(specs))


def _pools(specs: Sequence[PoolSpec], site_ids: set[str], horizon: Horizon, origins: _Origins) -> tuple[Pool, ...]:
    pools = []
    for i, spec in enumerate(specs):
        at = lambda *key, i=i: origins.where("pools", i, *key)  # noqa: E731
        if spec.site not in site_ids:
            raise InputError(at("site"), f"unknown site {spec.site!r}; known: {', '.join(sorted(site_ids))}")
        maintenance = []
        for j, window in enumerate(spec.maintenance or ()):
            start, end = horizon.slot_at_or_after(window.start), horizon.slot_at_or_before(window.end)
            if end <= start:
                raise InputError(at("maintenance", j, "end"), "must be after start by at least one whole slot")
            maintenance.append(MaintenanceWindow(start, end, window.capacity_lost))
        pool = {
            "id": spec.id,
            "site_id": spec.site,
            "accelerator_type": spec.accelerator_type,
            "capacity": spec.capacity,
            "price_fen_per_hour": _fen(spec.price_cny_per_hour),
            "speed": spec.speed,
            "power_w": spec.power_w,
            "domestic": spec.domestic,
            "maintenance": tuple(maintenance),
        }
        pools.append(parse.build(Pool, at(), **pool))
    return tuple(pools)


def _policy(spec: PolicySpec, origins: _Origins) -> Policy:
    return parse.build(Policy, origins.locate, **spec.model_dump())


def _programme(spec: ProgrammeSpec, origins: _Origins) -> Programme:
    kwargs = spec.model_dump(exclude={"voucher_budget_cny"})
    return parse.build(Programme, origins.locate, voucher_budget_fen=_fen(spec.voucher_budget_cny), **kwargs)


def _commitments(
    specs: Sequence[CommitmentSpec], horizon: Horizon, pool_ids: set[str], origins: _Origins
) -> tuple[Commitment, ...]:
    out = []
    for i, spec in enumerate(specs):
        if spec.pool not in pool_ids:
            raise InputError(origins.where("commitments", i, "pool"), f"unknown pool {spec.pool!r}")
        # a commitment holds whole slots, so it widens outwards to slot boundaries
        kwargs = {
            "pool_id": spec.pool,
            "start_slot": horizon.slot_at_or_before(spec.start),
            "end_slot": horizon.slot_at_or_after(spec.end),
            "accelerators": spec.accelerators,
            "sme": spec.sme,
        }
        out.append(parse.build(Commitment, origins.where("commitments", i), **kwargs))
    return tuple(out)


def _csv(text: str, key: str, origins: _Origins) -> CsvRef:
    return CsvRef(text, origins.directory(key) / text)


def _generated(make: Callable[[], tuple[T, ...]], key: str, origins: _Origins) -> tuple[T, ...]:
    try:
        return make()
    except InputError as exc:
        # name the file that set the offending parameter (generator blocks merge across base: files)
        declared = origins.file(key, *exc.field.split("."))
        raise exc.within(f"{declared}: {key}") from None


def _params(source: GeneratorSource | TraceSource) -> Mapping[str, Any]:
    return (source.generator if isinstance(source, GeneratorSource) else source.trace) or {}


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
    spec = _validate(_resolve(resolved, origins, (resolved,)), origins)
    horizon = _horizon(spec.horizon, origins)
    sites = _sites(spec.sites, origins)
    pools = _pools(spec.pools, {s.id for s in sites}, horizon, origins)
    policy, programme = _policy(spec.policy, origins), _programme(spec.programme, origins)

    if isinstance(spec.orgs, str):
        ref = _csv(spec.orgs, "orgs", origins)
        orgs = read_orgs(ref, origins.where("orgs"), origins.label(ref.path))
    else:
        org_params = _params(spec.orgs)
        orgs = _generated(lambda: generator.generate_orgs(org_params), "orgs", origins)
    if isinstance(spec.vouchers, str):
        ref = _csv(spec.vouchers, "vouchers", origins)
        org_ids = {o.id for o in orgs}
        vouchers = read_vouchers(ref, origins.where("vouchers"), origins.label(ref.path), org_ids, horizon)
    else:
        voucher_params = _params(spec.vouchers)
        vouchers = _generated(lambda: generator.generate_vouchers(orgs, horizon, voucher_params), "vouchers", origins)
    if isinstance(spec.requests, str):
        ref = _csv(spec.requests, "requests", origins)
        known = {
            "horizon": horizon,
            "org_ids": {o.id for o in orgs},
            "voucher_owner": {v.id: v.org_id for v in vouchers},
            "types": {p.accelerator_type for p in pools},
            "site_ids": {s.id for s in sites},
        }
        requests = read_requests(ref, origins.where("requests"), origins.label(ref.path), known)
    elif isinstance(spec.requests, TraceSource):
        # a relative trace path resolves against the file that set it (after base: merging)
        block = traces.TraceBlock(_params(spec.requests), origins.directory("requests", "trace", "file"))
        requests = _generated(
            lambda: traces.trace_requests(orgs, vouchers, pools, sites, horizon, block), "requests", origins
        )
    else:
        request_params = _params(spec.requests)
        requests = _generated(
            lambda: generator.generate_requests(orgs, vouchers, pools, sites, horizon, request_params),
            "requests",
            origins,
        )
    commitments = _commitments(spec.commitments, horizon, {p.id for p in pools}, origins)
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
    return Scenario(name=spec.name, problem=problem, path=Path(path))
