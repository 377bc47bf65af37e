"""No import circles inside querytune/: each module sits below the ones that use it.

The graph is read from the source with ``ast``, so it holds every import statement: those inside
functions (a lazy import that closes a circle still ties two layers into one, it only hides it
from Python's import-time error) and those under ``if TYPE_CHECKING:`` (a type the lower layer
needs belongs below both). A module imports what it names: ``from a.b import c`` is ``a.b.c``
where that is a module, else ``a.b``; the parent packages Python also runs on the way are not
counted (a package's ``__init__`` importing its own modules is not a circle).
"""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "querytune"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def imported(name: str, path: Path, known: set[str]) -> set[str]:
    """The querytune modules that ``name`` (at ``path``) imports, anywhere in its body."""
    tree = ast.parse(path.read_text(), str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}".rstrip(".")
            found |= {f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names}
    return {m for m in found if m in known and m != name}


def import_graph() -> dict[str, set[str]]:
    found = modules()
    return {name: imported(name, path, set(found)) for name, path in found.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while not component or component[-1] != node:
                component.append(stack.pop())
                on_stack.discard(component[-1])
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def test_the_graph_sees_lazy_imports_and_resolves_from_imports():
    graph = import_graph()
    assert "querytune.platform.recipes" in graph["querytune.platform.launch"]  # module level
    assert "querytune.platform.evaluate" in graph["querytune.cli"]  # inside a command function
    assert "querytune.platform.recipes.common" in graph["querytune.platform.recipes.sft"]  # from x import module


def test_cycles_finds_a_circle_and_only_the_modules_in_it():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_module_of_querytune_imports_itself_through_others():
    """Before: platform/launch <-> train_sft, train_grpo (lazy imports back), experiments/qmd/clean <-> data."""
    circles = cycles(import_graph())
    assert circles == [], "import circles: " + "; ".join(" <-> ".join(c) for c in circles)


def test_every_module_compiles_without_syntax_warnings():
    """An invalid escape such as ``\\s`` in a non-raw docstring warns at compile time (a
    DeprecationWarning on 3.11, a SyntaxWarning on the GPU machine's 3.12, which printed one for
    validate.py in every training log) and becomes an error in a later Python."""
    import warnings

    noisy = []
    for path in modules().values():
        with warnings.catch_warnings():
            warnings.simplefilter("error", SyntaxWarning)
            warnings.simplefilter("error", DeprecationWarning)
            try:
                compile(path.read_text(), str(path), "exec")
            except SyntaxError as error:
                noisy.append(f"{path.relative_to(PACKAGE.parent)}: {error.msg}")
    assert noisy == []
