"""panen's structure rules that no linter checks, run by ``scripts/test`` (exit 1 on a breach):

- **one name, one thing**: a public class name is defined in one module of the code base only (two
  classes called ``Node`` made six import aliases necessary);
- **routes hold no rules and no state**: each module of ``api/routes/`` is at most 250 lines, and no
  module of ``api/`` changes a module-level name at run time (no global caches or counters; a
  ``functools.cache`` counts as one);
- **short functions**: a report of the functions over 80 lines outside the tests; each must say why
  it is one, in a comment starting ``# Long:`` in its body.

Usage: ``python scripts/check_structure.py [ROOT]`` (default: the repository).
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

PACKAGES = (
    "sensors",
    "storage",
    "ingest",
    "forecast",
    "firmware_sim",
    "dashboards",
    "services",
    "api",
    "panen",
    "bench",
)
MAX_ROUTE_LINES = 250
MAX_FUNCTION_LINES = 80
_MUTATORS = {
    "append",
    "extend",
    "insert",
    "pop",
    "popitem",
    "clear",
    "update",
    "setdefault",
    "add",
    "discard",
    "remove",
}


def _modules(root: Path) -> Iterator[tuple[Path, ast.Module]]:
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            yield path, ast.parse(path.read_text(), str(path))


def duplicate_classes(root: Path) -> dict[str, list[str]]:
    """Public class names defined at module level in more than one module."""
    seen: dict[str, list[str]] = defaultdict(list)
    for path, tree in _modules(root):
        for node in tree.body:
            if isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
                seen[node.name].append(str(path.relative_to(root)))
    return {name: paths for name, paths in sorted(seen.items()) if len(paths) > 1}


def long_routes(root: Path) -> dict[str, int]:
    """Route modules longer than :data:`MAX_ROUTE_LINES`."""
    lengths = {
        str(p.relative_to(root)): len(p.read_text().splitlines())
        for p in (root / "api" / "routes").glob("*.py")
    }
    return {path: n for path, n in sorted(lengths.items()) if n > MAX_ROUTE_LINES}


def module_state_in_api(root: Path) -> list[str]:
    """Places in ``api/`` that change a module-level name at run time."""
    found = []
    for path, tree in _modules(root):
        if path.relative_to(root).parts[0] != "api":
            continue
        names = {t.id for n in tree.body if isinstance(n, ast.Assign | ast.AnnAssign) for t in _targets(n)}
        where = str(path.relative_to(root))
        for func in (n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)):
            found += [
                f"{where}:{d.lineno} {func.name} is cached"
                for d in func.decorator_list
                if "cache" in ast.unparse(d)
            ]
            for node in ast.walk(func):
                if isinstance(node, ast.Global):
                    found.append(f"{where}:{node.lineno} {func.name} declares global {', '.join(node.names)}")
                elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                    owner = node.func.value
                    if isinstance(owner, ast.Name) and owner.id in names and node.func.attr in _MUTATORS:
                        found.append(f"{where}:{node.lineno} {func.name} changes {owner.id}")
                elif isinstance(node, ast.Assign | ast.AugAssign):
                    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                    for t in targets:
                        if (
                            isinstance(t, ast.Subscript)
                            and isinstance(t.value, ast.Name)
                            and t.value.id in names
                        ):
                            found.append(f"{where}:{node.lineno} {func.name} changes {t.value.id}")
    return found


def _targets(node: ast.Assign | ast.AnnAssign) -> list[ast.Name]:
    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
    return [t for t in targets if isinstance(t, ast.Name)]


def long_functions(root: Path) -> list[tuple[str, int, str | None]]:
    """Functions over :data:`MAX_FUNCTION_LINES` lines, each with its ``# Long:`` reason or None."""
    out = []
    for path, tree in _modules(root):
        lines = path.read_text().splitlines()
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    body = lines[node.lineno - 1 : node.end_lineno]
                    reason = next(
                        (
                            b.strip()[len("# Long:") :].strip()
                            for b in body
                            if b.strip().startswith("# Long:")
                        ),
                        None,
                    )
                    out.append(
                        (
                            f"{path.relative_to(root)}:{node.lineno} {node.name} ({length} lines)",
                            length,
                            reason,
                        )
                    )
    return sorted(out, key=lambda row: -row[1])


def main(root: Path) -> int:
    """Print the report; 1 if a rule is broken."""
    failures = []
    for name, paths in duplicate_classes(root).items():
        failures.append(f"class {name} is defined in {len(paths)} modules: {', '.join(paths)}")
    for path, n in long_routes(root).items():
        failures.append(
            f"{path} has {n} lines; a route module holds at most {MAX_ROUTE_LINES} (rules go to services/)"
        )
    failures += [f"module-level state in api/: {place}" for place in module_state_in_api(root)]
    report = long_functions(root)
    print(
        f"panen: {len(report)} functions over {MAX_FUNCTION_LINES} lines outside the tests", file=sys.stderr
    )
    for where, _length, reason in report:
        print(f"  {where}: {reason or 'NO REASON GIVEN'}", file=sys.stderr)
        if reason is None:
            failures.append(f"{where} says no reason for its length (a '# Long:' comment), or split it")
    for failure in failures:
        print(f"panen structure: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[1]))
