"""A safe parser from normalized LaTeX / plain math to sympy objects.

Model text is never handed to `eval`, `sympify`, `parse_expr` or `parse_latex`. A regex
tokenizer accepts only numbers, letters, a whitelist of commands and operators; a
recursive-descent parser builds sympy objects itself, checking the budget and the size guards
in `verifiers.budget` before every operation that could grow without bound.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import sympy as sp

from verifiers.budget import Budget, BudgetExceeded
from verifiers.math.numeric import Inconclusive, num
from verifiers.math.parse_blocks import BlockReaders
from verifiers.math.tokens import DIV_OPS, FUNCS, GREEK, MUL_OPS, REL_OPS, ParseError, tokenize
from verifiers.math.values import PM, Ival, Mat, Pct, Rel, Seq, SetUnion

__all__ = ["ParseError", "parse_math", "tokenize"]


_ROOT_MAX_BITS = 1000  # sympy factors small primes out of roots: 0.2 s at 3000 bits
#: What may follow a mixed number "2 1/2": the end of an item, a sum or a relation, so nothing
#: binds its fraction more tightly than the whole number.
_MIXED_FOLLOWERS = frozenset({",", ";", ")", "]", "}", "+", "-", "=", "<", ">", "<=", ">=", "!=", "%",
                              ":", "|", "&", "\\}", "\\pm", "\\mp", "\\cup", "\\\\"})


def _bits(r: sp.Rational) -> int:
    return max(int(r.p).bit_length(), int(r.q).bit_length())


def _max_bits(e: sp.Basic) -> int:
    return max((_bits(a) for a in e.atoms(sp.Rational)), default=1)


def _is_expr(v: Any) -> bool:
    return isinstance(v, sp.Expr)


def _tree_nodes(e: sp.Basic, cap: int) -> int:
    """Nodes of e's tree, a shared subtree counted at each use (as printing, comparing or
    evaluating it walks them), stopping once past cap (so a huge tree costs only cap steps)."""
    count, stack = 0, [e]
    while stack and count <= cap:
        count += 1
        stack.extend(stack.pop().args)
    return count


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


class _Parser(BlockReaders):
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

    # -- guarded arithmetic --------------------------------------------------------------
    def arith(self, op: str, a: Any, b: Any) -> Any:
        if isinstance(a, PM) or isinstance(b, PM):
            alts_a = a.alts if isinstance(a, PM) else (a,)
            alts_b = b.alts if isinstance(b, PM) else (b,)
            if len(alts_a) * len(alts_b) > 8:
                raise ParseError("too many plus-minus alternatives")
            return PM(tuple(dict.fromkeys(self.arith(op, x, y) for x in alts_a for y in alts_b)))
        if isinstance(a, Mat) and isinstance(b, Mat) and op in "+-*":
            return self.matrix_arith(op, a, b)
        if not (_is_expr(a) and _is_expr(b)):
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
        if not all(_is_expr(x) for x in entries):
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

    # -- grammar -------------------------------------------------------------------------
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
            if acc == 0 and op == "-" and not _is_expr(term) and not isinstance(term, PM):
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
        if not _is_expr(n):
            raise ParseError("factorial of a non-number")
        if n.is_Integer:
            if n < 0:
                raise ParseError("factorial of a negative integer")
            if n > self.lim.max_factorial:
                raise BudgetExceeded(f"factorial of {n} is too large")
        elif n.is_number:
            raise ParseError("factorial of a non-integer")
        return sp.factorial(n)

    def group(self) -> Any:
        """A `{...}` argument, or one character / token (`\\frac12`, `\\sqrt3`)."""
        kind, text = self.peek()
        if text == "{":
            self.take()
            items = self.comma_list(("}",))
            self.expect("}")
            return items[0] if len(items) == 1 else Seq("list", tuple(items))
        if kind in ("num", "word") and len(text) > 1:
            self.toks[self.i] = (kind, text[1:])
            self.toks.insert(self.i, (kind, text[0]))
        return self.primary()

    def subscript(self) -> str:
        """The text of a subscript (`a_3`, `F_{n-1}`); a summation index with a numeric
        value is replaced by it (`a_k` -> `a_2`)."""
        self.expect("_")
        if self.peek()[1] != "{":
            parts = [self.take()[1]]
        else:
            self.take()
            parts, depth = [], 1
            while True:
                tok = self.take()
                if tok[0] == "end":
                    raise ParseError("unclosed subscript")
                depth += (tok[1] == "{") - (tok[1] == "}")
                if depth == 0:
                    break
                parts.append(tok[1])
        for name, val in self.bindings.items():
            if not val.is_Integer:
                continue
            if parts == [name]:
                return str(val)
            if any(name in p for p in parts if p.isalpha()):
                # F_{n-k}: the index inside a computed subscript is not read here
                raise ParseError(f"subscript {''.join(parts)!r} depends on the summation index")
        return "".join(parts)

    def primary(self) -> Any:
        self.enter()
        try:
            return self._primary()
        finally:
            self.depth -= 1

    def _primary(self) -> Any:
        kind, text = self.take()
        self.last_kind = "expr"
        if kind == "num":
            if self.peek()[1] == "_":  # 204_5: a numeral in another base, kept as a name
                return sp.Symbol(f"{text}_{self.subscript()}")
            val = Fraction(text)
            if max(val.numerator.bit_length(), val.denominator.bit_length()) > self.lim.max_int_bits:
                raise BudgetExceeded("number too large")
            self.last_kind = "num"
            return sp.Rational(val.numerator, val.denominator)
        if kind == "word":
            return self.word(text)
        if text in ("(", "["):
            return self.bracketed(text)
        if text == "{":
            items = self.comma_list(("}",))
            self.expect("}")
            return items[0] if len(items) == 1 else Seq("list", tuple(items))
        if text == "|":
            inner = self.sum()
            self.expect("|")
            if not _is_expr(inner):
                raise ParseError("absolute value of a non-number")
            return sp.Abs(inner)
        if kind == "cmd":
            return self.command(text)
        raise ParseError(f"unexpected {text or 'end of answer'!r}")

    def word(self, text: str) -> Any:
        if text in FUNCS:
            return self.function(text)
        if len(text) > 3:
            raise ParseError(f"unknown word {text!r}")
        syms = [self.bindings[c] if c in self.bindings else sp.E if c == "e"
                else sp.I if c == "i" else sp.Symbol(c) for c in text]
        if self.peek()[1] == "_":
            syms[-1] = sp.Symbol(f"{text[-1]}_{self.subscript()}")
        out = syms[0]
        for s in syms[1:]:
            out = out * s
        return out

    def bracketed(self, opener: str) -> Any:
        items = self.comma_list((")", "]"))
        closer = self.take()[1]
        if closer not in (")", "]"):
            raise ParseError(f"unclosed {opener!r}")
        if len(items) == 1:
            if opener == "(" and closer == ")" or opener == "[" and closer == "]":
                return items[0]
            raise ParseError("interval needs two ends")
        if len(items) == 2 and all(_is_expr(v) for v in items):
            if opener == "(" and closer == ")":
                return Seq("pair", tuple(items))
            return Ival(items[0], items[1], opener == "(", closer == ")")
        if opener == "(" and closer == ")" or opener == "[" and closer == "]":
            return Seq("tuple", tuple(items))
        raise ParseError("mismatched brackets")

    def function(self, name: str) -> Any:
        power = None
        if self.peek()[1] == "^":
            self.take()
            power = self.exponent()
        base = None
        if name == "log" and self.peek()[1] == "_":
            self.take()
            base = self.group()
        arg = self.postfix()
        if self.peek()[0] == "word" and _is_expr(arg) and arg.is_number:
            arg = self.arith("*", arg, self.postfix())  # \sin 2x
        if not _is_expr(arg) or (base is not None and not _is_expr(base)):
            raise ParseError(f"{name} of a non-number")
        if name == "exp":
            return self.power(sp.E, arg) if power is None else self.arith("^", self.power(sp.E, arg), power)
        val = sp.log(arg, base) if base is not None else FUNCS[name](arg)
        return self.arith("^", val, power) if power is not None else val

    def command(self, text: str) -> Any:
        name = text[1:]
        if name in FUNCS:
            return self.function(name)
        if name in GREEK:
            return sp.Symbol(name)
        if name == "pi":
            return sp.pi
        if name == "infty":
            return sp.oo
        if name == "frac":
            num, den = self.group(), self.group()
            out = self.arith("/", num, den)
            self.last_kind = "numfrac" if all(
                isinstance(x, sp.Integer) for x in (num, den)) else "expr"
            return out
        if name == "sqrt":
            index = None
            if self.peek()[1] == "[":
                self.take()
                index = self.sum()
                self.expect("]")
            arg = self.group()
            return self.arith("^", arg, self.arith("/", sp.Integer(1), index or sp.Integer(2)))
        if name == "binom":
            n, k = self.group(), self.group()
            if not (_is_expr(n) and _is_expr(k)) or (n.is_Integer and n > self.lim.max_factorial):
                raise ParseError("bad binomial")
            return sp.binomial(n, k)
        if text == "\\{":
            if self.peek()[1] == "\\}":
                self.take()
                return Seq("set", ())
            items = self.comma_list(("\\}",))
            self.expect("\\}")
            return Seq("set", tuple(items))
        if name in ("emptyset", "varnothing"):
            return Seq("set", ())
        if name == "begin":
            out = self.matrix()  # reading it is bounded by max_tokens; comparing it by this
            n, limit = len(out.rows) * len(out.rows[0]), self.lim.max_matrix_entries
            self.budget.require(n <= limit, f"matrix of {n} entries, over {limit} (max_matrix_entries)")
            return out
        if name == "sum":
            return self.summation()
        raise ParseError(f"unsupported command {text!r}")


def parse_math(s: str, budget: Budget) -> Any:
    """Parse a normalized answer into a sympy expression or one of the structures above."""
    tokens = tokenize(s, budget.limits.max_tokens)
    if not tokens:
        raise ParseError("empty answer")
    return _Parser(tokens, budget).parse()
