"""Mutation tests: every labelled correct case of the verifier suites, with its answer changed,
must score 0. A policy under RL finds any dressing of a wrong answer that a grader pays for, so
each mutation is a class of such dressing: one digit off, sign flipped, wrapped in an operation
(hypothesis draws the operations), followed or preceded by filler past the length limit, and the
box cut off before it closes.

The answer span is located with the grader's own `extracted` field; the mutation edits the
response there. Cases whose span cannot be found verbatim are skipped (counted, so the tests
cannot pass by skipping everything)."""

from __future__ import annotations

import json
import math
import re
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import verifiers
from verifiers.numbers import parse_number

SUITE = Path(__file__).resolve().parent / "data" / "verifier_suite.jsonl"
GRADERS = {"gsm8k": verifiers.get_verifier("gsm8k"), "math": verifiers.get_verifier("math")}
FILLER = ("we keep adding the values step by step " * 1000)[:30_000]  # past every grader's limit


def _located(rows: list[dict]) -> list[tuple[str, str, str, str]]:
    """(grader, response, gold, answer span) of every correct case whose span is in the response."""
    out = []
    for r in rows:
        v = GRADERS[r["kind"]].check(r["response"], r["gold"])
        assert v.correct, (r["response"][-200:], r["gold"])  # the suite's labels hold before mutating
        if v.extracted and _occurrences(r["response"], v.extracted):
            out.append((r["kind"], r["response"], r["gold"], v.extracted))
    return out


def _occurrences(text: str, span: str) -> list[int]:
    """Starts of `span` in `text` not inside a longer number or word ("160" in "1600" is not one)."""
    starts, i = [], text.find(span)
    while i >= 0:
        before, after = text[i - 1:i], text[i + len(span):i + len(span) + 1]
        if not (span[0].isalnum() and before.isalnum()) and not (span[-1].isalnum() and (after.isalnum() or
                                                                                        after in ",." and
                                                                                        text[i + len(span) + 1:i + len(span) + 2].isdigit())):
            starts.append(i)
        i = text.find(span, i + 1)
    return starts


ROWS = [json.loads(line) for line in SUITE.read_text(encoding="utf-8").splitlines() if line.strip()]
CORRECT = [r for r in ROWS if r["expected"] == 1]
CASES = _located(CORRECT)


def _ids(cases) -> list[str]:
    return [f"{k}-{i}" for i, (k, *_rest) in enumerate(cases)]


def _score(case, new_span: str) -> float:
    """The grader's reward once every stand-alone occurrence of the answer is replaced: the
    response then commits to the changed answer throughout (its checks included)."""
    kind, response, gold, span = case
    out, last = [], 0
    for i in _occurrences(response, span):
        out += [response[last:i], new_span]
        last = i + len(span)
    return GRADERS[kind]("".join(out) + response[last:], gold)


def test_most_correct_cases_can_be_mutated() -> None:
    assert len(CORRECT) >= 300 and len(CASES) >= 0.9 * len(CORRECT), (len(CASES), len(CORRECT))


def _gold_value(gold: str) -> Fraction | None:
    final = gold.rsplit("####", 1)[-1].strip()
    if "%" in final:  # 10% is 10 or 0.1 by reading: no single value to wrap
        return None
    try:
        return parse_number(final)
    except ValueError:
        return None


@pytest.mark.parametrize("case", CASES, ids=_ids(CASES))
def test_one_digit_off_scores_zero(case) -> None:
    span = case[3]
    m = re.search(r"\d", span)
    if m is None:
        pytest.skip("no digit in the answer span")
    changed = span[:m.start()] + str((int(m.group()) + 1) % 10) + span[m.end():]
    assert _score(case, changed) == 0.0, changed


@pytest.mark.parametrize("case", CASES, ids=_ids(CASES))
def test_sign_flipped_scores_zero(case) -> None:
    span = case[3]
    if not re.search(r"[1-9]", span):
        pytest.skip("a zero answer is its own negative")
    flipped = span[1:] if span.startswith("-") else "-" + span
    assert _score(case, flipped) == 0.0, flipped


# An operation around the answer: (LaTeX template around {s}, its value for a number v, or None
# when it has none for that v).
_OPS = {
    "sqrt": (r"\sqrt{{{s}}}", lambda v: math.sqrt(v) if v >= 0 else None),
    "factorial": (r"({s})!", lambda v: float(math.factorial(int(v))) if v == int(v) and 0 <= v <= 20 else None),
    "square": (r"({s})^2", lambda v: v * v),
    "cube": (r"({s})^{{3}}", lambda v: v ** 3),
    "plus": (r"{s}+{c}", None),
    "times": (r"{c}\cdot ({s})", None),
    "over": (r"\frac{{{s}}}{{{c}}}", None),
    "negate": (r"-({s})", lambda v: -v),
    "reciprocal": (r"\frac{{1}}{{{s}}}", lambda v: 1 / v if v else None),
}
NUMERIC = [c for c in CASES if _gold_value(c[2]) is not None]


@settings(max_examples=400, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(case=st.sampled_from(NUMERIC), ops=st.lists(st.sampled_from(sorted(_OPS)), min_size=1, max_size=2),
       c=st.integers(2, 9))
def test_an_answer_wrapped_in_operations_scores_zero(case, ops, c) -> None:
    span = case[3]
    value: float | None = float(_gold_value(case[2]))
    text = span
    for op in ops:
        template, f = _OPS[op]
        text = template.format(s=text, c=c)
        if value is None:
            continue
        elif op == "plus":
            value = value + c
        elif op == "times":
            value = value * c
        elif op == "over":
            value = value / c
        else:
            value = f(value)
    # only where the wrapped value is a real number other than the gold (sqrt(1) = 1, 2! = 2 and
    # (sqrt(-17))^2 = -17 are the gold again)
    assume(value is not None and not math.isclose(value, float(_gold_value(case[2])), rel_tol=1e-9, abs_tol=1e-12))
    assert _score(case, text) == 0.0, text


@pytest.mark.parametrize("where", ["after", "before"])
@pytest.mark.parametrize("case", CASES[::3], ids=_ids(CASES[::3]))
def test_a_right_answer_past_the_length_limit_scores_zero(case, where) -> None:
    kind, response, gold, _ = case
    padded = f"{response}\n{FILLER}" if where == "after" else f"{FILLER}\n{response}"
    verdict = GRADERS[kind].check(padded, gold)
    assert verdict.reward == 0.0 and verdict.reason == "too_long", verdict


BOXED = [c for c in CASES if "\\boxed{" + c[3] in c[1]]


@pytest.mark.parametrize("case", BOXED, ids=_ids(BOXED))
def test_a_box_cut_before_it_closes_scores_zero(case) -> None:
    kind, response, gold, span = case
    start = response.rfind("\\boxed{" + span) + len("\\boxed{")
    for cut in (start + len(span), start + max(1, len(span) // 2)):  # all of the answer or half, no closing brace
        assert GRADERS[kind](response[:cut], gold) == 0.0, response[max(0, cut - 80):cut]
