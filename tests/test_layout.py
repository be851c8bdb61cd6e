"""The package layout is the architecture: no import cycles, no reaching into a sibling's
private names, every package installed, no top-level `attacks`/`reports`, one TensorFlow.
"""

from __future__ import annotations

import ast
import pathlib
import tomllib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
# Repository folder -> the package it installs as.
SOURCES = {"dpaudit": ROOT / "dpaudit", "dpaudit.attacks": ROOT / "attacks",
           "dpaudit.reports": ROOT / "reports"}
MAX_MODULE_LINES = 400


def _modules() -> dict[str, pathlib.Path]:
    found = {}
    for package, folder in SOURCES.items():
        for path in folder.rglob("*.py"):
            rel = path.relative_to(folder).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            name = ".".join([package, *parts])
            if package == "dpaudit" and parts and parts[0] in ("attacks", "reports"):
                continue
            found[name] = path
    return found


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(name: str, path: pathlib.Path) -> list[tuple[str, list[str]]]:
    """(module imported, names taken from it) for every import, lazy ones included."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    is_package = path.name == "__init__.py"
    package = name if is_package else name.rpartition(".")[0]
    out = []
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and _is_type_checking(node):
            skip.update(id(n) for n in ast.walk(node))
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            out.extend((alias.name, []) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            out.append((module, [alias.name for alias in node.names]))
    return out


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for name, path in modules.items():
        for module, names in _imports(name, path):
            targets = [f"{module}.{n}" for n in names if f"{module}.{n}" in modules]
            if module in modules:
                targets.append(module)
            graph[name].update(t for t in targets if t != name)
    return graph


def _package_of(module: str) -> str:
    return module if (SOURCES.get(module) or module in _packages()) else module.rpartition(".")[0]


def _packages() -> set[str]:
    return {m for m, p in _modules().items() if p.name == "__init__.py"}


def test_no_import_cycle_between_dpaudit_modules():
    graph = _graph()
    # A package's __init__ re-exports its own modules; edges from a module to its own
    # package's __init__ (or back) are the usual re-export, not a design cycle.
    def edges(m):
        return {t for t in graph[m] if not (t in _packages() and m.startswith(t + "."))}

    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for t in edges(m):
            if state.get(t) == 1:
                cycle = stack[stack.index(t):] + [t]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if t not in state:
                visit(t)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)


def test_no_module_imports_a_private_name_of_another_package():
    modules = _modules()
    offences = []
    for name, path in modules.items():
        own = _package_of(name)
        for module, names in _imports(name, path):
            if not module.startswith("dpaudit"):
                continue
            target_package = _package_of(module) if module in modules else module
            private_module = any(p.startswith("_") and p != "__init__"
                                 for p in module.split("."))
            private_names = [n for n in names if n.startswith("_") and n != "__version__"]
            if target_package != own and not own.startswith(target_package + ".") and (
                    private_module or private_names):
                offences.append(f"{name} imports {module} {private_names or ''}")
    assert not offences, offences


def test_modules_stay_small():
    big = {name: n for name, path in _modules().items()
           if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES}
    assert not big, f"modules over {MAX_MODULE_LINES} lines: {big}"


def test_every_package_folder_is_installed_and_nothing_else_at_top_level():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    setuptools = config["tool"]["setuptools"]
    listed = set(setuptools["packages"])
    assert listed == _packages()
    assert all(p == "dpaudit" or p.startswith("dpaudit.") for p in listed)
    assert setuptools["package-dir"] == {"dpaudit.attacks": "attacks",
                                         "dpaudit.reports": "reports"}


def test_no_second_tensorflow_distribution_is_required():
    """A user with `tensorflow` keeps exactly that: the base install names none, and each
    extra names one distribution."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]

    def names(requirements):
        return {r.split(";")[0].split("[")[0].split("<")[0].split(">")[0].split("=")[0]
                .strip().lower() for r in requirements}

    assert not names(project["dependencies"]) & {"tensorflow", "tensorflow-cpu", "keras"}
    extras = project["optional-dependencies"]
    assert names(extras["tensorflow"]) == {"tensorflow"}
    assert names(extras["tensorflow-cpu"]) == {"tensorflow-cpu"}
