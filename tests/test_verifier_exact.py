"""exact: normalised string equality, and answer_span (shared with the reasoning-gym adapter)."""

from __future__ import annotations

import pytest

import verifiers
from verifiers.exact import answer_span, normalize_text


@pytest.fixture(scope="module")
def exact():
    return verifiers.get_verifier("exact")


# (gold, response, expected)
CASES = [
    ("Paris", "paris", 1),
    ("Paris", "  PARIS.  ", 1),
    ("Paris", "$\\text{Paris}$", 1),
    ("Paris", "\\boxed{\\text{Paris}}", 1),
    ("New York", "new   york", 1),
    ("yes", "Let me think.\nThe cities are far apart.\n**Yes**", 1),  # last line
    ("B", "The options... so the answer is\n#### B", 1),
    ("B", "Reasoning.\n\\boxed{B}.", 1),
    ("(1, 2)", "(1, 2)", 1),  # a tuple's parentheses are kept, and still match
    ("ﬁne", "fine", 1),  # NFKC folds the ligature
    ("5", "#### 5\x00", 1),  # NUL and zero-width characters are tokenizer noise
    ("yes", "ye\u200bs", 1),
    ("Paris", "Lyon", 0),
    ("Paris", "Paris, France", 0),
    ("18", "18.00", 0),  # not numeric: use gsm8k or math for numbers
    ("1", "Matrix([[1]])", 0),
    ("B", "\\boxed{C}", 0),
    ("yes", "", 0),
]


@pytest.mark.parametrize("gold, response, expected", CASES)
def test_exact_table(exact, gold, response, expected):
    assert exact(response, gold) == float(expected)


def test_verdict_fields(exact):
    v = exact.check("Work...\n#### Paris.", "paris")
    assert (v.correct, v.extracted, v.normalized_pred, v.rule) == (True, "Paris.", "paris", "exact_hashes")
    assert exact.check("", "x").reason == "no_answer"
    assert exact.check("x", "  ").reason == "parse_error"
    assert exact.check("Lyon", "Paris").reason == "mismatch"


def test_normalize_peels_nested_wrappers_and_keeps_unbalanced():
    assert normalize_text("$\\textbf{\\text{Yes}}$.") == "yes"
    assert normalize_text("{a}{b}") == "{a}{b}"  # outer braces are not a wrapper of one group


@pytest.mark.parametrize("response, span", [
    ("a\n#### 42 \nignored", ("42", "hashes")),
    ("x \\boxed{a} y \\boxed{b} z", ("b", "boxed")),
    ("first\n\nlast line  \n\n", ("last line", "last_line")),
    ("", ("", "")),
])
def test_answer_span(response, span):
    assert answer_span(response) == span
