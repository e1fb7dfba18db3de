"""A response (or answer box) the grader cannot read whole is wrong: reward 0, reason "too_long",
a flag with the length and the limit. It is never graded on a part of it.

Before this rule `Verifier.check` graded the last 20,000 chars of a longer response, the envs
graded the last `max_response_chars`, and the box finder skipped a box over its span limit, so
`\\boxed{7}` + filler + `1` scored 1 against gold 1 and a 30,001-term `\\boxed{1+...+1}` scored 1
against gold 1 (its last term). Each test here fails under that behaviour.
"""

from __future__ import annotations

import pytest

import hacrl_env
import verifiers
from hacrl_env.scoring import TOO_LONG_FLAG, score_batch
from verifiers import Verdict, Verifier
from verifiers.base import too_long
from verifiers.math.boxes import MAX_BOX_CHARS, UnreadableBox, answer_box, last_boxed

LIMIT = Verifier.max_response_chars  # 20,000
GRADERS = ["gsm8k", "math"]
#: Words with no digit in them: the filler itself holds no answer.
FILLER = ("so we add the value then step " * 2000)[:30_000]


@pytest.fixture(scope="module", params=GRADERS)
def grader(request):
    return verifiers.get_verifier(request.param)


def _assert_too_long(v: Verdict, length: int | None = None, limit: int | None = None) -> None:
    assert (v.reward, v.correct, v.reason) == (0.0, False, "too_long"), v
    if length is not None:
        assert any(f"{length} chars" in f and f"{limit}-char limit" in f for f in v.flags), v.flags


# ---- long filler around a box ------------------------------------------------------------------

@pytest.mark.parametrize("response", [
    FILLER + " \\boxed{7}",                 # right box after the filler (its tail alone read 1 before)
    "\\boxed{7} " + FILLER,                 # right box, then filler
    FILLER + " #### 7",                     # right #### line at the very end
    "\\boxed{3} " + FILLER + " 7",          # wrong box, filler, the gold as the last number
    "#### 8\n" + FILLER + "\n7",            # wrong #### line, filler, the gold at the end
    FILLER + " \\boxed{3} " + FILLER + " \\boxed{7}",  # wrong box, filler, right box
], ids=["filler+right_box", "right_box+filler", "filler+right_hashes", "wrong_box+filler+gold",
        "wrong_hashes+filler+gold", "wrong_box+filler+right_box"])
def test_long_filler_around_a_box_scores_zero_too_long(grader, response):
    v = grader.check(response, "7")
    _assert_too_long(v, len(response), LIMIT)


def test_the_same_answers_without_filler_are_graded(grader):
    # the control for the cases above: the rule is about length, not about these answers
    assert grader.check("\\boxed{7}", "7").reward == 1.0
    assert grader.check("\\boxed{3} so 7", "7").reward == 0.0


# ---- one char under / at / over the response limit -------------------------------------------

@pytest.mark.parametrize("extra, graded", [(-1, True), (0, True), (1, False)],
                         ids=["one_under", "at_limit", "one_over"])
def test_response_length_limit_is_exact(grader, extra, graded):
    answer = "\\boxed{7}"
    response = " " * (LIMIT + extra - len(answer)) + answer
    assert len(response) == LIMIT + extra
    v = grader.check(response, "7")
    if graded:
        assert v.reward == 1.0, v
    else:
        _assert_too_long(v, LIMIT + 1, LIMIT)


def test_a_verifiers_own_smaller_limit_is_used():
    class Short(verifiers.gsm8k.GSM8KVerifier):
        max_response_chars = 10

    assert Short().check("#### 7", "7").reward == 1.0
    _assert_too_long(Short().check("#### 7" + " " * 5, "7"), 11, 10)


def test_too_long_verdict_says_length_and_limit():
    v = too_long(30_001, 20_000, flags=("x",))
    assert v.flags == ("x", "response of 30001 chars is over the 20000-char limit")
    assert (v.reward, v.reason) == (0.0, "too_long")


# ---- a giant box, and a box over the box limit inside a short response ------------------------

def test_giant_box_scores_zero_whatever_the_gold(grader):
    terms = 30_001
    giant = "\\boxed{" + "+".join(["1"] * terms) + "}"
    for gold in ("1", str(terms)):  # its last term, and its true value: neither is read
        _assert_too_long(grader.check(giant, gold))
        _assert_too_long(grader.check(giant + " so the answer is 1", gold))


@pytest.mark.parametrize("response", [
    "\\boxed{" + "+".join(["1"] * 2500) + "} so 1",          # ~5,000-char box, gold after it
    "\\boxed{1} then \\boxed{" + "+".join(["1"] * 2500) + "}",  # an earlier right box
    "The answer is 1. \\boxed{" + "0+" * 700 + "1}",          # 2,100-char box: over the expression limit
], ids=["long_box+gold_after", "right_box+long_box", "box_over_1000_chars"])
def test_box_over_the_limit_is_not_skipped_for_other_text(grader, response):
    assert len(response) < LIMIT  # the response itself is short enough to read
    v = grader.check(response, "1")
    _assert_too_long(v)
    assert any("boxed answer of" in f or "answer of" in f for f in v.flags), v.flags


def test_box_limit_is_exact_for_the_shared_extractor():
    at, over = "\\boxed{" + "1" * MAX_BOX_CHARS + "}", "\\boxed{" + "1" * (MAX_BOX_CHARS + 1) + "}"
    assert answer_box(at) == "1" * MAX_BOX_CHARS
    with pytest.raises(UnreadableBox) as exc:
        answer_box(over)
    assert exc.value.reason == "too_long" and f"{MAX_BOX_CHARS + 1} chars" in exc.value.flag
    assert last_boxed(over) == "1" * (MAX_BOX_CHARS + 1)  # golds and data: read at any length


def test_exact_grader_refuses_a_box_over_the_limit():
    exact = verifiers.get_verifier("exact")
    assert exact.check("\\boxed{" + "a" * MAX_BOX_CHARS + "}", "a" * MAX_BOX_CHARS).reward == 1.0
    v = exact.check("yes\n\\boxed{" + "a" * (MAX_BOX_CHARS + 1) + "}\nyes", "yes")
    _assert_too_long(v)


# ---- adapters: TRL reward functions and reasoning-gym scorers ---------------------------------

def test_trl_adapter_check_many_refuses_long_responses_without_calling_the_function():
    seen: list[list[str]] = []

    def always_one(completions, answer, **kw):
        seen.append(list(completions))
        return [1.0] * len(completions)

    v = verifiers.from_trl(always_one)
    long = "x" * (LIMIT + 1)
    out = v.check_many(["short", long, "also short"], ["1", "1", "1"])
    assert [o.reward for o in out] == [1.0, 0.0, 1.0]
    _assert_too_long(out[1], LIMIT + 1, LIMIT)
    assert seen == [["short", "also short"]]  # the long one never reached the function
    _assert_too_long(v.check(long, "1"), LIMIT + 1, LIMIT)  # the single path agrees
    assert verifiers.as_trl_reward(v)(["ok", long], answer="1") == [1.0, 0.0]


@pytest.mark.parametrize("response, reason", [
    ("\\boxed{" + "7" * (MAX_BOX_CHARS + 1) + "}\n7", "too_long"),  # a box over the limit
    ("\\boxed{7} wait, \\boxed{8", "no_answer"),  # the last box is cut off: not the earlier one
    ("7" * (LIMIT + 1), "too_long"),              # the response itself
], ids=["long_box", "cut_box", "long_response"])
def test_reasoning_gym_path_refuses_what_it_cannot_read(response, reason):
    calls = []

    def score_answer(answer, entry):  # pays anything: a refusal must come before it
        calls.append(answer)
        return 1.0

    v = verifiers.from_reasoning_gym(score_answer)
    out = v.check(response, "7")
    assert (out.reward, out.reason) == (0.0, reason), out
    assert calls == []


# ---- the envs --------------------------------------------------------------------------------

@pytest.mark.parametrize("extra, graded", [(0, True), (1, False)], ids=["at_limit", "one_over"])
def test_parallel_env_refuses_a_response_over_its_limit(extra, graded):
    env = hacrl_env.make("gsm8k-v0", split="test", max_response_chars=1000)
    _, infos = env.reset(options={"index": 0})
    gold = infos["agent_0"]["answer"]
    answer = f"#### {gold}"
    response = " " * (1000 + extra - len(answer)) + answer
    _, rewards, _, _, out = env.step({"agent_0": response, "agent_1": answer})
    v = out["agent_0"]["verdicts"][0]
    assert rewards["agent_1"] == 1.0
    if graded:
        assert rewards["agent_0"] == 1.0 and TOO_LONG_FLAG not in v.flags
    else:
        assert rewards["agent_0"] == 0.0 and TOO_LONG_FLAG in v.flags
        _assert_too_long(v, 1001, 1000)
        assert out["agent_0"]["reasons"] == ["too_long"]


def test_vector_env_refuses_long_responses_in_a_group():
    vec = hacrl_env.make_vec("gsm8k-v0", 2, agents=["a"], split="test", max_response_chars=500)
    _, infos = vec.reset(options={"indices": [0, 1]})
    golds = [i["answer"] for i in infos["a"]]
    long_right = "x " * 300 + f"#### {golds[0]}"  # the right answer at the end of 600+ chars
    _, rewards, _, _, out = vec.step({"a": [[f"#### {golds[0]}", long_right], f"#### {golds[1]}"]})
    assert out["a"]["rewards"][0].tolist() == [1.0, 0.0]
    assert out["a"]["reasons"][0][1] == "too_long"
    assert rewards["a"].tolist() == [0.5, 1.0]


class _Recording(Verifier):
    name = "recording"

    def __init__(self):
        self.seen: list[str] = []

    def _check(self, response: str, answer: str) -> Verdict:
        return Verdict(reward=1.0, correct=True)

    def check_many(self, responses, answers, *, processes=None):
        self.seen.extend(responses)
        return super().check_many(responses, answers, processes=processes)


def test_score_batch_never_hands_a_cut_response_to_the_verifier():
    rec = _Recording()
    out = score_batch(rec, ["1", "2"], {"a": [["ok", "y" * 11], ["z" * 10]]}, max_response_chars=10)
    assert rec.seen == ["ok", "z" * 10]  # neither the long one nor a piece of it
    assert [[v.reward for v in row] for row in out["a"]] == [[1.0, 0.0], [1.0]]
    v = out["a"][0][1]
    assert v.reason == "too_long" and v.flags[0] == TOO_LONG_FLAG
    assert v.flags[1] == "response of 11 chars is over the 10-char limit"
