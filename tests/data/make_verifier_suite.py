"""Regenerate `verifier_suite.jsonl`: hacrl's own labelled (gold, response, expected) cases.

    python tests/data/make_verifier_suite.py > tests/data/verifier_suite.jsonl

Each case is a full model-like response (reasoning, then an answer) with a label a person
would give: 1 when the answer the response commits to equals the gold, else 0. Labels come
from how each case is built (same value re-written, or a value that differs), never from
running a verifier. Hand-written cases cover the known verifier failures (LANDSCAPE.md §1.6
and §4). Deterministic: a fixed seed.
"""

from __future__ import annotations

import json
import random
from fractions import Fraction

rng = random.Random(20261125)
CASES: list[dict] = []


def add(kind: str, gold: str, response: str, expected: int, note: str) -> None:
    CASES.append({"kind": kind, "gold": gold, "response": response, "expected": expected, "note": note})


# ---- GSM8K-style: gold is a number (sometimes the full worked solution) ----------------------

NAMES = ["Janet", "Tom", "Priya", "Carlos", "Mei", "Ahmed", "Olga", "Sam"]
ITEMS = [("apples", ""), ("tickets", "$"), ("books", "$"), ("eggs", ""), ("minutes", ""), ("miles", "")]


def reasoning(a: int, b: int, total: int, item: str) -> str:
    name = rng.choice(NAMES)
    return (f"{name} starts with {a} {item} and gets {b} more each day.\n"
            f"Step 1: {a} + {b} = {a + b}.\nStep 2: the total works out as computed below.\n")


def money(n: Fraction | int, cents: bool) -> str:
    return f"${float(n):,.2f}" if cents else f"${int(n):,}"


# Same value, many ways of writing it (label 1).
SAME_VALUE = [
    ("#### {n}", "hash line"),
    ("#### {comma}", "hash with thousands separator"),
    ("The answer is {n}.", "answer-is sentence with trailing period"),
    ("Therefore, the answer is {comma}.", "answer-is with thousands separator"),
    ("So the final answer is \\boxed{{{n}}}.", "boxed"),
    ("Final answer: {dollar}", "dollar sign"),
    ("The answer is {n}.00", "trailing .00 (lm-eval string compare misses this)"),
    ("#### {n}.0", "trailing .0"),
    ("The answer is {n} {item}.", "unit word after the number"),
    ("\\boxed{{{n} \\text{{ {item}}}}}", "boxed with \\text unit"),
    ("**Answer:** {n}", "markdown bold answer label"),
    ("Answer: {spaced}", "space as thousands separator"),
]
for i in range(12):
    for template, note in SAME_VALUE:
        a, b = rng.randint(2, 90), rng.randint(2, 90)
        n = rng.choice([a * b, a * b * 37, a + b, a * 1000 + b])
        item = rng.choice(ITEMS)[0]
        resp = reasoning(a, b, n, item) + template.format(
            n=n, comma=f"{n:,}", dollar=money(n, False), item=item, spaced=f"{n:,}".replace(",", " "))
        gold = str(n) if i % 2 else f"{a} * {b} ... <<{a}*{b}={a * b}>>\n#### {n}"
        add("gsm8k", gold, resp, 1, note + ("" if i % 2 else "; gold is a full worked solution"))

# Different value (label 0): off by one, sign, decimal slip, x10, a number from the work.
WRONG_VALUE = [
    (lambda n: n + 1, "#### {v}", "off by one"),
    (lambda n: n - 1, "The answer is {v}.", "off by one below"),
    (lambda n: -n, "#### {v}", "sign flipped"),
    (lambda n: n * 10, "The answer is \\boxed{{{v}}}", "times ten"),
    (lambda n: Fraction(n, 10), "Final answer: {v}", "decimal point slipped"),
    (lambda n: n + Fraction(1, 2), "The answer is {v}", "extra half"),
]
for i in range(14):
    for f, template, note in WRONG_VALUE:
        a, b = rng.randint(2, 90), rng.randint(2, 90)
        n = a * b
        v = f(n)
        vtext = str(v) if v.denominator == 1 else f"{float(v):g}"
        add("gsm8k", str(n), reasoning(a, b, n, "apples") + template.format(v=vtext), 0, note)

# The gold appears in the working, but the committed answer is different (label 0), and the
# reverse: the final answer is right although other numbers come after it (label 1).
for i in range(20):
    a, b = rng.randint(3, 60), rng.randint(3, 60)
    n = a * b
    add("gsm8k", str(n), f"First I thought {n}, but {a} * {b} is not the total.\n#### {n + a}", 0,
        "gold mentioned in the work, different final answer")
    add("gsm8k", str(n), f"{a} * {b} = {n}.\nThe answer is {n}.\nCheck: {n} - {a} = {n - a}, fine.", 1,
        "answer stated, then a check with later numbers (lm-eval flexible takes the last number)")

# Decimals, fractions, negatives, money with cents.
for i in range(10):
    cents = Fraction(rng.randint(101, 99999), 100)
    add("gsm8k", f"{float(cents):.2f}", f"Total cost: {money(cents, True)}.\n#### {money(cents, True)}", 1,
        "money with cents")
    add("gsm8k", f"{float(cents):.2f}", f"Total cost is #### {float(cents + Fraction(1, 100)):.2f}", 0,
        "one cent off")
    p, q = rng.randint(1, 9), rng.choice([2, 4, 5, 8])
    frac = Fraction(p, q)
    dec = str(float(frac))
    if frac.denominator == 1:  # "8/2 of a pizza" for 4: the division restated, not done (never paid)
        add("gsm8k", dec, f"Each gets {p}/{q} of a pizza.\n#### {p}/{q}", 0, "whole number left as a division")
    else:
        add("gsm8k", dec, f"Each gets {p}/{q} of a pizza.\n#### {p}/{q}", 1, "fraction equals decimal gold")
    add("gsm8k", f"{p}/{q}", f"Each gets {dec} of a pizza, so the answer is {dec}.", 1, "decimal equals fraction gold")
    t = -rng.randint(1, 40)
    add("gsm8k", str(t), f"The temperature drops below zero.\n#### {t}", 1, "negative answer")
    add("gsm8k", str(t), f"It went from 5 to {t}; the change is {5 - t}.\n#### {5 - t}", 0,
        "negative gold, positive change answered")

# Hand-written cases: formats and the known failures (LANDSCAPE.md §4).
add("gsm8k", "18", "She makes 9 * 2 = $18.\n#### 18", 1, "GSM8K reference style")
add("gsm8k", "18", "#### 18.00", 1, "lm-eval: 18.00 != 18 as strings (false negative there)")
add("gsm8k", "0.5", "#### 1/2", 1, "lm-eval: #### 1/2 != 0.5 (false negative there)")
add("gsm8k", "18", "The answer is 18", 1, "no ####: lm-eval strict misses it (issue #3438)")
add("gsm8k", "18", "#### 18\nThen I rested for 20 minutes.", 1, "flexible takes the last number, 20")
add("gsm8k", "1500", "The distance is 1.5e3 metres.\nThe answer is 1.5e3", 1, "scientific notation")
add("gsm8k", "1000000", "The answer is 1,000,000.", 1, "millions separator")
add("gsm8k", "25", "25% of the students passed.\n#### 25%", 1, "percent sign on a percent gold")
add("gsm8k", "5", "I cannot solve this problem.", 0, "no number at all")
add("gsm8k", "5", "", 0, "empty response")
add("gsm8k", "12", "\\boxed{12} dozen eggs? No wait, the answer is 144.", 0, "boxed 12 outranks a later sentence")

# ---- MATH-style: LaTeX golds, boxed answers ----------------------------------------------------

def math_resp(body: str, ans: str) -> str:
    return f"Let's work through it. {body}\nTherefore the answer is $\\boxed{{{ans}}}$."


MATH_EQUAL = [  # (gold, boxed answer, note): mathematically the same answer
    ("\\frac{1}{2}", "0.5", "fraction vs decimal"),
    ("\\frac{1}{2}", "\\dfrac{1}{2}", "dfrac"),
    ("\\frac{1}{2}", "\\frac{2}{4}", "unreduced fraction (Hendrycks string compare misses it)"),
    ("\\frac{1}{2}", "1/2", "slash fraction"),
    ("2\\sqrt{2}", "\\sqrt{8}", "simplified radical"),
    ("\\frac{\\pi}{2}", "\\pi/2", "pi over two"),
    ("(x+1)^2", "x^2+2x+1", "expanded polynomial"),
    ("5", "x=5", "variable assignment"),
    ("30^\\circ", "30", "degrees symbol"),
    ("\\text{(B)}", "B", "multiple choice letter"),
    ("\\{1,2,3\\}", "\\{3,2,1\\}", "set order does not matter"),
    ("-\\frac{3}{4}", "\\frac{-3}{4}", "sign placement"),
    ("10\\%", "10", "percent on the gold"),
    ("\\sqrt{\\frac{1}{n}}", "\\frac{1}{\\sqrt{n}}", "math-verify false negative (#64), n>0"),
    ("\\frac{\\sqrt{3}}{3}", "\\frac{1}{\\sqrt{3}}", "rationalised denominator"),
    ("1000", "1{,}000", "LaTeX thousands separator"),
    ("(1,2]", "(1,2]", "identical interval"),
    ("x \\in [2, 5)", "[2,5)", "interval with membership"),
    ("3", "3.0", "trailing zero"),
    ("e^{2}", "e^2", "brace-less exponent"),
]
MATH_DIFFERENT = [  # (gold, boxed answer, note)
    ("\\frac{1}{2004!}", "\\frac{1}{2006!}", "math-verify false positive (#14)"),
    ("\\frac{1}{2^{99}}", "\\frac{1}{2^{98}}", "math-verify false positive (#14)"),
    ("1-\\frac{1}{e}", "1+\\frac{1}{e}", "math-verify false positive (#14, PR #82)"),
    ("3x-y+13=0", "3x+4y+14=0", "math-verify false positive (#60)"),
    ("(1,2]", "(1,2)", "interval endpoint"),
    ("(1,2)", "(2,1)", "ordered pair order matters"),
    ("\\frac{1}{2}", "\\frac{1}{3}", "different fraction"),
    ("2\\sqrt{2}", "2\\sqrt{3}", "different radical"),
    ("x^2+2x+1", "x^2+2x-1", "sign of a term"),
    ("\\text{(B)}", "C", "wrong letter"),
    ("\\{1,2,3\\}", "\\{1,2\\}", "missing element"),
    ("1", "\\begin{pmatrix}1\\end{pmatrix}", "matrix is not a scalar"),
    ("\\pi", "3.14", "decimal approximation of pi"),
    ("0.5", "50", "percent confusion"),
    ("-1", "1", "sign flipped"),
    ("\\infty", "-\\infty", "opposite infinity"),
    ("\\frac{\\pi}{3}", "\\frac{\\pi}{6}", "different angle"),
    ("e^{2}", "2e", "exponent vs product"),
]
for gold, ans, note in MATH_EQUAL:
    add("math", gold, math_resp("We simplify step by step.", ans), 1, note)
for gold, ans, note in MATH_DIFFERENT:
    add("math", gold, math_resp("We simplify step by step.", ans), 0, note)

# Generated MATH-style numbers: fractions in several spellings (1) and neighbours (0).
for i in range(40):
    p, q = rng.randint(1, 30), rng.randint(2, 30)
    f = Fraction(p, q)
    gold = f"\\frac{{{f.numerator}}}{{{f.denominator}}}" if f.denominator != 1 else str(f.numerator)
    k = rng.randint(2, 5)
    same = rng.choice([f"\\frac{{{f.numerator * k}}}{{{f.denominator * k}}}",
                       f"{f.numerator}/{f.denominator}", f"\\dfrac{{{f.numerator}}}{{{f.denominator}}}"])
    if f.denominator == 1 and ("/" in same or "frac" in same):  # "\\frac{12}{4}" for 3: a division not done
        add("math", gold, math_resp(f"The ratio is {p} to {q}.", same), 0, "whole number left as a division")
    else:
        add("math", gold, math_resp(f"The ratio is {p} to {q}.", same), 1, "fraction rewritten")
    other = f + Fraction(1, f.denominator + 1)
    add("math", gold, math_resp(f"The ratio is {p} to {q}.", f"\\frac{{{other.numerator}}}{{{other.denominator}}}"),
        0, "nearby different fraction")
    n = rng.randint(2, 50)
    add("math", f"{n}\\sqrt{{2}}", math_resp("Using the Pythagorean theorem,", f"\\sqrt{{{2 * n * n}}}"), 1,
        "radical simplified differently")
    add("math", f"{n}\\sqrt{{2}}", math_resp("Using the Pythagorean theorem,", f"{n}\\sqrt{{3}}"), 0,
        "different radicand")

if __name__ == "__main__":
    for case in CASES:
        print(json.dumps(case, ensure_ascii=False))
