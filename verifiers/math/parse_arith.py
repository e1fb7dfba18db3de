"""The parser's guarded arithmetic: every sum, product, quotient and power it builds.

A mixin of `parse._Parser` (kept apart only to keep each module readable); it uses the parser's
`budget` and its `lim` (the budget's `Limits`). Each operation checks the budget and refuses,
before sympy builds it, a result over the size guards of `verifiers.budget`.
"""

from __future__ import annotations

import math
from typing import Any

import sympy as sp

from verifiers.budget import BudgetExceeded
from verifiers.math.numeric import Inconclusive, num
from verifiers.math.tokens import ParseError
from verifiers.math.values import PM, Mat, is_expr


_ROOT_MAX_BITS = 1000  # sympy factors small primes out of roots: 0.2 s at 3000 bits


def _bits(r: sp.Rational) -> int:
    return max(int(r.p).bit_length(), int(r.q).bit_length())


def _max_bits(e: sp.Basic) -> int:
    return max((_bits(a) for a in e.atoms(sp.Rational)), default=1)


def _tree_nodes(e: sp.Basic, cap: int) -> int:
    """Nodes of e's tree, a shared subtree counted at each use (as printing, comparing or
    evaluating it walks them), stopping once past cap (so a huge tree costs only cap steps)."""
    count, stack = 0, [e]
    while stack and count <= cap:
        count += 1
        stack.extend(stack.pop().args)
    return count


class GuardedArith:
    """`arith` and `power` for the recursive-descent parser, with their size guards."""

    def arith(self, op: str, a: Any, b: Any) -> Any:
        if isinstance(a, PM) or isinstance(b, PM):
            alts_a = a.alts if isinstance(a, PM) else (a,)
            alts_b = b.alts if isinstance(b, PM) else (b,)
            if len(alts_a) * len(alts_b) > 8:
                raise ParseError("too many plus-minus alternatives")
            return PM(tuple(dict.fromkeys(self.arith(op, x, y) for x in alts_a for y in alts_b)))
        if isinstance(a, Mat) and isinstance(b, Mat) and op in "+-*":
            return self.matrix_arith(op, a, b)
        if not (is_expr(a) and is_expr(b)):
            raise ParseError(f"cannot apply {op!r} to {type(a).__name__} and {type(b).__name__}")
        self.budget.check()
        if op == "+":
            r = a + b
        elif op == "-":
            r = a - b
        elif op == "*":
            r = a * b
        elif op == "/":
            if b == 0:
                raise ParseError("division by zero")
            r = a / b
        else:
            r = self.power(a, b)
        if isinstance(r, sp.Rational) and _bits(r) > self.lim.max_int_bits:
            raise BudgetExceeded("number too large")
        return r

    def matrix_arith(self, op: str, a: Mat, b: Mat) -> Mat:
        """Sum or product of two (small) matrices, as in "the answer is A + B"."""
        if max(len(a.rows), len(a.rows[0]), len(b.rows), len(b.rows[0])) > 10:
            raise BudgetExceeded("matrix arithmetic on more than 10x10")
        fits = len(a.rows[0]) == len(b.rows) if op == "*" else (
            (len(a.rows), len(a.rows[0])) == (len(b.rows), len(b.rows[0])))
        if not fits:
            raise ParseError(f"matrix shapes do not fit for {op!r}")
        entries = [x for m in (a, b) for row in m.rows for x in row]
        if not all(is_expr(x) for x in entries):
            raise ParseError("matrix arithmetic on entries that are not numbers or expressions")
        if not all(x.is_Rational for x in entries):  # numbers multiply to numbers, capped below
            self.matrix_size_guard(op, a, b)
        self.budget.check()
        ma, mb = sp.Matrix(a.rows), sp.Matrix(b.rows)
        out = ma + mb if op == "+" else ma - mb if op == "-" else ma * mb
        if any(isinstance(x, sp.Rational) and _bits(x) > self.lim.max_int_bits for x in out):
            raise BudgetExceeded("number too large")
        return Mat(tuple(tuple(out.row(i)) for i in range(out.rows)))

    def matrix_size_guard(self, op: str, a: Mat, b: Mat) -> None:
        """Refuse, before sympy builds it, a result over `max_matrix_nodes`: an entry of a
        product is a sum of `inner` products of entries, so its tree has at most
        inner * (largest of a + largest of b + 1) + 1 nodes (products of symbolic matrices
        double it each time, and printing or comparing the result walks every node)."""
        cap = self.lim.max_matrix_nodes
        largest = [max(_tree_nodes(x, cap) for row in m.rows for x in row) for m in (a, b)]
        inner = len(a.rows[0]) if op == "*" else 1
        size = len(a.rows) * len(b.rows[0]) * (inner * (sum(largest) + 1) + 1)
        self.budget.require(size <= cap, f"matrix {op} of about {size} nodes, over {cap} (max_matrix_nodes)")

    def power(self, base: sp.Expr, exp: sp.Expr) -> sp.Expr:
        lim = self.lim
        if base.is_number and exp.is_number and not (base.is_Rational and exp.is_Rational):
            self.float_size_guard(base, exp)
        elif isinstance(exp, sp.Rational) and exp != 0:
            size = abs(exp) * _max_bits(base)
            if base.is_Rational and (base in (0, 1, -1)):
                size = 1
            if size > lim.max_int_bits and not (base.is_Symbol or base.is_NumberSymbol):
                raise BudgetExceeded("power too large")
            if abs(exp) > 100_000:
                raise BudgetExceeded("exponent too large")
            if not exp.is_Integer and base.is_Rational and _bits(base) > _ROOT_MAX_BITS:
                raise BudgetExceeded("root of a huge number")
        return sp.Pow(base, exp)

    def float_size_guard(self, base: sp.Expr, exp: sp.Expr) -> None:
        """e^{e^{e^{10}}}: sympy's own evaluation of such towers can take seconds, so estimate
        log2 of the result with floats first and refuse what the exact-integer cap would."""
        try:
            x, b = num(exp, {}), num(base, {})
            size = abs(x.real) * abs(math.log2(abs(b))) if b != 0 else 0.0
        except (Inconclusive, OverflowError, ValueError):
            raise BudgetExceeded("power of unknown size") from None
        if not size <= self.lim.max_int_bits:
            raise BudgetExceeded("power too large")
