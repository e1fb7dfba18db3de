"""The parser's readers for multi-token blocks: `\\sum_{k=a}^{b}` and matrix environments.

A mixin of `parse._Parser` (kept apart only to keep each module readable); it uses the
parser's token helpers (`peek`, `take`, `expect`), `sum`/`term`/`group`, guarded `arith`
and its `bindings` of summation indices.
"""

from __future__ import annotations

from typing import Any

import sympy as sp

from verifiers.budget import BudgetExceeded
from verifiers.math.tokens import MATRIX_ENVS, ParseError
from verifiers.math.values import Mat, is_expr

#: Most terms a `\\sum` with numeric bounds is expanded into (each term is parsed again with
#: the index bound to its value, so every size guard still applies).
MAX_SUM_TERMS = 1000


class BlockReaders:
    """`\\sum` and `\\begin{pmatrix}...` for the recursive-descent parser."""

    def summation(self) -> sp.Expr:
        """`\\sum_{k=a}^{b} term`: added up term by term when a and b are integers (at most
        MAX_SUM_TERMS terms), else kept as an unevaluated sympy Sum (compared by structure)."""
        self.expect("_")
        self.expect("{")
        kind, var = self.take()
        if kind != "word" or len(var) != 1 or var in self.bindings:
            raise ParseError("\\sum needs a one-letter index: \\sum_{k=1}^{n}")
        self.expect("=")
        lo = self.sum()
        self.expect("}")
        self.expect("^")
        hi = self.group()
        if not (is_expr(lo) and is_expr(hi)):
            raise ParseError("\\sum bounds must be numbers or expressions")
        index = sp.Symbol(var)
        start = self.i
        self.bindings[var] = index
        try:
            body = self.term()
            end = self.i
            if not is_expr(body):
                raise ParseError("\\sum of a non-number")
            if not (lo.is_Integer and hi.is_Integer):
                if body.has(sp.Sum):
                    raise ParseError("nested symbolic sums are not compared")
                return sp.Sum(body, (index, lo, hi))
            if hi - lo + 1 > MAX_SUM_TERMS:
                raise BudgetExceeded(f"\\sum of more than {MAX_SUM_TERMS} terms")
            acc: Any = sp.Integer(0)
            for k in range(int(lo), int(hi) + 1):
                self.bindings[var] = sp.Integer(k)
                self.i = start
                acc = self.arith("+", acc, self.term())
            self.i = end
            return acc
        finally:
            del self.bindings[var]

    def matrix(self) -> Mat:
        self.expect("{")
        env = self.take()[1]
        self.expect("}")
        if env not in MATRIX_ENVS:
            raise ParseError(f"unsupported environment {env!r}")
        if env == "array" and self.peek()[1] == "{":
            while self.take()[1] not in ("}", ""):
                pass
        rows: list[list] = [[]]
        while True:
            tok = self.peek()[1]
            if tok == "\\end":
                self.take()
                self.expect("{")
                self.take()
                self.expect("}")
                break
            if tok == "\\\\":
                self.take()
                rows.append([])
                continue
            if tok == "&":
                self.take()
                continue
            if tok == "":
                raise ParseError("unclosed matrix")
            rows[-1].append(self.sum())
        rows = [r for r in rows if r]
        if not rows or len({len(r) for r in rows}) != 1:
            raise ParseError("ragged matrix")
        return Mat(tuple(tuple(r) for r in rows))
