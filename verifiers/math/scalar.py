"""Is one sympy expression equal to another? Exact first, floats to reject and to decide.

Rationals compare exactly (no float rounding, so 1/2004! != 1/2006!; the `precision` option of
`options.py` adds rounding for answers written as decimals), other expressions by structural
equality or `expand` of the difference. A numeric spot-check with Python floats at fixed
pseudo-random points rejects most mismatches in microseconds and is the fallback when exact
algebra cannot decide in budget.
"""

from __future__ import annotations

from math import comb

import sympy as sp

from verifiers.budget import Budget
from verifiers.math.numeric import Inconclusive, branch_free, close, envs, finite, num
from verifiers.math.options import rounded_equal


def expand_terms(e: sp.Basic, limit: int) -> int:
    """Rough count of the terms `expand(e)` would produce (capped at limit + 1)."""
    if e.is_Add:
        return min(limit + 1, sum(expand_terms(a, limit) for a in e.args))
    if e.is_Mul:
        out = 1
        for a in e.args:
            out = min(limit + 1, out * expand_terms(a, limit))
        return out
    if e.is_Pow and e.exp.is_Integer and e.base.is_Add:
        n, k = abs(int(e.exp)), expand_terms(e.base, limit)
        if n > 64:
            return limit + 1
        return min(limit + 1, comb(n + k - 1, k - 1))
    return 1


def exact_zero(d: sp.Expr, budget: Budget, allow_simplify: bool = True) -> bool:
    """True when exact algebra shows d == 0 within the size guards (False means unknown)."""
    if d == 0:
        return True
    budget.check()
    lim = budget.limits
    if expand_terms(d, lim.max_expand_terms) > lim.max_expand_terms:
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
        if exact_zero(a - b, budget, allow_simplify=False):
            return "symbolic"
        return "numeric" if syms else _confirm_constant(a, b, va)
    # floats could not decide (overflow, unsupported function): exact algebra only;
    # simplify only when symbols are involved (constants that overflow a float are huge)
    return "symbolic" if exact_zero(a - b, budget, allow_simplify=bool(syms)) else None


def _confirm_constant(a: sp.Expr, b: sp.Expr, va: complex) -> str | None:
    # Two irrational constants that agree to float precision: confirm with 50 digits.
    d = sp.N(a - b, 50)
    scale = max(1.0, abs(va))
    return "numeric" if d.is_number and abs(complex(d)) < 1e-40 * scale else None
