"""Equivalent spellings of one answer folded into one form, and answers that only name a value.

`x = 5+5+1 = 11` is `x = 11`, `x \\in S` is S, `a \\pm b` the set {a + b, a - b}; `x`, `a_3`,
`f(x)`, `|AB|` and `A:B` are names (`x = 5` assigns the answer 5 to a name).
"""

from __future__ import annotations

from typing import Any

import sympy as sp

from verifiers.math.values import PM, Rel, Seq


def is_name(v: Any) -> bool:
    """A left-hand side that only names the answer: x, a_3, f(x) (read f*x), |AB|, A:B."""
    if isinstance(v, Seq) and v.kind in ("ratio", "pair", "tuple"):  # A:B, (p, q)
        return all(is_name(x) for x in v.items)
    if not isinstance(v, sp.Expr):
        return False
    if v.is_Symbol:
        return True
    if isinstance(v, sp.Abs):
        return is_name(v.args[0])
    # f(x) is read f*x; NO/BO is N/B
    return v.is_Mul and all(a.is_Symbol or isinstance(a, sp.Abs) or (
        a.is_Pow and a.base.is_Symbol and a.exp.is_Integer) for a in v.args)


def is_assignment(v: Any) -> bool:
    return isinstance(v, Rel) and v.ops == ("=",) and is_name(v.parts[0])


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
        if v.ops == ("in",) and is_name(v.parts[0]):
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
