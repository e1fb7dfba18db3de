"""`VectorParallelEnv`: B problems at once, the training path.

Same semantics as `ReasoningParallelEnv` for each of the B problems, batched: observations are
tuples of B prompts, rewards are (B,) arrays, and all B * n_agents * G responses of a step are
verified in one `check_many` call. The trainer usually passes the problem indices itself
(`reset(options={"indices": [...]})`) so that it owns data order and the resume cursor.
"""

from __future__ import annotations

import pickle
from typing import Any, Callable, Sequence

import numpy as np

from hacrl_env.base import MAX_RESPONSE_CHARS, ReasoningEnvBase, problem_info
from hacrl_env.problems import Problem, ProblemSet
from hacrl_env.scoring import as_responses, check_agent_keys, score_batch, verdict_arrays
from verifiers import Verifier


def _check_picklable(verifier: Verifier) -> None:
    """A process pool ships the verifier to its workers; fail at construction, not mid-run."""
    try:
        pickle.dumps(verifier)
    except Exception as exc:  # noqa: BLE001 - any pickling failure means the same fix
        raise ValueError(f"processes > 1 needs a picklable verifier, and {verifier.name!r} is not "
                         f"({type(exc).__name__}: {exc}); use a module-level function or a Verifier "
                         "subclass instead of a lambda/closure, or processes=None") from None


class VectorParallelEnv(ReasoningEnvBase):
    """B parallel reasoning episodes stepped together.

    reset -> obs[agent]: tuple of B prompts (the same for every agent);
             infos[agent]: list of B dicts with "problem_id", "index", "answer".
    step(actions[agent]: B items, each a str or list of G str) ->
        rewards[agent]: (B,) float (mean over that agent's responses);
        terminations / truncations[agent]: (B,) bool, all True / all False;
        infos[agent]: {"rewards": B arrays (G,), "correct": B arrays (G,) bool,
                       "extracted" / "reasons" / "verdicts": B lists of G, plus
                       "problem_id" / "index" / "answer": B each}.
    observation_space / action_space(agent): the space of ONE prompt / ONE response.
    The constructor's arguments are `ReasoningEnvBase`'s, plus num_envs (B) and processes
    (> 1: verify in a process pool of that size).
    """

    def __init__(self, problems: ProblemSet, verifier: Verifier, num_envs: int, *,
                 agents: list[str] | int = 2, env_id: str = "", processes: int | None = None,
                 split_loader: Callable[[str], ProblemSet] | None = None,
                 max_response_chars: int = MAX_RESPONSE_CHARS, task_verifier: bool = True):
        if isinstance(num_envs, bool) or not isinstance(num_envs, int) or num_envs < 1:
            raise ValueError(f"num_envs must be a positive int, got {num_envs!r}")
        if processes is not None and (not isinstance(processes, int) or processes < 0):
            raise ValueError(f"processes must be None or an int >= 0, got {processes!r}")
        if processes is not None and processes > 1:
            _check_picklable(verifier)
        super().__init__(problems, verifier, agents=agents, env_id=env_id, split_loader=split_loader,
                         max_response_chars=max_response_chars, task_verifier=task_verifier)
        self.num_envs = num_envs
        self.processes = processes
        self.problems: list[Problem] = []

    def _indices(self, options: dict | None) -> list[int]:
        if options is not None and not isinstance(options, dict):
            raise TypeError(f"reset options must be a dict or None, got {type(options).__name__}")
        indices = (options or {}).get("indices")
        if indices is None:
            return [int(i) for i in self._rng.integers(len(self.problem_set), size=self.num_envs)]
        if isinstance(indices, (str, bytes)) or not hasattr(indices, "__len__"):
            raise TypeError("options['indices'] must be a sequence of problem indices, got "
                            f"{type(indices).__name__}")
        if len(indices) != self.num_envs:
            raise ValueError(f"options['indices'] has {len(indices)} entries but this vector env "
                             f"has num_envs={self.num_envs}; pass one index per env")
        return [self.problem_set.check_index(i) for i in indices]

    def reset(self, seed: int | None = None, options: dict | None = None
              ) -> tuple[dict[str, tuple[str, ...]], dict[str, list[dict]]]:
        """Start B episodes: problems at options["indices"], else drawn from the env's RNG
        (reseeded when `seed` is given)."""
        self._reseed(seed)
        self.problems = [self.problem_set[i] for i in self._indices(options)]
        self.agents = list(self.possible_agents)
        prompts = tuple(p.prompt for p in self.problems)
        obs = {a: prompts for a in self.agents}
        infos = {a: [problem_info(p) for p in self.problems] for a in self.agents}
        return obs, infos

    def step(self, actions: dict[str, Sequence[str | Sequence[str]]]):
        if not self.problems or not self.agents:
            raise ValueError("step() called with no live batch; call reset() first "
                             "(each batch is one turn and ends after one step)")
        check_agent_keys(actions, self.agents)
        B = self.num_envs
        responses: dict[str, list[list[str]]] = {}
        for a in self.agents:
            batch = actions[a]
            if isinstance(batch, str) or not isinstance(batch, (list, tuple)):
                raise TypeError(f"actions[{a!r}] must be a list of {B} items (one per problem, each "
                                f"a str or a list of str), got {type(batch).__name__}")
            if len(batch) != B:
                raise ValueError(f"actions[{a!r}] has {len(batch)} items for {B} problems; send "
                                 "one item per problem")
            responses[a] = [as_responses(item, f"actions[{a!r}][{b}]") for b, item in enumerate(batch)]
        golds = [self.problem_set.verifier_answer(p.index, task_verifier=self.task_verifier)
                 for p in self.problems]
        verdicts = score_batch(self.verifier, golds, responses,
                               max_response_chars=self.max_response_chars, processes=self.processes)
        prompts = tuple(p.prompt for p in self.problems)
        base = {"problem_id": [p.id for p in self.problems], "index": [p.index for p in self.problems],
                "answer": [p.answer for p in self.problems]}
        obs, rewards, terms, truncs, infos = {}, {}, {}, {}, {}
        for a in self.agents:
            details = [verdict_arrays(row) for row in verdicts[a]]
            obs[a] = prompts
            rewards[a] = np.array([d["rewards"].mean() for d in details], dtype=np.float64)
            terms[a] = np.ones(B, dtype=bool)
            truncs[a] = np.zeros(B, dtype=bool)
            info: dict[str, Any] = dict(base)
            for key in ("rewards", "correct", "extracted", "reasons", "verdicts"):
                info[key] = [d[key] for d in details]
            infos[a] = info
        self.agents = []
        return obs, rewards, terms, truncs, infos

    def __repr__(self) -> str:
        return (f"VectorParallelEnv({self.env_id or self.problem_set.task!r}, num_envs="
                f"{self.num_envs}, split={self.split!r}, agents={self.possible_agents})")
