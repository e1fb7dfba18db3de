"""The `math` verifier: equivalence tables (gold, prediction, expected) with the reason in a
comment, reasons and fields of the Verdict, hostile inputs, fuzzing, threads and processes."""

from __future__ import annotations

import pickle
import re
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import verifiers
from verifiers.budget import Budget, BudgetExceeded, Limits
from verifiers.math import MathVerifier
from verifiers.math.boxes import all_boxes, last_boxed
from verifiers.math.extract import extract_answer, extract_gold
from verifiers.math.parse import ParseError, parse_math


@pytest.fixture(scope="module")
def v() -> MathVerifier:
    # Correctness tests get a roomy budget: on a loaded CI runner a descheduled thread can
    # overrun the default 0.2 s wall-clock budget and turn a right answer into "budget".
    return MathVerifier(seconds=5.0)


_ROOMY = MathVerifier(seconds=5.0)


def v_check(response: str, gold: str) -> float:
    return _ROOMY.check(response, gold).reward


@pytest.fixture(scope="module")
def v_default() -> MathVerifier:
    verifier = verifiers.get_verifier("math")
    assert isinstance(verifier, MathVerifier) and verifier.seconds == 0.2
    return verifier


def boxed(s: str) -> str:
    return f"So the answer is $\\boxed{{{s}}}$."


# (gold, predicted boxed content, expected reward)
NUMBERS = [
    ("\\frac{1}{2004!}", "\\frac{1}{2006!}", 0),  # exact rationals: 2005*2006 times smaller
    ("\\frac{1}{2^{99}}", "\\frac{1}{2^{98}}", 0),  # differ by a factor 2, both ~1e-30
    ("\\frac{1}{2^{99}}", "2^{-99}", 1),
    ("0.5", "\\frac12", 1),  # finite decimal = exact fraction
    ("\\frac{1}{2}", "0.5", 1),
    ("\\frac13", "0.333", 0),  # a finite decimal is exact: 0.333 != 1/3
    ("\\frac{1}{12}", "0.0833333333333333", 0),  # same: no rounding of rationals
    ("\\sqrt{17}", "4.123105625617661", 1),  # decimal vs irrational: within 1e-9 relative
    ("\\pi", "3.14", 0),  # ... but not a 2-digit approximation
    ("\\pi", "3.14159265358979", 1),
    ("-5", "-5.0", 1),
    ("7425000", "7,425,000", 1),  # thousands separators
    ("11111111100", "11,\\!111,\\!111,\\!100", 1),  # LaTeX thousands
    ("2.5", "\\dfrac{5}{2}", 1),
    ("\\frac{5}{2}", "2\\frac12", 1),  # mixed number
    ("-\\frac{5}{2}", "-2\\frac{1}{2}", 1),
    ("\\frac13", "0.\\overline{3}", 1),  # repeating decimal
    ("\\frac{7}{30}", "0.2\\overline{3}", 1),  # 0.2333... = 7/30
    ("10", "\\$10", 1),
    ("10", "10\\text{ cm}", 1),  # units dropped
    ("135", "135\\text{ square feet}", 1),
    ("90^\\circ", "90", 1),  # degrees
    ("90", "90^{\\circ}", 1),
    ("1000", "1001", 0),
    ("0", "-0", 1),
    ("-3", "\u22123", 1),  # Unicode minus, as chat models print it
    ("2\\sqrt{2}", "2\u221a2", 1),
    ("\\frac{\\pi}{2}", "\u03c0/2", 1),
    ("x^2", "x\u00b2", 1),
    ("[1,\\infty)", "x \u2265 1", 1),
]
PERCENTS = [
    ("50\\%", "50", 1),  # a percent answer may be written without the sign
    ("50\\%", "50\\%", 1),
    ("50\\%", "0.5", 1),  # ... or as a fraction of 1
    ("28\\%", "28 percent", 1),
    ("0.28", "28", 0),  # no percent anywhere: 28 != 0.28
    ("28", "0.28", 0),
    ("50\\%", "51", 0),
]
RADICALS_AND_CONSTANTS = [
    ("\\frac{1}{\\sqrt{n}}", "\\sqrt{1/n}", 1),  # math-verify false negative (#64)
    ("\\sqrt8", "2\\sqrt2", 1),
    ("\\frac{\\sqrt{3}}{2}", "\\frac{1}{2}\\sqrt{3}", 1),
    ("\\sqrt{2}+\\sqrt{3}", "\\sqrt{5+2\\sqrt{6}}", 1),  # equal after denesting (50 digits)
    ("1-\\frac{1}{e}", "1+\\frac{1}{e}", 0),  # math-verify false positive (#14)
    ("1-\\frac{1}{e}", "\\frac{e-1}{e}", 1),
    ("2\\pi", "\\pi \\cdot 2", 1),
    ("\\sqrt[3]{8}", "2", 1),
    ("e^{i\\pi}", "-1", 1),
    ("\\infty", "\\infty", 1),
    ("\\infty", "-\\infty", 0),
    ("3\\sqrt{13}", "\\sqrt{117}", 1),
    ("4", "4\\sqrt{2}", 0),
    ("\\log_2 8", "3", 1),
]
EXPRESSIONS = [
    ("x^2+2x+1", "(x+1)^2", 1),
    ("x^2+2x+1", "(x+1)^3", 0),
    ("\\frac{x+2}{7}", "\\frac{x}{7}+\\frac{2}{7}", 1),
    ("\\tan^2(y)+1", "\\sec^2(y)", 1),  # numeric spot-check fallback
    ("2 \\sin b \\cos a", "2\\cos a \\sin b", 1),
    ("x+2n+1", "x+1", 0),
    ("(a+5)(b+2)", "(5+a)(2+b)", 1),
    ("(a+5)(b+2)", "(+5)(b+2)", 0),
    ("\\frac{\\pi r}{h+r}", "\\frac{r\\pi}{r+h}", 1),
    ("f(x)", "f(y)", 0),  # different variable, different answer
    ("|x|", "x", 0),  # differ for negative x: sign-free expressions are also checked at -x
    ("|x-1|", "|1-x|", 1),
    ("\\sqrt{x^2}", "x", 1),  # roots are compared where real: variables read as positive
    ("\\ln(x^2)", "2\\ln x", 1),
    ("x", "y", 0),
    ("\\binom{n}{2}", "\\frac{n(n-1)}{2}", 1),  # binomials spot-checked through the gamma form
    ("\\binom{n}{2}", "\\frac{n(n+1)}{2}", 0),
    ("\\binom{10}{3}", "120", 1),
    ("\\frac{n!}{(n-2)!}", "n(n-1)", 1),
]
EQUATIONS = [
    ("x+y=1", "2x+2y=2", 1),  # same solution set
    ("3x-y+13=0", "3x+4y+14=0", 0),  # math-verify false positive (#60)
    ("2x+4y-3=0", "y=-\\frac{1}{2}x+\\frac{3}{4}", 1),
    ("34x+45y-20z+100=0", "-34x-45y+20z-100=0", 1),
    ("2x+3", "y=2x+3", 1),  # `y =` is an assignment: its right side is the answer
    ("y=2x+3", "2x+3", 1),
    ("k=1", "1", 1),
    ("x=11", "x = 5+5+1 = 11", 1),  # a chain: the last value counts
    ("\\frac{1}{3}", "x=\\frac13\\approx0.33", 1),  # the approximation is commentary
    ("7 = 11a+c", "11a+c", 0),  # 7 is not a name, so this is a real equation
    ("5", "2+3 = 5", 1),  # a computation written out in the box: its result counts
    ("6", "2+3 = 5", 0),
    ("a+3z=0", "0", 0),
    ("(p,q)=(3,2)", "(3,2)", 1),
    ("x=1, y=2", "x=2, y=1", 0),  # named values must match by name
    ("x=1, y=2", "y=2, x=1", 1),
    ("|x| = 1", "x = 1", 0),  # x = -1 solves one and not the other
    ("x^2 = 1", "x^2 - 1 = 0", 1),
]
INTERVALS_AND_INEQUALITIES = [
    ("(1,2]", "1<x\\le 2", 1),  # handled both ways round (math-verify: only one way)
    ("1<x\\le 2", "(1,2]", 1),
    ("(1,2]", "[1,2]", 0),  # open/closed ends matter
    ("(1,2]", "(1,2)", 0),
    ("[0,1)", "[0,1)", 1),
    ("[-2,7]", "x \\in [-2,7]", 1),
    ("-2 \\le x \\le 7", "x \\in [-2,7]", 1),
    ("[-1,-\\frac12) \\cup (-\\frac12, 0)", "[-1, -\\tfrac12) \\cup (-\\tfrac12, 0)", 1),
    ("(-\\infty, 3)", "x<3", 1),
    ("x < 1", "-x > -1", 1),
    ("x < 1", "x > -1", 0),
    ("x \\geq 5", "5 \\leq x", 1),
    ("x \\geq 5", "x \\leq 5", 0),
    ("x \\ne 3", "x != 3", 1),
    ("(-793, 10)", "-793 < a < 10", 1),
    ("(2, 12) \\cup (12, 102)", "(2,12) \\cup (12,102)", 1),
    # |x| between two bounds is two mirrored intervals, not one
    ("1\\leq|z|\\leq \\frac{3}{2}", "[-\\frac{3}{2}, -1] \\cup [1, \\frac{3}{2}]", 1),
    ("1\\leq|z|\\leq \\frac{3}{2}", "[1, \\frac{3}{2}]", 0),
    ("1\\leq|z|\\leq \\frac{3}{2}", "[-\\frac{3}{2}, -1) \\cup [1, \\frac{3}{2}]", 0),
    ("|x| < 3", "(-3, 3)", 1),
    ("|x| < 3", "(-3, 3]", 0),
    ("|x| \\ge 2", "(-\\infty, -2] \\cup [2, \\infty)", 1),
    ("0 < |x| < 2", "(-2, 0) \\cup (0, 2)", 1),
    ("0 < |x| < 2", "(-2, 2)", 0),  # 0 is excluded
    ("-1 < |x| < 2", "(-2, 2)", 1),  # |x| > -1 always holds
]
SETS_AND_TUPLES = [
    ("\\{1,2\\}", "\\{2,1\\}", 1),  # sets: order does not matter
    ("(1,2)", "(2,1)", 0),  # tuples: order matters
    ("(1,2,3)", "(1,2,3)", 1),
    ("(1,\\frac92)", "(1,4.5)", 1),
    ("-2,1", "1,-2", 1),  # a bare list of roots is a set
    ("\\{1,2\\}", "\\{1,2,3\\}", 0),
    ("\\{1,3\\} \\cup \\{2,4\\}", "\\{1,2,3,4\\}", 0),  # set union of finite sets: not parsed
    ("(3,1)", "{1,3}", 0),
    ("(2,2), (1,3), (3,3)", "(1,3), (2,2), (3,3)", 1),
    # `;` separates groups of comma items: each group is one solution
    ("p=5,q=2;p=7,q=2", "(5,2),(7,2)", 1),
    ("p=5,q=2;p=7,q=2", "(7,2),(5,2)", 1),
    ("p=5,q=2;p=7,q=2", "(5,2),(2,7)", 0),
    ("p=5,q=2;p=7,q=2", "p=7,q=2;p=5,q=2", 1),
    ("p=5,q=2;p=7,q=2", "p=5,q=2;p=7,q=3", 0),
    ("p=5,q=2;p=7,q=2", "5,2,7,2", 0),  # the grouping is part of the answer
    ("1,2;3,4", "(1,2),(3,4)", 1),
    ("1,2;3,4", "(1,3),(2,4)", 0),
    ("x=1;y=2", "x=1, y=2", 1),  # groups of one item: a plain list
]
DECIMAL_COMMAS = [
    ("1,22", "1.22", 1),
    ("0,111", "0.111", 1),  # a leading 0, is never thousands
    ("1000.99", "1000,99", 1),
    ("-0,5", "-\\frac12", 0),  # read as a decimal only against a plain number
    ("-0,5", "-0.5", 1),
    ("1,22", "1.23", 0),
    ("0,111", "111", 0),
    ("1,22", "1, 22", 1),  # against a list it stays a list
    ("1,000", "1000", 1),  # exactly three digits: thousands
    ("1,000", "1", 0),
    ("1,000", "1.000", 0),
    ("1, 2", "1.2", 0),  # a space after the comma: a list
]
SUMS = [  # (gold, prediction): a sum is read as its value where the gold is the expression
    ("\\sum_{k=1}^{10} k^2", "385", 1),
    ("\\sum_{k=1}^{10} k^2", "384", 0),
    ("\\sum_{i=1}^{4} i", "10", 1),  # the index i is not the imaginary unit
    ("2 \\cdot 6", "2\\sum_{k=1}^{3} k", 1),
    ("a_1+a_2+a_3", "\\sum_{i=1}^{3} a_i", 1),
    ("a_1+a_2", "\\sum_{i=1}^{3} a_i", 0),
    ("\\sum_{a=1}^{3}\\sum_{b=1}^{3} ab", "36", 1),
    ("F_n = \\sum_{k=0}^{n-1} F_k F_{n-k-1}", "F_n = \\sum_{k=0}^{n-1} F_{n-k-1} F_k", 1),
    ("F_n = \\sum_{k=0}^{n-1} F_k F_{n-k-1}", "F_n = \\sum_{k=0}^{n} F_k F_{n-k-1}", 0),
    ("F_n = \\sum_{k=0}^{n-1} F_k F_{n-k-1}", "F_n = \\sum_{k=1}^{n-1} F_k F_{n-k-1}", 0),
    ("\\sum_{k=0}^{n-1} F_k F_{n-k-1}", "\\sum_{k=0}^{n-1} F_k F_{n-k}", 0),
]
MATRICES = [
    ("\\begin{pmatrix}1 & 2 \\\\ 3 & 4\\end{pmatrix}", "\\begin{bmatrix}1 & 2 \\\\ 3 & 4\\end{bmatrix}", 1),
    ("\\begin{pmatrix}1 & 2 \\\\ 3 & 4\\end{pmatrix}", "\\begin{pmatrix}1 & 2 \\\\ 3 & 5\\end{pmatrix}", 0),
    ("\\begin{pmatrix}1 & 2 \\\\ 3 & 4\\end{pmatrix}", "\\begin{pmatrix}1 & 3 \\\\ 2 & 4\\end{pmatrix}", 0),
    ("\\begin{pmatrix}1 \\\\ 2\\end{pmatrix}", "(1,2)", 1),  # a column vector as a tuple
    ("\\begin{pmatrix}\\frac12 \\\\ 0\\end{pmatrix}", "\\begin{pmatrix}0.5 \\\\ 0\\end{pmatrix}", 1),
    ("1", "Matrix([[1]])", 0),  # Python text is not a matrix, nor the number 1
    ("\\begin{pmatrix}1\\end{pmatrix}", "1", 0),
]
CHOICES_AND_TEXT = [
    ("\\text{(B)}", "B", 1),
    ("(B)", "\\text{(B)}", 1),
    ("\\text{(B)}", "(C)", 0),
    ("\\text{E}", "E", 1),
    ("d", "\\text{E}", 0),
    ("\\text{Monday}", "monday", 1),
    ("\\text{Monday}", "\\text{Tuesday}", 0),
    ("\\text{odd}", "odd", 1),
    ("\\text{Evelyn}", "\\text{Evelyn}", 1),
]
PLUS_MINUS = [
    ("1 \\pm \\sqrt{19}", "1+\\sqrt{19}, 1-\\sqrt{19}", 1),
    ("\\pm 2021", "\\{-2021, 2021\\}", 1),
    ("\\pm 2021", "2021", 0),  # one of two answers is not the answer
    ("\\{1\\pm\\sqrt{5},-2\\}", "-2, 1-\\sqrt5, 1+\\sqrt5", 1),
    ("\\frac{-1 \\pm \\sqrt{13}}{4}", "\\frac{-1+\\sqrt{13}}{4}, \\frac{-1-\\sqrt{13}}{4}", 1),
]
TABLES = {"numbers": NUMBERS, "percents": PERCENTS, "radicals": RADICALS_AND_CONSTANTS,
          "expressions": EXPRESSIONS, "equations": EQUATIONS,
          "intervals": INTERVALS_AND_INEQUALITIES, "sets": SETS_AND_TUPLES,
          "matrices": MATRICES, "choices_text": CHOICES_AND_TEXT, "plus_minus": PLUS_MINUS,
          "decimal_commas": DECIMAL_COMMAS, "sums": SUMS}


@pytest.mark.parametrize("table", sorted(TABLES))
def test_equivalence_table(v, table):
    wrong = []
    for gold, pred, expected in TABLES[table]:
        verdict = v.check(boxed(pred), gold)
        if verdict.reward != expected:
            wrong.append((gold, pred, expected, verdict.rule, verdict.reason,
                          verdict.normalized_gold, verdict.normalized_pred))
    assert wrong == []


RESTATED = [  # (gold written as a number, an expression of that value): never paid
    ("385", "\\sum_{k=1}^{10} k^2"), ("3", "\\log_2 8"), ("-1", "e^{i\\pi}"), ("36", "\\sum_{a=1}^{3}\\sum_{b=1}^{3} ab"), ("2", "\\sqrt[3]{8}"),
    ("120", "\\binom{10}{3}"), ("6", "1+5"), ("-6", "4 - 4 - 6"), ("8", "2^3"), ("4", "\\sqrt{16}"), ("12", "3 \\cdot 4"),
    ("120", "5!"), ("6", "x = 1+5"), ("6", "1+5 = 1+5"), ("\\frac{1}{2}", "\\frac{1}{4}+\\frac{1}{4}"), ("0.5", "1-0.5"),
    ("18", "\\frac{36}{2}"), ("18", "36/2"), ("-18", "-\\frac{36}{2}"), ("18", "x = 36/2"), ("1", "\\frac{4}{4}"),
]


@pytest.mark.parametrize("gold, pred", RESTATED, ids=[p for _, p in RESTATED])
def test_a_computation_is_never_paid_against_a_number(v, gold, pred):
    """A policy under RL learns to copy the prompt's "4 - 4 - 6 =" as its answer (SmolLM2 +
    Gemma-3 under GSPO, seed 1): against a gold written as a number, the answer must state one."""
    for response in (boxed(pred), f"The answer is ${pred}$."):
        verdict = v.check(response, gold)
        assert (verdict.reward, verdict.reason) == (0.0, "parse_error"), (response, verdict)
    assert v.check(pred, gold).reward == 0.0


@pytest.mark.parametrize("gold, pred", [("6", "1+5 = 6"), ("6", "x = 6"), ("-6", "(-6)"), ("0.5", "\\frac{1}{2}"),
                                        ("\\frac{37}{2}", "18 1/2"), ("1500", "1.5\\times10^3"), ("18", "\\frac{36}{2} = 18"),
                                        ("\\frac{17}{30}", "\\frac{34}{60}"),
                                        ("\\frac{1}{3}", "x=\\frac13\\approx0.33"), ("5", "\\{\\{5\\}\\}")])
def test_a_number_stated_in_any_written_form_is_paid(v, gold, pred):
    assert v.check(boxed(pred), gold).reward == 1.0, pred


@pytest.mark.parametrize("table", sorted(TABLES))
def test_equivalence_is_symmetric_where_it_should_be(v, table):
    """Swapping gold and prediction changes nothing (the interval/inequality case included)."""
    for gold, pred, expected in TABLES[table]:
        if table == "percents" or (table, gold) in {("sets", "(3,1)"), ("matrices", "1")}:
            continue  # a bare "28" never means 28%; "{1,3}" / Matrix text are one-way by design
        if re.fullmatch(r"-?\d+", pred) and not re.fullmatch(r"-?\d+", gold):
            continue  # one-way too: an expression is never paid against a gold written as a number
        assert v.check(boxed(gold), pred).reward == expected, (pred, gold)


def test_verdict_fields(v):
    ok = v.check("Thus $x = \\boxed{\\dfrac{1}{2}}$.", "0.5")
    assert ok.correct and ok.reward == 1.0 and ok.reason == ""
    assert ok.extracted == "\\dfrac{1}{2}" and ok.rule == "numeric" and ok.seconds > 0
    sym = v.check(boxed("(x+1)^2"), "x^2+2x+1")
    assert (sym.rule, sym.normalized_gold, sym.normalized_pred) == (
        "symbolic", "x**2 + 2*x + 1", "(x + 1)**2")
    miss = v.check(boxed("3"), "4")
    assert (miss.reward, miss.correct, miss.reason) == (0.0, False, "mismatch")
    assert v.check("I don't know.", "4").reason == "no_answer"
    assert v.check(boxed("__import__('os').system('echo hi')"), "4").reason == "parse_error"
    assert v.check(boxed("S.One"), "1").reason == "parse_error"
    assert v.check(boxed("9^{9^{9^9}}"), "1").reason == "budget"
    assert v.check(boxed("1" * 2000), "1").reason == "too_long"  # was "input_too_long": one reason


def test_rules_name_the_comparison(v):
    cases = {"string": ("\\frac{1}{2}", "\\dfrac{1}{2}"), "equation": ("x+y=1", "2x+2y=2"),
             "interval": ("(1,2]", "1<x\\le2"), "set": ("\\{1,2\\}", "\\{2,1\\}"),
             "tuple": ("(1,2)", "(1,2.0)"), "choice": ("\\text{(B)}", "B"),
             "text": ("\\text{Monday}", "monday"),
             "matrix": ("\\begin{pmatrix}1\\end{pmatrix}", "\\begin{bmatrix}1\\end{bmatrix}")}
    for rule, (gold, pred) in cases.items():
        assert v.check(boxed(pred), gold).rule == rule, rule


def test_gold_may_be_a_full_solution(v):
    solution = "We get $x=3$, so the sum is $\\boxed{\\frac{14}{3}}$."
    assert v.check(boxed("14/3"), solution).correct
    assert not v.check(boxed("3"), solution).correct


def test_extraction():
    assert last_boxed("\\boxed{1} then \\boxed{\\frac{a}{b^{2}}}") == "\\frac{a}{b^{2}}"
    assert last_boxed("so \\fbox{7}.") == "7"
    assert last_boxed("so $\\boxed 5$.") == "5"
    assert last_boxed("\\boxed{1}, \\boxed{2} and \\boxed{3}") == "1, 2, 3"  # one list
    assert last_boxed("\\boxed{1} no no \\boxed{2}") == "2"
    assert last_boxed("\\boxed{\\{1,2\\}}") == "\\{1,2\\}"  # escaped braces do not count
    assert last_boxed("\\boxed{1") is None
    assert extract_answer("The final answer is $7$. I hope it is correct.") == (
        "7", ("fallback_answer_phrase",))
    assert extract_answer("It is $x+1$ here") == ("x+1", ("fallback_math_span",))
    assert extract_answer("we get 12 apples, then 3 more")[0] == "3"
    assert extract_answer("Matrix([[1]])")[0] is None or extract_answer("Matrix([[1]])")[0] != "1"
    assert extract_answer("\\boxed{unclosed 5")[0] is None


def test_several_boxes_are_one_list_answer_when_the_gold_is_a_list_of_as_many():
    parts = "$\\boxed{(3, 3)}$ for part (a) and $\\boxed{(1, 1)}$ for part (b)."
    assert all_boxes(parts) == ["(3, 3)", "(1, 1)"]
    assert v_check(parts, "(3, 3), (1, 1)") == 1
    assert v_check(parts, "(1, 1), (3, 3)") == 1  # a list: any order
    assert v_check(parts, "(3, 3), (1, 2)") == 0
    assert v_check(parts, "(1, 1)") == 1  # one answer: the last box
    assert v_check(parts, "(3, 3)") == 0
    assert v_check(parts, "(3, 3), (1, 1), (2, 2)") == 0  # three items, two boxes
    named = "\\( y_1 = \\boxed{-2(x - 1)^2 + 5} \\) and \\( y_2 = \\boxed{3(x + 2)^2 - 2} \\)"
    assert v_check(named, "y_{1}=-2 x^{2}+4 x+3, y_{2}=3 x^{2}+12 x+10") == 1
    assert v_check(named, "y_{1}=-2 x^{2}+4 x+3, y_{2}=3 x^{2}+12 x+11") == 0
    # a point is one answer: its two coordinates are not two boxes
    point = "It passes through $\\boxed{(3,-5)}$; also $\\boxed{(0,0)}$ works."
    assert v_check(point, "(0,0)") == 1 and v_check(point, "(3,-5)") == 0
    assert v_check("$\\boxed{1}$ and later $\\boxed{2}$", "(1, 2)") == 0


def test_gold_of_several_boxes_or_an_unclosed_box():
    assert extract_gold("\\boxed{1} papers and \\boxed{2} bins") == "1, 2"
    assert v_check(boxed("1,2"), "\\boxed{1} papers and \\boxed{2} bins") == 1
    assert v_check(boxed("2"), "\\boxed{1} papers and \\boxed{2} bins") == 0
    # more than a few words between the boxes: commentary, the last box is the gold
    assert v_check(boxed("1,2"), "\\boxed{1} no no no no no \\boxed{2}") == 0
    assert v_check(boxed("{35 cm,4}"), "$\\\\boxed{35 cm} ++++++ \\\\boxed{4}$") == 1
    assert extract_gold("\\boxed{W(n) = 1 \\text{ and } W(n) = -1") == "W(n) = 1 \\text{ and } W(n) = -1"
    assert v_check(boxed("5"), "$\\boxed{5$") == 1
    assert v_check(boxed("6"), "$\\boxed{5$") == 0


def test_gold_chain_with_an_unknown_command_is_read_from_its_end():
    assert v_check(boxed("0"), "$1 = \\zzz = x = 0$") == 1
    assert v_check(boxed("x = 0"), "$1 = \\zzz = x = 0$") == 1
    assert v_check(boxed("1"), "$1 = \\zzz = x = 0$") == 0
    assert v_check(boxed("1 = \\zzz = x = 0"), "$1 = \\zzz = x = 0$") == 1  # same text


def test_later_statements_win_over_earlier_formulas():
    closing = ("so the interest is $\\boxed{255}$. So he has \\$10,455. Final Answer: The final "
               "answer is $10,455$. I hope it is correct.")
    assert extract_answer(closing) == ("10,455", ("final_answer_after_box",))
    assert v_check(closing, "10455") == 1 and v_check(closing, "255") == 0
    before = "The final answer is $3$. I hope it is correct. Then $\\boxed{4}$."
    assert extract_answer(before) == ("4", ())
    both = "Final Answer: The final answer is \\\"$12 $ and $13 $\\\". I hope it is correct."
    assert v_check("between $\\boxed{12}$ and more. " + both, "12 \\text{ and } 13") == 1
    prose = "each divisor gives $d = \\frac{90}{n}$. Therefore there are 12 sequences."
    assert extract_answer(prose) == ("12", ("fallback_last_number",))
    assert extract_answer("It is $x+1$ here")[0] == "x+1"


def test_boxed_only_mode():
    strict = MathVerifier(fallback_extraction=False)
    assert strict.check("The answer is 5.", "5").reason == "no_answer"
    assert strict.check("\\boxed{5}", "5").correct


def test_parser_never_evaluates_python():
    for text in ("__import__('os').system('echo hi')", "S.One", "lambda: 1", "x.__class__",
                 "eval(1)", "open('f')", "`1`", "1;import os"):
        with pytest.raises((ParseError, BudgetExceeded)):
            parse_math(text, Budget(1.0))


def test_size_guards_raise_budget_not_hang():
    for text in ("9^{9^{9^9}}", "10^{10^{10}}", "(10^{100000})!", "2^{2^{64}}", "10000!",
                 "\\binom{10^{9}}{5}", "(x+1)^{10^{9}}", "(2x)^{10^{7}}"):
        start = time.perf_counter()
        with pytest.raises((BudgetExceeded, ParseError)):
            parse_math(text, Budget(1.0))
        assert time.perf_counter() - start < 0.5, text


def test_budget_and_limits_validate():
    with pytest.raises(ValueError, match="must be > 0"):
        Budget(0)
    with pytest.raises(ValueError, match="budget must be > 0"):
        MathVerifier(seconds=-1)
    with pytest.raises(TypeError, match="Limits"):
        MathVerifier(limits={"max_depth": 5})
    tight = MathVerifier(limits=Limits(max_depth=5))
    assert tight.check(boxed("((((((((1))))))))"), "1").reason == "budget"


def _nested_frac(n: int) -> str:
    return "\\frac{" * n + "1" + "}{2}" * n


HOSTILE = [
    boxed("9^{9^{9^9}}"), boxed("(10^{100000})!"), boxed("10^{10^{10}}"),
    boxed("(" * 5000 + "1" + ")" * 5000), boxed("(" * 400 + "1" + ")" * 400),
    "x" * 200_000, "\\boxed{" * 30_000, boxed("{" * 3000), boxed("}" * 3000 + "{"),
    boxed("1\x00"), "\x00" * 1000, boxed("__import__('os').system('echo hi')"),
    boxed("S.One"), boxed("Matrix([[1]])"), boxed(_nested_frac(300)), boxed(_nested_frac(90)),
    boxed("\\sqrt{" * 90 + "2" + "}" * 90), boxed("2^" * 300 + "2"), boxed("x^{x^{x^{x^{x}}}}"),
    boxed("e^{e^{e^{e^{100}}}}"), boxed("1" + "+1" * 500), boxed("(" + "x+" * 200 + "1)^{60}"),
    boxed("\\begin{pmatrix}" + "1&" * 300 + "1\\end{pmatrix}"), boxed("\\pm" * 300 + "1"),
    boxed(",".join(["(1,2)"] * 150)), boxed("0." + "9" * 900), boxed("1/" * 400 + "1"),
    boxed("\\sin(" * 90 + "x" + ")" * 90), boxed("10^{-10^{6}}"), boxed("\\frac{1}{0}"),
    # each of these once took seconds inside one sympy call (fixed by a size guard)
    boxed("\\sin(\\pi e^{e^{e^{10}}})"), boxed("\\binom{e^{e^{e^{10}}}}{2}"),
    boxed("\\sqrt{e^{e^{e^{e^{10}}}}}"), boxed("(x+1)^{60000} > 0"), boxed("\\sqrt[7]{10^{900}+7}"),
    boxed("\\sum_{k=1}^{10^{9}} k"), boxed("\\sum_{k=1}^{999} (x+k)^{60}"),
    boxed("\\sum_{k=1}^{999} k^{k}"), boxed("\\sum_{a=1}^{999}\\sum_{b=1}^{999}\\sum_{c=1}^{999} ab c"),
    boxed("\\sum_{k=1}^{999} 9^{9^{k}}"), boxed("\\sum_{k=1}^{999}k!"),
    "\\boxed{1} and " * 400, "$1 = " * 300,
    boxed("1" * 999), "\\[" * 10_000, "\\(" * 10_000, "$" * 20_000, "answer is " * 2000,
]


@pytest.mark.parametrize("response", HOSTILE, ids=lambda r: repr(r[:30]) + f"..{len(r)}")
def test_hostile_inputs_return_a_verdict_quickly(v_default, response):
    for gold in ("1", "x^2+1", "(1,2]"):
        start = time.perf_counter()
        verdict = v_default.check(response, gold)
        # the bench (0.5 s) is the real bound; generous here for a loaded 2-core CI runner
        assert time.perf_counter() - start < 2.0
        assert verdict.reward in (0.0, 1.0) and verdict.reason != "error", verdict


def test_hostile_gold_is_handled_too(v_default):
    for gold in ("9^{9^{9^9}}", "\\boxed{" * 100, "x" * 5000, "\x00"):
        verdict = v_default.check(boxed("1"), gold)
        assert verdict.reward == 0.0


_LATEXISH = st.lists(st.sampled_from([
    "\\boxed{", "}", "{", "(", ")", "[", "]", "\\{", "\\}", "1", "2", "0", ".", ",", "x", "y", "e",
    "i", "^", "_", "+", "-", "*", "/", "=", "<", "\\le", "\\frac", "\\sqrt", "\\pi", "\\infty",
    "\\pm", "\\cup", "!", "%", "\\%", "\\text{", "\\left(", "\\right)", "&", "\\\\", "\\begin{pmatrix}",
    "\\end{pmatrix}", "\\sin", "\\log", " ", "$", "9^{9^{9", "\\dfrac", "|", "\\cdot", "10^{",
    "\\sum_{k=1}^{", "k", ";", "0,"]),
    max_size=40).map("".join)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(response=st.one_of(st.text(max_size=200), _LATEXISH),
       gold=st.one_of(_LATEXISH, st.sampled_from(["1", "\\frac12", "(1,2]", "x^2", "\\{1,2\\}"])))
def test_fuzz_never_raises(v_default, response, gold):
    verdict = v_default.check(response, gold)
    assert verdict.reward in (0.0, 1.0)
    assert verdict.reason != "error", verdict.flags


@settings(max_examples=100, deadline=None)
@given(st.fractions(max_denominator=10**6))
def test_fuzz_fractions_match_their_decimal_and_latex_forms(v, f):
    latex = f"\\frac{{{f.numerator}}}{{{f.denominator}}}"
    assert v(boxed(latex), f"{f.numerator}/{f.denominator}") == 1.0
    assert v(boxed(latex), f"{f.numerator + 1}/{f.denominator}") == 0.0


PAIRS = [(boxed(p), g) for table in TABLES.values() for g, p, _ in table] + [
    (r, "1") for r in HOSTILE[:6]]


def test_threads_give_the_same_verdicts(v):
    sequential = [v.check(r, g).reward for r, g in PAIRS]
    with ThreadPoolExecutor(max_workers=4) as ex:
        threaded = list(ex.map(lambda rg: v.check(*rg).reward, PAIRS))
    assert threaded == sequential


def test_pickles_and_runs_in_worker_processes(v):
    clone = pickle.loads(pickle.dumps(v))
    assert clone.check(boxed("\\frac12"), "0.5").correct
    pairs = PAIRS[:40]
    expected = [v.check(r, g).reward for r, g in pairs]
    got = [x.reward for x in v.check_many([r for r, _ in pairs], [g for _, g in pairs], processes=2)]
    assert got == expected


# ---- a number is never read out of an operation or a hedge --------------------------------
# (response, gold, expected reward). Each class pays 0 for the wrong reading, and the honest
# reading of the same text (where there is one) still pays 1.

ANSWER_PHRASE_OPERAND = [  # "the answer is X": X read whole when its number is an operand, and an
    # expression is not its value against a gold written as a number
    ("the answer is 5! ways", "5", 0.0), ("the answer is 5! ways", "120", 0.0),
    ("The answer is 5!", "5", 0.0), ("The answer is 5!", "120", 0.0),
    ("The answer is $5$!", "5", 0.0), ("The answer is $5$!", "120", 0.0),
    ("The answer is 5 factorial", "5", 0.0), ("The answer is 5 factorial", "120", 0.0),
    ("The answer is 5 cubed", "5", 0.0), ("The answer is 4 squared.", "4", 0.0),
    ("The answer is $4$ squared.", "4", 0.0), ("Answer: \\(4\\) squared", "4", 0.0),
    ("The answer is the square root of 16", "16", 0.0), ("The answer is twice 9", "9", 0.0),
    ("The answer is half of 18", "18", 0.0), ("The answer is 18 percent of 50", "50", 0.0),
    ("The answer is 18 percent of 50", "18", 0.0), ("The answer is 3 times 4.", "4", 0.0),
    ("The answer is 16 minus 5.", "5", 0.0), ("The answer is 10 divided by 2.", "2", 0.0),
    ("The answer is $\\sqrt{16}$ apples", "16", 0.0), ("The answer is $\\sqrt{16}$ apples", "4", 0.0),
    ("The answer is 5 ways.", "5", 1.0), ("The answer is 12 inches.", "12", 1.0),
    ("The answer is $x$!", "x", 0.0), ("The answer is $x$.", "x", 1.0),  # "!" is read as x!
]
LEADING_SIGN_WORD = [  # "negative 5" / "minus 5" are not 5 (and not read as -5 either)
    ("The answer is negative 5", "5", 0.0), ("The answer is negative 5", "-5", 0.0),
    ("The answer is minus 5", "5", 0.0), ("The answer is negative \\(5\\).", "5", 0.0),
    ("negative 5", "5", 0.0), ("\\boxed{negative 5}", "5", 0.0), ("\\boxed{\\text{negative } 5}", "5", 0.0),
    ("The answer is -5", "-5", 1.0), ("It is negative five: \\boxed{-5}", "-5", 1.0),
    ("It is negative five: \\boxed{-5}", "5", 0.0),
]
TRAILING_OPERATION_WORDS = [  # normalize drops unit words, never words that change the number
    ("\\boxed{4 squared}", "4", 0.0), ("\\boxed{4 squared}", "16", 0.0),
    ("\\boxed{5 \\text{ squared}}", "5", 0.0), ("\\boxed{5 \\text{ cubed}}", "5", 0.0),
    ("\\boxed{5 factorial}", "5", 0.0), ("\\boxed{5 \\text{ or more}}", "5", 0.0),
    ("\\boxed{18 \\text{ half}}", "18", 0.0), ("\\boxed{2 \\text{ and a half}}", "2", 0.0),
    ("\\boxed{18 and a quarter}", "18", 0.0), ("The answer is 16 squared units.", "16", 0.0),
    ("\\boxed{x^2 \\text{ squared}}", "x^2", 0.0),
    # units and currency still pass
    ("\\boxed{5 \\text{ cm}}", "5", 1.0), ("\\boxed{16 \\text{ square units}}", "16", 1.0),
    ("\\boxed{12 \\text{ inches squared}}", "12", 1.0), ("The answer is 12 inches squared.", "12", 1.0),
    ("\\boxed{5 \\text{ cm}^2}", "5", 1.0), ("\\boxed{18 dollars}", "18", 1.0), ("\\$18", "18", 1.0),
    ("\\boxed{\\$18}", "18", 1.0), ("18 dollars", "18", 1.0), ("The answer is 18 dollars.", "18", 1.0),
    ("\\boxed{90^\\circ}", "90", 1.0), ("The answer is $90^\\circ$.", "90", 1.0),
    ("The answer is 90 degrees.", "90", 1.0), ("\\boxed{18\\%}", "18", 1.0),
    ("\\boxed{5 \\text{ ways}}", "5", 1.0),
]
JUXTAPOSED_NUMBERS = [  # "18 1/2" is a mixed number, as 2\frac12 is; other number pairs are not products
    ("\\boxed{18 1/2}", "9", 0.0), ("\\boxed{18 1/2}", "37/2", 1.0), ("\\boxed{18 1/2}", "18.5", 1.0),
    ("\\boxed{-2 1/2}", "-5/2", 1.0), ("\\boxed{x - 2 1/2}", "x - 5/2", 1.0), ("\\boxed{(2 1/2, 3)}", "(5/2, 3)", 1.0),
    ("The answer is 18 1/2 dollars", "37/2", 1.0), ("The answer is 18 1/2 dollars", "1/2", 0.0),
    ("\\boxed{2 3}", "6", 0.0), ("\\boxed{x = 1 000}", "x = 0", 0.0), ("\\boxed{1.5.3}", "0.45", 0.0),
    ("\\boxed{2 1/2^2}", "9/4", 0.0), ("\\boxed{2 1/2^2}", "2.25", 0.0), ("\\boxed{2 1/2 x}", "x", 0.0),
    ("\\boxed{3 \\cdot 2 1/2}", "3", 0.0), ("\\boxed{\\frac12 3}", "3/2", 0.0),
    ("It costs 18 1/2", "0.5", 0.0), ("The total is 1 000", "0", 0.0),
    ("\\boxed{1 000}", "1000", 1.0), ("\\boxed{2\\frac{1}{2}}", "5/2", 1.0), ("\\boxed{\\frac 3 8}", "3/8", 1.0),
]
HEDGED_SPANS_AND_NUMBERS = [  # a hedge or a list is not its last item
    ("The answer is $18$ or $20$.", "20", 0.0), ("The answer is about $18$.", "18", 0.0),
    ("The answer is at most $18$", "18", 0.0), ("The answer is $x$ or $y$.", "y", 0.0),
    ("The answer is $3$ and $4$.", "4", 0.0), ("The answer is $3$ and $4$.", "3, 4", 1.0),
    ("The answer is $x=1$ or $x=2$.", "x=2", 0.0), ("The answer is the square root of $16$.", "16", 0.0),
    ("The answer is 18, or 20.", "18", 0.0), ("The answer is 18, maybe 20.", "18", 0.0),
    ("The answer is about 18.", "18", 0.0), ("The answer is at least 18.", "18", 0.0),
    ("The answer is 5 or more.", "5", 0.0), ("The answer is 18 apples or 20 pears", "18", 0.0),
    ("The answer is $18$ apples or $20$ pears", "20", 0.0), ("The answer is 2 and a half.", "2", 0.0),
    ("Final Answer: The final answer is $12$ or $13$. I hope it is correct.", "13", 0.0),
    ("Final Answer: The final answer is $4$ squared. I hope it is correct.", "4", 0.0),
    ("so it is $4$ squared", "4", 0.0), ("we get $18$ or $20$", "20", 0.0), ("we get $x$, $y$", "y", 0.0),
    ("The answer is clearly $18$.", "18", 1.0), ("the value is $5$ cm", "5", 1.0),
    ("Final Answer: The final answer is $12$ and $13$. I hope it is correct.", "12, 13", 1.0),
]
LAST_NUMBER_OPERAND = [  # the last-number fallback skips nothing and reads no operand
    ("there are 5! ways", "5", 0.0), ("I think it is 5 factorial", "5", 0.0), ("5 squared", "5", 0.0),
    ("She has 18, or maybe 20", "20", 0.0), ("She has 18 apples or 20 pears.", "20", 0.0),
    ("#### 5 apples or more", "5", 0.0), ("#### 2 and a half", "2", 0.0), ("the values are 1, 2", "2", 0.0),
    ("we get $x=5$, so there are 5 squared ways", "5", 0.0),
    ("we get $x=5$, so there are 12 ways", "12", 1.0), ("the value is 2,74", "2.74", 1.0),
    ("she has 18 apples", "18", 1.0),
]
READING_CLASSES = {
    "answer_phrase_operand": ANSWER_PHRASE_OPERAND, "leading_sign_word": LEADING_SIGN_WORD,
    "trailing_operation_words": TRAILING_OPERATION_WORDS, "juxtaposed_numbers": JUXTAPOSED_NUMBERS,
    "hedged_spans_and_numbers": HEDGED_SPANS_AND_NUMBERS, "last_number_operand": LAST_NUMBER_OPERAND,
}


@pytest.mark.parametrize("response,gold,expected", [c for t in READING_CLASSES.values() for c in t],
                         ids=[f"{k}-{i}" for k, t in READING_CLASSES.items() for i in range(len(t))])
def test_no_number_is_read_out_of_an_operation_or_a_hedge(v, response, gold, expected):
    verdict = v.check(response, gold)
    assert verdict.reward == expected, verdict


def test_an_operand_verdict_says_why(v):
    phrase = v.check("The answer is 4 squared.", "4")
    assert (phrase.reason, phrase.extracted, phrase.normalized_pred) == ("parse_error", "4 squared", "4 squared")
    last = v.check("there are 5! ways", "5")
    assert last.reason == "no_answer" and "last_number_not_a_number" in last.flags
    span = v.check("so it is $4$ squared", "4")
    assert span.reason == "no_answer" and "math_span_not_an_answer" in span.flags


def test_two_numbers_side_by_side_do_not_parse_as_a_product():
    assert parse_math("18 1/2", Budget(5.0)) == parse_math("37/2", Budget(5.0))
    for text in ("18 20", "1 000", "1.5.3", "2 1/2^2", "2 1/2 x", "3 \\cdot 2 1/2", "\\frac12 3"):
        with pytest.raises(ParseError, match="side by side"):
            parse_math(text, Budget(5.0))
