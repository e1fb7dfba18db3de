"""GSM8K grader: (gold, response, expected) tables, lm-eval strict/flexible parity, real golds."""

from __future__ import annotations

import json
from fractions import Fraction

import pytest

import verifiers
from verifiers.gsm8k import box_value, extract_answer
from verifiers.numbers import NumberTooLarge, find_numbers, format_number, parse_number
from verifiers.operands import is_operand


@pytest.fixture(scope="module")
def gsm8k():
    return verifiers.get_verifier("gsm8k")


@pytest.mark.parametrize("text, value", [
    ("18", 18), ("18.00", 18), ("18.", 18), ("-5", -5), ("−5", -5), ("+5", 5),
    ("$1,000", 1000), ("\\$1,000.50", Fraction(2001, 2)), ("1 000", 1000), ("1{,}000", 1000),
    ("50%", 50), ("50\\%", 50), ("50 percent", 50), ("18 dollars.", 18), ("18\\text{ dollars}", 18),
    ("5cm", 5), ("7 m/s", 7), ("1/2", Fraction(1, 2)), ("-1/2", Fraction(-1, 2)),
    ("\\frac{3}{4}", Fraction(3, 4)), ("\\dfrac{3}{4}", Fraction(3, 4)), ("1.5e3", 1500),
    ("2 \\times 10^{3}", 2000), (".4", Fraction(2, 5)), ("-$5", -5), ("$-5", -5), ("$18$", 18),
    ("0.1", Fraction(1, 10)), ("1.5 million dollars", 1_500_000), ("$2 billion", 2 * 10**9),
    ("$18/day", 18), ("\\$18/\\text{hour}", 18), ("$5 a day", 5), ("18 dozen", 216), ("5 hundred", 500),
    ("7 m", 7),
])
def test_parse_number_accepts_written_forms(text, value):
    assert parse_number(text) == value


@pytest.mark.parametrize("text", ["3x", "x=5", "abc", "1,22", "", "1/0", "\\frac{1}{0}", "2\\pi", "Matrix([[1]])",
                                  "5 x", "5 a", "2 pi", "18/x", "5 x/y", "18 or more", "18 squared",
                                  "18 approximately", "18 or 20"])
def test_parse_number_rejects_non_numbers(text):
    # "1,22" is not a thousands group (three digits needed); "3x" is an expression, not 3; a lone
    # letter or "pi" after a number is a factor ("5 x" is 5x), and "or more", "squared" are not
    # units: they change or hedge the number.
    assert parse_number(text) is None


@pytest.mark.parametrize("text", ["1e999999", "9" * 100_000, "1" + "0" * 5000])
def test_parse_number_caps_size_instead_of_stalling(text):
    with pytest.raises(NumberTooLarge):
        parse_number(text)


def test_exact_arithmetic_not_float():
    # 0.1 + 0.2 != 0.3 in floats; as fractions the written 0.3 and 3/10 are the same value.
    assert parse_number("0.3") == parse_number("3/10") == Fraction(1, 10) + Fraction(2, 10)
    assert parse_number("0.30000000000000004") != parse_number("0.3")


def test_find_numbers_binary_minus_is_not_a_sign():
    # "16-3-4" is 16, 3, 4; "= -3" and "is -3" are minus three; "x - 3" subtracts.
    assert [n.value for n in find_numbers("16-3-4 = 9, x = -3")] == [16, 3, 4, 9, -3]
    assert [n.value for n in find_numbers("the sum is -3, x - 3, \\pi - 3")] == [-3, 3, 3]


def test_format_number_canonical():
    assert [format_number(Fraction(x)) for x in ("18", "-1/2", "1/3", "1/40")] == ["18", "-0.5", "1/3", "0.025"]


# (gold, response, expected)
DEFAULT_CASES = [
    ("18", "9 eggs * $2 = $18 per day.\n#### 18", 1),
    ("18", "#### 18.00", 1),
    ("18", "#### $18", 1),
    ("1000", "#### 1,000", 1),
    ("1000", "#### 1 000 dollars", 1),
    ("0.5", "So she keeps half.\n#### 1/2", 1),
    ("1/2", "\\boxed{0.5}", 1),
    ("1500", "#### 1.5e3", 1),
    ("-7", "The temperature is now #### -7", 1),
    ("18", "She makes 18 dollars. The answer is 18.", 1),
    ("18", "Final answer: $18", 1),
    ("18", "The answer is \\boxed{18}", 1),
    ("18", "\\boxed{\\$18}", 1),
    ("18", "\\boxed{18 \\text{ dollars}}", 1),
    ("25", "25% of the class", 1),  # percent is a unit: GSM8K golds are written as the number
    ("18", "16 - 3 - 4 = 9 eggs, 9 * 2 = 18", 1),  # fallback: last number
    ("18", "#### 17", 0),
    ("18", "#### 18.5", 0),
    ("20", "\\boxed{18} is wrong, the answer is 20", 0),  # \boxed outranks "answer is"
    ("18", "#### 18\n#### 19", 0),  # the last #### is the committed answer
    ("-7", "#### 7", 0),
    # "16-5" states 11: its 5 is subtracted (binary minus), so it is neither 5 nor -5 (was 1:
    # the fallback read the bare 5)
    ("5", "16-5", 0),
    ("-5", "16-5", 0),
    # a word is not an operand: "is -5" is minus five (was read as 5, paying gold 5)
    ("-5", "So the sum is -5", 1),
    ("5", "So the sum is -5", 0),
    ("0.5", "#### 50%", 0),  # 50% is 50 as written, not 0.5
    ("1", "Matrix([[1]])", 0),  # a call argument is not an answer, and the text is never evaluated
    ("1", "\\boxed{Matrix([[1]])}", 0),
    ("3", "f(3) = 7", 0),
    ("5", "The answer isn't 5, it is 6", 0),
    ("18", "no numbers here", 0),
    ("18", "", 0),
]


@pytest.mark.parametrize("gold, response, expected", DEFAULT_CASES)
def test_default_mode_table(gsm8k, gold, response, expected):
    v = gsm8k.check(response, gold)
    assert v.reward == float(expected), v
    assert 0.0 <= v.reward <= 1.0


def test_verdict_fields(gsm8k):
    v = gsm8k.check("She earns $1,000.00 in total.\n#### $1,000.00", "Work...\n#### 1000")
    assert (v.correct, v.extracted, v.normalized_pred, v.normalized_gold, v.rule, v.reason) == \
        (True, "$1,000.00", "1000", "1000", "hashes", "")
    v = gsm8k.check("I think it is 42", "#### 41")
    assert (v.rule, v.reason, v.flags, v.normalized_pred) == ("last_number", "mismatch", ("fallback_last_number",), "42")
    assert gsm8k.check("no idea", "41").reason == "no_answer"
    assert gsm8k.check("\\boxed{many}", "41").reason == "parse_error"
    v = gsm8k.check("#### 5", "not a number")
    assert (v.reason, v.flags) == ("parse_error", ("gold_unparseable",))
    assert gsm8k.check("#### 1e999999", "5").reason == "budget"


def test_extraction_rules_in_priority_order():
    assert extract_answer("3 \\boxed{4} #### 5")[2] == "hashes"
    assert extract_answer("the answer is 3, \\boxed{4}")[2] == "boxed"
    assert extract_answer("the answer is 3, then 4")[1:3] == ("3", "answer_is")
    assert extract_answer("3 then 4")[1:] == ("4", "last_number", ("fallback_last_number",))


# ---- a box is read whole: its exact value, or not a number (never a number inside it) ----------

# (box content, its value; None: not one number -> reward 0, reason "parse_error")
BOX_VALUES = [
    # one written number (these passed before and must keep passing)
    ("18", 18), ("1,000", 1000), ("5 \\text{ eggs}", 5), ("18 dollars", 18), ("\\$18", 18),
    ("$18.00", 18), ("50\\%", 50), ("18.", 18), ("18.00", 18), ("\\frac{1}{2}", Fraction(1, 2)),
    ("2\\frac{1}{2}", Fraction(5, 2)), ("\\left(18\\right)", 18), ("\\frac{3}{4}", Fraction(3, 4)), ("\\frac{6}{8}", Fraction(3, 4)),
    ("\\textbf{18}", 18), ("18^\\circ", 18), ("\\$18/\\text{day}", 18), ("-7", -7),
    # a name given a value
    ("x = 5", 5), ("n=5", 5), ("\\text{Total} = \\$18", 18), ("x_1 = 5", 5),
    # an equation that ends in its value
    ("9 \\times 2 = 18", 18), ("16 - 3 = 13", 13),
    # an expression that only restates a computation is not its value: a policy learns to copy the
    # prompt's "4 - 4 - 6 =" as its answer (SmolLM2 + Gemma-3 under GSPO, seed 1, found it)
    ("4 - 4 - 6", None), ("1+5", None), ("\\sqrt{16}", None), ("5!", None), ("2^3", None), ("-\\sqrt{4}", None),
    ("\\binom{5}{2}", None), ("(\\sqrt{2})^2", None), ("x = 2^3", None),
    ("1 + 5 = 1 + 5", None), ("3 \\cdot 4", None),
    ("36/2 = 18", 18),
    # not one number
    ("x^2", None), ("2\\pi", None), ("\\sqrt{2}", None), ("5 x", None), ("1, 2", None),
    ("16 - 3 = 12", None), ("Janet makes \\$18", None), ("18 \\text{ or more}", None),
    ("18 \\text{ or } 20", None), ("18 1/2", None), ("x \\ge 18", None), ("\\{18\\}", None),
    ("(18, 18)", None), ("18i", None), ("18 \\pm 1", None), ("18 squared", None), ("many", None),
]


@pytest.mark.parametrize("content, value", BOX_VALUES, ids=[c for c, _ in BOX_VALUES])
def test_box_is_read_as_its_exact_value_or_not_a_number(gsm8k, content, value):
    assert box_value(content) == value
    gold = "18" if value is None else format_number(value)
    v = gsm8k.check(f"So the answer is $\\boxed{{{content}}}$.", gold)
    assert v.rule == "boxed"
    if value is None:
        assert (v.reward, v.reason, v.flags) == (0.0, "parse_error", ("boxed_not_a_number",)), v
    else:
        assert v.reward == 1.0, v


# A fraction written for a whole number restates a division (a prompt's "36 / 2 =" copied) wherever
# it stands; a fraction that is not whole is a number however written.
@pytest.mark.parametrize("answer", ["36/2", "36 / 2", "\\frac{36}{2}", "\\dfrac{36}{2}", "18/1", "x = 36/2", "-36/-2"])
@pytest.mark.parametrize("where", ["So $\\boxed{{{a}}}$.", "#### {a}", "The answer is {a}.", "{a}", "She has {a}"])
def test_a_whole_number_left_as_a_division_is_never_paid(gsm8k, answer, where):
    v = gsm8k.check(where.format(a=answer), "18")
    assert (v.reward, v.reason) == (0.0, "parse_error"), (answer, v)
    assert gsm8k.check(where.format(a=answer + " = 18" if "x" not in answer else "x = 18"), "18").reward == 1.0


def test_a_gold_written_as_a_division_is_reached_by_its_own_form(gsm8k):
    v = gsm8k
    assert v.check("36/2", "#### 36/2").reward == 1.0 and v.check("18", "#### 36/2").reward == 1.0



# Wrappers around the number n: each box states another value (or none), so a gold of n is
# never paid. The bug read the one number inside the box: \boxed{\sqrt{16}} paid gold 16.
WRAPPED = ["\\sqrt{{{n}}}", "{n}!", "{n}^2", "x^{n}", "x^{{{n}}}", "-\\sqrt{{{n}}}", "-{n}", "2\\cdot {n}",
           "{n}+1", "\\frac{{{n}}}{{2}}", "\\log {n}", "{n}\\pi", "{n} x", "{n}x", "\\binom{{{n}}}{{2}}",
           "{n}^{{-1}}", "({n}, {n})", "\\{{{n}\\}}", "{n} \\text{{ or }} {m}", "\\sqrt{{\\boxed{{{n}}}}}"]


@pytest.mark.parametrize("template", WRAPPED)
@pytest.mark.parametrize("n", [4, 16, 25, 120, 1000])
def test_wrapped_number_in_a_box_never_pays_the_bare_number(gsm8k, template, n):
    v = gsm8k.check(f"We get $\\boxed{{{template.format(n=n, m=n + 1)}}}$.", str(n))
    assert v.reward == 0.0, v


# The same number written another way still pays; a computation whose value is n does not, and
# neither does a fraction for a whole number (the division restated, not done).
REWRITTEN = ["{n}.0", "{n}.00", "\\$ {n}", "{n} \\text{{ apples}}", "y = {n}", "\\left({n}\\right)", "({n})",
             "{h}+{h} = {n}"]
UNEVALUATED = ["\\sqrt{{{sq}}}", "{h}+{h}", "{h} + {h}", "\\frac{{{m}}}{{2}}", "\\dfrac{{{m}}}{{2}}", "{m}/2", "{m} / 2",
               "{m} - {n}", "2 \\cdot {h}", "y = {h}+{h}", "{h}+{h} = {h}+{h}"]


@pytest.mark.parametrize("template", REWRITTEN)
@pytest.mark.parametrize("n", [4, 16, 120])
def test_the_same_number_rewritten_in_a_box_pays(gsm8k, template, n):
    box = template.format(n=n, m=2 * n, sq=n * n, h=n // 2)
    assert gsm8k.check(f"So $\\boxed{{{box}}}$.", str(n)).reward == 1.0, box


@pytest.mark.parametrize("template", UNEVALUATED)
@pytest.mark.parametrize("n", [4, 16, 120])
@pytest.mark.parametrize("where", ["So $\\boxed{{{a}}}$.", "#### {a}", "The answer is {a}", "{a}"])
def test_a_computation_is_never_paid_for_its_value(gsm8k, template, n, where):
    answer = template.format(n=n, m=2 * n, sq=n * n, h=n // 2)
    v = gsm8k.check(where.format(a=answer), str(n))
    assert v.reward == 0.0, (answer, v)


@pytest.mark.parametrize("name", ["gsm8k", "math"])
def test_a_box_inside_a_box_is_part_of_the_outer_answer(name):
    # the shared box finder read the innermost box: \boxed{\sqrt{\boxed{16}}} paid gold 16
    v = verifiers.get_verifier(name)
    assert v("$\\boxed{\\sqrt{\\boxed{16}}}$", "16") == 0.0
    assert v("$\\boxed{\\sqrt{\\boxed{16}}}$", "4") == 0.0  # nor its value: it restates a computation
    assert v("$\\boxed{\\boxed{18}}$", "18") == 1.0  # a double box is still the same answer


def test_box_that_never_closes_is_no_answer_not_an_earlier_box_or_number(gsm8k):
    v = gsm8k.check("So the answer is $\\boxed{18", "18")
    assert (v.reward, v.reason, v.flags) == (0.0, "no_answer", ("unbalanced_boxed",))
    assert gsm8k.check("\\boxed{7} but wait, \\boxed{18", "7").reward == 0.0
    assert gsm8k.check("#### 18\n\\boxed{7", "18").reward == 1.0  # the #### line still decides


# ---- a number that is an operand in the #### line, "the answer is", or the last number -------

# Templates around the gold n that state another value, a hedge, or no number: never paid.
OPERAND_RESPONSES = [
    "#### \\sqrt{{{n}}}", "#### {n}!", "#### {n}^2", "#### 2^{{{n}}}", "#### {n} + 1", "#### {n}-1",
    "#### {n} or {m}", "#### {n} (or {m})", "#### {n} to {m}", "#### {n}:30", "#### {n} 1/2", "#### {n}i",
    "#### {n}\\pi", "#### - {n}", "#### {n} \\pm 1", "#### {n} or more", "#### at least {n}", "#### {n}, {m}",
    "the answer is {n}! ways", "The answer is {n} squared.", "The answer is negative {n}.",
    "The answer is about {n}.", "The answer is the square root of {n}.", "The answer is 2 \\times {n}.",
    "The answer is {n} times 2.", "The answer is 50% of {n}.", "The answer is {n} \\text{{ or }} {m}.",
    "So she makes \\sqrt{{{n}}}", "There are {n}! ways", "so it is 2 \\cdot {n}", "so we get x^{{{n}}}",
    "1{n}-{n}", "so x > {n}", "Total: {n}(2)", "#### ({n})^{{3}}", "#### ({n})!", "#### ({n}) + 1", "They are {m}, {m}, and {n}.", "It is either {m} or {n}",
]


@pytest.mark.parametrize("template", OPERAND_RESPONSES)
@pytest.mark.parametrize("n", [4, 18, 125])
def test_a_number_used_as_an_operand_is_not_that_number(gsm8k, template, n):
    response = template.format(n=n, m=n + 2)
    v = gsm8k.check(response, str(n))
    assert v.reward == 0.0, (response, v)


# Upstream formats around the gold 18 that must keep paying (GSM8K's own lines, markdown,
# currency, units, calculator marks, explanations after the answer).
STANDALONE_RESPONSES = [
    "#### 18", "####18", "#### $18", "#### \\$18", "#### 18 dollars", "#### 18.", "#### 18.00", "#### **18**",
    "#### 18\n\nExplanation: 9 * 2", "#### 18 (eighteen)", "#### 18 (9 * 2)", "#### $18 per day",
    "#### 18, which is her daily income", "#### 18 because 9*2 = 18", "#### \\boxed{18}",
    "The answer is 18.", "The answer is: $18", "**Answer:** 18", "Final answer: 18",
    "The answer is \\(18\\).",
    "The answer is *18*.", "The answer is **18**.", "The answer is 18 dollars per day.",
    "The answer is 9 * 2 = 18.", "The answer is 18 \\approx 20.",
    "She makes 9 * 2 = $18 every day.", "16 - 3 - 4 = 9 eggs, 9 * 2 = 18",
    "She makes 9 * 2 = $<<9*2=18>>18 every day.", "So she makes $18.\n\nGreat job!",
    "which is 18 (dollars).", "9 × 2 = 18", "= \\$18", "18", "$18", "18 dollars",
    "The answer is <<9*2=18>>18.", "She earns 9*2=<<9*2=18>>18dollars a day", "so 18 = x",
]


@pytest.mark.parametrize("response", STANDALONE_RESPONSES)
def test_a_standalone_number_is_still_read(gsm8k, response):
    v = gsm8k.check(response, "18")
    assert v.reward == 1.0, (response, v)


@pytest.mark.parametrize("response, value", [("#### 16 - 3 = 13", 13), ("The answer is 2 \\times 9 = 18.", 18),
                                             ("#### 36 / 2 = 18", 18), ("#### 9 / 12", Fraction(3, 4))])
def test_an_equation_span_is_read_as_the_number_it_ends_in(gsm8k, response, value):
    v = gsm8k.check(response, str(value))
    assert v.reward == 1.0, v
    assert gsm8k.check(response, str(value + 1)).reward == 0.0


@pytest.mark.parametrize("response, value", [
    ("#### 2^3", 8), ("#### \\sqrt{16}", 4), ("the answer is 5! ways", 120),
    ("State the final answer:\n4 -4 -6\n4 -4\n4 -4", -6), ("#### 1+5=1+5", 6),
])
def test_an_expression_span_is_not_paid_for_its_value(gsm8k, response, value):
    v = gsm8k.check(response, str(value))
    assert (v.reward, v.reason) == (0.0, "parse_error"), v


def test_not_a_number_verdicts_name_their_rule(gsm8k):
    cases = {"#### \\sqrt{2}": ("hashes", ("hashes_not_a_number",)),
             "The answer is 18 or 20.": ("answer_is", ("answer_is_not_a_number",)),
             "so it is \\sqrt{16}": ("last_number", ("fallback_last_number", "last_number_not_a_number")),
             "\\boxed{x^2}": ("boxed", ("boxed_not_a_number",))}
    for response, (rule, flags) in cases.items():
        v = gsm8k.check(response, "16")
        assert (v.reward, v.reason, v.rule, v.flags) == (0.0, "parse_error", rule, flags), v


# (text, the number checked: "first" or "last" in the text, is it an operand)
OPERAND_TABLE = [
    (r"\sqrt{16}", "first", True), ("5!", "first", True), ("x^2", "last", True), ("2^3", "first", True),
    ("2^3", "last", True), ("16-5", "last", True), ("9 * 2", "first", True), ("9 * 2", "last", True),
    (r"2\pi", "first", True), ("3x", "first", True), ("5 x", "first", True), ("1, 2", "first", True),
    ("1, 2", "last", True), ("1,22", "first", True), (r"\frac{a}{16}", "last", True), ("x < 5", "last", True),
    ("root of 16", "last", True), ("16 squared", "first", True), ("negative 5", "last", True),
    ("18 or 20", "first", True), ("about 18", "last", True), ("18:30", "first", True),
    ("18 1/2", "first", True), (r"2 \times 9", "first", True), (r"18 = 2 \times 9", "first", True),
    ("= 18", "last", False), ("$18", "first", False), ("**18**", "first", False), ("*18*", "first", False),
    (r"\text{18}", "first", False), ("(18)", "first", False), ("18%", "first", False),
    ("18 dollars", "first", False), ("5cm", "first", False), ("18.", "first", False),
    ("18 (9 * 2)", "first", False), ("<<9*2=18>>18", "last", False), (r"90^\circ", "first", False),
    ("$5 a day", "first", False), (r"1/3 \approx 0.33", "first", False), ("16 - 3 - 4 = 9", "last", False),
    ("21, 36, and 82", "last", True), ("12:00", "last", True), ("3 apples and 18 pears", "last", False),
    ("Totals:\n- 18", "last", False), ("x = - 18", "last", True), ("130miles", "first", False),
    ("2pi", "first", True), ("20 = A", "first", False), ("(3042)^3", "first", True), ("{5}!", "first", True),
    ("(18) dollars", "first", False),
]


@pytest.mark.parametrize("text, which, expected", OPERAND_TABLE)
def test_is_operand_table(text, which, expected):
    nums = find_numbers(text)
    m = nums[0] if which == "first" else nums[-1]
    assert is_operand(text, m.start, m.end) is expected, (text, m)


def test_bad_mode_names_the_choices():
    with pytest.raises(ValueError, match="'default', 'strict' or 'flexible'"):
        verifiers.get_verifier("gsm8k", mode="lenient")


# lm-eval gsm8k.yaml: strict = first "#### (-?[0-9.,]+)"; flexible = last "(-?[$0-9.,]{2,})|(-?[0-9]+)";
# then remove ",", "$", "(?s).*#### ", a trailing "." and compare strings case-insensitively.
LM_EVAL_CASES = [
    # (gold, response, strict, flexible)
    ("18", "#### 18", 1, 1),
    ("1000", "#### 1,000", 1, 1),
    ("18", "#### 18.", 1, 1),
    ("18", "#### 18.00", 0, 0),  # string compare: 18.00 != 18 (LANDSCAPE §4)
    ("0.5", "#### 1/2", 0, 0),  # strict takes "1" (no '/' in the class); flexible takes "2"
    ("18", "The answer is 18", 0, 1),  # strict misses unformatted answers (lm-eval #3438)
    ("18", "#### 18\nThen 20 more", 1, 0),  # flexible takes the *last* number
    ("18", "#### 17\n#### 18", 0, 1),  # strict takes the *first* ####
    ("18", "Total: $18", 0, 1),
    ("-3", "####  -3", 0, 1),  # strict needs exactly one space after ####
    ("7", "x 7", 0, 1),  # single digit: second alternative of the flexible regex
]


@pytest.mark.parametrize("gold, response, strict, flexible", LM_EVAL_CASES)
def test_lm_eval_modes(gold, response, strict, flexible):
    full_gold = f"Some working <<1+1=2>>2.\n#### {gold}"
    assert verifiers.get_verifier("gsm8k-strict")(response, full_gold) == strict
    assert verifiers.get_verifier("gsm8k-flexible")(response, full_gold) == flexible
    assert verifiers.get_verifier("gsm8k", mode="strict")(response, gold) == strict


def test_lm_eval_no_match_is_no_answer():
    v = verifiers.get_verifier("gsm8k-strict").check("I don't know", "5")
    assert (v.reward, v.reason, v.rule) == (0.0, "no_answer", "lm_eval_strict")


# GSM8K golds: the shipped fixture rows, and the full splits (7473 / 1319) from the caller's
# HACRL_DATA_DIR (marked full_data; skipped without it).
SOURCES = [pytest.param("fixtures", id="fixtures"),
           pytest.param("full", id="full", marks=pytest.mark.full_data)]
ROWS = {("fixtures", "train"): 32, ("fixtures", "test"): 32, ("full", "train"): 7473, ("full", "test"): 1319}


def _golds(request, source: str, split: str) -> list[str]:
    root = request.getfixturevalue("fixture_data_dir" if source == "fixtures" else "full_data_dir")
    golds = [json.loads(line)["answer"] for line in (root / "gsm8k" / f"{split}.jsonl").open(encoding="utf-8")]
    assert len(golds) == ROWS[source, split]
    return golds


@pytest.mark.parametrize("source", SOURCES)
def test_every_gsm8k_test_gold_verifies_against_its_hash_line(gsm8k, request, source):
    for answer in _golds(request, source, "test"):
        final = answer.split("####")[-1].strip()
        # The worked solution graded against its own final line, and the reverse.
        assert gsm8k(answer, final) == 1.0, answer[-80:]
        assert gsm8k(f"#### {final}", answer) == 1.0, answer[-80:]
        assert verifiers.get_verifier("gsm8k-strict")(answer, answer) == 1.0


@pytest.mark.parametrize("source", SOURCES)
def test_every_gsm8k_train_gold_verifies(gsm8k, request, source):
    golds = _golds(request, source, "train")
    bad = [a[-60:] for a in golds if gsm8k(a, a.split("####")[-1].strip()) != 1.0]
    assert bad == []


@pytest.mark.parametrize("source", SOURCES)
def test_gsm8k_golds_reject_a_neighbouring_answer(gsm8k, request, source):
    # Guards against a grader that says yes to everything: off-by-one finals must score 0.
    for answer in _golds(request, source, "test")[:300]:
        final = parse_number(answer.split("####")[-1])
        assert gsm8k(f"#### {format_number(final + 1)}", answer) == 0.0
