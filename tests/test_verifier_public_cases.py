"""The 275 public math-verify cases (../shared/data/verifier-cases/cases.jsonl), all of them.

The labels are math-verify 0.9.0's own outputs, and it was tuned to them: with its per-case
extraction configs and options it scores 275/275, with default options 271/275 (measured when
this was written). `math` uses one configuration for every case and scores 266/275. Every
disagreement is listed below with the reason, so none passes silently: a new disagreement fails
the floor or the list check, and a fixed one only needs deleting from the list.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from verifiers.math import MathVerifier

CASES = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "verifier-cases" / "cases.jsonl"

# line index -> why we disagree with the label
DELIBERATE = {  # the label is math-verify's known bug or option, and the brief asks otherwise
    132: "1/12 vs 0.0833333333333333: a finite decimal is an exact rational, not 1/12",
    139: "needs precision=2 rounding (0.33 vs 1/3)",
    145: "needs precision=2 rounding (2.6667 vs 8/3)",
    193: "x in [-2,7] vs -2<=x<=7 labelled 0 (math-verify asymmetry); we compare both ways",
    260: "f(x) vs f(y) labelled 1 with strict=False; different variables differ here",
    270: "1-1/e vs 1+1/e labelled 1: math-verify's false positive (#14)",
    31: "'$ \\n 9 \\n $' labelled 0; our last-number fallback finds the 9",
    32: "'\\( \\n 9 \\n \\)' labelled 0; same",
}
UNSUPPORTED = {  # formats we do not read (yet)
    224: "W(n) = 1 and W(n) = -1 (gold with an unclosed \\boxed, now read) vs 'W(x)=1orW(x)=-1': "
         "'or' glued to the next name, and W(n) vs W(x) differ here by design (see 260)",
}
FLOOR = 265  # just under the 266 measured; the list test above catches any new miss


@pytest.fixture(scope="module")
def results() -> list[tuple[dict, float]]:
    if not CASES.exists():
        pytest.skip(f"public cases not found at {CASES}; clone the repo next to shared/")
    rows = [json.loads(line) for line in CASES.open()]
    v = MathVerifier(seconds=5.0)  # roomy: a loaded CI runner must not turn answers into "budget"
    return [(r, v.check(r["pred"], r["gold"]).reward) for r in rows]


def test_all_public_cases_run(results):
    assert len(results) == 275


def test_accuracy_floor(results):
    right = sum(reward == r["expected"] for r, reward in results)
    assert right >= FLOOR, f"{right}/275 right, floor {FLOOR}"


def test_every_disagreement_is_documented(results):
    wrong = {i for i, (r, reward) in enumerate(results) if reward != r["expected"]}
    undocumented = sorted(wrong - DELIBERATE.keys() - UNSUPPORTED.keys())
    assert undocumented == [], [(i, results[i][0]["gold"], results[i][0]["pred"][-80:])
                                for i in undocumented]


def test_deliberate_disagreements_go_our_way(results):
    """These are the cases where the brief asks for a different answer than the label."""
    for i in DELIBERATE:
        row, reward = results[i]
        assert reward != row["expected"], (i, DELIBERATE[i])
