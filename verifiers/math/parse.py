"""A safe parser from normalized LaTeX / plain math to sympy objects.

Model text is never handed to `eval`, `sympify`, `parse_expr` or `parse_latex`. A regex
tokenizer accepts only numbers, letters, a whitelist of commands and operators; a
recursive-descent parser builds sympy objects itself, checking the budget and the size guards
in `verifiers.budget` before every operation that could grow without bound.

The parser is one class in parts: this module reads the operators (lists, relations, unions,
sums, products, powers), `parse_atoms` one operand (a number, a name, a bracket, a function or
a command), `parse_blocks` `\\sum` and matrix environments, and `parse_arith` does the guarded
arithmetic they all build with; `tokens` is the vocabulary.
"""

from __future__ import annotations

from typing import Any

import sympy as sp

from verifiers.budget import Budget, BudgetExceeded
from verifiers.math.parse_arith import GuardedArith
from verifiers.math.parse_atoms import AtomReaders
from verifiers.math.parse_blocks import BlockReaders
from verifiers.math.tokens import DIV_OPS, FUNCS, GREEK, MUL_OPS, REL_OPS, ParseError, tokenize
from verifiers.math.values import PM, Ival, Mat, Pct, Rel, Seq, SetUnion, is_expr

__all__ = ["ParseError", "parse_math", "tokenize"]


#: What may follow a mixed number "2 1/2": the end of an item, a sum or a relation, so nothing
#: binds its fraction more tightly than the whole number.
_MIXED_FOLLOWERS = frozenset({",", ";", ")", "]", "}", "+", "-", "=", "<", ">", "<=", ">=", "!=", "%",
                              ":", "|", "&", "\\}", "\\pm", "\\mp", "\\cup", "\\\\"})


def _interval_count(v: Any) -> int:
    """Intervals a union part contributes: all of a bracketed union's parts, else one."""
    return sum(_interval_count(p) for p in v.parts) if isinstance(v, SetUnion) else 1


def _nesting(v: Any) -> int:
    """How deeply sets, lists, tuples, intervals and matrices nest in v (a number: 0; a union,
    relation or percentage adds no level of its own)."""
    if isinstance(v, Seq):
        return 1 + max((_nesting(x) for x in v.items), default=0)
    if isinstance(v, Mat):
        return 1 + max(_nesting(x) for row in v.rows for x in row)
    if isinstance(v, Ival):
        return 1
    if isinstance(v, (SetUnion, Rel)):
        return max(_nesting(x) for x in v.parts)
    if isinstance(v, PM):
        return max(_nesting(x) for x in v.alts)
    if isinstance(v, Pct):
        return _nesting(v.value)
    return 0


class _Parser(AtomReaders, BlockReaders, GuardedArith):
    def __init__(self, tokens: list[tuple[str, str]], budget: Budget):
        self.toks = tokens
        self.i = 0
        self.depth = 0
        self.budget = budget
        self.lim = budget.limits
        self.last_kind = ""
        # summation indices in scope: name -> its Symbol (while reading) or current Integer
        self.bindings: dict[str, sp.Expr] = {}

    # -- token helpers -------------------------------------------------------------------
    def peek(self, k: int = 0) -> tuple[str, str]:
        j = self.i + k
        return self.toks[j] if j < len(self.toks) else ("end", "")

    def take(self) -> tuple[str, str]:
        tok = self.peek()
        self.i += 1
        return tok

    def expect(self, text: str) -> None:
        tok = self.take()
        if tok[1] != text:
            raise ParseError(f"expected {text!r}, got {tok[1] or 'end of answer'!r}")

    def enter(self) -> None:
        self.depth += 1
        if self.depth > self.lim.max_depth:
            raise BudgetExceeded(f"nesting deeper than {self.lim.max_depth}")
        self.budget.check()

    # -- grammar: the operators, loosest first (operands: `AtomReaders.primary`) -------------
    def parse(self) -> Any:
        items = self.comma_list(("end",), grouped=True)
        if self.peek()[0] != "end":
            raise ParseError(f"unexpected {self.peek()[1]!r}")
        out = items[0] if len(items) == 1 else Seq("list", tuple(items))
        # before any comparison: nested sets are compared level by level, pair by pair
        limit = self.lim.max_nesting
        self.budget.require(_nesting(out) <= limit, f"sets or tuples nested deeper than {limit} (max_nesting)")
        return out

    def comma_list(self, closers: tuple[str, ...], grouped: bool = False) -> list:
        """Items separated by `,` or `;`. With `grouped`, `;` separates groups of comma items
        ("p=5,q=2;p=7,q=2" is two solutions), when some group has more than one item."""
        groups: list[list] = [[self.relation()]]
        n_items = 1
        while self.peek()[1] in (",", ";"):
            sep = self.take()[1]
            if self.peek()[1] in closers or self.peek()[0] in closers:
                break
            if sep == ";" and grouped:
                groups.append([])
            # counted before the item is read: a comparison may try every pair of items
            n_items += 1
            self.budget.require(n_items <= self.lim.max_items,
                                f"more than {self.lim.max_items} items in a list (max_items)")
            groups[-1].append(self.relation())
        if len(groups) == 1 or all(len(g) == 1 for g in groups):
            return [x for g in groups for x in g]
        return [g[0] if len(g) == 1 else Seq("list", tuple(g)) for g in groups]

    def relation(self) -> Any:
        parts = [self.ratio()]
        ops: list[str] = []
        while self.peek()[1] in REL_OPS:
            ops.append(REL_OPS[self.take()[1]])
            parts.append(self.ratio())
        return Rel(tuple(ops), tuple(parts)) if ops else parts[0]

    def ratio(self) -> Any:
        parts = [self.union()]
        while self.peek()[1] == ":":
            self.take()
            parts.append(self.union())
        return Seq("ratio", tuple(parts)) if len(parts) > 1 else parts[0]

    def union(self) -> Any:
        """`A \\cup B \\cup ...`; the intervals are counted (a bracketed union inside counts
        all of its own) before each next part is read, so an oversized union is refused before
        anything compares it."""
        limit = self.lim.max_intervals
        too_many = f"more than {limit} intervals in a union (max_intervals)"
        parts = [self.sum()]
        count = _interval_count(parts[0])
        while self.peek()[1] == "\\cup":
            self.take()
            self.budget.require(count < limit, too_many)
            parts.append(self.sum())
            count += _interval_count(parts[-1])
        self.budget.require(count <= limit, too_many)
        return SetUnion(tuple(parts)) if len(parts) > 1 else parts[0]

    def sum(self) -> Any:
        self.enter()
        first = self.peek()[1]
        if first in ("+", "-", "\\pm", "\\mp"):
            self.take()
            acc: Any = sp.Integer(0)
            acc = self.signed(acc, first, self.term())
        else:
            acc = self.term()
        while self.peek()[1] in ("+", "-", "\\pm", "\\mp"):
            op = self.take()[1]
            acc = self.signed(acc, op, self.term())
        if self.peek()[1] == "%":
            self.take()
            acc = Pct(acc)
        self.depth -= 1
        return acc

    def signed(self, acc: Any, op: str, term: Any) -> Any:
        if op in ("+", "-"):
            if acc == 0 and op == "-" and not is_expr(term) and not isinstance(term, PM):
                if isinstance(term, Ival):
                    raise ParseError("negated interval")
                raise ParseError(f"cannot negate {type(term).__name__}")
            return self.arith(op, acc, term)
        return PM((self.arith("+", acc, term), self.arith("-", acc, term)))

    def term(self) -> Any:
        acc = self.factor()
        prev_kind, n_factors = self.last_kind, 1
        while True:
            kind, text = self.peek()
            if kind == "num" and self.last_kind in ("num", "numfrac"):
                # two written numbers side by side are never a product: "18 1/2" is a mixed
                # number (as 2\frac12 is), "18 20" two answers, "1 000" a thousands separator
                acc = self.mixed_number(acc, n_factors)
            elif text in MUL_OPS or text in DIV_OPS:
                self.take()
                rhs = self.factor()
                acc = self.arith("*" if text in MUL_OPS else "/", acc, rhs)
            elif kind in ("num", "word") or text in ("(", "{") or (
                    kind == "cmd" and (text[1:] in FUNCS or text[1:] in GREEK or text in (
                        "\\frac", "\\sqrt", "\\pi", "\\binom", "\\begin", "\\sum"))):
                rhs = self.factor()
                if n_factors == 1 and prev_kind == "num" and self.last_kind == "numfrac":
                    # mixed number: 2\frac12 = 5/2 (and -2\frac12 = -5/2)
                    acc = self.arith("-" if acc.could_extract_minus_sign() else "+", acc, rhs)
                else:
                    acc = self.arith("*", acc, rhs)
            else:
                return acc
            n_factors += 1

    def mixed_number(self, whole: Any, n_factors: int) -> sp.Expr:
        """`whole b/c` after a written integer: the mixed number whole + b/c (-2 1/2 = -5/2),
        when the term starts with `whole` and nothing binds the fraction to what follows
        ("2 1/2^2", "2 1/2 x" are refused). Any other number written after a number is a
        ParseError: "18 20", "1 000", "1.5.3", "3 \\cdot 2 1/2", "\\frac12 3"."""
        (_, num), (_, slash), (den_kind, den) = self.peek(), self.peek(1), self.peek(2)
        follow_kind, follow = self.peek(3)
        ends = follow_kind == "end" or follow in _MIXED_FOLLOWERS or (
            follow_kind == "cmd" and (follow in REL_OPS or follow in _MIXED_FOLLOWERS))
        if not (n_factors == 1 and self.last_kind == "num" and isinstance(whole, sp.Integer)
                and slash == "/" and den_kind == "num" and "." not in num + den and ends):
            raise ParseError("two numbers side by side (write an operator between them)")
        self.i += 3
        frac = self.arith("/", sp.Integer(int(num)), sp.Integer(int(den)))
        self.last_kind = "expr"
        return self.arith("-" if whole.could_extract_minus_sign() else "+", whole, frac)

    def factor(self) -> Any:
        if self.peek()[1] == "-":
            self.take()
            inner = self.factor()
            kind = self.last_kind
            out = self.arith("*", sp.Integer(-1), inner)
            self.last_kind = kind
            return out
        if self.peek()[1] == "+":
            self.take()
            return self.factor()
        return self.postfix()

    def postfix(self) -> Any:
        base = self.primary()
        while True:
            text = self.peek()[1]
            if text == "^":
                self.take()
                base = self.arith("^", base, self.exponent())
                self.last_kind = "expr"
            elif text == "!":
                self.take()
                base = self.factorial(base)
                self.last_kind = "expr"
            else:
                return base

    def exponent(self) -> Any:
        sign = 1
        while self.peek()[1] in ("-", "+"):
            sign = -sign if self.take()[1] == "-" else sign
        val = self.primary()
        return self.arith("*", sp.Integer(sign), val) if sign < 0 else val

    def factorial(self, n: Any) -> sp.Expr:
        if not is_expr(n):
            raise ParseError("factorial of a non-number")
        if n.is_Integer:
            if n < 0:
                raise ParseError("factorial of a negative integer")
            if n > self.lim.max_factorial:
                raise BudgetExceeded(f"factorial of {n} is too large")
        elif n.is_number:
            raise ParseError("factorial of a non-integer")
        return sp.factorial(n)


def parse_math(s: str, budget: Budget) -> Any:
    """Parse a normalized answer into a sympy expression or one of the structures above."""
    tokens = tokenize(s, budget.limits.max_tokens)
    if not tokens:
        raise ParseError("empty answer")
    return _Parser(tokens, budget).parse()
