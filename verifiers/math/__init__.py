"""The `math` verifier: last `\\boxed{}` answer vs a gold answer, by value.

Registered as "math". Pipeline: extract (`boxes.py`, `extract.py`) -> normalize LaTeX
(`normalize.py`) -> string / plain-number fast paths -> safe parse to sympy (`parse.py`) -> compare
(`equivalence.py`), all under a cooperative per-check time budget (`verifiers.budget`).
"""

from __future__ import annotations

import re
import threading
from fractions import Fraction
from functools import lru_cache
from typing import Any

import sympy as sp

from verifiers.base import Verdict, Verifier, failed
from verifiers.budget import DEFAULT_LIMITS, Budget, BudgetExceeded, Limits
from verifiers.math.equivalence import equivalent
from verifiers.math.boxes import UnreadableBox, all_boxes, answer_box, last_boxed
from verifiers.math.extract import extract_answer, extract_gold
from verifiers.math.normalize import choice_letter, normalize, text_key
from verifiers.math.options import CompareOptions, check_precision, renamings, using
from verifiers.math.parse import ParseError, parse_math
from verifiers.math.values import Rel, Seq
from verifiers.numbers import NumberTooLarge, is_undone_division, parse_number
from verifiers.registry import register_verifier

__all__ = ["MathVerifier", "extract_answer", "extract_gold", "last_boxed", "normalize",
           "parse_math", "equivalent"]

_PLAIN_NUMBER_RE = re.compile(r"-?(?:\d+(?:\.\d*)?|\.\d+)(?:/\d+)?")
# "1,22" / "0,111" / "1000,99": a decimal comma, read so only against a single plain number
# on the other side ("1,000" is a thousands separator, "1, 2" and "1,2" vs "1, 2" are lists).
_DECIMAL_COMMA_RE = re.compile(r"-?(?:0,\d+|\d+,(?!\d{3}$)\d+)")
# A rational number written as one, in normalized text: "18", "-0.5", "1/2", "\frac{3}{4}", "\frac12",
# "2\frac{1}{2}", "1.5\times10^{3}", in brackets or not. Against a rational gold the answer (the last
# side of an equation) must be one of these, and not a fraction for a whole number: "1+5", "\sqrt{16}",
# "2^3", "36/2" restate a computation.
_NUMERAL_RE = re.compile(
    r"[-+]?\s*(?:(?:\d+\s+)?(?:\d+(?:\.\d*)?|\.\d+)(?:\s*/\s*\d+)?"
    r"(?:\s*(?:\\times|\\cdot)\s*10\s*\^\s*(?:\{\s*[-+]?\d+\s*\}|\d))?"
    r"|(?:\d+\s*)?\\frac\s*(?:\{\s*[-+]?\d+\s*\}|\d)\s*(?:\{\s*\d+\s*\}|\d))")
_BRACKETED = re.compile(r"\\?[({]\s*(.*?)\s*\\?[)}]")
# what an answer states its value after: `=` (not <=, >=, !=) or \approx
_STATED_RE = re.compile(r"(?<![<>!])=|\\approx")
# `=` that is not part of <=, >=, !=
_TOP_EQUALS_RE = re.compile(r"(?<![<>!])=")
#: Time allowed to parse one gold answer (our data, parsed once per distinct gold and cached).
_GOLD_SECONDS = 1.0
_SHOW_CHARS = 300
_GOLD_TAIL = "gold read from the end of its equality chain"


def _show(v: Any) -> str:
    """A short printable form of a compared value (huge integers print as a placeholder)."""
    try:
        s = str(v)
    except ValueError:  # more digits than Python will print
        return "<number too large to print>"
    return s if len(s) <= _SHOW_CHARS else s[:_SHOW_CHARS] + "..."


@lru_cache(maxsize=65536)
def _parse_gold(gold_norm: str, limits: Limits) -> tuple[Any, str]:
    """(parsed value or None, why not / how) for a normalized gold answer; cached per string."""
    try:
        return _parse(gold_norm, Budget(_GOLD_SECONDS, limits)), ""
    except ParseError as exc:
        why = f"gold not parsed: {exc}"[:200]
    except BudgetExceeded as exc:
        return None, f"gold over budget: {exc}"[:200]
    # "1 = \\zzz = x = 0": a chain of equalities states its answer at the end, so the
    # longest tail that parses ("x = 0") is the gold; else the caller compares text
    budget = Budget(_GOLD_SECONDS, limits)  # one budget for all the tails
    for m in _TOP_EQUALS_RE.finditer(gold_norm):
        try:
            return _parse(gold_norm[m.end():].strip(), budget), _GOLD_TAIL
        except ParseError:
            continue
        except BudgetExceeded:
            break
    return None, why


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


def _states_number(pred: str) -> bool:
    """Does the normalized answer end in a written rational number ("18", "x = 18", "16 - 3 = 13")?
    An answer graded against a gold written as a number must state it: a policy under RL learns to copy the prompt's
    "4 - 4 - 6 =" or "\\sqrt{16}" as its answer, and a grader that paid their value would pay for
    no work."""
    last = _STATED_RE.split(pred)[-1].strip()  # "x = 13", "x = \frac13 \approx 0.33", "x \approx 11"
    while (inner := _BRACKETED.fullmatch(last)) is not None:  # "(18)", "\{\{18\}\}"
        last = inner.group(1)
    if not _NUMERAL_RE.fullmatch(last):
        return False
    try:
        value = parse_number(last)
    except NumberTooLarge:  # a numeral past parse_number's cap, not a fraction anyone restates
        return True
    return value is None or not is_undone_division(last, value)  # "36/2" for 18: the division undone


@register_verifier("math")
class MathVerifier(Verifier):
    """Grades the last `\\boxed{}` answer of a response against a gold answer by value.

    seconds: per-check wall-clock budget (cooperative, safe in threads and worker processes).
    limits: size guards (answer length, nesting, integer sizes); see `verifiers.budget.Limits`.
    extraction: where the answer is looked for when there is no `\\boxed{}`.
      "all" (default): "final answer is X", the last `$...$` span, a short response as a
      whole, then the last number (each reported in `flags`);
      "latex": the first two only, never a number or text from plain prose (math-verify's
      LaTeX-only `extraction_config=[LatexExtractionConfig()]`);
      "boxed": boxed answers only. `fallback_extraction=False` is the older spelling of "boxed".
    precision: None (default) compares numbers exactly. n: two real numbers that agree after
      rounding to n decimal places are equal when either answer is written as a decimal
      (`1/3` = `0.33` with 2; math-verify's `float_rounding`). See `verifiers.math.options`.
    strict: True (default): variable names matter and a set is not a tuple. False: the
      prediction's variables are renamed to the gold's (`f(y)` = `f(x)`) and sets compare with
      tuples (math-verify's `strict=False`).
    """

    name = "math"
    EXTRACTIONS = ("all", "latex", "boxed")

    def __init__(self, seconds: float = 0.2, limits: Limits = DEFAULT_LIMITS,
                 fallback_extraction: bool = True, extraction: str = "all",
                 precision: int | None = None, strict: bool = True):
        if not seconds > 0:
            raise ValueError(f"MathVerifier(seconds={seconds!r}): the budget must be > 0 s, e.g. 0.2")
        if not isinstance(limits, Limits):
            raise TypeError("MathVerifier(limits=...) takes a verifiers.budget.Limits instance")
        if extraction not in self.EXTRACTIONS:
            raise ValueError(f"MathVerifier(extraction={extraction!r}): choose one of {self.EXTRACTIONS}")
        if not isinstance(strict, bool):
            raise TypeError(f"MathVerifier(strict={strict!r}) takes True or False")
        self.seconds = seconds
        self.limits = limits
        self.extraction = extraction if fallback_extraction else "boxed"
        self.fallback_extraction = self.extraction != "boxed"
        self.options = CompareOptions(precision=check_precision(precision), strict=strict)
        _warm_up()

    def _check(self, response: str, answer: str) -> Verdict:
        _warm_up()
        try:
            span, flags = self._extract(response)
        except UnreadableBox as exc:  # the last box cannot be read whole: never graded on a part
            return failed(exc.reason, flags=(exc.flag,))
        if span is None:
            return failed("no_answer", flags=flags)
        max_chars = self.limits.max_answer_chars
        if len(span) > max_chars:
            return failed("too_long", extracted=span[:200], flags=flags + (
                f"answer of {len(span)} chars is over the {max_chars}-char limit",))
        gold_span = extract_gold(answer)
        if len(gold_span) > max_chars:
            return failed("error", extracted=span, flags=flags + (
                f"gold answer longer than {max_chars} chars; pass the final answer, not a solution "
                "without \\boxed{}",))
        budget = Budget(self.seconds, self.limits)
        gold_norm = normalize(gold_span)
        if not flags:  # a boxed answer: several boxes may be the parts of a list answer
            span, flags = self._all_boxes_if_listed(response, span, gold_norm)
        pred_norm = normalize(span)
        verdict = dict(extracted=span, normalized_gold=gold_norm, normalized_pred=pred_norm,
                       flags=flags)
        try:
            with using(self.options, gold_norm, pred_norm):
                rule, reason, shown = self._compare(gold_norm, pred_norm, budget)
        except (BudgetExceeded, OverflowError, RecursionError) as exc:
            return failed("budget", **{**verdict, "flags": flags + (
                f"{type(exc).__name__}: {exc}"[:200],)})
        verdict.update(shown)
        if rule is None:
            return failed(reason, **verdict)
        return Verdict(reward=1.0, correct=True, rule=rule, **verdict)

    def _extract(self, response: str) -> tuple[str | None, tuple[str, ...]]:
        """(answer span or None, flags) by the `extraction` option; raises `UnreadableBox`."""
        if self.extraction == "boxed":
            return answer_box(response), ()
        return extract_answer(response, latex_only=self.extraction == "latex")

    def _all_boxes_if_listed(self, response: str, span: str, gold_norm: str
                             ) -> tuple[str, tuple[str, ...]]:
        """Every box of the response as one list when the gold is a list/tuple of exactly
        that many items ("\\boxed{(3,3)} for part (a) and \\boxed{(1,1)}"); else the last
        (with its adjacent boxes, as `last_boxed` reads them)."""
        boxes = all_boxes(response)
        if len(boxes) < 2:
            return span, ()
        gold_val, _ = _parse_gold(gold_norm, self.limits)
        # a tuple of plain numbers ("(0,0)") is one answer, not one per box; a list of them,
        # or a tuple of tuples, is several
        if isinstance(gold_val, Seq) and len(gold_val.items) == len(boxes) and (
                gold_val.kind in ("list", "set")
                or all(isinstance(x, Seq) for x in gold_val.items)):
            return ", ".join(b.strip() for b in boxes), ("all_boxes",)
        return span, ()

    def _compare(self, gold: str, pred: str, budget: Budget) -> tuple[str | None, str, dict]:
        if gold == pred:
            return "string", "", {}
        for comma, other in ((gold, pred), (pred, gold)):
            if _DECIMAL_COMMA_RE.fullmatch(comma) and _PLAIN_NUMBER_RE.fullmatch(other):
                same = Fraction(comma.replace(",", ".")) == Fraction(other)
                return ("numeric" if same else None), "mismatch", {}
        letter = choice_letter(gold)
        if letter is not None:
            return ("choice" if choice_letter(pred) == letter else None), "mismatch", {}
        if _PLAIN_NUMBER_RE.fullmatch(gold) and _PLAIN_NUMBER_RE.fullmatch(pred) and (
                self.options.precision is None):
            # exact rationals without sympy: the common case, in microseconds
            gold_num, pred_num = Fraction(gold), Fraction(pred)
            if is_undone_division(pred, pred_num) and not is_undone_division(gold, gold_num):
                return None, "parse_error", {}  # "36/2" for 18, as `_states_number`
            return ("numeric" if gold_num == pred_num else None), "mismatch", {}
        gold_val, gold_note = _parse_gold(gold, self.limits)
        try:
            pred_val = _parse(pred, budget)
        except ParseError:
            pred_val = None
        if gold_val is None or (pred_val is None and gold_note == _GOLD_TAIL):
            # a text answer ("Monday", "\\text{Evelyn}"), or the same unparsed chain
            same = bool(text_key(gold)) and text_key(gold) == text_key(pred)
            return ("text" if same else None), "mismatch", {}
        if pred_val is None:
            return None, "parse_error", {}
        shown = {"normalized_gold": _show(gold_val), "normalized_pred": _show(pred_val)}
        last = pred_val.parts[-1] if isinstance(pred_val, Rel) else pred_val
        if (isinstance(gold_val, sp.Rational) and isinstance(last, sp.Rational) and _states_number(gold)
                and not _states_number(pred)):  # "1+5", "\\sqrt{16}", "x = 5!" against a gold of 6, 4, 120
            return None, "parse_error", shown
        for candidate in renamings(gold_val, pred_val):  # more than one only with strict=False
            rule = equivalent(gold_val, candidate, budget)
            if rule is not None:
                return rule, "", shown
        return None, "mismatch", shown
