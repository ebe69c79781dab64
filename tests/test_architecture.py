"""The package's shape, checked from its source: one-way imports, an engine that runs on torch
and numpy alone, no import cycles, no module that grew two ideas (docs/architecture.md)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "initsearch"
ENGINE = ("data", "models", "inits", "train")
ABOVE_ENGINE = (
    "search",
    "run",
    "tracking",
    "compare",
    "confirm",
    "report",
    "cli",
    "cluster",
    "dashboard",
)
HEAVY = ("optuna", "ray", "mlflow")
# Bottom to top (docs/architecture.md): a package imports only packages on earlier rows.
LAYERS = (
    ("errors", "jsonsafe", "contract", "locks"),
    ("labels",),
    ("factories",),
    ("data",),
    ("models",),
    ("inits",),
    ("train",),
    ("journal_check",),
    ("stores",),
    ("store_locks",),
    ("store_checks",),
    ("tracking",),
    ("run",),
    ("config",),
    ("search",),
    ("compare",),
    ("confirm",),
    ("report",),
    ("suite",),
    ("api",),
    ("cluster", "dashboard"),
    ("cli",),
    ("__main__",),
)
MAX_LINES = 350
LONG_ALGORITHMS = {"inits/schemes/lps.py"}  # one long algorithm may stay whole (STYLE.md)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports(path: Path) -> list[tuple[str, bool]]:
    """(imported module, imported inside a function) for every import statement."""
    tree = ast.parse(path.read_text())
    inside: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            inside |= {id(n) for n in ast.walk(node) if n is not node}
    found = []
    package = module_name(path).rsplit(".", 1)[0] if path.name != "__init__.py" else None
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, id(node) in inside) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module_name(path) if path.name == "__init__.py" else package
                parts = anchor.split(".")
                base = ".".join([*parts[: len(parts) - node.level + 1], base])
            found.append((base, id(node) in inside))
            found += [(f"{base}.{alias.name}", id(node) in inside) for alias in node.names]
    return found


def graph() -> dict[str, set[str]]:
    """Module -> initsearch modules it imports (a package import counts as its __init__;
    a module's own parent packages are already importing when it runs, so they are no edge)."""
    known = modules()
    edges: dict[str, set[str]] = {}
    for name, path in known.items():
        edges[name] = {
            m for m, _ in imports(path) if m in known and m != name and not name.startswith(f"{m}.")
        }
    return edges


def test_no_import_cycles():
    edges = graph()
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                cycle = stack[stack.index(nxt) :] + [nxt]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node)


def layer_of(module: str) -> int:
    top = module.split(".")[1] if "." in module else module
    return next(i for i, row in enumerate(LAYERS) if top in row)


def test_data_flows_one_way():
    """A spec goes down cli -> config -> search -> run -> train; nothing imports upward."""
    upward = [
        f"{name} -> {imported}"
        for name, targets in graph().items()
        if name != "initsearch"
        for imported in targets
        if imported != "initsearch"
        and imported.split(".")[1] != name.split(".")[1]
        and layer_of(imported) >= layer_of(name)
    ]
    assert upward == []


@pytest.mark.parametrize("package", ENGINE)
def test_the_engine_imports_no_platform_module(package):
    for name, path in modules().items():
        if not name.startswith(f"initsearch.{package}"):
            continue
        for imported, _ in imports(path):
            top = imported.split(".")
            assert top[0] not in HEAVY, f"{name} imports {imported}"
            if top[0] == "initsearch" and len(top) > 1:
                assert top[1] not in ABOVE_ENGINE, f"{name} imports {imported}"


def test_function_level_imports_only_defer_heavy_libraries():
    """Inside the package a function-level import of our own modules hides a cycle or a
    layering problem; only the command line defers its subcommands' imports (start-up time),
    and the package root its lazy ``initsearch.run_study`` (the engine imports without
    Optuna, Ray and MLflow)."""
    offenders = [
        f"{name}: {imported}"
        for name, path in modules().items()
        if not name.startswith("initsearch.cli") and name != "initsearch"
        for imported, nested in imports(path)
        if nested and imported.startswith("initsearch")
    ]
    assert offenders == []


def test_no_module_holds_two_ideas():
    long = {
        str(path.relative_to(PACKAGE)): n
        for path in PACKAGE.rglob("*.py")
        if (n := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert set(long) <= LONG_ALGORITHMS, long
