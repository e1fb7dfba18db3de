"""The answer structures the parser builds besides plain sympy expressions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sympy as sp


def is_expr(v: Any) -> bool:
    """A plain sympy expression (a number or a formula), not one of the structures below."""
    return isinstance(v, sp.Expr)


@dataclass(frozen=True)
class PM:
    """`a \\pm b`: the values it stands for."""
    alts: tuple


@dataclass(frozen=True)
class Seq:
    """Comma-separated values. kind: "list" (bare or `{}`), "set" (`\\{\\}`), "tuple"
    (3+ items in brackets), "pair" (`(a, b)`: a point or an open interval), "ratio" (`a:b`)."""
    kind: str
    items: tuple


@dataclass(frozen=True)
class Ival:
    """An interval with explicit open/closed ends."""
    lo: Any
    hi: Any
    lopen: bool
    ropen: bool


@dataclass(frozen=True)
class SetUnion:
    parts: tuple


@dataclass(frozen=True)
class Rel:
    """A chain `parts[0] ops[0] parts[1] ...`; ops in = < <= > >= != in ~ (approximately)."""
    ops: tuple
    parts: tuple


@dataclass(frozen=True)
class Mat:
    rows: tuple


@dataclass(frozen=True)
class Pct:
    """`x%`: compared as x, or as x/100 against a bare number."""
    value: Any
