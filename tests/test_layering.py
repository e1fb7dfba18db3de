"""The packages depend in one direction: train -> agents, hacrl_env -> verifiers.

`agents` and `verifiers` must stay usable on their own (a user may take only the verifier), so an
import of a sibling package there is a defect, at module level or inside a function. (The zoo's
warm start draws its task from reasoning-gym itself: agents/zoo_task.py.)
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


def _imports(tree: ast.AST):
    """Yield (top-level package, lineno) for every import in a module, function bodies included,
    and for every `importlib.import_module("...")` / `__import__("...")` of a literal name."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name.split(".")[0], node.lineno
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module.split(".")[0], node.lineno
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if name in ("import_module", "__import__") and isinstance(node.args[0].value, str):
                yield node.args[0].value.split(".")[0], node.lineno


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_package_imports_follow_the_layering(package: str) -> None:
    files = sorted((ROOT / package).rglob("*.py"))
    assert files, f"package {package} has no modules"
    bad = []
    for path in files:
        for top, lineno in _imports(ast.parse(path.read_text(), str(path))):
            if top not in OURS or top == package or top in ALLOWED[package]:
                continue
            bad.append(f"{path.relative_to(ROOT)}:{lineno} imports {top}")
    assert not bad, "layering violated:\n" + "\n".join(bad)


def test_no_stdlib_shadowing_in_train() -> None:
    # `python train/hacpo.py` puts train/ first on sys.path, so train/math.py would shadow `math`.
    import sys

    names = {p.stem for p in (ROOT / "train").glob("*.py")}
    clash = names & set(sys.stdlib_module_names)
    assert not clash, f"train/ modules shadow the standard library: {sorted(clash)}"
