"""The batched path: equal to B separate single-problem steps, one verifier call per step,
indices/seeding, and clear errors on bad batches."""

from __future__ import annotations

import numpy as np
import pytest

import hacrl_env
from hacrl_env.test import gold_response
from verifiers import Verdict, Verifier, get_verifier


class CountingVerifier(Verifier):
    """Wraps a verifier and counts check_many calls (the vector env must make one per step)."""

    name = "counting"

    def __init__(self, inner: Verifier):
        self.inner = inner
        self.calls: list[int] = []

    def _check(self, response: str, answer: str) -> Verdict:
        return self.inner.check(response, answer)

    def check_many(self, responses, answers, *, processes=None):
        self.calls.append(len(responses))
        return super().check_many(responses, answers, processes=processes)


def _responses(problems, salt: int) -> list[list[str]]:
    """Per problem: G=3 responses: the gold (when salt + b is even) or a wrong number, a
    wrong word, and junk with no answer line."""
    return [[gold_response(p) if (salt + b) % 2 == 0 else "#### 0.5", "#### none", "hmm"]
            for b, p in enumerate(problems)]


@pytest.mark.parametrize("env_id, kwargs", [("gsm8k-v0", {"split": "test"}),
                                            ("rg-basic_arithmetic-v0", {"size": 32})])
def test_batch_equals_separate_single_env_steps(env_id, kwargs):
    B, agents = 4, ["a", "b"]
    vec = hacrl_env.make_vec(env_id, B, agents=agents, **kwargs)
    counter = CountingVerifier(vec.verifier)
    vec.verifier = counter
    indices = [5, 0, 5, 11]  # repeats are allowed: the trainer owns the order
    obs, infos = vec.reset(options={"indices": indices})
    assert obs["a"] == obs["b"] and len(obs["a"]) == B
    assert [i["index"] for i in infos["a"]] == indices
    actions = {a: _responses(vec.problems, salt) for salt, a in enumerate(agents)}
    _, rewards, terms, truncs, vinfos = vec.step(actions)
    assert counter.calls == [B * len(agents) * 3]  # ONE check_many for all B * n * G responses
    assert vec.agents == []

    env = hacrl_env.make(env_id, agents=agents, **kwargs)
    for b, index in enumerate(indices):
        sobs, _ = env.reset(options={"index": index})
        assert sobs["a"] == obs["a"][b]
        _, srew, sterm, strunc, sinfo = env.step({a: actions[a][b] for a in agents})
        for a in agents:
            assert rewards[a][b] == srew[a]
            assert terms[a][b] and sterm[a] and not truncs[a][b] and not strunc[a]
            np.testing.assert_array_equal(vinfos[a]["rewards"][b], sinfo[a]["rewards"])
            np.testing.assert_array_equal(vinfos[a]["correct"][b], sinfo[a]["correct"])
            assert vinfos[a]["extracted"][b] == sinfo[a]["extracted"]
            assert vinfos[a]["reasons"][b] == sinfo[a]["reasons"]
            assert vinfos[a]["verdicts"][b] == sinfo[a]["verdicts"]
            assert vinfos[a]["answer"][b] == sinfo[a]["answer"]
    assert rewards["a"].shape == (B,) and rewards["a"].dtype == np.float64
    assert terms["a"].dtype == bool and truncs["a"].shape == (B,)
    # a (salt 0) gets the gold for b = 0, 2 and b (salt 1) for b = 1, 3: 1 of 3 responses right.
    assert rewards["a"][[0, 2]].tolist() == rewards["b"][[1, 3]].tolist() == [1 / 3, 1 / 3]


def test_seeded_draws_are_reproducible_and_in_range():
    vec = hacrl_env.make_vec("gsm8k-v0", 8, split="test")
    first = vec.reset(seed=3)[1]["agent_0"]
    again = vec.reset(seed=3)[1]["agent_0"]
    assert first == again
    assert all(0 <= i["index"] < vec.num_problems for i in first)
    assert vec.reset(seed=4)[1]["agent_0"] != first
    # the tests read the shipped fixtures: tests/data/benchmarks/gsm8k/test.jsonl has 32 rows
    assert vec.num_problems == 32 and vec.possible_agents == ["agent_0", "agent_1"]


def test_single_strings_are_groups_of_one():
    vec = hacrl_env.make_vec("gsm8k-v0", 2, agents=1, split="test")
    _, infos = vec.reset(options={"indices": [0, 1]})
    golds = [i["answer"] for i in infos["agent_0"]]
    _, rewards, _, _, out = vec.step({"agent_0": [f"#### {golds[0]}", ["#### -1", f"#### {golds[1]}"]]})
    assert rewards["agent_0"].tolist() == [1.0, 0.5]
    assert [len(r) for r in out["agent_0"]["rewards"]] == [1, 2]


def test_process_pool_gives_the_same_verdicts():
    golds = ["72", "10"]
    vec = hacrl_env.make_vec("gsm8k-v0", 2, split="test", processes=2)
    vec2 = hacrl_env.make_vec("gsm8k-v0", 2, split="test")
    results = []
    for v in (vec, vec2):
        v.reset(options={"indices": [0, 1]})
        acts = {a: [[f"#### {g}" for g in golds] * 4, ["so 3"] * 8] for a in v.possible_agents}
        results.append(v.step(acts)[4]["agent_1"]["verdicts"])
    assert results[0] == results[1]


def test_bad_batches_are_clear_errors():
    vec = hacrl_env.make_vec("gsm8k-v0", 2, split="test", verifier=get_verifier("exact"))
    with pytest.raises(ValueError, match="call reset"):
        vec.step({"agent_0": ["a", "b"], "agent_1": ["a", "b"]})
    with pytest.raises(ValueError, match="has 3 entries but this vector env has num_envs=2"):
        vec.reset(options={"indices": [0, 1, 2]})
    with pytest.raises(IndexError, match="out of range"):
        vec.reset(options={"indices": [0, 5000]})
    with pytest.raises(TypeError, match="sequence of problem indices"):
        vec.reset(options={"indices": 3})
    vec.reset(options={"indices": [0, 1]})
    with pytest.raises(ValueError, match=r"has 1 items for 2 problems"):
        vec.step({"agent_0": ["a"], "agent_1": ["a", "b"]})
    with pytest.raises(TypeError, match=r"must be a list of 2 items"):
        vec.step({"agent_0": "ab", "agent_1": ["a", "b"]})
    with pytest.raises(TypeError, match=r"actions\['agent_1'\]\[1\]: responses must be str"):
        vec.step({"agent_0": ["a", "b"], "agent_1": ["a", [1, 2]]})
    with pytest.raises(ValueError, match=r"no action for agents \['agent_1'\]"):
        vec.step({"agent_0": ["a", "b"]})
    with pytest.raises(ValueError, match="num_envs must be a positive int"):
        hacrl_env.make_vec("gsm8k-v0", 0)
    with pytest.raises(ValueError, match="processes > 1 needs a picklable verifier"):
        hacrl_env.make_vec("gsm8k-v0", 2, split="test", processes=2, verifier=lambda r, a: r == a)
