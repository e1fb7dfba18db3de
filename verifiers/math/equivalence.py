"""Is a parsed prediction equal to a parsed gold answer?

Exact first: rationals compare exactly (no float rounding, so 1/2004! != 1/2006!; the
`precision` option of `options.py` adds rounding for answers written as decimals), other
expressions by structural equality or `expand` of the difference. A numeric spot-check with
Python floats at fixed pseudo-random points rejects most mismatches in microseconds and is the
fallback when exact algebra cannot decide in budget. Structures (sets, tuples, intervals,
equations, matrices) are compared element by element with the same scalar rule.
"""

from __future__ import annotations

import math
from functools import cmp_to_key
from math import comb
from typing import Any, Callable, NamedTuple

import sympy as sp

from verifiers.budget import Budget
from verifiers.math.numeric import Inconclusive, branch_free, close, envs, finite, num
from verifiers.math.options import current, rounded_equal
from verifiers.math.values import PM, Ival, Mat, Pct, Rel, Seq, SetUnion


def _expand_terms(e: sp.Basic, limit: int) -> int:
    """Rough count of the terms `expand(e)` would produce (capped at limit + 1)."""
    if e.is_Add:
        return min(limit + 1, sum(_expand_terms(a, limit) for a in e.args))
    if e.is_Mul:
        out = 1
        for a in e.args:
            out = min(limit + 1, out * _expand_terms(a, limit))
        return out
    if e.is_Pow and e.exp.is_Integer and e.base.is_Add:
        n, k = abs(int(e.exp)), _expand_terms(e.base, limit)
        if n > 64:
            return limit + 1
        return min(limit + 1, comb(n + k - 1, k - 1))
    return 1


def _exact_zero(d: sp.Expr, budget: Budget, allow_simplify: bool = True) -> bool:
    """True when exact algebra shows d == 0 within the size guards (False means unknown)."""
    if d == 0:
        return True
    budget.check()
    lim = budget.limits
    if _expand_terms(d, lim.max_expand_terms) > lim.max_expand_terms:
        return False
    if any(p.exp.is_Integer and abs(p.exp) > lim.max_symbolic_exponent and not p.base.is_number
           for p in d.atoms(sp.Pow)):
        return False
    if sp.expand(d) == 0:
        return True
    budget.check()
    # simplify cannot be interrupted: only small differences, only with time left.
    if allow_simplify and not d.has(sp.Sum) and sp.count_ops(d) <= 25 and budget.remaining() > 0.6 * budget.seconds:
        return sp.simplify(d) == 0
    return False


def scalar_equal(a: sp.Expr, b: sp.Expr, budget: Budget) -> str | None:
    """Rule name ("numeric"/"symbolic") when a == b, else None."""
    if a == b:
        return "numeric" if a.is_number else "symbolic"
    if rounded_equal(a, b):  # the `precision` option, for answers written as decimals
        return "numeric"
    if a.is_Rational and b.is_Rational:
        return None  # exact rationals that differ: no tolerance (unless `precision` said so)
    if a.has(sp.oo, -sp.oo, sp.zoo, sp.nan) or b.has(sp.oo, -sp.oo, sp.zoo, sp.nan):
        return None
    budget.check()
    if a.free_symbols != b.free_symbols:
        return None  # sympy already cancels x - x, so different variables mean different values
    syms = a.free_symbols
    conclusive = 0
    va = vb = 0j
    for env in envs(syms, signed=bool(syms) and branch_free(a) and branch_free(b)):
        try:
            va, vb = num(a, env), num(b, env)
        except Inconclusive:
            continue
        if not (finite(va) and finite(vb)):
            continue
        if not close(va, vb):
            return None
        conclusive += 1
    if not syms and (a.is_Rational or b.is_Rational):
        # a rational never equals an irrational exactly: a decimal within REL_TOL of one is
        # the only way to match (sqrt(17) vs 4.123105625617661).
        return "numeric" if conclusive else None
    if conclusive >= (3 if syms else 1):
        # the float check passed; cheap exact algebra (no simplify) only names the rule
        if _exact_zero(a - b, budget, allow_simplify=False):
            return "symbolic"
        return "numeric" if syms else _confirm_constant(a, b, va)
    # floats could not decide (overflow, unsupported function): exact algebra only;
    # simplify only when symbols are involved (constants that overflow a float are huge)
    return "symbolic" if _exact_zero(a - b, budget, allow_simplify=bool(syms)) else None


def _confirm_constant(a: sp.Expr, b: sp.Expr, va: complex) -> str | None:
    # Two irrational constants that agree to float precision: confirm with 50 digits.
    d = sp.N(a - b, 50)
    scale = max(1.0, abs(va))
    return "numeric" if d.is_number and abs(complex(d)) < 1e-40 * scale else None


def _is_name(v: Any) -> bool:
    """A left-hand side that only names the answer: x, a_3, f(x) (read f*x), |AB|, A:B."""
    if isinstance(v, Seq) and v.kind in ("ratio", "pair", "tuple"):  # A:B, (p, q)
        return all(_is_name(x) for x in v.items)
    if not isinstance(v, sp.Expr):
        return False
    if v.is_Symbol:
        return True
    if isinstance(v, sp.Abs):
        return _is_name(v.args[0])
    # f(x) is read f*x; NO/BO is N/B
    return v.is_Mul and all(a.is_Symbol or isinstance(a, sp.Abs) or (
        a.is_Pow and a.base.is_Symbol and a.exp.is_Integer) for a in v.args)


def _is_assignment(v: Any) -> bool:
    return isinstance(v, Rel) and v.ops == ("=",) and _is_name(v.parts[0])


def canonical(v: Any) -> Any:
    """Fold equivalent spellings: `x = 5+5+1 = 11` -> `x = 11`, `x \\in S` -> S, PM -> set."""
    if isinstance(v, Rel):
        if "~" in v.ops:  # x = 1/3 \approx 0.33: the approximation is commentary
            cut = v.ops.index("~")
            v = Rel(v.ops[:cut], v.parts[:cut + 1]) if cut else Rel(("=",) + v.ops[1:], v.parts)
            if not v.ops:
                return canonical(v.parts[0])
        if all(op == "=" for op in v.ops) and all(
                isinstance(x, sp.Expr) and x.is_number for x in v.parts):
            return v.parts[-1]  # a worked computation "2+3 = 5": its result
        if all(op == "=" for op in v.ops) and len(v.parts) > 2:
            return Rel(("=",), (v.parts[0], v.parts[-1]))
        if v.ops == ("in",) and _is_name(v.parts[0]):
            return canonical(v.parts[1])
        return v
    if isinstance(v, PM):
        return Seq("pm", v.alts) if len(v.alts) > 1 else v.alts[0]
    if isinstance(v, Seq):
        items: list = []
        for x in v.items:
            x = canonical(x)
            if isinstance(x, Seq) and x.kind == "pm" and v.kind in ("list", "set", "pm"):
                items.extend(x.items)
            else:
                items.append(x)
        return Seq(v.kind, tuple(items))
    return v


# ---- sets of real numbers: intervals, unions, one-variable inequalities -------------------------
#
# sympy's `Union` sorts and merges its intervals in one call that cannot be interrupted and
# compares every pair of ends symbolically (50 intervals with pi ends: 5-9 s). So a union is
# canonicalised here instead: ends are ordered by their float values, exact arithmetic only
# settles near-ties, the budget is checked between steps, and the number of intervals is capped
# (`Limits.max_intervals`) before any of it.


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
    if _exact_zero(d, budget, allow_simplify=False):
        return 0
    budget.check()
    v = sp.N(d, 50)  # ends are bounded by the parser's size guards; 50 digits as _confirm_constant
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


def _as_spans(v: Any, budget: Budget) -> tuple[_Span, ...] | None:
    """The canonical union a value stands for (an interval, a union of them, a one-variable
    inequality), or None when it is not a set of real numbers we compare."""
    try:
        spans = _raw_spans(v, budget)
        return None if spans is None else _merged(spans, budget)
    except _Undecided:
        return None


def _raw_spans(v: Any, budget: Budget) -> list[_Span] | None:
    """The spans of `_as_spans` before they are sorted and joined."""
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


def _same_spans(g: tuple[_Span, ...], p: tuple[_Span, ...], budget: Budget) -> bool:
    """Two canonical unions are the same set: span by span, the same ends and open ends."""
    try:
        return len(g) == len(p) and all(
            (s.lo_open, s.hi_open) == (t.lo_open, t.hi_open) and _order(s.lo, t.lo, budget) == 0
            and _order(s.hi, t.hi, budget) == 0 for s, t in zip(g, p))
    except _Undecided:
        return False


_FLIP = {"<": ">", ">": "<", "<=": ">=", ">=": "<=", "!=": "!="}


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
        v = Rel((_FLIP[v.ops[1]], _FLIP[v.ops[0]]), (lo, mid, hi))
    else:
        lo = mid = hi = None
    if mid is not None:
        if not (_is_name(mid) and all(isinstance(x, sp.Expr) and x.is_number for x in (lo, hi))):
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
    if _expand_terms(d - coef * x, lim.max_expand_terms) > lim.max_expand_terms:
        return None  # x < (pi+e+sqrt 2+...)^64 would expand to millions of terms
    budget.check()
    rest = sp.expand(d - coef * x)
    if rest.free_symbols:
        return None
    sign = _order(_end(coef), _End(sp.Integer(0), 0.0), budget)
    if sign == 0:
        return None
    return _rays(-rest / coef, op if sign > 0 else _FLIP[op], budget)


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


def _proportional(d1: sp.Expr, d2: sp.Expr, positive: bool, budget: Budget) -> bool:
    """d1 = k * d2 for a constant k (k > 0 when `positive`): same solution set / half-space."""
    syms = d1.free_symbols | d2.free_symbols
    if not syms:
        return False
    ratios = []
    for env in envs(syms, signed=branch_free(d1) and branch_free(d2)):  # |x| = 1 vs x = 1
        try:
            r1, r2 = num(d1, env), num(d2, env)
        except Inconclusive:
            continue
        if abs(r2) < 1e-12 or not (finite(r1) and finite(r2)):
            continue
        ratios.append(r1 / r2)
    budget.check()
    if len(ratios) < 3 or abs(ratios[0]) < 1e-12 or not all(close(r, ratios[0]) for r in ratios):
        return False
    return not positive or (abs(ratios[0].imag) < 1e-12 and ratios[0].real > 0)


def _relations_equal(g: Rel, p: Rel, budget: Budget) -> bool:
    if len(g.parts) != 2 or len(p.parts) != 2:
        return len(g.ops) == len(p.ops) and g.ops == p.ops and all(
            equivalent(x, y, budget) for x, y in zip(g.parts, p.parts))
    if not all(isinstance(x, sp.Expr) for x in g.parts + p.parts):
        return False

    def norm(r: Rel) -> tuple[str, sp.Expr]:
        op, d = r.ops[0], r.parts[0] - r.parts[1]
        return (_FLIP[op], -d) if op in (">", ">=") else (op, d)

    (op1, d1), (op2, d2) = norm(g), norm(p)
    return op1 == op2 and _proportional(d1, d2, op1 in ("<", "<="), budget)


def _sequence_equal(g: Seq, p: Seq, budget: Budget) -> str | None:
    ordered_kinds = ("tuple", "pair", "ratio")
    set_vs_tuple = "set" in (g.kind, p.kind) and not current().strict  # strict=False: as sets
    if (g.kind in ordered_kinds or p.kind in ordered_kinds) and not set_vs_tuple:
        if "set" in (g.kind, p.kind) or "pm" in (g.kind, p.kind) or len(g.items) != len(p.items):
            return None
        ok = all(equivalent(x, y, budget) for x, y in zip(g.items, p.items))
        return "tuple" if ok else None
    # unordered: set semantics, so a repeated item does not count twice
    return "set" if _same_set(g.items, p.items, budget) else None


def _same_set(g: tuple, p: tuple, budget: Budget) -> bool:
    """Every gold item equals some predicted item and every predicted item some gold item.
    Each item is first tried against its structural twin on the other side, and a predicted item
    found in the first pass is not looked for again, so a reordered list of n items costs about n
    comparisons, not n^2; only the others scan the other side (each comparison checks the
    budget, and `Limits.max_items` caps n)."""
    found: set[int] = set()
    p_twins, g_twins = _twins(p), _twins(g)
    for x in g:
        j = _find(x, p, p_twins, lambda a, b: equivalent(a, b, budget))
        if j is None:
            return False
        found.add(j)
    return all(_find(y, g, g_twins, lambda a, b: equivalent(b, a, budget)) is not None
               for j, y in enumerate(p) if j not in found)


def _twins(items: tuple) -> dict:
    """Each distinct item -> the index of its first structurally equal occurrence."""
    out: dict = {}
    for j, y in enumerate(items):
        out.setdefault(y, j)
    return out


def _find(x: Any, ys: tuple, twins: dict, same: Callable[[Any, Any], Any]) -> int | None:
    """The index of a y with same(x, y): x's structural twin first, else the first in order."""
    j = twins.get(x)
    if j is not None and same(x, ys[j]):
        return j
    return next((k for k, y in enumerate(ys) if same(x, y)), None)


def equivalent(g: Any, p: Any, budget: Budget) -> str | None:
    """Rule name when prediction `p` equals gold `g`, else None."""
    budget.check()
    g, p = canonical(g), canonical(p)
    if _is_assignment(g) and not isinstance(p, Rel):
        return equivalent(g.parts[1], p, budget)
    if _is_assignment(p) and not isinstance(g, Rel):
        return equivalent(g, p.parts[1], budget)
    if isinstance(g, sp.Expr) and isinstance(p, sp.Expr):
        return scalar_equal(g, p, budget)
    if isinstance(g, Pct) or isinstance(p, Pct):
        gv, pv = (g.value if isinstance(g, Pct) else g), (p.value if isinstance(p, Pct) else p)
        if equivalent(gv, pv, budget):
            return "numeric"
        if isinstance(g, Pct) != isinstance(p, Pct) and isinstance(gv, sp.Expr) \
                and isinstance(pv, sp.Expr):  # 28% against 0.28
            return scalar_equal(gv / 100, pv, budget) if isinstance(g, Pct) \
                else scalar_equal(gv, pv / 100, budget)
        return None
    if isinstance(g, Mat) and isinstance(p, Mat):
        if len(g.rows) != len(p.rows) or len(g.rows[0]) != len(p.rows[0]):
            return None
        ok = all(equivalent(x, y, budget)
                 for rg, rp in zip(g.rows, p.rows) for x, y in zip(rg, rp))
        return "matrix" if ok else None
    if isinstance(g, Mat) or isinstance(p, Mat):
        m, other = (g, p) if isinstance(g, Mat) else (p, g)
        if isinstance(other, Seq) and other.kind in ("tuple", "pair") and (
                len(m.rows) == 1 or len(m.rows[0]) == 1):  # a vector written as a tuple
            flat = Seq("tuple", tuple(x for r in m.rows for x in r))
            return "matrix" if _sequence_equal(flat, other, budget) else None
        return None
    setlike = (Ival, SetUnion)
    if isinstance(g, setlike) or isinstance(p, setlike) or (
            isinstance(g, Rel) != isinstance(p, Rel)):
        sg, sp_ = _as_spans(g, budget), _as_spans(p, budget)
        both_ival = isinstance(g, Ival) and isinstance(p, Ival)
        if sg is not None and sp_ is not None:
            if _same_spans(sg, sp_, budget):
                return "interval"
            if not (both_ival and current().precision is not None):
                return None  # else: endpoints may still agree after rounding, (0.6, 2.6667]
        if both_ival:
            ok = (g.lopen, g.ropen) == (p.lopen, p.ropen) and equivalent(g.lo, p.lo, budget) \
                and equivalent(g.hi, p.hi, budget)
            return "interval" if ok else None
        return None
    if isinstance(g, Rel) and isinstance(p, Rel):
        if g.ops == ("=",) and p.ops == ("=",):
            if _is_assignment(g) and _is_assignment(p) and g.parts[0] == p.parts[0]:
                return "equation" if equivalent(g.parts[1], p.parts[1], budget) else None
            if all(isinstance(x, sp.Expr) for x in g.parts + p.parts):
                d1, d2 = g.parts[0] - g.parts[1], p.parts[0] - p.parts[1]
                return "equation" if _proportional(d1, d2, False, budget) else None
            return None
        return "equation" if _relations_equal(g, p, budget) else None
    if isinstance(g, Seq) and isinstance(p, Seq):
        if _all_named(g) and _all_named(p):  # x=1, y=2: match names and values together
            return _sequence_equal(Seq("set", g.items), Seq("set", p.items), budget)
        return _sequence_equal(_drop_names(g), _drop_names(p), budget)
    # set semantics: {a} and "a, a" (the same value boxed twice) both stand for a
    if isinstance(g, Seq) and g.kind in ("set", "list") and g.items and not isinstance(p, Seq):
        return "set" if all(equivalent(x, p, budget) for x in g.items) else None
    if isinstance(p, Seq) and p.kind in ("set", "list") and p.items and not isinstance(g, Seq):
        return "set" if all(equivalent(g, y, budget) for y in p.items) else None
    return None


def _all_named(s: Seq) -> bool:
    return s.kind == "list" and all(_is_assignment(x) for x in s.items)


def _drop_names(s: Seq) -> Seq:
    """`x = -5, p = 14/3` compares as `-5, 14/3` when the other side does not name all."""
    if s.kind == "list":
        return Seq("list", tuple(x.parts[1] if _is_assignment(x) else x for x in s.items))
    return s
