"""The parser's readers for one operand: a number, a name, a bracket, a function or a command.

A mixin of `parse._Parser` (kept apart only to keep each module readable); it uses the parser's
token helpers (`peek`, `take`, `expect`, `enter`), `comma_list`/`sum`/`postfix`/`exponent`,
guarded `arith`/`power`, the block readers (`summation`, `matrix`) and its `bindings`.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import sympy as sp

from verifiers.budget import BudgetExceeded
from verifiers.math.tokens import FUNCS, GREEK, ParseError
from verifiers.math.values import Ival, Seq, is_expr


class AtomReaders:
    """`primary` (and the `group` / `subscript` arguments of commands) for the parser."""

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
            if not is_expr(inner):
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
        if len(items) == 2 and all(is_expr(v) for v in items):
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
        if self.peek()[0] == "word" and is_expr(arg) and arg.is_number:
            arg = self.arith("*", arg, self.postfix())  # \sin 2x
        if not is_expr(arg) or (base is not None and not is_expr(base)):
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
            if not (is_expr(n) and is_expr(k)) or (n.is_Integer and n > self.lim.max_factorial):
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
