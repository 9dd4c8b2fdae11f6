"""cnnzoo's layers (docs/architecture.md): each module imports only its own layer and those
below it, the imports form no cycle, and an import inside a function is there only to spare
start-up time (or an optional package), with a comment saying so.

Read from the source with ast: every `import cnnzoo...` and `from cnnzoo... import`, at the
top of a module or inside a function; `if TYPE_CHECKING:` imports are annotations only and
are left out. Importing `cnnzoo.a.b` also runs the package `cnnzoo.a`'s __init__, so that
counts as an import of it; the top package `cnnzoo` (the public API, which gathers the
layers) is imported by everything first and is left out as a target.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src" / "cnnzoo"

# Lowest first. A module belongs to the longest prefix that names it.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("core", ("cnnzoo.errors", "cnnzoo.fmt", "cnnzoo.atomic", "cnnzoo.home",
              "cnnzoo.precision", "cnnzoo.load", "cnnzoo.extras", "cnnzoo.fetch",
              "cnnzoo.sizes", "cnnzoo.svg", "cnnzoo.version")),
    ("tracer", ("cnnzoo.analysis",)),
    ("data", ("cnnzoo.data",)),
    ("models", ("cnnzoo.models", "cnnzoo.blocks", "cnnzoo.registry")),
    ("weights", ("cnnzoo.pretrained", "cnnzoo.hub", "cnnzoo.weights", "cnnzoo.data_config",
                 "cnnzoo.factory")),
    ("analysis", ("cnnzoo.cost", "cnnzoo.architecture", "cnnzoo.draw")),
    ("train", ("cnnzoo.train",)),
    ("inference", ("cnnzoo.inference", "cnnzoo.optimize", "cnnzoo.export",
                   "cnnzoo.bench", "cnnzoo.deploy")),
    ("studies", ("cnnzoo.studies",)),
    ("cli", ("cnnzoo.cli", "cnnzoo.__main__")),
    ("api", ("cnnzoo",)),
]
# What an import inside a function must say, on its line or the line above, to stay there.
DEFERRED = ("start-up", "optional")


def _modules() -> dict[str, Path]:
    found = {}
    for path in SRC.rglob("*.py"):
        parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def layer_of(module: str) -> int:
    best, length = -1, -1
    for rank, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > length:
                best, length = rank, len(prefix)
    return best


def _resolve(name: str) -> str | None:
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _targets(source: str, name: str) -> list[str]:
    """The modules importing `name` from `source` runs: it, and the __init__ of each package
    above it below `cnnzoo` that `source` is not inside (its own packages are initialised
    already when it runs)."""
    found = _resolve(name)
    if found is None:
        return []
    parts = found.split(".")
    packages = [".".join(parts[:i]) for i in range(2, len(parts))]
    return [p for p in packages if p in MODULES and not source.startswith(p + ".")] + [found]


class _Import:
    def __init__(self, source: str, target: str, line: int, inner: bool, text: str) -> None:
        self.source, self.target, self.line, self.inner, self.text = (
            source, target, line, inner, text)


def _imports() -> list[_Import]:
    found = []
    for module, path in MODULES.items():
        source = path.read_text()
        lines = source.splitlines()
        tree = ast.parse(source)
        annotations_only = {id(sub) for node in ast.walk(tree) if isinstance(node, ast.If)
                            and "TYPE_CHECKING" in ast.unparse(node.test)
                            for sub in ast.walk(node)}
        for node in ast.walk(tree):
            if not isinstance(node, ast.Import | ast.ImportFrom) or id(node) in annotations_only:
                continue
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif node.level or not node.module:
                continue
            else:
                names = [f"{node.module}.{a.name}" for a in node.names]
            text = "\n".join(lines[max(0, node.lineno - 2):node.end_lineno])
            for name in names:
                if name.startswith("cnnzoo."):
                    for target in _targets(module, name):
                        if target != module:
                            found.append(_Import(module, target, node.lineno,
                                                 node.col_offset > 0, text))
    return found


IMPORTS = _imports()


def test_every_module_has_a_layer() -> None:
    assert [m for m in MODULES if layer_of(m) < 0] == []


def test_no_module_imports_a_layer_above_its_own() -> None:
    upward = [f"{i.source}:{i.line} ({LAYERS[layer_of(i.source)][0]}) imports {i.target} "
              f"({LAYERS[layer_of(i.target)][0]})" for i in IMPORTS
              if layer_of(i.target) > layer_of(i.source)]
    assert upward == []


def test_the_imports_form_no_cycle() -> None:
    graph: dict[str, set[str]] = defaultdict(set)
    for i in IMPORTS:
        graph[i.source].add(i.target)
    cycles = _cycles(graph)
    assert cycles == [], "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_imports_inside_functions_say_why() -> None:
    unexplained = sorted({f"{i.source}:{i.line}" for i in IMPORTS if i.inner and not any(
        word in i.text.lower() for word in DEFERRED)})
    assert unexplained == []


def test_the_architecture_doc_names_every_layer() -> None:
    doc = (SRC.parent.parent / "docs" / "architecture.md").read_text()
    assert [name for name, _ in LAYERS if f"**{name}**" not in doc] == []


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in list(graph):
        if v not in index:
            visit(v)
    return found


@pytest.mark.parametrize("bad, rank", [("cnnzoo.cli.train", "cli"), ("cnnzoo.sizes", "core"),
                                       ("cnnzoo.inference", "inference")])
def test_a_module_takes_its_longest_prefixs_layer(bad: str, rank: str) -> None:
    assert LAYERS[layer_of(bad)][0] == rank
