"""`ReasoningParallelEnv`: one verifiable problem per episode, answered by every agent.

An episode is a single turn. `reset` picks a problem and every agent observes the same prompt;
`step` takes each agent's response (or G responses), verifies them all in one batch and
returns per agent the mean reward, with per-response rewards, extracted answers, reasons and
verdicts in `infos`. Then every agent terminates and `agents` becomes empty.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
from pettingzoo import ParallelEnv

from hacrl_env.base import MAX_RESPONSE_CHARS, ReasoningEnvBase, problem_info
from hacrl_env.problems import Problem, ProblemSet
from hacrl_env.scoring import as_responses, check_agent_keys, score_batch, verdict_arrays
from verifiers import Verifier

def pick_index(problems: ProblemSet, rng: np.random.Generator, options: dict | None) -> int:
    """Problem index from reset options ({"index": i} or {"problem_id": id}) or from `rng`.
    Other option keys are ignored (PettingZoo's API test passes arbitrary ones)."""
    if options is None:
        options = {}
    if not isinstance(options, dict):
        raise TypeError(f"reset options must be a dict or None, got {type(options).__name__}")
    if "index" in options and "problem_id" in options:
        raise ValueError("reset options: give 'index' or 'problem_id', not both")
    if "index" in options:
        return problems.check_index(options["index"])
    if "problem_id" in options:
        return problems.index_of(options["problem_id"])
    return int(rng.integers(len(problems)))


class ReasoningParallelEnv(ReasoningEnvBase, ParallelEnv[str, str, str]):
    """Several agents answer the same verifiable problem (PettingZoo parallel API).

    The constructor's arguments are `ReasoningEnvBase`'s (problems, verifier, agents, env_id,
    split_loader, max_response_chars, task_verifier), plus render_mode (None or "ansi").
    """

    metadata = {"name": "hacrl_reasoning", "render_modes": ["ansi"], "is_parallelizable": True}

    def __init__(self, problems: ProblemSet, verifier: Verifier, *,
                 agents: list[str] | int = 2, env_id: str = "",
                 split_loader: Callable[[str], ProblemSet] | None = None,
                 max_response_chars: int = MAX_RESPONSE_CHARS, render_mode: str | None = None,
                 task_verifier: bool = True):
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode={render_mode!r} is not supported; use None or 'ansi'")
        super().__init__(problems, verifier, agents=agents, env_id=env_id, split_loader=split_loader,
                         max_response_chars=max_response_chars, task_verifier=task_verifier)
        self.render_mode = render_mode
        self.current_problem: Problem | None = None
        self._last: dict[str, list[str]] = {}

    # --- episode ------------------------------------------------------------------------
    def reset(self, seed: int | None = None, options: dict | None = None
              ) -> tuple[dict[str, str], dict[str, dict]]:
        """Pick a problem: options {"index": i} or {"problem_id": id}, else drawn from the env's
        RNG (reseeded when `seed` is given, so the same seed gives the same problem)."""
        seed = self._reseed(seed)
        if seed is not None:
            for i, a in enumerate(self.possible_agents):  # reproducible action sampling too
                self._act_spaces[a].seed(seed + i)
        self.current_problem = self.problem_set[pick_index(self.problem_set, self._rng, options)]
        self.agents = list(self.possible_agents)
        self._last = {}
        obs = {a: self.current_problem.prompt for a in self.agents}
        infos = {a: problem_info(self.current_problem) for a in self.agents}
        return obs, infos

    def step(self, actions: dict[str, str | Sequence[str]]):
        """Verify each agent's response(s); every agent then terminates."""
        if self.current_problem is None or not self.agents:
            raise ValueError("step() called with no live episode; call reset() first "
                               "(each episode is one problem and ends after one step)")
        check_agent_keys(actions, self.agents)
        responses = {a: [as_responses(actions[a], f"actions[{a!r}]")] for a in self.agents}
        gold = self.problem_set.verifier_answer(self.current_problem.index,
                                                task_verifier=self.task_verifier)
        verdicts = score_batch(self.verifier, [gold], responses,
                               max_response_chars=self.max_response_chars)
        obs, rewards, terms, truncs, infos = {}, {}, {}, {}, {}
        for a in self.agents:
            detail = verdict_arrays(verdicts[a][0])
            obs[a] = self.current_problem.prompt
            rewards[a] = float(detail["rewards"].mean())
            terms[a] = True
            truncs[a] = False
            infos[a] = {**problem_info(self.current_problem), **detail}
        self._last = {a: responses[a][0] for a in self.agents}
        self.agents = []
        return obs, rewards, terms, truncs, infos

    def render(self) -> str | None:
        if self.render_mode != "ansi" or self.current_problem is None:
            return None
        lines = [f"[{self.current_problem.id}] {self.current_problem.prompt}", f"gold: {self.current_problem.answer}"]
        for a, rs in self._last.items():
            lines += [f"{a}[{g}]: {r[-200:]}" for g, r in enumerate(rs)]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (f"ReasoningParallelEnv({self.env_id or self.problem_set.task!r}, split="
                f"{self.split!r}, agents={self.possible_agents})")
