"""The `finegrain` modules a stage script runs: the closure of its imports, read from the source (AST).

Every ``import``/``from ... import`` counts, at any depth (inside functions too), except those under
``if TYPE_CHECKING:``, which never run. Importing ``finegrain.a.b`` also runs ``finegrain/__init__.py`` and
``finegrain/a/__init__.py``, so those are part of the closure.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = "finegrain"


def module_path(src: Path, name: str) -> Path | None:
    """The file of module `name` under `src` (a module or a package's __init__), None when it is no module."""
    base = src.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_nodes(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    found: list[ast.Import | ast.ImportFrom] = []
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node):
            stack.extend(node.orelse)  # the `else:` of `if TYPE_CHECKING` runs
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append(node)
        stack.extend(ast.iter_child_nodes(node))
    return found


def imported_modules(path: Path, module: str | None) -> set[str]:
    """Dotted names of the finegrain modules `path` imports (`module` is its own name; None for a script)."""
    names: set[str] = set()
    is_package = path.name == "__init__.py"
    for node in _import_nodes(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
            continue
        base = node.module or ""
        if node.level:  # relative: resolve against this module's package
            if module is None:
                continue
            parts = module.split(".")
            package = parts if is_package else parts[:-1]
            package = package[: len(package) - (node.level - 1)]
            base = ".".join([*package, base] if base else package)
        names.add(base)
        names.update(f"{base}.{alias.name}" for alias in node.names if alias.name != "*")
    return {n for n in names if n == PACKAGE or n.startswith(PACKAGE + ".")}


def import_closure(script: Path, src: Path) -> set[Path]:
    """Every finegrain source file that running `script` can execute (package __init__ files included)."""
    seen: set[Path] = set()
    todo: list[tuple[Path, str | None]] = [(script, None)]
    while todo:
        path, module = todo.pop()
        for name in imported_modules(path, module):
            parts = name.split(".")
            for i in range(1, len(parts) + 1):  # the packages on the way run their __init__
                prefix = ".".join(parts[:i])
                found = module_path(src, prefix)
                if found is not None and found not in seen:
                    seen.add(found)
                    todo.append((found, prefix))
    return seen


def runs_code(init: Path) -> bool:
    """Whether a package __init__.py executes anything beyond its docstring and literal assignments."""
    for node in ast.parse(init.read_text()).body:
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue
        if isinstance(node, ast.Assign | ast.AnnAssign) and isinstance(node.value, ast.Constant):
            continue
        return True
    return False


def needed(files: set[Path]) -> set[Path]:
    """The files a stage's deps must cover: code-free package __init__ files run nothing and are left out."""
    return {f for f in files if f.name != "__init__.py" or runs_code(f)}


def minimal_cover(files: set[Path], src: Path) -> list[Path]:
    """The shortest dep list covering exactly `files`: a directory where all its modules are needed, else files."""
    modules = {p for p in src.rglob("*.py") if "__pycache__" not in p.parts}
    wanted = needed(files)

    def whole(d: Path) -> bool:
        return all(m in wanted or m not in needed({m}) for m in modules if d in m.parents)

    out: set[Path] = set()
    for f in wanted:
        top = f
        for parent in f.parents:
            if parent == src or src not in parent.parents and parent != src:
                break
            if whole(parent):
                top = parent
        out.add(top)
    return sorted(out)


if __name__ == "__main__":  # print each stage script's minimal deps (a starting point when editing dvc.yaml)
    import sys

    repo = Path(__file__).resolve().parents[2]
    for script in sorted((repo / "stages").glob("*.py")):
        cover = minimal_cover(import_closure(script, repo / "src"), repo / "src")
        print(f"{script.relative_to(repo)}:", *(f"  - {p.relative_to(repo)}" for p in cover), sep="\n")
    sys.exit(0)
