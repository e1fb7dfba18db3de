"""`ReasoningEnv`: the single-agent Gymnasium view of a reasoning task.

One problem per episode: `reset` returns the prompt, `step(response)` verifies it and the
episode terminates. The action may also be a list of G responses; the reward is their mean.
"""

from __future__ import annotations

from typing import Any, Sequence

import gymnasium as gym

from hacrl_env.base import check_seed
from hacrl_env.parallel import ReasoningParallelEnv
from hacrl_env.problems import Problem
from hacrl_env.spaces import UnicodeText


class ReasoningEnv(gym.Env[str, str]):
    """A `ReasoningParallelEnv` with one agent, as a `gymnasium.Env`.

    The problem is drawn with `self.np_random` (seeded by `reset(seed=...)`, as Gymnasium
    expects) unless options give {"index": i} or {"problem_id": id}.
    """

    # render_fps: ansi text has no frame rate, but Gymnasium warns without one.
    metadata = {"render_modes": ["ansi"], "render_fps": 1}

    def __init__(self, parallel_env: ReasoningParallelEnv, render_mode: str | None = None):
        if len(parallel_env.possible_agents) != 1:
            raise ValueError(f"a single-agent env needs exactly one agent, got "
                             f"{parallel_env.possible_agents}")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode={render_mode!r} is not supported; use None or 'ansi'")
        self.par = parallel_env
        self.agent = parallel_env.possible_agents[0]
        self.render_mode = render_mode
        self.par.render_mode = render_mode
        self.observation_space: UnicodeText = parallel_env.observation_space(self.agent)
        self.action_space: UnicodeText = parallel_env.action_space(self.agent)

    @property
    def num_problems(self) -> int:
        return self.par.num_problems

    def problem(self, index: int) -> Problem:
        return self.par.problem(index)

    def problems_for_split(self, split: str):
        return self.par.problems_for_split(split)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None
              ) -> tuple[str, dict[str, Any]]:
        # Checked here so that a bad seed gets the same message from every hacrl env, not
        # Gymnasium's own error class, which is no ValueError.
        seed = check_seed(seed)
        super().reset(seed=seed)
        if seed is not None:
            self.action_space.seed(seed)
        options = dict(options or {})
        if "index" not in options and "problem_id" not in options:
            options["index"] = int(self.np_random.integers(self.par.num_problems))
        obs, infos = self.par.reset(options=options)
        return obs[self.agent], infos[self.agent]

    def step(self, action: str | Sequence[str]) -> tuple[str, float, bool, bool, dict[str, Any]]:
        obs, rewards, terms, truncs, infos = self.par.step({self.agent: action})
        a = self.agent
        return obs[a], rewards[a], terms[a], truncs[a], infos[a]

    def render(self) -> str | None:
        return self.par.render()

    def close(self) -> None:
        self.par.close()
