"""The packages depend in one direction: train -> agents, hacrl_env -> verifiers.

`agents` and `verifiers` must stay usable on their own (a user may take only the verifier), so a
module-level import of a sibling package there is a defect. The zoo's warm start reads its task
from `hacrl_env` inside a function: a lazy, documented exception that only runs when a zoo model
is built.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OURS = {"hacrl_env", "agents", "verifiers", "train"}
ALLOWED = {
    "verifiers": set(),
    "agents": set(),
    "hacrl_env": {"verifiers"},
    "train": {"agents", "hacrl_env", "verifiers"},
}
# (package, imported package): allowed only inside a function body (lazy import).
LAZY_ALLOWED = {("agents", "hacrl_env")}


def _imports(tree: ast.AST):
    """Yield (top-level package, lineno, inside_function) for every import in a module."""

    def visit(node: ast.AST, in_func: bool):
        for child in ast.iter_child_nodes(node):
            func = in_func or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            if isinstance(child, ast.Import):
                for alias in child.names:
                    yield alias.name.split(".")[0], child.lineno, in_func
            elif isinstance(child, ast.ImportFrom) and child.level == 0 and child.module:
                yield child.module.split(".")[0], child.lineno, in_func
            yield from visit(child, func)

    yield from visit(tree, False)


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_package_imports_follow_the_layering(package: str) -> None:
    files = sorted((ROOT / package).rglob("*.py"))
    assert files, f"package {package} has no modules"
    bad = []
    for path in files:
        for top, lineno, in_func in _imports(ast.parse(path.read_text(), str(path))):
            if top not in OURS or top == package or top in ALLOWED[package]:
                continue
            if in_func and (package, top) in LAZY_ALLOWED:
                continue
            bad.append(f"{path.relative_to(ROOT)}:{lineno} imports {top}")
    assert not bad, "layering violated:\n" + "\n".join(bad)


def test_no_stdlib_shadowing_in_train() -> None:
    # `python train/hacpo.py` puts train/ first on sys.path, so train/math.py would shadow `math`.
    import sys

    names = {p.stem for p in (ROOT / "train").glob("*.py")}
    clash = names & set(sys.stdlib_module_names)
    assert not clash, f"train/ modules shadow the standard library: {sorted(clash)}"
