"""Sets of real numbers (intervals, unions, one-variable inequalities) as canonical unions.

sympy's `Union` sorts and merges its intervals in one call that cannot be interrupted and
compares every pair of ends symbolically (50 intervals with pi ends: 5-9 s). So a union is
canonicalised here instead: ends are ordered by their float values, exact arithmetic only
settles near-ties, the budget is checked between steps, and the number of intervals is capped
(`Limits.max_intervals`) before any of it.
"""

from __future__ import annotations

import math
from functools import cmp_to_key
from typing import Any, NamedTuple

import sympy as sp

from verifiers.budget import Budget
from verifiers.math.canonical import is_name
from verifiers.math.numeric import Inconclusive, close, finite, num
from verifiers.math.scalar import exact_zero, expand_terms
from verifiers.math.values import Ival, Rel, Seq, SetUnion


class _Undecided(Exception):
    """The order of two ends could not be settled (not real numbers, or exact arithmetic could
    not tell them apart within the guards): the value is not compared as a set."""


class _End(NamedTuple):
    """An interval end: its exact value (a real number or +-oo) and its float value (None when
    too large for a float)."""
    value: sp.Expr
    approx: float | None


class _Span(NamedTuple):
    """One interval of a union, with open or closed ends (a point is a closed [a, a])."""
    lo: _End
    hi: _End
    lo_open: bool
    hi_open: bool


_OO, _NEG_OO = _End(sp.oo, math.inf), _End(-sp.oo, -math.inf)


def _end(e: Any) -> _End:
    """An interval end from a parsed value; `_Undecided` unless a real number or +-oo."""
    if e == sp.oo or e == -sp.oo:
        return _OO if e == sp.oo else _NEG_OO
    if not (isinstance(e, sp.Expr) and e.is_number) or e.has(sp.oo, -sp.oo, sp.zoo, sp.nan):
        raise _Undecided
    try:
        z = num(e, {})
    except Inconclusive:  # beyond float range (10^400), or no float form: exact comparison only
        return _End(e, None)
    if not finite(z) or abs(z.imag) > 1e-12 * max(1.0, abs(z.real)):
        raise _Undecided  # (i, 2) is not an interval of reals
    return _End(e, z.real)


def _infinity(a: _End) -> int:
    """1 for +oo, -1 for -oo, 0 for a finite end."""
    return 0 if a.approx is None or not math.isinf(a.approx) else (1 if a.approx > 0 else -1)


def _neg(a: _End) -> _End:
    return _End(-a.value, None if a.approx is None else -a.approx)


def _order(a: _End, b: _End, budget: Budget) -> int:
    """-1, 0 or 1 as a <, = or > b. Floats decide when they differ clearly (and always for
    +-oo); near-equal ends are settled exactly, so sqrt(2)+sqrt(3) and sqrt(5+2 sqrt 6) are
    one end. Raises `_Undecided` when that fails."""
    if a.value == b.value:
        return 0
    ra, rb = _infinity(a), _infinity(b)
    if ra or rb:  # not both the same infinity: equal values returned above
        return -1 if ra < rb else 1
    fa, fb = a.approx, b.approx
    if fa is not None and fb is not None and not close(fa, fb):
        return -1 if fa < fb else 1
    if a.value.is_Rational and b.value.is_Rational:
        return -1 if a.value < b.value else 1
    budget.check()
    d = a.value - b.value
    if exact_zero(d, budget, allow_simplify=False):
        return 0
    budget.check()
    v = sp.N(d, 50)  # ends are bounded by the parser's size guards; 50 digits as `scalar._confirm_constant`
    if not (v.is_number and v.is_real):
        raise _Undecided
    scale = max(1.0, abs(fa if fa is not None else fb if fb is not None else 1.0))
    if abs(v) < 1e-40 * scale:
        return 0
    return -1 if v < 0 else 1


def _interval(lo: Any, hi: Any, lo_open: bool, hi_open: bool, budget: Budget) -> list[_Span]:
    """[lo, hi] with the given open ends as 0 spans (empty) or 1; an infinite end is open."""
    a, b = _end(lo), _end(hi)
    lo_open, hi_open = lo_open or _infinity(a) != 0, hi_open or _infinity(b) != 0
    c = _order(a, b, budget)
    if c > 0 or (c == 0 and (lo_open or hi_open)):
        return []
    return [_Span(a, b, lo_open, hi_open)]


def _merged(spans: list[_Span], budget: Budget) -> tuple[_Span, ...]:
    """The canonical form of a union: disjoint spans in increasing order, touching ones joined
    ([0,1) and [1,2] are [0,2]; (0,1) and (1,2) stay two)."""
    budget.require(len(spans) <= budget.limits.max_intervals,
                   f"more than {budget.limits.max_intervals} intervals in a union (max_intervals)")

    def by_start(s: _Span, t: _Span) -> int:  # a closed start first, so it wins a tie
        return _order(s.lo, t.lo, budget) or int(s.lo_open) - int(t.lo_open)

    out: list[_Span] = []
    for s in sorted(spans, key=cmp_to_key(by_start)):
        budget.check()
        joined = _join(out[-1], s, budget) if out else None
        if joined is None:
            out.append(s)
        else:
            out[-1] = joined
    return tuple(out)


def _join(cur: _Span, s: _Span, budget: Budget) -> _Span | None:
    """cur and s (starting no earlier) as one span when they overlap or touch, else None."""
    c = _order(s.lo, cur.hi, budget)
    if c > 0 or (c == 0 and s.lo_open and cur.hi_open):
        return None  # a gap, or (0,1) and (1,2): 1 is in neither
    c = _order(s.hi, cur.hi, budget)
    if c > 0:
        return _Span(cur.lo, s.hi, cur.lo_open, s.hi_open)
    return _Span(cur.lo, cur.hi, cur.lo_open, cur.hi_open and (c < 0 or s.hi_open))


def as_spans(v: Any, budget: Budget) -> tuple[_Span, ...] | None:
    """The canonical union a value stands for (an interval, a union of them, a one-variable
    inequality), or None when it is not a set of real numbers we compare."""
    try:
        spans = _raw_spans(v, budget)
        return None if spans is None else _merged(spans, budget)
    except _Undecided:
        return None


def _raw_spans(v: Any, budget: Budget) -> list[_Span] | None:
    """The spans of `as_spans` before they are sorted and joined."""
    if isinstance(v, Ival):
        return _interval(v.lo, v.hi, v.lopen, v.ropen, budget)
    if isinstance(v, Seq) and v.kind == "pair":
        return _interval(v.items[0], v.items[1], True, True, budget)
    if isinstance(v, SetUnion):
        out: list[_Span] = []
        for part in v.parts:
            spans = _raw_spans(part, budget)
            if spans is None:
                return None
            out += spans
        return out
    if isinstance(v, Rel) and "=" not in v.ops and "in" not in v.ops:
        return _rel_spans(v, budget)
    return None


def same_spans(g: tuple[_Span, ...], p: tuple[_Span, ...], budget: Budget) -> bool:
    """Two canonical unions are the same set: span by span, the same ends and open ends."""
    try:
        return len(g) == len(p) and all(
            (s.lo_open, s.hi_open) == (t.lo_open, t.hi_open) and _order(s.lo, t.lo, budget) == 0
            and _order(s.hi, t.hi, budget) == 0 for s, t in zip(g, p))
    except _Undecided:
        return False


#: Each order relation with its two sides swapped: a < b is b > a.
FLIP = {"<": ">", ">": "<", "<=": ">=", ">=": "<=", "!=": "!="}


def _rays(c: Any, op: str, budget: Budget) -> list[_Span]:
    """{x : x op c} for a number c."""
    if op == "!=":
        return _interval(-sp.oo, c, True, True, budget) + _interval(c, sp.oo, True, True, budget)
    if op in ("<", "<="):
        return _interval(-sp.oo, c, True, op == "<", budget)
    return _interval(c, sp.oo, op == ">", True, budget)


def _rel_spans(v: Rel, budget: Budget) -> list[_Span] | None:
    """The set of a one-variable inequality: a < x <= b, |x| < c, 2x - 1 >= 3, x != 4."""
    if len(v.parts) == 3 and v.ops[0] in ("<", "<=") and v.ops[1] in ("<", "<="):
        lo, mid, hi = v.parts
    elif len(v.parts) == 3 and v.ops[0] in (">", ">=") and v.ops[1] in (">", ">="):
        hi, mid, lo = v.parts
        v = Rel((FLIP[v.ops[1]], FLIP[v.ops[0]]), (lo, mid, hi))
    else:
        lo = mid = hi = None
    if mid is not None:
        if not (is_name(mid) and all(isinstance(x, sp.Expr) and x.is_number for x in (lo, hi))):
            return None
        between = _interval(lo, hi, v.ops[0] == "<", v.ops[1] == "<", budget)
        return _abs_preimage(between, budget) if isinstance(mid, sp.Abs) else between
    if len(v.parts) != 2 or not all(isinstance(x, sp.Expr) for x in v.parts):
        return None
    if isinstance(v.parts[0], sp.Abs) and v.parts[0].args[0].is_Symbol and v.parts[1].is_number \
            and v.ops[0] != "!=":  # |x| < 3
        return _abs_preimage(_rays(v.parts[1], v.ops[0], budget), budget)
    return _linear_spans(v.parts[0] - v.parts[1], v.ops[0], budget)


def _linear_spans(d: sp.Expr, op: str, budget: Budget) -> list[_Span] | None:
    """{x : d(x) op 0} when d is linear in its one variable x, else None."""
    if len(d.free_symbols) != 1:
        return None
    (x,) = d.free_symbols
    coef = d.diff(x)
    if not coef.is_number or coef == 0:  # not linear: checked before any expansion
        return None
    lim = budget.limits
    if expand_terms(d - coef * x, lim.max_expand_terms) > lim.max_expand_terms:
        return None  # x < (pi+e+sqrt 2+...)^64 would expand to millions of terms
    budget.check()
    rest = sp.expand(d - coef * x)
    if rest.free_symbols:
        return None
    sign = _order(_end(coef), _End(sp.Integer(0), 0.0), budget)
    if sign == 0:
        return None
    return _rays(-rest / coef, op if sign > 0 else FLIP[op], budget)


def _abs_preimage(values: list[_Span], budget: Budget) -> list[_Span]:
    """{x real : |x| in values} for at most one span: 1 <= |z| <= 3/2 is [-3/2, -1] U [1, 3/2]."""
    if not values:
        return []
    (s,) = values
    zero = _End(sp.Integer(0), 0.0)
    top = _order(s.hi, zero, budget)
    if top < 0 or (top == 0 and s.hi_open):
        return []  # no value of |x| is reachable
    if _order(s.lo, zero, budget) < 0:
        s = _Span(zero, s.hi, False, s.hi_open)
    if top == 0:
        return [s]  # {0}: symmetric already
    return [_Span(_neg(s.hi), _neg(s.lo), s.hi_open, s.lo_open), s]

