"""The package's import arrows point one way (magics and cli -> engine -> its parts -> voices and
sampling -> models, io, clock), with no cycle: read from the source's own import statements."""
import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "livecrepre"
# Layers from the top; a module may import from its own layer or those below. Unlisted: a part.
LAYERS = {"top": {"magics", "magic_lines", "cli", "stage", "completion", "replay"},  # use the engine
          "engine": {"engine"},
          "part": set(),
          "voices": {"voices", "sampling"},
          "base": {"clock", "io", "models", "encodings", "events", "errors", "mdn"}}
ORDER = list(LAYERS)


def module_names() -> dict[str, Path]:
    names = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        names[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return names


def imports() -> dict[str, set[str]]:
    """Module -> the package's modules it imports (at the top or inside a function)."""
    names = module_names()
    graph = {}
    for name, path in names.items():
        package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level:
                base = package[:len(package) - node.level + 1] + (node.module.split(".") if node.module else [])
                for alias in node.names:  # `from . import x` names a module; `from .x import y` names x
                    target = ".".join(base + [alias.name]).strip(".")
                    found.add(target if target in names else ".".join(base))
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                modules = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module]
                found |= {m.removeprefix("livecrepre.") for m in modules if m and m.startswith("livecrepre.")}
        graph[name] = {m for m in found if m in names and m != name and not m.startswith(name + ".")}
    graph.pop("", None)  # the package's __init__: it only names the API
    return graph


def layer(name: str) -> int:
    head = name.split(".")[0]
    return next((ORDER.index(k) for k, heads in LAYERS.items() if head in heads), ORDER.index("part"))


def test_no_import_cycle():
    graph, state, cycles = imports(), {}, []

    def visit(name, path):
        state[name] = "open"
        for dep in sorted(graph[name]):
            if state.get(dep) == "open":
                cycles.append(path[path.index(dep):] + [dep])
            elif dep not in state:
                visit(dep, path + [dep])
        state[name] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert not cycles, cycles


def test_arrows_point_down():
    upward = [(name, dep) for name, deps in imports().items() for dep in deps if layer(dep) < layer(name)]
    assert not upward, upward
    assert imports()["engine"], "the import reader found nothing: it is broken"
