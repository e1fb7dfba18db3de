"""hacrl's own labelled suite (tests/data/verifier_suite.jsonl, built by make_verifier_suite.py)
and the public math-verify cases ($HACRL_DATA_DIR/verifier-cases, full_data: not in the repo)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import verifiers

SUITE = Path(__file__).resolve().parent / "data" / "verifier_suite.jsonl"

# Cases the default gsm8k grader gets wrong on purpose: the brief fixes the cascade order
# (#### > \boxed > "the answer is"), so a boxed number beats a later retraction.
KNOWN_GSM8K_MISSES = {"boxed 12 outranks a later sentence"}


def _load(kind: str) -> list[dict]:
    rows = [json.loads(line) for line in SUITE.open()]
    return [r for r in rows if r["kind"] == kind]


def test_suite_is_well_formed_and_balanced():
    rows = [json.loads(line) for line in SUITE.open()]
    assert len(rows) >= 400
    for r in rows:
        assert set(r) == {"kind", "gold", "response", "expected", "note"}
        assert r["kind"] in ("gsm8k", "math") and r["expected"] in (0, 1) and r["note"]
    for kind in ("gsm8k", "math"):
        labels = [r["expected"] for r in rows if r["kind"] == kind]
        assert min(labels.count(0), labels.count(1)) >= 80, kind  # both outcomes well covered


def test_suite_file_matches_its_generator():
    import runpy

    cases = runpy.run_path(str(SUITE.parent / "make_verifier_suite.py"), run_name="suite")["CASES"]
    assert cases == [json.loads(line) for line in SUITE.open()]


def test_gsm8k_default_on_suite():
    g = verifiers.get_verifier("gsm8k")
    wrong = {r["note"] for r in _load("gsm8k") if g(r["response"], r["gold"]) != r["expected"]}
    assert wrong == KNOWN_GSM8K_MISSES


def test_gsm8k_default_beats_lm_eval_filters_on_suite():
    rows = _load("gsm8k")

    def accuracy(name: str) -> float:
        v = verifiers.get_verifier(name)
        return sum(v(r["response"], r["gold"]) == r["expected"] for r in rows) / len(rows)

    default, strict, flexible = accuracy("gsm8k"), accuracy("gsm8k-strict"), accuracy("gsm8k-flexible")
    # Measured when written: 0.997 / 0.484 / 0.770. Strict misses every answer without "#### ".
    assert default > 0.99 and default > flexible > strict


def _math_verifier():
    if "math" not in verifiers.available_verifiers():
        pytest.skip("the 'math' verifier (verifiers/math/) is not registered yet")
    return verifiers.get_verifier("math")


def test_math_on_suite():
    m = _math_verifier()
    rows = _load("math")
    results = [(r, m.check(r["response"], r["gold"])) for r in rows]
    wrong = [(r["gold"], r["response"][-40:], r["note"]) for r, v in results if v.reward != r["expected"]]
    assert len(wrong) / len(rows) <= 0.10, wrong
    # Reward hacking starts with false positives: none allowed on the known math-verify ones.
    fp = [w for w in wrong if "false positive" in w[2] or "matrix" in w[2]]
    assert fp == []


@pytest.mark.full_data
def test_public_cases_gsm8k_numbers(public_cases_file):
    """Plain-number rows of the public math-verify cases, graded by gsm8k's number parser."""
    from verifiers.numbers import parse_number

    g = verifiers.get_verifier("gsm8k")
    rows = [json.loads(line) for line in public_cases_file.open(encoding="utf-8")]
    numeric = [r for r in rows if r.get("match_types") == ["expr"] and parse_number(r["gold"]) is not None
               and parse_number(r["pred"]) is not None]
    assert len(numeric) >= 5
    agree = sum(g(r["pred"], r["gold"]) == r["expected"] for r in numeric)
    assert agree == len(numeric), [(r["gold"], r["pred"], r["expected"]) for r in numeric]
