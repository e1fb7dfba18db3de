"""The `math` verifier's math-verify-style options: `precision`, `strict`, `extraction`.

Each option gets hand-written positives and near-miss negatives, and the same pairs are checked
under the defaults, which must stay exact / strict / extract everything."""

from __future__ import annotations

import pickle

import pytest

import verifiers
from verifiers.math import MathVerifier

DEFAULT = MathVerifier(seconds=5.0)  # roomy budgets: a loaded runner must not turn answers into "budget"
P2 = MathVerifier(seconds=5.0, precision=2)
P6 = MathVerifier(seconds=5.0, precision=6)
LOOSE = MathVerifier(seconds=5.0, strict=False)
LATEX = MathVerifier(seconds=5.0, extraction="latex")


def boxed(s: str) -> str:
    return f"So the answer is $\\boxed{{{s}}}$."


# (verifier, gold, boxed prediction, expected with the option, expected with the defaults)
PRECISION = [
    (P2, "\\frac13", "0.33", 1, 0),  # the asked-for rounding
    (P2, "-\\frac13", "-0.33", 1, 0),
    (P2, "\\frac83", "2.67", 1, 0),
    (P2, "\\frac83", "2.6667", 1, 0),  # both sides round to 2.67
    (P2, "\\sqrt{2}", "1.41", 1, 0),  # an irrational gold, evaluated then rounded
    (P2, "(\\frac35,\\frac83]", "(0.6,2.6667]", 1, 0),  # interval endpoints, ends kept
    (P2, "\\begin{pmatrix}\\frac13\\\\ \\frac15\\end{pmatrix}",
     "\\begin{pmatrix}0.33\\\\0.2\\end{pmatrix}", 1, 0),  # matrix entries
    (P2, "2.675", "2.68", 1, 0),  # half away from zero, on the exact decimal (not binary 2.67499..)
    (P6, "\\frac{1}{12}", "0.0833333333333333", 1, 0),
    (P2, "\\frac{1}{2004!}", "0.00", 1, 0),  # a tolerance: what rounds to 0.00 is 0.00
    # near misses
    (P2, "\\frac13", "0.34", 0, 0),
    (P2, "\\frac83", "2.66", 0, 0),
    (P2, "2.665", "2.66", 0, 0),  # 2.665 rounds to 2.67
    (P2, "\\pi", "3.15", 0, 0),
    (P2, "[\\frac35,\\frac83]", "(0.6,2.67]", 0, 0),  # rounding never opens a closed end
    (P2, "\\frac{1}{2004!}", "\\frac{1}{2006!}", 0, 0),  # no decimal written: exact as ever
    (P2, "\\frac13", "\\frac{33}{100}", 0, 0),  # same: 33/100 is an exact fraction
    (P6, "\\frac{1}{12}", "0.083334", 0, 0),
    (P2, "x+\\frac13", "x+0.34", 0, 0),
]

STRICT = [
    (LOOSE, "f(x)", "f(y)", 1, 0),  # math-verify's own strict=False case
    (LOOSE, "x+1", "y+1", 1, 0),
    (LOOSE, "y=2x+1", "u=2v+1", 1, 0),  # two variables: every pairing is tried
    (LOOSE, "x-y", "b-a", 1, 0),
    (LOOSE, "x=1", "y=1", 1, 0),
    (LOOSE, "\\{1,2\\}", "(2,1)", 1, 0),  # a set against a tuple, compared as sets
    (LOOSE, "(1,2)", "\\{1,2\\}", 1, 0),
    # near misses
    (LOOSE, "x-y", "y-x", 0, 0),  # names used on both sides are not swapped
    (LOOSE, "x+1", "y+2", 0, 0),
    (LOOSE, "x^2+y", "a+b^3", 0, 0),
    (LOOSE, "x+y", "z", 0, 0),  # different numbers of variables: no renaming
    (LOOSE, "\\{1,2\\}", "(1,3)", 0, 0),
    (LOOSE, "2", "x", 0, 0),
]


@pytest.mark.parametrize("verifier,gold,pred,with_option,with_defaults", PRECISION + STRICT)
def test_option_table(verifier, gold, pred, with_option, with_defaults):
    assert verifier.check(boxed(pred), gold).reward == with_option
    assert DEFAULT.check(boxed(pred), gold).reward == with_defaults  # defaults unchanged


# (response, gold 9): reward with extraction="latex", with the default "all"
LATEX_CASES = [
    ("Answer $9$", 1, 1),
    ("\\boxed{9}", 1, 1),
    ("The final answer is $9$.", 1, 1),
    ("The answer is \\(9\\)", 1, 1),
    ("Answer $ \n 9 \n $", 0, 1),  # inline math may not cross a line break; no number fallback
    ("Answer \\( \n 9 \n \\)", 0, 1),
    ("so we get 9 in total", 0, 1),  # a number in prose
    ("9", 0, 1),  # a bare response is not LaTeX
    ("$d = 90/n$ so there are 9", 0, 1),  # the formula, not the later prose number
]


@pytest.mark.parametrize("response,with_latex,with_all", LATEX_CASES)
def test_latex_only_extraction(response, with_latex, with_all):
    assert LATEX.check(response, "9").reward == with_latex
    assert DEFAULT.check(response, "9").reward == with_all


def test_latex_only_reports_no_answer_not_a_guess():
    verdict = LATEX.check("so we get 9 in total", "9")
    assert verdict.reason == "no_answer" and verdict.extracted == ""


def test_options_through_the_registry_and_pickle():
    v = verifiers.get_verifier("math", precision=2, strict=False, extraction="latex")
    assert isinstance(v, MathVerifier)
    assert v.check("$\\boxed{0.33}$", "\\frac13").correct
    clone = pickle.loads(pickle.dumps(v))
    assert clone.check("$f(y)$", "f(x)").correct and not clone.check("we get 0.33", "\\frac13").correct
    # the defaults
    d = verifiers.get_verifier("math")
    assert (d.extraction, d.options.precision, d.options.strict) == ("all", None, True)
    assert MathVerifier(fallback_extraction=False).extraction == "boxed"


@pytest.mark.parametrize("kwargs,error,words", [
    ({"precision": -1}, ValueError, "decimal places"),
    ({"precision": 51}, ValueError, "decimal places"),
    ({"precision": 2.5}, ValueError, "decimal places"),
    ({"precision": True}, ValueError, "decimal places"),
    ({"extraction": "expr"}, ValueError, "'all', 'latex', 'boxed'"),
    ({"strict": "no"}, TypeError, "True or False"),
])
def test_bad_options_say_what_to_pass(kwargs, error, words):
    with pytest.raises(error, match=words):
        MathVerifier(**kwargs)


def test_options_do_not_leak_between_verifiers_in_one_thread():
    # the options live in a context variable for the duration of one check only
    assert P2.check(boxed("0.33"), "\\frac13").correct
    assert not DEFAULT.check(boxed("0.33"), "\\frac13").correct
    assert LOOSE.check(boxed("f(y)"), "f(x)").correct
    assert not DEFAULT.check(boxed("f(y)"), "f(x)").correct


def test_hostile_input_under_options_still_returns_quickly():
    for v in (P2, LOOSE, LATEX):
        for response in ("\\boxed{9^{9^{9^9}}}", "\\boxed{" + "9" * 5000 + ".5}", "$" + "(" * 3000 + "$",
                         "\\boxed{" + "+".join(f"x_{{{i}}}" for i in range(200)) + "}"):
            verdict = v.check(response, "0.5")
            assert 0.0 <= verdict.reward <= 1.0
