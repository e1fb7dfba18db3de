"""GSM8K grader: one final number, compared exactly.

Three modes (constructor option `mode`, or the registered names):

* ``"gsm8k"`` / ``mode="default"`` - extraction cascade: the number after the last ``####``,
  else the last ``\\boxed{}``, else after the last "the answer is", else the last number in the
  response (flagged ``fallback_last_number``: a weak rule, worth watching in logs). Values are
  compared as exact fractions, so ``18.00`` = ``18``, ``1/2`` = ``0.5``, ``$1,000`` = ``1000``.
* ``"gsm8k-strict"`` / ``"gsm8k-flexible"`` - lm-eval-harness's ``gsm8k`` filters, reproduced
  string-for-string so rewards can be compared with published numbers (see `_lm_eval_check`).

The gold may be the full GSM8K answer (worked solution ending ``#### 18``) or just ``18``.
Only regexes and `Fraction` run on model text: nothing is evaluated.
"""

from __future__ import annotations

import itertools
import re
from fractions import Fraction
from typing import Literal

from verifiers.base import Verdict, Verifier, failed
# Shared with the math grader: balanced braces, `\boxed X`, skips a malformed last box.
from verifiers.math.extract import last_boxed
from verifiers.numbers import NumberTooLarge, format_number, iter_numbers, last_number, parse_number
from verifiers.registry import register_verifier

Mode = Literal["default", "strict", "flexible"]

_HASHES = "####"
# "is\b": "the answer isn't 5" is not an answer of 5.
_ANSWER_IS = re.compile(r"(?:final\s+)?answer\s*(?:is\b|:|=)\s*[:=]?", re.IGNORECASE)
# lm-eval-harness lm_eval/tasks/gsm8k/gsm8k.yaml (v3.0), filter_list + metric_list.
LM_EVAL_STRICT = re.compile(r"#### (\-?[0-9\.\,]+)")
LM_EVAL_FLEXIBLE = re.compile(r"(-?[$0-9.,]{2,})|(-?[0-9]+)")
_LM_EVAL_IGNORE = [re.compile(r","), re.compile(r"\$"), re.compile(r"(?s).*#### "), re.compile(r"\.$")]


def _drop_through_last_hashes(s: str) -> str:
    """Same result as ``re.sub(r"(?s).*#### ", "", s)`` (greedy: through the last "#### "), in
    linear time; the regex retries from every position when there is no "#### " (quadratic)."""
    i = s.rfind("#### ")
    return s[i + 5:] if i >= 0 else s


def _first_number_in(span: str) -> tuple[Fraction, str] | None:
    """The span as one number ('$1,000.00 dollars') else its first number; None if none."""
    value = parse_number(span)
    if value is not None:
        return value, span.strip().rstrip(".")
    first = next(iter_numbers(span), None)
    return (first.value, first.text) if first else None


def extract_answer(text: str) -> tuple[Fraction | None, str, str, tuple[str, ...]]:
    """Cascade over a response: (value or None, extracted span, rule, flags).

    Raises `NumberTooLarge` when the chosen span is a number over the size caps.
    """
    if len(text) < 80:  # a bare answer ("1 000", "$18.00"): the whole response is the number
        value = parse_number(text)
        if value is not None:
            return value, text.strip().rstrip("."), "whole", ()
    if _HASHES in text:
        # Rest of the line after the last "####": models echo the few-shot format, and the
        # final one is the answer they commit to.
        tail = text[text.rfind(_HASHES) + len(_HASHES):].strip().split("\n", 1)[0]
        got = _first_number_in(tail)
        if got:
            return got[0], got[1], "hashes", ()
    boxed = last_boxed(text)
    if boxed is not None:
        value = parse_number(boxed)
        if value is not None:
            return value, boxed, "boxed", ()
        nums = list(itertools.islice(iter_numbers(boxed), 2))
        if len(nums) == 1:  # "\boxed{x = 5}", "\boxed{5 \text{ eggs}}"
            return nums[0].value, boxed, "boxed", ()
        return None, boxed, "boxed", ()
    said = None
    for said in _ANSWER_IS.finditer(text):
        pass
    if said is not None:
        # The rest of that line as one number first, so "Answer: 2 560" is 2560, not 2.
        after = text[said.end():said.end() + 200].split("\n", 1)[0]
        got = _first_number_in(after)
        if got:
            return got[0], got[1], "answer_is", ()
    last = last_number(text)
    if last:
        return last.value, last.text, "last_number", ("fallback_last_number",)
    return None, "", "", ()


def gold_value(answer: str) -> Fraction | None:
    """The gold number: after the last ``####`` if present, else the whole string as a number,
    else the extraction cascade (a gold written like a response)."""
    if _HASHES in answer:
        got = _first_number_in(answer[answer.rfind(_HASHES) + len(_HASHES):])
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
        except NumberTooLarge as exc:
            return failed("budget", flags=(f"gold: {exc}",))
        if gold is None:
            return failed("parse_error", flags=("gold_unparseable",),
                          normalized_gold=answer[-100:])
        gold_text = format_number(gold)
        try:
            value, span, rule, flags = extract_answer(response)
        except NumberTooLarge as exc:
            return failed("budget", normalized_gold=gold_text, flags=(str(exc),))
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
