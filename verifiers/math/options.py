"""Comparison options of the `math` verifier that mirror math-verify's `verify(...)` knobs.

`MathVerifier(precision=..., strict=...)` sets them for the duration of one check through a
context variable, so the recursive comparison (`equivalence.py`, `scalar.py`) reads them without
every structure helper passing them along (and threads or worker processes never see each
other's).

- `precision` (math-verify `float_rounding`): None (default) compares numbers exactly, so
  `1/2004!` != `1/2006!` and `1/3` != `0.33`. An integer n also accepts two real numbers that
  agree after rounding both half away from zero to n decimal places, but only when one of the
  two answers is written with a decimal point (`0.33`, `2.6667`): like math-verify, rounding is
  for answers the model gave as decimals, never for two exact forms.
- `strict` (math-verify `strict`): True (default) means variable names matter (`f(x)` != `f(y)`)
  and a set never equals a tuple. False also accepts the prediction with its variables renamed to
  the gold's when both use the same number (names used on both sides stay; the others are tried
  in every pairing, up to 3 of them: math-verify pairs them in set order, which is arbitrary),
  and compares a set with a tuple as two sets.
"""

from __future__ import annotations

import itertools
import math
import re
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, fields, is_dataclass, replace
from fractions import Fraction
from typing import Any, Iterator

import sympy as sp

#: Largest `precision` accepted: beyond this, rounding is exact comparison in all but name.
MAX_PRECISION = 50
#: Irrational numbers larger than this are not rounded (evalf cost grows with the digits needed).
_MAX_ROUNDED_MAGNITUDE = 10**50
#: Most unshared variables whose every pairing `strict=False` tries (3! = 6 comparisons).
_MAX_PERMUTED = 3
# a decimal literal as written: "0.33", ".5", "2.6667" (not "1,000" nor "3." at a sentence end)
_DECIMAL_RE = re.compile(r"(?<![\d.])\d*\.\d+")


@dataclass(frozen=True)
class CompareOptions:
    precision: int | None = None
    strict: bool = True
    #: whether either answer of the current check is written with a decimal point (set per check)
    decimals: bool = False


DEFAULT = CompareOptions()
_CURRENT: ContextVar[CompareOptions] = ContextVar("hacrl_math_compare_options", default=DEFAULT)


def check_precision(precision: Any) -> int | None:
    """The validated `precision` option (an int in 0..MAX_PRECISION, or None)."""
    if precision is None:
        return None
    if isinstance(precision, bool) or not isinstance(precision, int) or not 0 <= precision <= MAX_PRECISION:
        raise ValueError(f"MathVerifier(precision={precision!r}): give a number of decimal places "
                         f"0..{MAX_PRECISION} (e.g. 6, as math-verify's float_rounding), or None "
                         "for exact comparison")
    return precision


def current() -> CompareOptions:
    return _CURRENT.get()


@contextmanager
def using(opts: CompareOptions, gold_text: str, pred_text: str) -> Iterator[None]:
    """Compare under `opts` for one (gold, prediction) pair of normalized answer texts."""
    if opts.precision is not None:
        opts = replace(opts, decimals=bool(_DECIMAL_RE.search(gold_text) or _DECIMAL_RE.search(pred_text)))
    token = _CURRENT.set(opts)
    try:
        yield
    finally:
        _CURRENT.reset(token)


# ---- precision --------------------------------------------------------------------------------

def _rounded(x: sp.Expr, n: int) -> Fraction | None:
    """x rounded half away from zero to n decimal places, or None when x is not a real number
    we can round cheaply and exactly enough."""
    if x.is_Rational:
        f = Fraction(int(x.p), int(x.q))
    else:
        if not (x.is_number and x.is_real):  # is_real may be None: unknown is not real here
            return None
        approx = sp.N(x, 15)
        if not approx.is_Float or abs(approx) > _MAX_ROUNDED_MAGNITUDE:
            return None
        digits = n + len(str(int(abs(approx)))) + 20  # 20 guard digits below the rounding place
        f = Fraction(str(sp.N(x, digits)))
    scaled = f * 10**n
    r = math.floor(abs(scaled) + Fraction(1, 2))
    return Fraction(r if scaled >= 0 else -r, 10**n)


def rounded_equal(a: sp.Expr, b: sp.Expr) -> bool:
    """True when the `precision` option is on for this check and a, b round to the same value."""
    opts = current()
    if opts.precision is None or not opts.decimals:
        return False
    ra = _rounded(a, opts.precision)
    return ra is not None and ra == _rounded(b, opts.precision)


# ---- strict=False ------------------------------------------------------------------------------

def _symbols(v: Any, out: set) -> set:
    if isinstance(v, sp.Basic):
        out |= v.free_symbols
    elif isinstance(v, tuple):
        for x in v:
            _symbols(x, out)
    elif is_dataclass(v):
        for f in fields(v):
            _symbols(getattr(v, f.name), out)
    return out


def _subs(v: Any, mapping: dict) -> Any:
    if isinstance(v, sp.Basic):
        return v.xreplace(mapping)  # a simultaneous rename: x<->y swaps stay swaps
    if isinstance(v, tuple):
        return tuple(_subs(x, mapping) for x in v)
    if is_dataclass(v):
        return type(v)(*(_subs(getattr(v, f.name), mapping) for f in fields(v)))
    return v


def renamings(gold: Any, pred: Any) -> Iterator[Any]:
    """The predictions to compare with the gold: `pred` itself, and with `strict=False`, when
    both sides use the same number of variables, `pred` with its own variables renamed to the
    gold's ones (names used on both sides stay put: the `f` of f(x) vs f(y)). Up to
    `_MAX_PERMUTED` unshared variables every pairing is tried (`u = 2v + 1` vs `y = 2x + 1`);
    beyond that only the name-order pairing."""
    yield pred
    if current().strict:
        return
    g, p = _symbols(gold, set()), _symbols(pred, set())
    if not p or len(g) != len(p) or g == p:
        return
    key = lambda s: s.name  # noqa: E731
    ours, theirs = sorted(p - g, key=key), sorted(g - p, key=key)
    pairings = itertools.permutations(theirs) if len(ours) <= _MAX_PERMUTED else [theirs]
    for targets in pairings:
        yield _subs(pred, dict(zip(ours, targets)))
