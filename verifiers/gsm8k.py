"""GSM8K grader: one final number, compared exactly.

Three modes (constructor option `mode`, or the registered names):

* ``"gsm8k"`` / ``mode="default"`` - extraction cascade: the number after the last ``####``,
  else the last ``\\boxed{}``, else after the last "the answer is", else the last number in the
  response (flagged ``fallback_last_number``: a weak rule, worth watching in logs). Values are
  compared as exact fractions, so ``18.00`` = ``18``, ``1/2`` = ``0.5``, ``$1,000`` = ``1000``.
* ``"gsm8k-strict"`` / ``"gsm8k-flexible"`` - lm-eval-harness's ``gsm8k`` filters, reproduced
  string-for-string so rewards can be compared with published numbers (see `_lm_eval_check`).

A number is never read out of an expression, and an expression is never paid for its value: a
box is read whole (`box_value`), and a number that is an operand in the ``####`` line, the
"answer is" phrase or the last-number fallback (``\\sqrt{16}``, ``5! ways``, ``16-5``, see
`verifiers.operands.is_operand`) is not that number. An answer must state its number
(`stated_value`): written as a number (``18``, ``1/2``, ``2\\frac{1}{2}``), or an equation that ends
in it (``16 - 3 = 13``). ``4 - 4 - 6``, ``2^3``, ``\\sqrt{16}``, ``5!`` only restate a
computation (a policy under RL learns to copy the prompt's "4 - 4 - 6 =" as its answer): they are
not a number (reason "parse_error"). A last box that never closes is no answer, and one longer than
`_MAX_EXPRESSION_CHARS` is reason "too_long": neither is skipped for an earlier box or a number
outside it.

The gold may be the full GSM8K answer (worked solution ending ``#### 18``) or just ``18``.
Only regexes, `Fraction` and the math grader's own whitelist parser run on model text:
nothing is evaluated.
"""

from __future__ import annotations

import re
from fractions import Fraction
from typing import Any, Literal

import sympy as sp

from verifiers.base import Verdict, Verifier, failed
from verifiers.budget import Budget, BudgetExceeded
# Shared with the math grader: balanced braces, nested boxes, `\boxed X`, cut-off boxes.
from verifiers.math.boxes import UnreadableBox, answer_box, last_boxed  # noqa: F401 (re-exported)
from verifiers.math.normalize import normalize
from verifiers.math.parse import parse_math
from verifiers.math.values import Pct, Rel
from verifiers.numbers import (OPERATOR_WORDS, NumberTooLarge, format_number, is_undone_division, iter_numbers,
                               last_number, parse_number)
from verifiers.operands import is_operand
from verifiers.registry import register_verifier

Mode = Literal["default", "strict", "flexible"]

_HASHES = "####"
# "is\b": "the answer isn't 5" is not an answer of 5.
_ANSWER_IS = re.compile(r"(?:final\s+)?answer\s*(?:is\b|:|=)\s*[:=]?", re.IGNORECASE)
# lm-eval-harness lm_eval/tasks/gsm8k/gsm8k.yaml (v3.0), filter_list + metric_list.
LM_EVAL_STRICT = re.compile(r"#### (\-?[0-9\.\,]+)")
LM_EVAL_FLEXIBLE = re.compile(r"(-?[$0-9.,]{2,})|(-?[0-9]+)")
_LM_EVAL_IGNORE = [re.compile(r","), re.compile(r"\$"), re.compile(r"(?s).*#### "), re.compile(r"\.$")]
#: Longest answer read as an expression (a box, or a span whose number is an operand): the
#: math grader's `Limits.max_answer_chars`. A longer box cannot be read: reason "too_long".
_MAX_EXPRESSION_CHARS = 1000
# GSM8K's calculator annotations, "<<9*2=18>>": the result follows each one.
_CALCULATOR_MARK = re.compile(r"<<[^<>\n]{0,200}>>")
# Two numbers side by side: a mixed number ("18 1/2") or two answers ("18 20"), not a product.
_NUMBER_SPACE_NUMBER = re.compile(r"\d\s+\.?\d")
#: CPU seconds to parse one expression answer (the math grader's default budget).
_EXPRESSION_SECONDS = 0.2
# "x = 5", "n=5", "\text{Total} = \$18", "x_1 = 5": a name (letters, words) given one value.
# "2\frac{1}{2}", "-2 \dfrac{1}{2}": a mixed number, which `parse_number` does not read
_MIXED_NUMBER = re.compile(r"\s*[-−]?\s*\d+\s*\\[dt]?frac\s*\{\s*\d+\s*\}\s*\{\s*\d+\s*\}\s*")
# "(18)", "\left( 18 \right)": a number in brackets
_PARENTHESIZED = re.compile(r"\s*(?:\\left\s*)?\(\s*([^()]*?)\s*(?:\\right\s*)?\)\s*")
_ASSIGNMENT = re.compile(
    r"\s*(?:\\(?:text|mathrm|textbf|mbox)\s*\{\s*[A-Za-z][A-Za-z' ]*\}|[A-Za-z][A-Za-z' ]*?)"
    r"(?:_\{?[A-Za-z0-9]+\}?)?\s*=\s*(?P<value>[^=]+)")


def _drop_through_last_hashes(s: str) -> str:
    """Same result as ``re.sub(r"(?s).*#### ", "", s)`` (greedy: through the last "#### "), in
    linear time; the regex retries from every position when there is no "#### " (quadratic)."""
    i = s.rfind("#### ")
    return s[i + 5:] if i >= 0 else s


class NotANumber(ValueError):
    """The answer span states an expression that is not one exact number ("x^2", "2\\pi",
    "1, 2"), or a number inside an operation that cannot be read ("16 - 3 = 12")."""


def _exact(value: Any) -> Fraction | None:
    """A parsed answer as an exact rational, or None. A percent is its number (a unit here, as
    in `parse_number`). An equation is its number when every side is the same rational, or a
    name on the left ("x = 5", "16 - 3 = 13"); anything else (a symbol, pi, a list, a set, an
    inequality, "16 - 3 = 12") is not a number."""
    if isinstance(value, Pct):
        value = value.value
    if isinstance(value, Rel):
        sides = value.parts[1:] if isinstance(value.parts[0], sp.Symbol) else value.parts
        found = {_exact(side) for side in sides}
        if set(value.ops) != {"="} or len(found) != 1 or None in found:
            return None
        return found.pop()
    if isinstance(value, sp.Rational):  # sympy evaluates \sqrt{16}, 5!, 2^3 to Integers
        return Fraction(int(value.p), int(value.q))
    return None


def expression_value(text: str) -> Fraction | None:
    """The exact value of an answer written as an expression ("\\sqrt{16}" = 4, "5!" = 120,
    "2^3" = 8, "\\frac{1}{2}" = 1/2, "2\\frac{1}{2}" = 5/2, "-\\sqrt{4}" = -2, "x = 5" = 5),
    read by the math grader's own parser (LaTeX normalized first); None when it is not an exact
    rational number or does not parse. Raises `BudgetExceeded` past the time or size limits."""
    if len(text) > _MAX_EXPRESSION_CHARS or OPERATOR_WORDS.search(text):
        return None  # normalize drops trailing words: "18 squared" must not read as 18
    norm = normalize(text)
    if not norm or _NUMBER_SPACE_NUMBER.search(norm):
        return None  # "18 1/2" is 18 and a half to a reader, 9 to the parser: not read at all
    try:
        value = parse_math(norm, Budget(_EXPRESSION_SECONDS))
    except (OverflowError, RecursionError, MemoryError) as exc:
        raise BudgetExceeded(f"{type(exc).__name__} while reading the answer") from None
    except (ValueError, TypeError, ArithmeticError):  # ParseError is a ValueError
        return None
    return _exact(value)


def written_number(text: str) -> Fraction | None:
    """``text`` as one written number (`parse_number`: ``18``, ``$1,000``, ``1/2``, ``36/2``,
    ``\\frac{3}{4}``, ``18 dollars``), in brackets (``(18)``) or a mixed number (``2\\frac{1}{2}``);
    None otherwise. A fraction is a number here however it is written; the grader then refuses
    one written for a whole number (``36/2`` for 18, `is_undone_division`)."""
    value = parse_number(text)
    if value is None and _MIXED_NUMBER.fullmatch(text) and not OPERATOR_WORDS.search(text):
        value = expression_value(text)
    if value is None and (inner := _PARENTHESIZED.fullmatch(text)) is not None:
        return written_number(inner.group(1))
    return value


def stated_value(text: str) -> Fraction | None:
    """The number an answer states: `written_number`, or an equation whose last side is a written
    number and whose every side has that value (``16 - 3 = 13`` = 13, ``9 \\times 2 = 18`` = 18).
    None for anything else, however exact its value: ``4 - 4 - 6``, ``2^3``, ``5!``,
    ``\\sqrt{16}``, ``1 + 5 = 1 + 5``, ``16 - 3 = 12``. An answer that only restates a
    computation has not done it, so it is never paid for the computation's value. Raises
    `BudgetExceeded` past the time or size limits."""
    value = written_number(text)
    if value is not None or "=" not in text:
        return value
    last = written_number(text.rsplit("=", 1)[1])
    return last if last is not None and expression_value(text) == last else None


def box_value(content: str) -> Fraction | None:
    """The value of a `\\boxed{}` answer; None when it is not one number. A box holds an
    expression, so it is read whole, never as a number found inside it:

    * one written number (`written_number`): ``1,000``, ``\\$18``, ``$18.00``, ``18.``,
      ``18.00``, ``50\\%`` (= 50), ``\\frac{1}{2}``, ``2\\frac{1}{2}``, ``18 dollars``, ``5 \\text{ eggs}``, ``(18)``;
    * a name given a value: ``x = 5``, ``n=5``, ``\\text{Total} = \\$18`` -> the value;
    * an equation ending in its value (`stated_value`): ``16 - 3 = 13`` = 13;
    * anything else is not a number: ``x^2``, ``2\\pi``, ``\\sqrt{2}``, ``5 x``, ``1, 2``, prose
      ("Janet makes \\$18"), ``16 - 3 = 12``, and expressions that only restate a computation:
      ``\\sqrt{16}``, ``5!``, ``2^3``, ``4 - 4 - 6``. (A fraction is read as its value,
      ``\\frac{36}{2}`` = 18; the grader refuses it for a gold of 18, `is_undone_division`.)

    Raises `NumberTooLarge` / `BudgetExceeded` over the size or time limits."""
    value = written_number(content)
    if value is not None:
        return value
    named = _ASSIGNMENT.fullmatch(content)
    if named is not None:
        content = named.group("value")
        value = written_number(content)
        if value is not None:
            return value
    return stated_value(content)


def _span_number(span: str) -> tuple[Fraction, str] | None:
    """The number a ``####`` line or an "answer is" phrase states: the span as one number
    ('$1,000.00 dollars'), else its first number when that number stands alone ('18. She
    earns...', '18 because...'); None when the span has no number. When the first number is an
    operand ('\\sqrt{16}', '5! ways', '2^3', '16 - 3 = 13'; see `is_operand`) the span states an
    expression: the number it states ('16 - 3 = 13' = 13, `stated_value`), else `NotANumber`,
    never the bare number nor the expression's value ('2^3', '4 - 4 - 6')."""
    value = written_number(span)
    if value is not None:
        return value, span.strip().rstrip(".")
    first = next(iter_numbers(span), None)
    if first is None:
        return None
    if not is_operand(span, first.start, first.end):
        return first.value, first.text
    value = stated_value(span)
    if value is None:
        raise NotANumber(span)
    return value, span.strip()


def _read_span(span: str, rule: str) -> tuple[Fraction | None, str, str, tuple[str, ...]] | None:
    """`_span_number` as an `extract_answer` result; None when the span has no number. GSM8K's
    calculator marks go first: "<<8=8>>8" states 8, as the number after the mark repeats it."""
    span = _CALCULATOR_MARK.sub("", span)
    try:
        got = _span_number(span)
    except NotANumber:
        return None, span.strip(), rule, (f"{rule}_not_a_number",)
    return None if got is None else (got[0], got[1], rule, ())


def _read_box(text: str) -> str | None:
    """The answer box's content, or None without a box. Raises `UnreadableBox` when it never
    closes or is longer than an expression is read (its answer cannot be read whole)."""
    content = answer_box(text)
    if content is not None and len(content) > _MAX_EXPRESSION_CHARS:
        raise UnreadableBox("too_long", f"boxed answer of {len(content)} chars is over the "
                                        f"{_MAX_EXPRESSION_CHARS}-char limit")
    return content


def extract_answer(text: str) -> tuple[Fraction | None, str, str, tuple[str, ...]]:
    """Cascade over a response: (value or None, extracted span, rule, flags).

    A value of None with a span means the committed answer is not one number (the check gives
    reason "parse_error"; flag "<rule>_not_a_number"). Raises `NumberTooLarge` /
    `BudgetExceeded` over the size or time limits, and `UnreadableBox` for a last box that
    never closes or is too long (never skipped for an earlier box or a number outside it).
    """
    if len(text) < 80:  # a bare answer ("1 000", "$18.00"): the whole response is the number
        value = written_number(text)
        if value is not None:
            return value, text.strip().rstrip("."), "whole", ()
    if _HASHES in text:
        # Rest of the line after the last "####": models echo the few-shot format, and the
        # final one is the answer they commit to.
        tail = text[text.rfind(_HASHES) + len(_HASHES):].strip().split("\n", 1)[0]
        got = _read_span(tail, "hashes")
        if got is not None:
            return got
    boxed = _read_box(text)
    if boxed is not None:
        value = box_value(boxed)
        return value, boxed, "boxed", () if value is not None else ("boxed_not_a_number",)
    said = None
    for said in _ANSWER_IS.finditer(text):
        pass
    if said is not None:
        # The rest of that line as one number first, so "Answer: 2 560" is 2560, not 2.
        after = text[said.end():said.end() + 200].split("\n", 1)[0]
        got = _read_span(after, "answer_is")
        if got is not None:
            return got
    last = last_number(text)
    if last is None:
        return None, "", "", ()
    if is_operand(text, last.start, last.end):  # "... = \sqrt{16}", "there are 5! ways"
        return None, last.text, "last_number", ("fallback_last_number", "last_number_not_a_number")
    return last.value, last.text, "last_number", ("fallback_last_number",)


def gold_value(answer: str) -> Fraction | None:
    """The gold number: after the last ``####`` if present, else the whole string as a number,
    else the extraction cascade (a gold written like a response). Raises like
    `extract_answer`, and `NotANumber` for a ``####`` line that states no number."""
    if _HASHES in answer:
        got = _span_number(answer[answer.rfind(_HASHES) + len(_HASHES):])
        return got[0] if got else None
    value = parse_number(answer)
    if value is None:
        value = extract_answer(answer)[0]
    return value


def _lm_eval_filter(s: str) -> str:
    for rx in _LM_EVAL_IGNORE:
        s = _drop_through_last_hashes(s) if rx.pattern == r"(?s).*#### " else rx.sub("", s)
    return s.lower()


def _lm_eval_check(response: str, answer: str, mode: Mode) -> Verdict:
    """lm-eval's pipeline: regex filter (strict: first match; flexible: last match, first
    non-empty group) -> strip -> regexes_to_ignore [',', '\\$', '(?s).*#### ', '\\.$'] on both
    sides -> lowercase -> string equality. The gold is ``answer.split('####')[-1].strip()``."""
    rx = LM_EVAL_STRICT if mode == "strict" else LM_EVAL_FLEXIBLE
    matches = rx.findall(response)
    rule = f"lm_eval_{mode}"
    gold = _lm_eval_filter(answer.split(_HASHES)[-1].strip())
    if not matches:
        # lm-eval's fallback string "[invalid]" never equals a gold number.
        return failed("no_answer", rule=rule, normalized_gold=gold)
    m = matches[0] if mode == "strict" else matches[-1]
    if isinstance(m, tuple):
        m = next((g for g in m if g), "[invalid]")
    extracted = m.strip()
    pred = _lm_eval_filter(extracted)
    ok = pred == gold
    return Verdict(reward=float(ok), correct=ok, extracted=extracted, normalized_pred=pred,
                   normalized_gold=gold, rule=rule, reason="" if ok else "mismatch")


@register_verifier("gsm8k")
class GSM8KVerifier(Verifier):
    """Final-number grader for GSM8K-style answers. ``mode``: "default" (exact-fraction
    comparison after an extraction cascade), "strict" or "flexible" (lm-eval-harness)."""

    name = "gsm8k"

    def __init__(self, mode: Mode = "default"):
        if mode not in ("default", "strict", "flexible"):
            raise ValueError(f"unknown gsm8k mode {mode!r}; use 'default', 'strict' or 'flexible' "
                             "(or the registered names 'gsm8k-strict' / 'gsm8k-flexible')")
        self.mode: Mode = mode
        if mode != "default":
            self.name = f"gsm8k-{mode}"

    def __reduce__(self):  # picklable for check_many's process pool
        return (type(self), (self.mode,))

    def _check(self, response: str, answer: str) -> Verdict:
        if self.mode != "default":
            return _lm_eval_check(response, answer, self.mode)
        try:
            gold = gold_value(answer)
        except (NumberTooLarge, BudgetExceeded) as exc:
            return failed("budget", flags=(f"gold: {exc}",))
        except (NotANumber, UnreadableBox):
            gold = None
        if gold is None:
            return failed("parse_error", flags=("gold_unparseable",),
                          normalized_gold=answer[-100:])
        gold_text = format_number(gold)
        try:
            value, span, rule, flags = extract_answer(response)
        except (NumberTooLarge, BudgetExceeded) as exc:
            return failed("budget", normalized_gold=gold_text, flags=(str(exc),))
        except UnreadableBox as exc:  # the last box is cut off or too long: not graded on a part
            return failed(exc.reason, rule="boxed", normalized_gold=gold_text, flags=(exc.flag,))
        if (value is not None and is_undone_division(span.rsplit("=", 1)[-1], value)
                and not is_undone_division(answer.rsplit(_HASHES, 1)[-1], gold)):
            value, flags = None, (*flags, f"{rule}_not_a_number")  # "36/2" for 18 states no number
        if value is None:
            reason = "parse_error" if span else "no_answer"
            return failed(reason, extracted=span, rule=rule, normalized_gold=gold_text, flags=flags)
        ok = value == gold
        return Verdict(reward=float(ok), correct=ok, extracted=span, normalized_pred=format_number(value),
                       normalized_gold=gold_text, rule=rule, reason="" if ok else "mismatch", flags=flags)


@register_verifier("gsm8k-strict")
class GSM8KStrictVerifier(GSM8KVerifier):
    """lm-eval-harness ``strict-match``: first ``#### <number>``, string compare after filters."""

    def __init__(self, mode: Mode = "strict"):
        super().__init__(mode)


@register_verifier("gsm8k-flexible")
class GSM8KFlexibleVerifier(GSM8KVerifier):
    """lm-eval-harness ``flexible-extract``: the last number-like run, string compare after filters."""

    def __init__(self, mode: Mode = "flexible"):
        super().__init__(mode)
