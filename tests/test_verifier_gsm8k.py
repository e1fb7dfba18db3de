"""GSM8K grader: (gold, response, expected) tables, lm-eval strict/flexible parity, real golds."""

from __future__ import annotations

import json
from fractions import Fraction

import pytest

import verifiers
from verifiers.gsm8k import extract_answer
from verifiers.numbers import NumberTooLarge, find_numbers, format_number, parse_number


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
])
def test_parse_number_accepts_written_forms(text, value):
    assert parse_number(text) == value


@pytest.mark.parametrize("text", ["3x", "x=5", "abc", "1,22", "", "1/0", "\\frac{1}{0}", "2\\pi", "Matrix([[1]])"])
def test_parse_number_rejects_non_numbers(text):
    # "1,22" is not a thousands group (three digits needed); "3x" is an expression, not 3.
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
    # "16-3-4" is 16, 3, 4; "= -3" is minus three.
    assert [n.value for n in find_numbers("16-3-4 = 9, x = -3")] == [16, 3, 4, 9, -3]


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
    ("5", "16-5", 1),  # binary minus: "16-5" reads 16 then 5, not -5
    ("-5", "16-5", 0),
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
