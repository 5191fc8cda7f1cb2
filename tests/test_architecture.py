"""The seams of the core and of the service, read from the source: which modules may import what, what runs at
import time, and file sizes."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path
from typing import TypeGuard

import pytest

ROOT = Path(__file__).resolve().parents[1]
CORE = ROOT / "scheduler"
MODULES = sorted(CORE.rglob("*.py"))
API = ROOT / "api"
API_MODULES = sorted(API.rglob("*.py"))
ROUTES = sorted(p for p in (API / "routes").glob("*.py") if p.name != "__init__.py")
MIGRATIONS = API / "migrations"  # Alembic's scripts: run by Alembic, never imported by the service
WEB = ("fastapi", "sqlmodel", "sqlalchemy", "apscheduler", "starlette")
SOLVER_FREE = ("scheduler/model/domain.py", "scheduler/rules/validate.py", "scheduler/model/formulas.py")
MAX_LINES = 500


def rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(node: ast.AST, package: str) -> list[str]:
    """Absolute names of the modules that the import statements under ``node`` import."""
    names: list[str] = []
    for child in ast.walk(node):
        if isinstance(child, ast.Import):
            names += [alias.name for alias in child.names]
        elif isinstance(child, ast.ImportFrom):
            if child.level:
                base = package.split(".")[: len(package.split(".")) - child.level + 1]
                prefix = ".".join(base)
                module = f"{prefix}.{child.module}" if child.module else prefix
            else:
                module = child.module or ""
            names.append(module)
            names += [f"{module}.{alias.name}" for alias in child.names]
    return names


def is_type_checking_block(node: ast.AST) -> TypeGuard[ast.If]:
    if not isinstance(node, ast.If):
        return False
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def runtime_imports(tree: ast.Module, package: str, skip_functions: tuple[str, ...] = ()) -> list[str]:
    """Imports that run: everything but ``if TYPE_CHECKING:`` blocks and the bodies of ``skip_functions``."""
    names: list[str] = []

    def visit(node: ast.AST) -> None:
        if is_type_checking_block(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name in skip_functions:
            return
        if isinstance(node, ast.Import | ast.ImportFrom):
            names.extend(imported(node, package))
            return
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return names


def parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def package_of(path: Path) -> str:
    name = module_name(path)
    return name if path.name == "__init__.py" else name.rpartition(".")[0]


def top(name: str) -> str:
    return name.split(".")[0]


def test_there_are_modules_to_check() -> None:
    assert CORE / "rules" / "validate.py" in MODULES
    assert any(p.parent.name == "rules" for p in MODULES)


@pytest.mark.parametrize("path", MODULES, ids=rel)
def test_core_never_imports_the_web_stack(path: Path) -> None:
    names = imported(parse(path), package_of(path))  # even under TYPE_CHECKING or inside functions
    assert not [n for n in names if top(n) in WEB], f"{rel(path)} imports a web framework"


@pytest.mark.parametrize("name", SOLVER_FREE)
def test_solver_free_modules_never_import_ortools(name: str) -> None:
    path = ROOT / name
    names = imported(parse(path), package_of(path))
    assert not [n for n in names if top(n) == "ortools"], f"{name} imports ortools"


POLICIES = sorted((CORE / "rules").glob("*.py"))


@pytest.mark.parametrize("path", POLICIES, ids=rel)
def test_check_side_of_rules_never_imports_ortools(path: Path) -> None:
    # ``encode`` may use the solver; the module body (outside TYPE_CHECKING) and ``check`` must not
    names = runtime_imports(parse(path), package_of(path), skip_functions=("encode",))
    assert not [n for n in names if top(n) == "ortools"], f"{rel(path)} imports ortools outside encode"
    cpsat = [n for n in names if n.startswith(("scheduler.optimise.cpsat", "scheduler.optimise.solve"))]
    assert not cpsat, f"{rel(path)} imports the CP-SAT model at run time: {cpsat}"


def _solver_free_closure(start: str) -> dict[str, list[str]]:
    """Scheduler modules reachable at run time from ``start``, with the ortools imports of each."""
    by_name = {module_name(p): p for p in MODULES}
    seen: dict[str, list[str]] = {}
    todo = [start]
    while todo:
        name = todo.pop()
        if name in seen or name not in by_name:
            continue
        path = by_name[name]
        skip = ("encode",) if path.parent.name == "rules" else ()
        names = runtime_imports(parse(path), package_of(path), skip)
        seen[name] = [n for n in names if top(n) == "ortools"]
        for n in names:
            # ``from scheduler.x import y`` names either module scheduler.x or scheduler.x.y
            todo += [n, n.rpartition(".")[0]]
        parent = name.rpartition(".")[0]
        if parent:
            todo.append(parent)  # importing a submodule runs its package's __init__
    return seen


@pytest.mark.parametrize("name", ["scheduler.rules.validate", "scheduler.model.domain", "scheduler.model.formulas"])
def test_solver_free_modules_reach_no_ortools_import(name: str) -> None:
    reached = _solver_free_closure(name)
    assert name in reached
    assert not {m: o for m, o in reached.items() if o}


@pytest.mark.parametrize("name", ["scheduler.rules.validate", "scheduler.model.domain", "scheduler.model.formulas"])
def test_importing_solver_free_modules_leaves_ortools_unloaded(name: str) -> None:
    code = (
        f"import sys, {name}\n"
        "loaded = sorted(m for m in sys.modules if m == 'ortools' or m.startswith('ortools.'))\n"
        "assert not loaded, loaded\n"
        "web = sorted(m for m in sys.modules if m.split('.')[0] in " + repr(WEB) + ")\n"
        "assert not web, web\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("path", MODULES + API_MODULES, ids=rel)
def test_no_file_over_500_lines(path: Path) -> None:
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{rel(path)} has {lines} lines"


# ---------------------------------------------------------------- the service (api/)


def literal_all(path: Path) -> set[str]:
    """The names of a module's literal ``__all__``."""
    for node in parse(path).body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            return set(ast.literal_eval(node.value))
    raise AssertionError(f"{rel(path)} has no literal __all__")


def test_the_core_exports_what_its_all_lists() -> None:
    tree = parse(CORE / "__init__.py")
    (exports,) = [n.value for n in tree.body if isinstance(n, ast.AnnAssign) and ast.unparse(n.target) == "_EXPORTS"]
    assert set(ast.literal_eval(exports)) == literal_all(CORE / "__init__.py")


def test_the_core_surface_resolves() -> None:
    import scheduler

    missing = [name for name in scheduler.__all__ if getattr(scheduler, name, None) is None]
    assert not missing


def test_importing_the_domain_from_the_surface_leaves_ortools_unloaded() -> None:
    code = (
        "import sys\n"
        "from scheduler import Horizon, InputError, OrgClass, Placement, Problem, Request, formulas, parse_datetime\n"
        "loaded = sorted(m for m in sys.modules if m == 'ortools' or m.startswith('ortools.'))\n"
        "assert not loaded, loaded\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("path", API_MODULES, ids=rel)
def test_the_service_uses_the_core_through_its_surface_only(path: Path) -> None:
    public = literal_all(CORE / "__init__.py")
    names = imported(parse(path), package_of(path))
    deep = [n for n in names if top(n) == "scheduler" and n.count(".") and n.rpartition(".")[0] != "scheduler"]
    assert not deep, f"{rel(path)} reaches into the core: {deep}"
    unknown = [n for n in names if n.startswith("scheduler.") and n.removeprefix("scheduler.") not in public]
    assert not unknown, f"{rel(path)} imports names the core does not export: {unknown}"


@pytest.mark.parametrize("path", ROUTES, ids=rel)
def test_routes_never_import_each_other(path: Path) -> None:
    names = imported(parse(path), package_of(path))
    assert not [n for n in names if n.startswith("api.routes.")], f"{rel(path)} imports another route module"


@pytest.mark.parametrize("path", API_MODULES, ids=rel)
def test_no_private_name_is_imported_across_modules(path: Path) -> None:
    names = [n.rpartition(".")[2] for n in imported(parse(path), package_of(path))]
    private = [n for n in names if n.startswith("_") and not n.startswith("__")]
    assert not private, f"{rel(path)} imports {private}"


def test_background_jobs_use_only_the_rounds_public_functions() -> None:
    tree = parse(API / "jobs.py")
    names = imported(tree, "api")
    used = {n.removeprefix("api.rounds.") for n in names if n.startswith("api.rounds.")}
    # or ``from api import rounds`` and then ``rounds.<name>``
    used |= {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute) and ast.unparse(n.value) == "rounds"}
    public = literal_all(API / "rounds.py")
    assert used and used <= public, f"api/jobs.py uses {sorted(used - public)} of api.rounds"
    internals = ("api.round_commit", "api.mapping", "api.apart", "api.crud", "api.reconcile")
    assert not [n for n in names if n.startswith(internals)], "api/jobs.py reaches into the round"


def test_importing_the_service_creates_no_engine_settings_or_thread() -> None:
    modules = sorted(module_name(p) for p in API_MODULES if MIGRATIONS not in p.parents)
    code = (
        "import gc, importlib, threading\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "from sqlalchemy.engine import Engine\n"
        "from api.settings import Settings\n"
        "made = [type(o).__name__ for o in gc.get_objects() if isinstance(o, Engine | Settings)]\n"
        "assert not made, made\n"
        "threads = [t.name for t in threading.enumerate() if t is not threading.main_thread()]\n"
        "assert not threads, threads\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
