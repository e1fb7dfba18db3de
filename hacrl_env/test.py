"""`api_test(env)`: PettingZoo's `parallel_api_test` plus the checks a text env needs and it
lacks: observations really in `observation_space` (it never checks), the same prompt for every
agent, seeded reproducibility, rewards in [0, 1], infos carrying extracted answers and verdicts,
and a clear error when stepping a finished episode.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
from pettingzoo.test import parallel_api_test, parallel_seed_test

from hacrl_env.problems import Problem
from hacrl_env.parallel import ReasoningParallelEnv
from verifiers import Verdict

DETAIL_KEYS = ("rewards", "correct", "extracted", "reasons", "verdicts")


def gold_response(problem: Problem) -> str:
    """A response that states the gold answer in every format our extractors read."""
    return f"#### {problem.answer}\nThe final answer is $\\boxed{{{problem.answer}}}$."


def _check_obs(env: ReasoningParallelEnv, obs: dict[str, Any], agents: list[str]) -> None:
    assert set(agents) <= set(obs), f"observations missing for {set(agents) - set(obs)}"
    for a in agents:
        assert env.observation_space(a).contains(obs[a]), (
            f"observation for {a!r} is not in its observation_space {env.observation_space(a)}: "
            f"{obs[a][:80]!r}")
    prompts = {obs[a] for a in agents}
    assert len(prompts) == 1, "agents got different prompts; every agent must see the same problem"


def _check_step_infos(rewards: dict, infos: dict, agents: list[str], sizes: dict[str, int]) -> None:
    for a in agents:
        r = rewards[a]
        assert isinstance(r, float) and 0.0 <= r <= 1.0, f"reward for {a!r} is {r!r}, not in [0, 1]"
        info = infos[a]
        missing = [k for k in DETAIL_KEYS if k not in info]
        assert not missing, f"infos[{a!r}] lacks {missing}"
        g = sizes[a]
        assert all(len(info[k]) == g for k in DETAIL_KEYS), f"infos[{a!r}] entries are not length {g}"
        assert all(isinstance(v, Verdict) for v in info["verdicts"]), "verdicts must be Verdicts"
        assert all(isinstance(x, str) for x in info["extracted"]), "extracted answers must be str"
        per = np.asarray(info["rewards"], dtype=float)
        assert np.all((per >= 0) & (per <= 1)), f"per-response rewards outside [0, 1]: {per}"
        assert np.allclose(per, [v.reward for v in info["verdicts"]]), "rewards disagree with verdicts"
        assert abs(r - per.mean()) < 1e-12, "an agent's reward must be the mean of its responses'"


def api_test(env: ReasoningParallelEnv, *, num_cycles: int = 3, seed: int = 0,
             env_fn: Callable[[], ReasoningParallelEnv] | None = None,
             response: Callable[[Problem], str] = gold_response, check_gold: bool = True) -> None:
    """Run `parallel_api_test` and the hacrl checks on `env`; raises AssertionError on failure.

    env_fn: a factory for fresh copies of `env`; when given, PettingZoo's `parallel_seed_test`
    also checks that two envs seeded alike give identical episodes.
    check_gold: also require that `response(problem)` (by default the gold answer, written
    after '####' and in \\boxed{}) earns reward 1 for every agent: the task is solvable.
    """
    parallel_api_test(env, num_cycles=num_cycles)
    if env_fn is not None:
        parallel_seed_test(env_fn, num_cycles=num_cycles)

    # Seeded reproducibility: the same seed picks the same problem.
    obs1, infos1 = env.reset(seed=seed)
    obs2, infos2 = env.reset(seed=seed)
    agents = list(env.agents)
    assert agents == list(env.possible_agents), "reset must bring back every possible agent"
    assert obs1 == obs2 and infos1 == infos2, "reset(seed=s) twice gave different problems"
    _check_obs(env, obs1, agents)
    others = {env.reset(seed=s)[1][agents[0]]["problem_id"] for s in range(seed + 1, seed + 9)}
    if env.num_problems > 8:
        assert len(others) > 1, "8 different seeds all picked the same problem"

    # One response per agent (sampled), then G responses per agent (sampled + gold).
    obs, infos = env.reset(seed=seed)
    problem = env.problem(infos[agents[0]]["index"])
    assert problem.prompt == obs[agents[0]], "problem(index).prompt differs from the observation"
    assert infos[agents[0]]["answer"] == problem.answer, "infos must carry the gold answer"
    actions = {a: env.action_space(a).sample() for a in agents}
    assert all(env.action_space(a).contains(x) for a, x in actions.items())
    o, rewards, terms, truncs, step_infos = env.step(actions)
    _check_step_infos(rewards, step_infos, agents, {a: 1 for a in agents})
    assert all(terms[a] for a in agents) and not any(truncs[a] for a in agents), \
        "every agent terminates (not truncates) after its single turn"
    assert env.agents == [], "agents must be empty once the episode is over"
    try:
        env.step(actions)
    except ValueError:
        pass
    else:
        raise AssertionError("stepping a finished episode must raise ValueError")

    env.reset(seed=seed)
    group = {a: [env.action_space(a).sample(), response(problem)] for a in agents}
    _, rewards, _, _, step_infos = env.step(group)
    _check_step_infos(rewards, step_infos, agents, {a: 2 for a in agents})
    if check_gold:
        for a in agents:
            v = step_infos[a]["verdicts"][1]
            assert v.reward == 1.0, (f"the gold response for {problem.id} scored {v.reward} for {a!r} "
                                     f"(reason {v.reason!r}, extracted {v.extracted!r}, gold "
                                     f"{problem.answer!r}); the verifier cannot reach the gold")
