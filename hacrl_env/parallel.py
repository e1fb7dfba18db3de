"""`ReasoningParallelEnv`: one verifiable problem per episode, answered by every agent.

An episode is a single turn. `reset` picks a problem and every agent observes the same prompt;
`step` takes each agent's response (or G responses), verifies them all in one batch and
returns per agent the mean reward, with per-response rewards, extracted answers, reasons and
verdicts in `infos`. Then every agent terminates and `agents` becomes empty.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np
from pettingzoo import ParallelEnv

from hacrl_env.data import Problem, ProblemAccess, ProblemSet
from hacrl_env.scoring import as_responses, check_agent_keys, score_batch, verdict_arrays
from hacrl_env.spaces import UnicodeText
from verifiers import Verifier

#: Default cap on a response's length in characters (also the action space's max_length).
MAX_RESPONSE_CHARS = 100_000
#: The observation space's max_length: far above any benchmark prompt (MATH's longest is ~4k).
MAX_PROMPT_CHARS = 100_000


def agent_names(agents: list[str] | tuple[str, ...] | int) -> list[str]:
    """`agents` as a list of names: an int n gives "agent_0".."agent_{n-1}"."""
    if isinstance(agents, bool) or not isinstance(agents, (int, list, tuple)):
        raise TypeError(f"agents must be an int or a list of names, got {type(agents).__name__}")
    if isinstance(agents, int):
        if agents < 1:
            raise ValueError(f"agents={agents}: need at least one agent")
        return [f"agent_{i}" for i in range(agents)]
    names = list(agents)
    if not names:
        raise ValueError("agents=[]: need at least one agent name")
    bad = [n for n in names if not isinstance(n, str) or not n]
    if bad:
        raise TypeError(f"agent names must be non-empty str, got {bad!r}")
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"agent names must be unique; repeated: {dupes}")
    return names


def check_seed(seed: Any) -> int | None:
    """`seed` as a Python int (None stays None), or a ValueError naming the bad value.

    Gymnasium's seeding refuses the same values (a negative int, a non-int), with its own error
    class; numpy fails deep inside with "expected non-negative integer" and no argument name.
    Every hacrl env's reset calls this first, so a bad seed changes nothing. A bool is refused
    (seed=True is a slip), a numpy integer is accepted as the int it holds.
    """
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"seed must be a non-negative int, got {seed!r} (a {type(seed).__name__}); "
                         "pass e.g. seed=0, or seed=None to continue the env's random stream")
    if seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed}; pass e.g. seed=0, or "
                         "seed=None to continue the env's random stream")
    return int(seed)


def problem_info(problem: Problem) -> dict[str, Any]:
    return {"problem_id": problem.id, "index": problem.index, "answer": problem.answer}


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


class ReasoningParallelEnv(ProblemAccess, ParallelEnv[str, str, str]):
    """Several agents answer the same verifiable problem (PettingZoo parallel API).

    problems: the split to draw from (kept as `problem_set`). verifier: grades (response, gold).
    split_loader: split name -> ProblemSet, for `problems_for_split`.
    task_verifier: whether `verifier` is the task's own (it then gets the task's gold form,
    see `ProblemSet.verifier_answer`) or a user's (it gets the plain answer).
    max_response_chars: a longer response is not graded: reward 0, reason "too_long", flag
    `hacrl_env.scoring.TOO_LONG_FLAG` (never cut and graded on a part); also the action
    space's max_length. The verifier may refuse shorter ones by its own limit (20,000 chars
    for the built-ins, `Verifier.max_response_chars`).
    """

    metadata = {"name": "hacrl_reasoning", "render_modes": ["ansi"], "is_parallelizable": True}

    def __init__(self, problems: ProblemSet, verifier: Verifier, *,
                 agents: list[str] | int = 2, env_id: str = "",
                 split_loader: Callable[[str], ProblemSet] | None = None,
                 max_response_chars: int = MAX_RESPONSE_CHARS, render_mode: str | None = None,
                 task_verifier: bool = True):
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode={render_mode!r} is not supported; use None or 'ansi'")
        self.problem_set = problems
        self.verifier = verifier
        self.task_verifier = task_verifier
        self.env_id = env_id
        self.render_mode = render_mode
        if isinstance(max_response_chars, bool) or not isinstance(max_response_chars, int) \
                or max_response_chars < 1:
            raise ValueError(f"max_response_chars must be a positive int, got {max_response_chars!r}")
        self.max_response_chars = max_response_chars
        self.possible_agents = agent_names(agents)
        self.agents: list[str] = []
        self._split_loader = split_loader
        # One space object per agent: PettingZoo asserts the same object comes back every call.
        self._obs_spaces = {a: UnicodeText(MAX_PROMPT_CHARS) for a in self.possible_agents}
        self._act_spaces = {a: UnicodeText(self.max_response_chars) for a in self.possible_agents}
        self._rng = np.random.default_rng()
        self.current_problem: Problem | None = None
        self._last: dict[str, list[str]] = {}

    # --- spaces -------------------------------------------------------------------------
    def _space(self, table: dict[str, UnicodeText], agent: str) -> UnicodeText:
        try:
            return table[agent]
        except KeyError:
            raise ValueError(f"unknown agent {agent!r}; this env's agents are "
                             f"{self.possible_agents}") from None

    def observation_space(self, agent: str) -> UnicodeText:
        return self._space(self._obs_spaces, agent)

    def action_space(self, agent: str) -> UnicodeText:
        return self._space(self._act_spaces, agent)

    # --- episode ------------------------------------------------------------------------
    def reset(self, seed: int | None = None, options: dict | None = None
              ) -> tuple[dict[str, str], dict[str, dict]]:
        """Pick a problem: options {"index": i} or {"problem_id": id}, else drawn from the env's
        RNG (reseeded when `seed` is given, so the same seed gives the same problem)."""
        seed = check_seed(seed)
        if seed is not None:
            self._rng = np.random.default_rng(seed)
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

    def close(self) -> None:
        pass

    def __repr__(self) -> str:
        return (f"ReasoningParallelEnv({self.env_id or self.problem_set.task!r}, split="
                f"{self.split!r}, agents={self.possible_agents})")
