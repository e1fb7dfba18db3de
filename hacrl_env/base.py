"""What the parallel and the vector env share: agent names, seed checks, the split in use and
its sibling splits, the verifier settings and the per-agent text spaces. `parallel.py` and
`vector.py` hold only what differs: one problem per episode vs B problems per step.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from hacrl_env.problems import Problem, ProblemSet
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


class ReasoningEnvBase:
    """The state and accessors every hacrl multi-agent env has.

    problems: the split to draw from (kept as `problem_set`). verifier: grades (response, gold).
    split_loader: split name -> ProblemSet, for `problems_for_split` (None: a fixed problem set).
    task_verifier: whether `verifier` is the task's own (it then gets the task's gold form, see
    `ProblemSet.verifier_answer`) or a user's (it gets the plain answer).
    max_response_chars: a longer response is not graded: reward 0, reason "too_long", flag
    `hacrl_env.scoring.TOO_LONG_FLAG` (never cut and graded on a part); also the action space's
    max_length. The verifier may refuse shorter ones by its own limit (20,000 chars for the
    built-ins, `Verifier.max_response_chars`).
    """

    def __init__(self, problems: ProblemSet, verifier: Verifier, *, agents: list[str] | int,
                 env_id: str, split_loader: Callable[[str], ProblemSet] | None,
                 max_response_chars: int, task_verifier: bool):
        if isinstance(max_response_chars, bool) or not isinstance(max_response_chars, (int, np.integer)) \
                or max_response_chars < 1:
            raise ValueError(f"max_response_chars must be a positive int, got {max_response_chars!r}")
        self.problem_set = problems
        self.verifier = verifier
        self.task_verifier = task_verifier
        self.env_id = env_id
        self.max_response_chars = int(max_response_chars)
        self.possible_agents = agent_names(agents)
        self.agents: list[str] = []
        self._split_loader = split_loader
        # One space object per agent: PettingZoo asserts the same object comes back every call.
        self._obs_spaces = {a: UnicodeText(MAX_PROMPT_CHARS) for a in self.possible_agents}
        self._act_spaces = {a: UnicodeText(self.max_response_chars) for a in self.possible_agents}
        self._rng = np.random.default_rng()

    # --- spaces (a vector env's observation holds B prompts of this space, its action B responses)
    def _space(self, table: dict[str, UnicodeText], agent: str) -> UnicodeText:
        try:
            return table[agent]
        except (KeyError, TypeError):
            raise ValueError(f"unknown agent {agent!r}; this env's agents are "
                             f"{self.possible_agents}") from None

    def observation_space(self, agent: str) -> UnicodeText:
        """The space of one prompt."""
        return self._space(self._obs_spaces, agent)

    def action_space(self, agent: str) -> UnicodeText:
        """The space of one response."""
        return self._space(self._act_spaces, agent)

    def _reseed(self, seed: Any) -> int | None:
        """Check `seed` (see `check_seed`) and, when given, restart the env's problem RNG from it."""
        seed = check_seed(seed)
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        return seed

    # --- problems -------------------------------------------------------------------------
    @property
    def num_problems(self) -> int:
        return len(self.problem_set)

    @property
    def split(self) -> str:
        return self.problem_set.split

    def problem(self, index: int) -> Problem:
        return self.problem_set[index]

    def problems_for_split(self, split: str) -> ProblemSet:
        """Another split of the same task (same data source, template and task kwargs), e.g.
        "test" for evaluation."""
        if split == self.problem_set.split:
            return self.problem_set
        if self._split_loader is None:
            raise ValueError(f"this env was built from a fixed problem set; make a new env with "
                             f"split={split!r}")
        return self._split_loader(split)

    def close(self) -> None:
        pass
