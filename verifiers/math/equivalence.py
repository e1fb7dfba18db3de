"""Is a parsed prediction equal to a parsed gold answer?

Exact first: rationals compare exactly (no float rounding, so 1/2004! != 1/2006!; the
`precision` option of `options.py` adds rounding for answers written as decimals), other
expressions by structural equality or `expand` of the difference. A numeric spot-check with
Python floats at fixed pseudo-random points rejects most mismatches in microseconds and is the
fallback when exact algebra cannot decide in budget. Structures (sets, tuples, intervals,
equations, matrices) are compared element by element with the same scalar rule.
"""

from __future__ import annotations

from math import comb
from typing import Any

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


def _as_set(v: Any, budget: Budget) -> sp.Set | None:
    """A real set for intervals, unions and one-variable inequalities, else None."""
    if isinstance(v, Ival):
        if not all(isinstance(x, sp.Expr) and x.is_number for x in (v.lo, v.hi)):
            return None
        return sp.Interval(v.lo, v.hi, v.lopen, v.ropen)
    if isinstance(v, Seq) and v.kind == "pair":
        return _as_set(Ival(v.items[0], v.items[1], True, True), budget)
    if isinstance(v, SetUnion):
        parts = [_as_set(p, budget) for p in v.parts]
        return None if any(p is None for p in parts) else sp.Union(*parts)
    if isinstance(v, Rel) and "=" not in v.ops and "in" not in v.ops:
        return _rel_set(v)
    return None


_FLIP = {"<": ">", ">": "<", "<=": ">=", ">=": "<=", "!=": "!="}


def _rel_set(v: Rel) -> sp.Set | None:
    if len(v.parts) == 3 and v.ops[0] in ("<", "<=") and v.ops[1] in ("<", "<="):
        lo, mid, hi = v.parts
    elif len(v.parts) == 3 and v.ops[0] in (">", ">=") and v.ops[1] in (">", ">="):
        hi, mid, lo = v.parts
        v = Rel((_FLIP[v.ops[1]], _FLIP[v.ops[0]]), (lo, mid, hi))
    else:
        lo = mid = hi = None
    if mid is not None:
        if not (_is_name(mid) and all(isinstance(x, sp.Expr) and x.is_number
                                                    for x in (lo, hi))):
            return None
        between = sp.Interval(lo, hi, v.ops[0] == "<", v.ops[1] == "<")
        return _abs_preimage(between) if isinstance(mid, sp.Abs) else between
    if len(v.parts) != 2 or not all(isinstance(x, sp.Expr) for x in v.parts):
        return None
    if isinstance(v.parts[0], sp.Abs) and v.parts[0].args[0].is_Symbol and v.parts[1].is_number \
            and v.ops[0] != "!=":  # |x| < 3
        c = v.parts[1]
        return _abs_preimage({"<": sp.Interval.open(-sp.oo, c), "<=": sp.Interval(-sp.oo, c),
                              ">": sp.Interval.open(c, sp.oo), ">=": sp.Interval(c, sp.oo)}[v.ops[0]])
    d = v.parts[0] - v.parts[1]
    if len(d.free_symbols) != 1:
        return None
    (x,) = d.free_symbols
    coef = d.diff(x)
    if not coef.is_number or coef == 0:  # not linear: checked before any expansion
        return None
    rest = sp.expand(d - coef * x)
    if rest.free_symbols:
        return None
    c, op = -rest / coef, v.ops[0] if coef > 0 else _FLIP[v.ops[0]]
    return {"<": sp.Interval.open(-sp.oo, c), "<=": sp.Interval(-sp.oo, c),
            ">": sp.Interval.open(c, sp.oo), ">=": sp.Interval(c, sp.oo),
            "!=": sp.Union(sp.Interval.open(-sp.oo, c), sp.Interval.open(c, sp.oo))}[op]


def _abs_preimage(values: sp.Interval) -> sp.Set | None:
    """{x real : |x| in values}: 1 <= |z| <= 3/2 is [-3/2, -1] U [1, 3/2]."""
    if not isinstance(values, sp.Interval):
        return None
    lo, hi = values.start, values.end
    if not (lo.is_comparable or lo == -sp.oo) or not (hi.is_comparable or hi == sp.oo):
        return None
    pos = values.intersect(sp.Interval(0, sp.oo))
    if not isinstance(pos, sp.Interval):  # empty, or {0}: symmetric already
        return pos
    neg = sp.Interval(-pos.end, -pos.start, pos.right_open, pos.left_open)
    return sp.Union(neg, pos)


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
    matched_p = [False] * len(p.items)
    for x in g.items:
        hits = [j for j, y in enumerate(p.items) if equivalent(x, y, budget)]
        if not hits:
            return None
        for j in hits:
            matched_p[j] = True
    return "set" if all(matched_p) else None


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
        sg, sp_ = _as_set(g, budget), _as_set(p, budget)
        both_ival = isinstance(g, Ival) and isinstance(p, Ival)
        if sg is not None and sp_ is not None:
            if sg == sp_:
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
