"""The package's floors: no module imports one from a higher floor, and no imports go round in
a cycle, function-local imports included. The floors are the table in README.md."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "tsc"


def floors() -> dict[str, int]:
    """Module prefix -> floor number (0: ground), from the README's table of floors."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    table = text[text.index("| floor | modules |") :].split("\n\n")[0].splitlines()[2:]
    out = {}
    for number, row in enumerate(table):
        for name in re.findall(r"`(tsc[\w.]*)`", row.split("|")[2]):
            out[name] = number
    return out


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports(path: Path, known: dict[str, Path]) -> set[str]:
    """The package's modules that ``path`` imports, anywhere in it (a name imported from a
    package is the module of that name, if it is one)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "tsc"}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "tsc" and not node.level:
            for alias in node.names:
                target = f"{node.module}.{alias.name}"
                found.add(target if target in known else node.module)
    return found


def floor_of(module: str, table: dict[str, int]) -> int:
    prefixes = [p for p in table if module == p or module.startswith(p + ".")]
    if not prefixes:
        raise AssertionError(f"{module} is in no floor of README.md's table: add it")
    return table[max(prefixes, key=len)]


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports(path, known) - {name} for name, path in known.items()}


def test_every_module_has_a_floor():
    table = floors()
    assert table["tsc.core"] > table["tsc.compute"] and table["tsc.cli"] == max(table.values())
    for name in modules():
        floor_of(name, table)


def test_no_module_imports_from_a_higher_floor():
    table = floors()
    upward = sorted(
        f"{source} (floor {floor_of(source, table)}) imports {target} (floor {floor_of(target, table)})"
        for source, targets in graph().items()
        for target in targets
        if floor_of(target, table) > floor_of(source, table)
    )
    assert not upward, "\n".join(upward)


def test_no_import_cycles():
    edges = graph()
    cycles, state = [], {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == "open":
                cycles.append(" -> ".join(trail[trail.index(nxt) :] + [nxt]))
            elif nxt not in state:
                visit(nxt, trail + [nxt])
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    assert not cycles, "\n".join(cycles)
