"""The `math` verifier: last `\\boxed{}` answer vs a gold answer, by value.

Registered as "math". Pipeline: extract (`extract.py`) -> normalize LaTeX (`normalize.py`)
-> string / plain-number fast paths -> safe parse to sympy (`parse.py`) -> compare
(`equivalence.py`), all under a cooperative per-check time budget (`verifiers.budget`).
"""

from __future__ import annotations

import re
import threading
from fractions import Fraction
from functools import lru_cache
from typing import Any

from verifiers.base import Verdict, Verifier, failed
from verifiers.budget import DEFAULT_LIMITS, Budget, BudgetExceeded, Limits
from verifiers.math.equivalence import equivalent
from verifiers.math.extract import extract_answer, extract_gold, last_boxed
from verifiers.math.normalize import choice_letter, normalize, text_key
from verifiers.math.parse import ParseError, parse_math
from verifiers.registry import register_verifier

__all__ = ["MathVerifier", "extract_answer", "extract_gold", "last_boxed", "normalize",
           "parse_math", "equivalent"]

_PLAIN_NUMBER_RE = re.compile(r"-?(?:\d+(?:\.\d*)?|\.\d+)(?:/\d+)?")
#: Time allowed to parse one gold answer (our data, parsed once per distinct gold and cached).
_GOLD_SECONDS = 1.0
_SHOW_CHARS = 300


def _show(v: Any) -> str:
    """A short printable form of a compared value (huge integers print as a placeholder)."""
    try:
        s = str(v)
    except ValueError:  # more digits than Python will print
        return "<number too large to print>"
    return s if len(s) <= _SHOW_CHARS else s[:_SHOW_CHARS] + "..."


@lru_cache(maxsize=65536)
def _parse_gold(gold_norm: str, limits: Limits) -> tuple[Any, str]:
    """(parsed value or None, why not) for a normalized gold answer; cached per string."""
    try:
        return _parse(gold_norm, Budget(_GOLD_SECONDS, limits)), ""
    except ParseError as exc:
        return None, f"gold not parsed: {exc}"[:200]
    except BudgetExceeded as exc:
        return None, f"gold over budget: {exc}"[:200]


def _parse(text: str, budget: Budget) -> Any:
    """`parse_math`, with sympy's own failures on odd input mapped to our two outcomes."""
    try:
        return parse_math(text, budget)
    except (OverflowError, RecursionError, MemoryError) as exc:
        raise BudgetExceeded(f"{type(exc).__name__} while building the answer") from None
    except (ValueError, TypeError, ArithmeticError) as exc:  # ParseError is a ValueError
        raise ParseError(str(exc)[:200]) from None


_WARM_UP = (("\\boxed{\\sqrt{1/n}+x^2}", "\\frac{1}{\\sqrt n}+x^2"),
            ("\\boxed{(1,2]}", "1<x\\le 2"), ("\\boxed{2x+2y=2}", "x+y=1"),
            ("\\boxed{\\sin^2 x}", "1-\\cos^2 x"), ("\\boxed{\\pi}", "\\sqrt{2}"))
_warm_lock = threading.RLock()  # re-entrant: the warm-up checks below call back in
_warm_started = False
_warm_done = False


def _warm_up() -> None:
    """sympy imports parts of itself lazily on first use (~0.4 s); pay that once per process
    outside any check's budget. Other threads wait for it instead of racing their budgets."""
    global _warm_started, _warm_done
    if _warm_done:
        return
    with _warm_lock:
        if _warm_started:
            return
        _warm_started = True
        import sympy

        x = sympy.Symbol("x")
        sympy.simplify(sympy.sin(x) ** 2 + sympy.cos(x) ** 2 - 1)
        verifier = MathVerifier(seconds=5.0)
        for response, gold in _WARM_UP:
            verifier._check(response, gold)
        _warm_done = True


@register_verifier("math")
class MathVerifier(Verifier):
    """Grades the last `\\boxed{}` answer of a response against a gold answer by value.

    seconds: per-check wall-clock budget (cooperative, safe in threads and worker processes).
    limits: size guards (answer length, nesting, integer sizes); see `verifiers.budget.Limits`.
    fallback_extraction: without a `\\boxed{}`, try "final answer is X", the last `$...$`
    span, a short response as a whole, then the last number (each reported in `flags`).
    Set False to reward boxed answers only.
    """

    name = "math"

    def __init__(self, seconds: float = 0.2, limits: Limits = DEFAULT_LIMITS,
                 fallback_extraction: bool = True):
        if not seconds > 0:
            raise ValueError(f"MathVerifier(seconds={seconds!r}): the budget must be > 0 s, e.g. 0.2")
        if not isinstance(limits, Limits):
            raise TypeError("MathVerifier(limits=...) takes a verifiers.budget.Limits instance")
        self.seconds = seconds
        self.limits = limits
        self.fallback_extraction = fallback_extraction
        _warm_up()

    def _check(self, response: str, answer: str) -> Verdict:
        _warm_up()
        if self.fallback_extraction:
            span, flags = extract_answer(response)
        else:
            span, flags = last_boxed(response), ()
        if span is None:
            return failed("no_answer")
        max_chars = self.limits.max_answer_chars
        if len(span) > max_chars:
            return failed("input_too_long", extracted=span[:200], flags=flags + (
                f"answer longer than {max_chars} chars",))
        gold_span = extract_gold(answer)
        if len(gold_span) > max_chars:
            return failed("error", extracted=span, flags=flags + (
                f"gold answer longer than {max_chars} chars; pass the final answer, not a solution "
                "without \\boxed{}",))
        budget = Budget(self.seconds, self.limits)
        gold_norm, pred_norm = normalize(gold_span), normalize(span)
        verdict = dict(extracted=span, normalized_gold=gold_norm, normalized_pred=pred_norm,
                       flags=flags)
        try:
            rule, reason, shown = self._compare(gold_norm, pred_norm, budget)
        except (BudgetExceeded, OverflowError, RecursionError) as exc:
            return failed("budget", **{**verdict, "flags": flags + (
                f"{type(exc).__name__}: {exc}"[:200],)})
        verdict.update(shown)
        if rule is None:
            return failed(reason, **verdict)
        return Verdict(reward=1.0, correct=True, rule=rule, **verdict)

    def _compare(self, gold: str, pred: str, budget: Budget) -> tuple[str | None, str, dict]:
        if gold == pred:
            return "string", "", {}
        letter = choice_letter(gold)
        if letter is not None:
            return ("choice" if choice_letter(pred) == letter else None), "mismatch", {}
        if _PLAIN_NUMBER_RE.fullmatch(gold) and _PLAIN_NUMBER_RE.fullmatch(pred):
            # exact rationals without sympy: the common case, in microseconds
            same = Fraction(gold) == Fraction(pred)
            return ("numeric" if same else None), "mismatch", {}
        gold_val, _ = _parse_gold(gold, self.limits)
        try:
            pred_val = _parse(pred, budget)
        except ParseError:
            pred_val = None
        if gold_val is None:  # a text answer ("Monday", "\\text{Evelyn}")
            same = bool(text_key(gold)) and text_key(gold) == text_key(pred)
            return ("text" if same else None), "mismatch", {}
        if pred_val is None:
            return None, "parse_error", {}
        shown = {"normalized_gold": _show(gold_val), "normalized_pred": _show(pred_val)}
        rule = equivalent(gold_val, pred_val, budget)
        return rule, "mismatch", shown
