"""Is a parsed prediction equal to a parsed gold answer?

Both sides are first folded into one spelling (`canonical.py`). Two expressions are compared
by `scalar.py` (exact first: rationals exactly, other expressions structurally or by `expand`
of the difference, with a float spot-check to reject and to decide); structures (sets, tuples,
intervals, equations, matrices, percentages) here, element by element with the same scalar
rule, and sets of real numbers (intervals, unions, inequalities) as canonical unions
(`real_sets.py`).
"""

from __future__ import annotations

from typing import Any, Callable

import sympy as sp

from verifiers.budget import Budget
from verifiers.math.canonical import canonical, is_assignment
from verifiers.math.numeric import Inconclusive, branch_free, close, envs, finite, num
from verifiers.math.options import current
from verifiers.math.real_sets import FLIP, as_spans, same_spans
from verifiers.math.scalar import scalar_equal
from verifiers.math.values import Ival, Mat, Pct, Rel, Seq, SetUnion


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
        return (FLIP[op], -d) if op in (">", ">=") else (op, d)

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
    if is_assignment(g) and not isinstance(p, Rel):
        return equivalent(g.parts[1], p, budget)
    if is_assignment(p) and not isinstance(g, Rel):
        return equivalent(g, p.parts[1], budget)
    if isinstance(g, sp.Expr) and isinstance(p, sp.Expr):
        return scalar_equal(g, p, budget)
    if isinstance(g, Pct) or isinstance(p, Pct):
        return _percent_equal(g, p, budget)
    if isinstance(g, Mat) or isinstance(p, Mat):
        return _matrix_equal(g, p, budget)
    setlike = (Ival, SetUnion)
    if isinstance(g, setlike) or isinstance(p, setlike) or (
            isinstance(g, Rel) != isinstance(p, Rel)):
        return _real_set_equal(g, p, budget)
    if isinstance(g, Rel) and isinstance(p, Rel):
        return _equation_equal(g, p, budget)
    if isinstance(g, Seq) or isinstance(p, Seq):
        return _collection_equal(g, p, budget)
    return None


def _percent_equal(g: Any, p: Any, budget: Budget) -> str | None:
    """A percentage on one side or both: as written (28% and 28%), or 28% against 0.28."""
    gv, pv = (g.value if isinstance(g, Pct) else g), (p.value if isinstance(p, Pct) else p)
    if equivalent(gv, pv, budget):
        return "numeric"
    if isinstance(g, Pct) != isinstance(p, Pct) and isinstance(gv, sp.Expr) \
            and isinstance(pv, sp.Expr):  # 28% against 0.28
        return scalar_equal(gv / 100, pv, budget) if isinstance(g, Pct) \
            else scalar_equal(gv, pv / 100, budget)
    return None


def _matrix_equal(g: Any, p: Any, budget: Budget) -> str | None:
    """A matrix on one side or both: entry by entry, or a row or column against a tuple."""
    if isinstance(g, Mat) and isinstance(p, Mat):
        if len(g.rows) != len(p.rows) or len(g.rows[0]) != len(p.rows[0]):
            return None
        ok = all(equivalent(x, y, budget)
                 for rg, rp in zip(g.rows, p.rows) for x, y in zip(rg, rp))
        return "matrix" if ok else None
    m, other = (g, p) if isinstance(g, Mat) else (p, g)
    if isinstance(other, Seq) and other.kind in ("tuple", "pair") and (
            len(m.rows) == 1 or len(m.rows[0]) == 1):  # a vector written as a tuple
        flat = Seq("tuple", tuple(x for r in m.rows for x in r))
        return "matrix" if _sequence_equal(flat, other, budget) else None
    return None


def _real_set_equal(g: Any, p: Any, budget: Budget) -> str | None:
    """An interval, a union or an inequality against any answer: as sets of real numbers
    (`real_sets.py`), else two intervals end by end (the `precision` option may round them)."""
    sg, sp_ = as_spans(g, budget), as_spans(p, budget)
    both_ival = isinstance(g, Ival) and isinstance(p, Ival)
    if sg is not None and sp_ is not None:
        if same_spans(sg, sp_, budget):
            return "interval"
        if not (both_ival and current().precision is not None):
            return None  # else: endpoints may still agree after rounding, (0.6, 2.6667]
    if both_ival:
        ok = (g.lopen, g.ropen) == (p.lopen, p.ropen) and equivalent(g.lo, p.lo, budget) \
            and equivalent(g.hi, p.hi, budget)
        return "interval" if ok else None
    return None


def _equation_equal(g: Rel, p: Rel, budget: Budget) -> str | None:
    """Two relations: `x = a` against `x = b` by value, other equations as the same solution
    set, inequalities and chains by `_relations_equal`."""
    if g.ops == ("=",) and p.ops == ("=",):
        if is_assignment(g) and is_assignment(p) and g.parts[0] == p.parts[0]:
            return "equation" if equivalent(g.parts[1], p.parts[1], budget) else None
        if all(isinstance(x, sp.Expr) for x in g.parts + p.parts):
            d1, d2 = g.parts[0] - g.parts[1], p.parts[0] - p.parts[1]
            return "equation" if _proportional(d1, d2, False, budget) else None
        return None
    return "equation" if _relations_equal(g, p, budget) else None


def _collection_equal(g: Any, p: Any, budget: Budget) -> str | None:
    """A list, set or tuple on one side or both (after the cases above)."""
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
    return s.kind == "list" and all(is_assignment(x) for x in s.items)


def _drop_names(s: Seq) -> Seq:
    """`x = -5, p = 14/3` compares as `-5, 14/3` when the other side does not name all."""
    if s.kind == "list":
        return Seq("list", tuple(x.parts[1] if is_assignment(x) else x for x in s.items))
    return s
