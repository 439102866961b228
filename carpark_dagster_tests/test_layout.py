"""The package's boundaries: resources own every connection, and no module imports another
that (directly or not) imports it back."""

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "carpark_dagster"
CLIENTS = re.compile(r"^\s*(import|from) (psycopg|elasticsearch|opensearchpy|pgpq)\b", re.M)


def _modules() -> dict[str, Path]:
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


MODULES = _modules()


def _imports(path: Path) -> set[str]:
    """The package's modules `path` imports anywhere in it (functions included: an import
    inside a function still closes a circle, only later)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from pkg import name`: the submodule pkg.name when there is one, else pkg.
            names = [
                f"{node.module}.{alias.name}"
                if f"{node.module}.{alias.name}" in MODULES
                else node.module
                for alias in node.names
            ]
        else:
            continue
        found |= {name for name in names if name in MODULES}
    return found


def test_only_resources_import_the_database_and_search_clients():
    offenders = [
        f"{path.relative_to(ROOT)}: {match.group(0).strip()}"
        for path in PACKAGE.rglob("*.py")
        if "resources" not in path.relative_to(PACKAGE).parts[:1]
        for match in CLIENTS.finditer(path.read_text())
    ]
    assert offenders == []


def test_the_domain_knows_nothing_of_dagster_or_the_stores():
    outside = re.compile(r"^\s*(import|from) (dagster|psycopg|elasticsearch|opensearchpy)\b", re.M)
    domain = [p for p in (PACKAGE / "domain").rglob("*.py") if outside.search(p.read_text())]
    assert domain == []
    lib = [p for p in (PACKAGE / "lib").rglob("*.py") if "import dagster" in p.read_text()]
    assert lib == []


def _cycle() -> list[str] | None:
    graph = {name: _imports(path) - {name} for name, path in MODULES.items()}
    state: dict[str, str] = {}
    stack: list[str] = []

    def visit(name: str) -> list[str] | None:
        state[name] = "open"
        stack.append(name)
        for dep in sorted(graph[name]):
            if state.get(dep) == "open":
                return [*stack[stack.index(dep) :], dep]
            if dep not in state and (found := visit(dep)):
                return found
        stack.pop()
        state[name] = "done"
        return None

    for name in sorted(graph):
        if name not in state and (found := visit(name)):
            return found
    return None


def test_no_module_imports_itself_back():
    assert _cycle() is None


def test_the_cycle_finder_finds_one(monkeypatch):
    """The check above can fail: a planted import of settings from migrations (the circle
    this layout removed) is found."""
    original = _imports

    def planted(path: Path) -> set[str]:
        extra = {"carpark_dagster.settings"} if path.name == "migrations.py" else set()
        return original(path) | extra

    monkeypatch.setattr(f"{__name__}._imports", planted)
    cycle = _cycle()
    assert cycle is not None
    assert "carpark_dagster.resources.migrations" in cycle
    assert "carpark_dagster.settings" in cycle


@pytest.mark.parametrize("folder", ["domain", "resources", "lib", "defs", "integration"])
def test_the_tests_mirror_the_package(folder):
    assert (ROOT / "carpark_dagster_tests" / folder / "__init__.py").exists()
