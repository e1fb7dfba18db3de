"""Every registered id passes hacrl_env.test.api_test (PettingZoo's parallel_api_test plus the
text-env checks), and its single-agent view passes Gymnasium's check_env."""

from __future__ import annotations

import warnings

import gymnasium
import pytest
from gymnasium.utils.env_checker import check_env

import hacrl_env
from hacrl_env.test import api_test
from verifiers import available_verifiers

IDS = hacrl_env.registered_ids()


def _kwargs(env_id: str) -> dict:
    """Small problem sets keep the test fast; the math ids are evaluated on their test split."""
    if "/rg-" in env_id:
        return {"size": 48}
    if "math" in env_id:
        return {"split": "test"}
    return {}


def _needs_verifier(env_id: str) -> None:
    task = hacrl_env.spec(env_id).kwargs["task"]
    name = task.default_verifier
    if isinstance(name, str) and name not in available_verifiers():
        pytest.skip(f"verifier {name!r} is not registered yet (verifiers package); "
                    f"{env_id} needs it")


def test_registry_has_the_promised_ids():
    for must in ("hacrl/gsm8k-v0", "hacrl/math-v0", "hacrl/math500-v0", "hacrl/rg-chain_sum-v0",
                 "hacrl/rg-basic_arithmetic-v0", "hacrl/rg-leg_counting-v0"):
        assert must in IDS


@pytest.mark.parametrize("env_id", IDS)
def test_parallel_api(env_id: str):
    _needs_verifier(env_id)
    def env_fn():
        return hacrl_env.make(env_id, agents=["qwen", "llama", "phi"], **_kwargs(env_id))

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # parallel_api_test reports dict-key problems as warnings
        api_test(env_fn(), env_fn=env_fn)


@pytest.mark.parametrize("env_id", IDS)
def test_single_agent_check_env(env_id: str):
    _needs_verifier(env_id)
    env = hacrl_env.make_single(env_id, **_kwargs(env_id))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env, skip_render_check=False)
    obs, info = env.reset(seed=5)
    assert env.observation_space.contains(obs)
    _, reward, terminated, truncated, info = env.step(f"#### {info['answer']}")
    assert 0.0 <= reward <= 1.0 and terminated and not truncated
    assert info["extracted"] and len(info["verdicts"]) == 1


def test_gymnasium_make_and_pettingzoo_make_build_hacrl_envs():
    import pettingzoo

    env = gymnasium.make("hacrl/rg-chain_sum-v0", size=16)
    obs, info = env.reset(seed=0)
    assert obs.endswith("Give the final answer after '####'.")
    _, reward, terminated, _, _ = env.step(f"#### {info['answer']}")
    assert reward == 1.0 and terminated
    par = pettingzoo.make("parallel", "hacrl/rg-chain_sum-v0", agents=3, size=16)
    assert par.possible_agents == ["agent_0", "agent_1", "agent_2"]


def test_spaces_contain_real_prompts_and_unicode_responses():
    env = hacrl_env.make("gsm8k-v0", split="test")
    obs, _ = env.reset(options={"index": 0})
    space = env.observation_space("agent_0")
    assert space.contains(obs["agent_0"]) and " " in obs["agent_0"]
    act = env.action_space("agent_0")
    for text in ["3 × 4 = 12 ✓", "答案是 12", "", "\\boxed{\\frac{1}{2}} 😀"]:
        assert act.contains(text)
    assert not act.contains(b"12") and not act.contains(12)
    assert not act.contains("x" * (act.max_length + 1))
    samples = [act.sample() for _ in range(50)]
    assert all(act.contains(s) and len(s) <= act.sample_max_length for s in samples)
    # The stock Text space would reject this prompt: the reason UnicodeText exists.
    assert not gymnasium.spaces.Text(100_000).contains(obs["agent_0"])
