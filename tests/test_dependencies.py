"""Every third-party package the code imports is declared in pyproject.toml: what scheduler/ and api/ import among
the dependencies, what tests/ and bench/ import among them or the dev extras."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from collections.abc import Iterable
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIRST_PARTY = {"scheduler", "api", "tests", "bench"}


def normalised(name: str) -> str:
    """A distribution's name as PEP 503 compares it (``PyYAML``, ``pyyaml`` and ``py_yaml`` differ otherwise)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def declared(*extras: str) -> set[str]:
    """The distributions pyproject.toml declares: the dependencies and those of ``extras``."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = project["dependencies"] + [r for extra in extras for r in project["optional-dependencies"][extra]]
    names = set()
    for requirement in requirements:
        match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement)
        assert match, f"pyproject.toml: cannot read the requirement {requirement!r}"
        names.add(normalised(match.group()))
    return names


def imports(folders: Iterable[Path]) -> dict[str, str]:
    """Top-level module -> where it is first imported (``path:line``), for every import, lazy ones included."""
    found: dict[str, str] = {}
    for folder in folders:
        for path in sorted(folder.rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    found.setdefault(name.partition(".")[0], f"{path.relative_to(folder.parent)}:{node.lineno}")
    return found


def undeclared(folders: Iterable[Path], allowed: set[str]) -> list[str]:
    """The third-party imports in ``folders`` that no distribution in ``allowed`` provides."""
    providers = packages_distributions()  # the import name of each installed distribution: yaml -> PyYAML
    problems = []
    for module, where in sorted(imports(folders).items()):
        if module in sys.stdlib_module_names or module in FIRST_PARTY or module == "__future__":
            continue
        distributions = {normalised(d) for d in providers.get(module, [])}
        if not distributions:
            problems.append(f"{where}: {module} (no installed distribution provides it)")
        elif not distributions & allowed:
            problems.append(f"{where}: {module} (from {' or '.join(sorted(distributions))}: not declared)")
    return problems


@pytest.mark.parametrize(
    ("folders", "extras"), [(("scheduler", "api"), ()), (("tests", "bench"), ("dev",))], ids=["code", "dev"]
)
def test_every_imported_package_is_declared(folders: tuple[str, ...], extras: tuple[str, ...]) -> None:
    assert undeclared([ROOT / folder for folder in folders], declared(*extras)) == []


def test_an_undeclared_import_is_found(tmp_path: Path) -> None:
    code = tmp_path / "code"
    code.mkdir()
    (code / "module.py").write_text("import os\n\n\ndef load():\n    import yaml.constructor\n")
    assert undeclared([code], {"pandas"}) == ["code/module.py:5: yaml (from pyyaml: not declared)"]
    assert undeclared([code], {"pyyaml"}) == []
