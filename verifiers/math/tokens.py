"""The parser's vocabulary: the token regex, the whitelisted commands and functions.

Anything not matched here is a `ParseError`: model text can only ever name these.
"""

from __future__ import annotations

import re

import sympy as sp

from verifiers.budget import BudgetExceeded


class ParseError(ValueError):
    """The text is not an answer this parser understands (reason "parse_error")."""


TOKEN_RE = re.compile(r"(\d+\.?\d*|\.\d+)|(\\[a-zA-Z]+|\\[{}|\\])|([a-zA-Z]+)"
                       r"|(<=|>=|!=|[-+*/^_=<>!()\[\]{},;:|&%])|(\s+)")
FUNCS = {"sin": sp.sin, "cos": sp.cos, "tan": sp.tan, "cot": sp.cot, "sec": sp.sec,
          "csc": sp.csc, "arcsin": sp.asin, "arccos": sp.acos, "arctan": sp.atan,
          "sinh": sp.sinh, "cosh": sp.cosh, "tanh": sp.tanh, "ln": sp.log, "log": sp.log,
          "exp": sp.exp}
GREEK = {"alpha", "beta", "gamma", "delta", "epsilon", "varepsilon", "zeta", "eta", "theta",
          "vartheta", "kappa", "lambda", "mu", "nu", "xi", "rho", "sigma", "tau", "phi",
          "varphi", "chi", "psi", "omega", "Gamma", "Delta", "Theta", "Lambda", "Sigma", "Phi",
          "Psi", "Omega"}
REL_OPS = {"=": "=", "<": "<", ">": ">", "<=": "<=", ">=": ">=", "!=": "!=",
            "\\le": "<=", "\\leq": "<=", "\\leqslant": "<=", "\\ge": ">=", "\\geq": ">=",
            "\\geqslant": ">=", "\\lt": "<", "\\gt": ">", "\\ne": "!=", "\\neq": "!=",
            "\\approx": "~", "\\in": "in"}
MUL_OPS = {"*", "\\cdot", "\\times"}
DIV_OPS = {"/", "\\div"}
MATRIX_ENVS = {"pmatrix", "bmatrix", "matrix", "vmatrix", "Bmatrix", "array", "smallmatrix"}


def tokenize(s: str, max_tokens: int) -> list[tuple[str, str]]:
    """(kind, text) tokens: kind in num, cmd, word, op. Anything else is a ParseError."""
    out: list[tuple[str, str]] = []
    pos = 0
    for m in TOKEN_RE.finditer(s):
        if m.start() != pos:
            break
        pos = m.end()
        if m.lastindex == 5:
            continue
        out.append((("num", "cmd", "word", "op")[m.lastindex - 1], m.group()))
        if len(out) > max_tokens:
            raise BudgetExceeded(f"more than {max_tokens} tokens")
    if pos != len(s):
        raise ParseError(f"unexpected character {s[pos]!r} at {pos}")
    return out
