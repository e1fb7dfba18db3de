"""Hostile and random input: the graders never raise, rewards stay in [0, 1], and every check
finishes within a generous bound (the 0.5 s target is measured in bench/verifiers.py)."""

from __future__ import annotations

import os
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import verifiers

# Generous on purpose: CI shares 2 cores; a regression to seconds or a hang still fails.
BOUND_S = 5.0

HOSTILE = [
    "9^{9^{9^9}}",
    "(10^{100000})!",
    "\\boxed{(10^{100000})!}",
    "(" * 5000 + "1" + ")" * 5000,
    "\\boxed{" + "{" * 5000 + "1" + "}" * 5000 + "}",
    "x" * 200_000,
    "The answer is " + "1 " * 100_000,
    "\\boxed{1" + "}" * 3 + "{" * 7,
    "\\boxed{\\frac{1}{2}",
    "}}}{{{ #### ",
    "#### 5\x00\x00",
    "\x00" * 1000,
    "__import__('os').system('echo hi')",
    "\\boxed{__import__('os').system('echo hi')}",
    "#### __import__('os').system('echo hi')",
    "S.One",
    "\\boxed{S.One}",
    "Matrix([[1]])",
    "\\boxed{Matrix([[1]])}",
    "1e999999",
    "#### 1e999999",
    "\\boxed{1e999999}",
    "9" * 100_000,
    "#### " + "9" * 100_000,
    "\\boxed{" + "9" * 100_000 + "}",
    "1" + ",000" * 30_000,
    "-" * 10_000 + "1",
    "1/" * 10_000 + "1",
    "\\frac{1}{" * 2000 + "2" + "}" * 2000,
    "$" * 10_000,
    "#" * 10_000,
    "\\boxed{" * 3000,
    "\ud800 lone surrogate \udfff",
    "١٢٣ Arabic-Indic digits",
    "lambda: (yield)",
]
GOLDS = ["1", "#### 1", "\\frac{1}{2}", "x^2+1", "1e999999", "9" * 100_000, "", "\x00", "S.One",
         "__import__('os').system('echo hi')", "(" * 5000]
NAMES = ["gsm8k", "gsm8k-strict", "gsm8k-flexible", "exact", "math"]


@pytest.fixture(scope="module", params=NAMES)
def grader(request):
    if request.param not in verifiers.available_verifiers():
        pytest.skip(f"verifier {request.param!r} is not registered yet")
    return verifiers.get_verifier(request.param)


def _assert_sane(v, response, answer):
    start = time.perf_counter()
    verdict = v.check(response, answer)
    elapsed = time.perf_counter() - start
    assert 0.0 <= verdict.reward <= 1.0
    assert verdict.correct == (verdict.reward == 1.0)
    assert elapsed < BOUND_S, (v.name, response[:60], answer[:60], elapsed)
    return verdict


def test_hostile_responses(grader):
    for response in HOSTILE:
        _assert_sane(grader, response, "1")


def test_hostile_golds(grader):
    for gold in GOLDS:
        _assert_sane(grader, "The answer is \\boxed{1}.\n#### 1", gold)


def test_matrix_and_code_never_match_a_number(grader):
    if grader.name == "gsm8k-flexible":
        # lm-eval's flexible regex takes the "1" out of "Matrix([[1]])"; parity mode keeps that.
        assert grader("Matrix([[1]])", "1") == 1.0
        return
    for response in ("Matrix([[1]])", "\\boxed{Matrix([[1]])}", "S.One", "\\boxed{S.One}"):
        assert grader(response, "1") == 0.0, response


def test_payload_is_never_executed(grader, tmp_path):
    marker = tmp_path / "pwned"
    payload = f"__import__('os').system('touch {marker}')"
    for response in (payload, f"\\boxed{{{payload}}}", f"#### {payload}"):
        _assert_sane(grader, response, payload)
        _assert_sane(grader, response, "1")
    assert not os.path.exists(marker)


def test_over_cap_numbers_do_not_match_by_accident(grader):
    # 100k digits: compare is capped, so it is never "equal" to a different huge number.
    big = "9" * 100_000
    assert grader(big[:-1] + "8", big) == 0.0


_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=300)
_mathy = st.lists(st.sampled_from(["\\boxed{", "}", "{", "####", " ", "-", "1", "0", ",", ".", "/", "$",
                                   "\\frac", "e", "9", "%", "answer is", "\n", "^", "(", ")", "x"]),
                  max_size=60).map("".join)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(response=st.one_of(_text, _mathy), answer=st.one_of(_text, _mathy))
def test_random_text_never_raises(grader, response, answer):
    verdict = _assert_sane(grader, response, answer)
    assert verdict.reason != "error" or grader.name == "math", verdict  # our graders: no crash path


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(n=st.integers(min_value=-10**12, max_value=10**12), fmt=st.sampled_from(
    ["{n}", "{n:,}", "{n}.00", "${n:,}", "#### {n}", "The answer is {n}.", "\\boxed{{{n}}}"]))
def test_gsm8k_round_trips_written_integers(n, fmt):
    g = verifiers.get_verifier("gsm8k")
    text = fmt.format(n=n).replace("$-", "-$")
    assert g(text, str(n)) == 1.0, text
    assert g(text, str(n + 1)) == 0.0, text
