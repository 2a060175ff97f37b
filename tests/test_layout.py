"""The package layout is the architecture (docs/architecture.md): these tests keep it so.

Imports are read from the source with ``ast`` (including imports inside functions, which
is where heavy and optional imports live), so a lazy import cannot hide an upward arrow.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Who may import whom: a package may import the core and the packages listed here, never one
# above it. The core imports no package; agents and the CLI stand on top.
ALLOWED = {
    "core": set(),
    "analysis": {"core"},
    "publishing": {"core", "analysis"},
    "ops": {"core", "analysis"},
    "translation": {"core", "analysis", "publishing"},
    "demo": {"core", "analysis", "publishing", "ops", "translation", "agents"},
    "agents": {"core", "analysis", "publishing", "ops", "translation"},
    "cli": {"core", "analysis", "publishing", "ops", "translation", "demo", "agents"},
}
PACKAGES = ("analysis", "publishing", "translation", "ops", "demo", "cli")
DOCUMENTED = ("analysis", "publishing", "translation", "ops", "demo")  # the CLI: docs/cli.md


def _layer(module: str) -> str:
    parts = module.split(".")
    if module == "muse.__main__":  # `python -m muse` is the CLI
        return "cli"
    if parts[:2] == ["muse", "agents"]:
        return "agents"
    if len(parts) >= 2 and parts[1] in PACKAGES:
        return parts[1]
    return "core"


def _modules() -> dict[str, Path]:
    out = {}
    for base, prefix in ((ROOT / "muse", "muse"), (ROOT / "agents", "muse.agents")):
        for path in base.rglob("*.py"):
            parts = list(path.relative_to(base).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join([prefix, *parts])] = path
    return out


def _runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node but those under ``if TYPE_CHECKING:`` (annotations only, never imported)."""
    out: list[ast.AST] = []
    todo = [tree]
    while todo:
        node = todo.pop()
        out.append(node)
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            todo.extend(node.orelse)
            continue
        todo.extend(ast.iter_child_nodes(node))
    return out


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in _runtime_nodes(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return found


def _edges() -> list[tuple[str, str]]:
    mods = _modules()
    return [(name, target) for name, path in mods.items() for target in _imports(path) if target in mods]


def test_no_module_imports_a_layer_above_its_own() -> None:
    upward = [f"{a} -> {b}" for a, b in _edges()
              if _layer(a) != _layer(b) and _layer(b) not in ALLOWED[_layer(a)]]
    assert upward == [], "imports against the layering of docs/architecture.md:\n" + "\n".join(upward)


def test_agents_never_import_each_other_or_the_cli() -> None:
    bad = [f"{a} -> {b}" for a, b in _edges() if _layer(a) == "agents" and a != "muse.agents"
           and (_layer(b) == "cli" or (_layer(b) == "agents" and b != "muse.agents"))]
    assert bad == []


def test_only_the_cli_imports_typer_or_rich() -> None:
    # muse.logs renders log records with rich's handler when `--log-format rich` is chosen.
    bad = [f"{name} imports {t}" for name, path in _modules().items()
           if _layer(name) != "cli" and name != "muse.logs"
           for t in _imports(path) if t.split(".")[0] in ("typer", "rich", "click")]
    assert bad == [], bad


def test_the_core_is_not_a_flat_dump_of_one_agent_helpers() -> None:
    """Each package holds what the architecture page says; a module added at the top level
    must be core (used by more than one package or agent), which this test cannot judge, so it
    pins the list: adding a core module means adding it here and to docs/architecture.md."""
    core = sorted(p.stem for p in (ROOT / "muse").glob("*.py") if p.stem not in ("__init__", "__main__"))
    doc = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    undocumented = [m for m in core if f"`{m}`" not in doc]
    assert undocumented == [], f"core modules missing from docs/architecture.md: {undocumented}"
    for pkg in DOCUMENTED:
        for path in (ROOT / "muse" / pkg).glob("*.py"):
            if path.stem != "__init__":
                assert f"`{path.stem}`" in doc, f"muse/{pkg}/{path.name} missing from docs/architecture.md"


def test_no_import_cycles() -> None:
    """No two modules import each other, directly or through others (lazy imports count)."""
    graph: dict[str, set[str]] = {}
    for a, b in _edges():
        if a != b and not b.startswith(a + ".") and not a.startswith(b + "."):  # a package and its own modules
            graph.setdefault(a, set()).add(b)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in list(graph):
        if v not in index:
            visit(v)
    assert cycles == [], f"import cycles: {cycles}"
