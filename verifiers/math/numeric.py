"""Float evaluation of sympy expressions, for spot checks and size estimates.

Walks the expression tree with Python floats/complex numbers instead of calling sympy's
`evalf`, which can spend seconds (or hang) on towers like e^{e^{e^{10}}}. Anything it cannot
evaluate cheaply raises `Inconclusive`.
"""

from __future__ import annotations

import cmath
import math
from math import comb
from typing import Callable

import sympy as sp

#: Relative tolerance of float spot checks, and of a decimal against an irrational value.
REL_TOL = 1e-9
_ABS_TOL = 1e-12
# Points where symbols are evaluated: positive, irrational-looking, distinct per symbol, so
# sqrt(1/n) and 1/sqrt(n) agree but x and y never coincide.
_POINT_VALUES = (1.3127, 0.7419, 2.1734, 1.6551, 0.4423, 2.8891, 1.0937, 3.4172, 0.9283)
_N_POINTS = 4


class Inconclusive(Exception):
    """A float evaluation overflowed, hit a pole, or met something it cannot evaluate."""


_UNARY: dict[type, Callable[[complex], complex]] = {
    sp.sin: cmath.sin, sp.cos: cmath.cos, sp.tan: cmath.tan, sp.exp: cmath.exp,
    sp.log: cmath.log, sp.asin: cmath.asin, sp.acos: cmath.acos, sp.atan: cmath.atan,
    sp.sinh: cmath.sinh, sp.cosh: cmath.cosh, sp.tanh: cmath.tanh,
    sp.cot: lambda z: 1 / cmath.tan(z), sp.sec: lambda z: 1 / cmath.cos(z),
    sp.csc: lambda z: 1 / cmath.sin(z), sp.Abs: lambda z: complex(abs(z)),
}


def num(e: sp.Basic, env: dict) -> complex:
    """Float value of a sympy expression; never calls sympy's evaluator (which could hang)."""
    try:
        if e.is_Rational:
            return complex(e.p / e.q)
        if e.is_Symbol:
            return env[e]
        if e is sp.pi:
            return complex(math.pi)
        if e is sp.E:
            return complex(math.e)
        if e is sp.I:
            return 1j
        if e.is_Add:
            return sum((num(a, env) for a in e.args), 0j)
        if e.is_Mul:
            out = 1 + 0j
            for a in e.args:
                out *= num(a, env)
            return out
        if e.is_Pow:
            b, x = num(e.base, env), num(e.exp, env)
            if b.imag == 0 and x.imag == 0 and (b.real > 0 or float(x.real).is_integer()):
                return complex(b.real ** x.real)
            return b ** x
        if isinstance(e, sp.factorial):
            x = num(e.args[0], env)
            return complex(math.gamma(x.real + 1))
        if isinstance(e, sp.binomial):
            n, k = (num(a, env).real for a in e.args)
            if n.is_integer() and k.is_integer():
                return complex(comb(int(n), int(k)))
            # the gamma form is what sympy's binomial means for non-integers
            return complex(math.gamma(n + 1) / (math.gamma(k + 1) * math.gamma(n - k + 1)))
        f = _UNARY.get(type(e))
        if f is not None and len(e.args) == 1:
            return f(num(e.args[0], env))
    except (OverflowError, ZeroDivisionError, ValueError, TypeError):
        raise Inconclusive from None
    raise Inconclusive


def finite(z: complex) -> bool:
    return cmath.isfinite(z)


def close(a: complex, b: complex) -> bool:
    return abs(a - b) <= REL_TOL * max(abs(a), abs(b)) + _ABS_TOL


def envs(symbols: set, signed: bool = False) -> list[dict]:
    """Points to evaluate at: positive ones, plus the same with every value negated when
    `signed` (so |x| and x differ, while sqrt(1/n) and 1/sqrt(n) are only compared where
    both are real)."""
    syms = sorted(symbols, key=str)
    points = [{s: complex(_POINT_VALUES[(3 * k + 2 * j) % len(_POINT_VALUES)] + 0.01 * j)
               for j, s in enumerate(syms)} for k in range(_N_POINTS if syms else 1)]
    if signed and syms:
        points += [{s: -z for s, z in env.items()} for env in points[:2]]
    return points


def branch_free(e: sp.Expr) -> bool:
    """True when e has no roots, logs or non-integer powers of its variables, so it takes
    the same values for negative inputs under any branch convention."""
    for p in e.atoms(sp.Pow):
        if p.base.free_symbols and not p.exp.is_Integer or p.exp.free_symbols:
            return False
    return not any(f.args[0].free_symbols for f in e.atoms(sp.log))

