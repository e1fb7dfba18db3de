"""Episode semantics and bad input for the parallel env."""

from __future__ import annotations

import numpy as np
import pytest

import hacrl_env
from hacrl_env.scoring import TOO_LONG_FLAG
from verifiers import Verdict, Verifier


def _env(**kw):
    return hacrl_env.make("gsm8k-v0", split="test", **kw)


def test_episode_is_one_turn_for_every_agent():
    env = _env(agents=["a", "b", "c"])
    obs, infos = env.reset(seed=0)
    assert env.agents == ["a", "b", "c"] and len(set(obs.values())) == 1
    gold = infos["a"]["answer"]
    _, rewards, terms, truncs, out = env.step({"a": f"#### {gold}",
                                               "b": [f"#### {gold}", "#### 0.5", "", f"#### {gold}"],
                                               "c": "I don't know"})
    # b: 2 of its 4 responses are right -> 0.5
    assert rewards == {"a": 1.0, "b": 0.5, "c": 0.0}
    assert terms == {"a": True, "b": True, "c": True} and not any(truncs.values())
    assert env.agents == []
    assert out["b"]["rewards"].tolist() == [1.0, 0.0, 0.0, 1.0]
    assert out["b"]["correct"].dtype == bool and out["b"]["correct"].tolist() == [True, False, False, True]
    assert out["b"]["extracted"][0] == gold and out["b"]["reasons"][1] == "mismatch"
    assert out["c"]["problem_id"] == infos["c"]["problem_id"]


def test_same_seed_same_problem_and_unseeded_reset_continues_the_stream():
    env = _env()
    ids = [env.reset(seed=7)[1]["agent_0"]["problem_id"]]
    ids += [env.reset()[1]["agent_0"]["problem_id"] for _ in range(3)]
    again = [env.reset(seed=7)[1]["agent_0"]["problem_id"]]
    again += [env.reset()[1]["agent_0"]["problem_id"] for _ in range(3)]
    assert ids == again and len(set(ids)) > 1


def test_step_before_reset_and_after_the_end():
    env = _env()
    with pytest.raises(ValueError, match="call reset"):
        env.step({"agent_0": "1", "agent_1": "2"})
    env.reset(seed=0)
    env.step({"agent_0": "1", "agent_1": "2"})
    with pytest.raises(ValueError, match="call reset"):
        env.step({"agent_0": "1", "agent_1": "2"})


@pytest.mark.parametrize("actions, error, match", [
    ({"agent_0": "1"}, ValueError, r"no action for agents \['agent_1'\]"),
    ({"agent_0": "1", "agent_1": "2", "bob": "3"}, ValueError, r"unknown or finished agents \['bob'\]"),
    ({"agent_0": 1, "agent_1": "2"}, TypeError, r"actions\['agent_0'\].*got int.*decode token ids"),
    ({"agent_0": ["1", None], "agent_1": "2"}, TypeError, r"responses must be str, got \['NoneType'\]"),
    ({"agent_0": [], "agent_1": "2"}, ValueError, "empty list of responses"),
    ({"agent_0": b"1", "agent_1": "2"}, TypeError, "got bytes"),
    (["1", "2"], TypeError, r"step\(\) takes a dict"),
])
def test_bad_actions_are_clear_errors_and_keep_the_episode(actions, error, match):
    env = _env()
    env.reset(seed=0)
    with pytest.raises(error, match=match):
        env.step(actions)
    assert env.agents == ["agent_0", "agent_1"]  # a rejected step changes nothing
    env.step({"agent_0": "1", "agent_1": "2"})


def test_bad_spaces_and_options():
    env = _env()
    with pytest.raises(ValueError, match="unknown agent 'zed'"):
        env.observation_space("zed")
    assert env.action_space("agent_0") is env.action_space("agent_0")
    with pytest.raises(TypeError, match="options must be a dict"):
        env.reset(options=[1])
    with pytest.raises(ValueError, match="not both"):
        env.reset(options={"index": 1, "problem_id": "gsm8k/test/1"})
    env.reset(options={"unrelated": 1})  # other keys are ignored (PettingZoo's test sends some)


def test_absurdly_long_responses_score_zero_too_long_not_cut():
    # Was: cut to the last 1000 chars and graded (reward 1 here). A response the env cannot
    # read whole is wrong, however right its tail looks.
    env = _env(max_response_chars=1000)
    _, infos = env.reset(options={"index": 0})
    gold = infos["agent_0"]["answer"]
    long = "blah " * 100_000 + f"#### {gold}"  # 500k chars; the answer is at the end
    _, rewards, _, _, out = env.step({"agent_0": long, "agent_1": f"#### {gold}"})
    assert rewards["agent_0"] == 0.0 and rewards["agent_1"] == 1.0
    v = out["agent_0"]["verdicts"][0]
    assert v.reason == "too_long" and TOO_LONG_FLAG in v.flags
    assert TOO_LONG_FLAG not in out["agent_1"]["verdicts"][0].flags


class Exploding(Verifier):
    name = "exploding"

    def _check(self, response: str, answer: str) -> Verdict:
        raise RecursionError("deep")


def test_a_crashing_verifier_becomes_an_error_verdict():
    env = _env(verifier=Exploding())
    env.reset(seed=0)
    _, rewards, _, _, out = env.step({"agent_0": "x", "agent_1": ["y", "z"]})
    assert rewards == {"agent_0": 0.0, "agent_1": 0.0}
    assert out["agent_1"]["reasons"] == ["error", "error"]


def test_custom_verifier_callable_and_render():
    env = _env(verifier=lambda response, answer: response.strip() == answer, render_mode="ansi")
    _, infos = env.reset(options={"index": 2})
    _, rewards, _, _, out = env.step({"agent_0": infos["agent_0"]["answer"], "agent_1": "no"})
    assert rewards == {"agent_0": 1.0, "agent_1": 0.0}
    text = env.render()
    assert "gold: " + infos["agent_0"]["answer"] in text and "agent_1[0]: no" in text
    assert isinstance(out["agent_0"]["rewards"], np.ndarray)
    with pytest.raises(ValueError, match="render_mode='human' is not supported"):
        _env(render_mode="human")


def _envs():
    """The three env kinds over the same data: parallel, vector and single-agent."""
    return {"parallel": _env(), "vector": hacrl_env.make_vec("gsm8k-v0", num_envs=2, split="test"),
            "single": hacrl_env.make_single("gsm8k-v0", split="test")}


def _problem_ids(kind, env, seed=None):
    _, infos = env.reset(seed=seed)
    if kind == "parallel":
        return [infos["agent_0"]["problem_id"]]
    if kind == "vector":
        return [i["problem_id"] for i in infos["agent_0"]]
    return [infos["problem_id"]]


@pytest.mark.parametrize("kind", ["parallel", "vector", "single"])
@pytest.mark.parametrize("seed, shown", [(-1, "-1"), (1.5, "1.5 (a float)"), ("3", "'3' (a str)"),
                                         (True, "True (a bool)"), (np.float64(2), "np.float64(2.0) (a float64)")])
def test_a_bad_seed_is_one_clear_error_that_changes_nothing(kind, seed, shown):
    env = _envs()[kind]
    _problem_ids(kind, env, seed=5)
    expected = _problem_ids(kind, env)  # what the stream gives next after seed=5 ...
    _problem_ids(kind, env, seed=5)
    with pytest.raises(ValueError) as err:
        env.reset(seed=seed)
    assert str(err.value).startswith(f"seed must be a non-negative int, got {shown}")
    assert _problem_ids(kind, env) == expected  # ... and still gives after the refused reset


@pytest.mark.parametrize("kind", ["parallel", "vector", "single"])
def test_a_numpy_integer_seed_is_the_int_it_holds(kind):
    env = _envs()[kind]
    assert _problem_ids(kind, env, seed=np.int64(4)) == _problem_ids(kind, env, seed=4)
