"""reasoning-gym envs: each curated task generates offline, its gold scores 1 and junk 0 through
the env's verifier, train and test share no question, and task config reaches reasoning-gym."""

from __future__ import annotations

import pytest

import hacrl_env
from hacrl_env.reasoning_gym import RG_TASKS

pytest.importorskip("reasoning_gym", reason="rg-* envs need the 'rg' extra")


@pytest.mark.parametrize("task", RG_TASKS)
def test_curated_task_generates_and_scores(task):
    env = hacrl_env.make(f"rg-{task}-v0", agents=1, size=24, test_size=100)
    test = env.problems_for_split("test")
    assert env.num_problems == 24 and len(test) == 100
    assert not {p.question for p in env.problem_set} & {p.question for p in test}
    for p in env.problem_set[:6]:
        assert p.prompt == p.question + "\nGive the final answer after '####'."
        env.reset(options={"index": p.index})
        junk = ["", "#### ", "🙂" * 50, "#### \\boxed{", "1e999999", "x" * 30_000]
        _, _, _, _, out = env.step({"agent_0": [f"#### {p.answer}", *junk]})
        rewards = out["agent_0"]["rewards"]
        assert rewards[0] == 1.0, (p.id, p.answer, out["agent_0"]["verdicts"][0])
        assert rewards[1:].max() < 1.0 and "error" not in out["agent_0"]["reasons"][1:], \
            out["agent_0"]["verdicts"]


def test_warm_start_reads_prompts_and_answers():
    env = hacrl_env.make("rg-chain_sum-v0", split="train")
    assert env.num_problems == 2000 and len(env.problems_for_split("test")) == 200  # defaults
    p = env.problem(3)
    assert p.answer.lstrip("-").isdigit() and p.question in p.prompt
    # Same seed, same problems: a rebuilt env (another process) agrees.
    assert hacrl_env.make("rg-chain_sum-v0").problem(3) == p
    assert hacrl_env.make("rg-chain_sum-v0", seed=1).problem(3) != p


def test_task_config_passes_through_to_reasoning_gym():
    env = hacrl_env.make("rg-chain_sum-v0", size=40, test_size=20, min_terms=2, max_terms=2,
                         min_digits=2, max_digits=2)
    for p in env.problem_set:
        a, op, b = p.meta["metadata"]["expression"].split()  # "a + b": two two-digit terms
        assert op in "+-" and len(a.lstrip("-")) == len(b) == 2
    with pytest.raises(ValueError, match="reasoning-gym rejected the config"):
        hacrl_env.make("rg-chain_sum-v0", min_terms=5, max_terms=2)
    with pytest.raises(ValueError, match="no split 'validation'"):
        hacrl_env.make("rg-chain_sum-v0", split="validation")
    with pytest.raises(ValueError, match="size must be a positive int"):
        hacrl_env.make("rg-chain_sum-v0", size=0)
    with pytest.raises(ValueError, match="test_size must be a positive int"):
        hacrl_env.make("rg-chain_sum-v0", test_size=-1)


def test_too_small_task_space_is_a_clear_error():
    # one-digit, two-term sums: far fewer than 500 distinct questions outside the test split
    with pytest.raises(ValueError, match="could only make .* train problems"):
        hacrl_env.make("rg-chain_sum-v0", size=500, min_terms=2, max_terms=2, min_digits=1,
                       max_digits=1, allow_negation=False)


def test_partial_credit_stays_in_range_and_is_not_correct():
    env = hacrl_env.make("rg-spell_backward-v0", agents=1, size=8)
    _, infos = env.reset(options={"index": 0})
    gold = infos["agent_0"]["answer"]
    _, reward, _, _, out = env.step({"agent_0": f"#### {gold} and more words"})
    assert 0.0 <= reward["agent_0"] < 1.0 and not out["agent_0"]["correct"][0]


def test_a_user_verifier_gets_the_plain_gold_not_the_entry():
    seen = []

    def exact(response: str, answer: str) -> bool:
        seen.append(answer)
        return response.strip() == answer

    for make in (hacrl_env.make, lambda *a, **k: hacrl_env.make_vec(*a, num_envs=1, **k)):
        env = make("rg-chain_sum-v0", size=8, agents=1, verifier=exact)
        if isinstance(env, hacrl_env.VectorParallelEnv):
            _, infos = env.reset(options={"indices": [0]})
            gold = infos["agent_0"][0]["answer"]
            assert env.step({"agent_0": [gold]})[1]["agent_0"].tolist() == [1.0]
        else:
            _, infos = env.reset(options={"index": 0})
            gold = infos["agent_0"]["answer"]
            assert env.step({"agent_0": gold})[1]["agent_0"] == 1.0
    assert seen == [gold, gold] and not gold.startswith("{")
