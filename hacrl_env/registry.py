"""Env ids: registration in PettingZoo's parallel registry (and Gymnasium's, for the single-agent
view), plus `make` / `make_single` / `make_vec` that resolve short ids and suggest close matches.

PettingZoo's registry is the one source of truth: an id is a hacrl env when its spec's entry
point is `build_parallel`, and its `TaskDef` rides in the spec's kwargs.
"""

from __future__ import annotations

import dataclasses
import difflib
import io
import os
from dataclasses import dataclass
from functools import partial
from typing import Any, Callable, Union

import gymnasium
import pettingzoo
from gymnasium.envs.registration import parse_env_id
from pettingzoo.env_registry.exceptions import NameNotFound, VersionNotFound

from hacrl_env import prompts
from hacrl_env.base import MAX_RESPONSE_CHARS, agent_names
from hacrl_env.data import load_problems
from hacrl_env.parallel import ReasoningParallelEnv
from hacrl_env.problems import ProblemSet
from hacrl_env.reasoning_gym import RG_TASKS, load_rg_problems, rg_verifier
from hacrl_env.single import ReasoningEnv
from hacrl_env.vector import VectorParallelEnv
from verifiers import Verifier, get_verifier

NAMESPACE = "hacrl"
VerifierArg = Union[str, Verifier, Callable[[str, str], Any], None]


class EnvNameNotFound(NameNotFound, ValueError):
    """No env of that name (the message suggests close matches)."""


class EnvVersionNotFound(VersionNotFound, ValueError):
    """The env exists, but not at that version (the message lists the versions)."""


@dataclass(frozen=True)
class TaskDef:
    """What an env id builds.

    load(split, *, data_dir, template, **options) -> ProblemSet; it raises ValueError naming
    the valid splits for one it lacks.
    default_template: the prompt template (a str with `{question}`).
    default_verifier: a registered verifier name, or options -> Verifier.
    splits: the split names `load` accepts (with no split= given, the only one, else "train",
    see `default_split`). options: the task kwargs it accepts (None: any,
    checked by `load` itself). description: one line for `pprint_registry`.
    """

    name: str
    load: Callable[..., ProblemSet]
    default_template: str
    default_verifier: str | Callable[[dict[str, Any]], Verifier]
    splits: tuple[str, ...]
    options: tuple[str, ...] | None = ()
    description: str = ""


def default_split(task: TaskDef) -> str:
    """The split used when none is given: a task's only split, else "train"."""
    if len(task.splits) == 1:
        return task.splits[0]
    if "train" in task.splits:
        return "train"
    raise ValueError(f"{task.name} has no default split; pass split= one of {list(task.splits)}")


def _problems(task: TaskDef, split: str | None, data_dir: Any, prompt_template: str | None,
              options: dict[str, Any]) -> tuple[ProblemSet, Callable[[str], ProblemSet]]:
    if task.options is not None:
        unknown = sorted(set(options) - set(task.options))
        if unknown:
            takes = f"task options {list(task.options)}" if task.options else "no task options"
            raise TypeError(f"{task.name} got unknown keyword(s) {unknown}; it takes {takes} "
                            "besides agents, split, data_dir, verifier, prompt_template")
    split = default_split(task) if split is None else split
    if not isinstance(split, str):
        raise TypeError(f"split must be a str, one of {list(task.splits)}")
    template = prompts.check_template(task.default_template if prompt_template is None else prompt_template)
    loader = partial(task.load, data_dir=data_dir, template=template, **options)
    return loader(split), loader


def _verifier(task: TaskDef, verifier: VerifierArg, options: dict[str, Any]) -> Verifier:
    if verifier is not None:
        return get_verifier(verifier)
    if isinstance(task.default_verifier, str):
        return get_verifier(task.default_verifier)
    return task.default_verifier(options)


def build_parallel(task: TaskDef, *, agents: list[str] | int = 2, split: str | None = None,
                   data_dir: str | os.PathLike | None = None, verifier: VerifierArg = None,
                   prompt_template: str | None = None, env_id: str = "",
                   max_response_chars: int = MAX_RESPONSE_CHARS, render_mode: str | None = None,
                   **options: Any) -> ReasoningParallelEnv:
    """The PettingZoo entry point of every hacrl id (the TaskDef comes from the spec kwargs)."""
    problems, loader = _problems(task, split, data_dir, prompt_template, options)
    return ReasoningParallelEnv(problems, _verifier(task, verifier, options), agents=agents,
                                env_id=env_id, split_loader=loader,
                                max_response_chars=max_response_chars, render_mode=render_mode,
                                task_verifier=verifier is None)


def build_single(task: TaskDef, *, agent: str = "agent_0", agents: list[str] | int | None = None,
                 render_mode: str | None = None, **kwargs: Any) -> ReasoningEnv:
    """The Gymnasium entry point: one agent (`agent=` names it; `agents=` must be 1 or [name])."""
    if agents is not None:
        names = agent_names(agents)
        if len(names) != 1:
            raise ValueError(f"a single-agent env takes one agent, got agents={agents!r}; "
                             "use hacrl_env.make for several")
        agent = names[0]
    return ReasoningEnv(build_parallel(task, agents=[agent], **kwargs), render_mode=render_mode)


# ------------------------------------------------------------------------------- registry

def _hacrl_specs() -> dict[str, pettingzoo.EnvSpec]:
    return {k: s for k, s in pettingzoo.parallel_registry.items() if s.entry_point is build_parallel}


def register(env_id: str, task: TaskDef, **default_kwargs: Any) -> None:
    """Register `env_id` ("hacrl/<name>-vN"; a short id gets the hacrl namespace) for
    `pettingzoo.make("parallel", id)`, `hacrl_env.make` / `make_vec`, and the single-agent view
    for `gymnasium.make(id)`. `default_kwargs` are defaults for the env kwargs."""
    if not isinstance(task, TaskDef):
        raise TypeError(f"register({env_id!r}) needs a TaskDef, got {type(task).__name__}")
    full = env_id if "/" in env_id else f"{NAMESPACE}/{env_id}"
    _, _, version = parse_env_id(full)
    if version is None:
        raise ValueError(f"env id {env_id!r} needs a version suffix, e.g. {full}-v0; bump it "
                         "whenever prompts, extraction or rewards change")
    kwargs = {"task": task, "env_id": full, **default_kwargs}
    pettingzoo.register("parallel", full, entry_point=build_parallel, kwargs=kwargs)
    gymnasium.register(full, entry_point=build_single, kwargs=kwargs)


def spec(env_id: str) -> pettingzoo.EnvSpec:
    """The PettingZoo spec of a hacrl id. Short ids ("gsm8k-v0", "gsm8k") resolve to the hacrl
    namespace; no version means the highest. Unknown names or versions raise with suggestions."""
    if not isinstance(env_id, str):
        raise TypeError(f"env id must be a str like 'gsm8k-v0', got {type(env_id).__name__}")
    full = env_id.strip() if "/" in env_id else f"{NAMESPACE}/{env_id.strip()}"
    specs = _hacrl_specs()
    if full in specs:
        return specs[full]
    try:
        ns, name, version = parse_env_id(full)
    except gymnasium.error.Error:
        raise EnvNameNotFound(f"malformed env id {env_id!r}; ids look like 'gsm8k-v0' or "
                              f"'{NAMESPACE}/rg-chain_sum-v0'") from None
    versions = sorted(s.version for s in specs.values() if (s.namespace, s.name) == (ns, name))
    if versions and version is None:
        return specs[f"{ns}/{name}-v{versions[-1]}"]
    if versions:
        raise EnvVersionNotFound(f"env {ns}/{name} has no version v{version}; available: "
                                 f"{', '.join(f'v{v}' for v in versions)}")
    short = sorted({s.name for s in specs.values()})
    close = difflib.get_close_matches(name, short, n=3, cutoff=0.6)
    hint = f" Did you mean {' or '.join(repr(c + '-v0') for c in close)}?" if close else ""
    raise EnvNameNotFound(f"no hacrl env {env_id!r}.{hint} See hacrl_env.pprint_registry() "
                          "for every id.")


def registered_ids() -> list[str]:
    """Every hacrl env id, sorted."""
    return sorted(_hacrl_specs())


def make(env_id: str, *, agents: list[str] | int = 2, split: str | None = None,
         data_dir: str | os.PathLike | None = None, verifier: VerifierArg = None,
         prompt_template: str | None = None, **task_kwargs: Any) -> ReasoningParallelEnv:
    """A parallel env: every agent answers the same problem each episode. split=None: the
    task's only split (math500-v0: "test"), else "train"."""
    return pettingzoo.make("parallel", spec(env_id).id, agents=agents, split=split,
                           data_dir=data_dir, verifier=verifier,
                           prompt_template=prompt_template, **task_kwargs)


def make_single(env_id: str, **kwargs: Any) -> ReasoningEnv:
    """The single-agent `gymnasium.Env` (same kwargs as `make`; `agent=` names the agent)."""
    s = spec(env_id)
    merged = {**s.kwargs, **kwargs}
    env = build_single(**merged)
    # As gymnasium.make does: the spec (with these kwargs) lets tools rebuild the env.
    env.spec = dataclasses.replace(gymnasium.spec(s.id), kwargs=merged)
    return env


def make_vec(env_id: str, num_envs: int, *, agents: list[str] | int = 2, split: str | None = None,
             data_dir: str | os.PathLike | None = None, verifier: VerifierArg = None,
             prompt_template: str | None = None, processes: int | None = None,
             **task_kwargs: Any) -> VectorParallelEnv:
    """B = `num_envs` problems per step, all responses verified in one batch (`processes` > 1
    verifies in a process pool). split=None: as for `make`."""
    s = spec(env_id)
    kw = {**s.kwargs, **task_kwargs}
    task: TaskDef = kw.pop("task")
    full = kw.pop("env_id")
    max_chars = kw.pop("max_response_chars", MAX_RESPONSE_CHARS)
    kw.pop("render_mode", None)
    problems, loader = _problems(task, split, data_dir, prompt_template, kw)
    return VectorParallelEnv(problems, _verifier(task, verifier, kw), num_envs, agents=agents,
                             env_id=full, processes=processes, split_loader=loader,
                             max_response_chars=max_chars, task_verifier=verifier is None)


def pprint_registry(*, disable_print: bool = False) -> str | None:
    """List every hacrl id with its splits, default verifier and description."""
    out = io.StringIO()
    for env_id, s in sorted(_hacrl_specs().items()):
        t: TaskDef = s.kwargs["task"]
        ver = t.default_verifier if isinstance(t.default_verifier, str) else "rg-score"
        print(f"{env_id:40s} splits={','.join(t.splits):24s} verifier={ver:10s} {t.description}",
              file=out)
    if disable_print:
        return out.getvalue()
    print(out.getvalue(), end="")
    return None


# ------------------------------------------------------------------------------- built-ins

def _local(name: str) -> Callable[..., ProblemSet]:
    def load(split: str, *, data_dir: Any, template: str) -> ProblemSet:
        return load_problems(name, split, data_dir=data_dir, template=template)
    load.__name__ = f"load_{name}"
    return load


def _rg_loader(rg_task: str) -> Callable[..., ProblemSet]:
    def load(split: str, *, data_dir: Any, template: str, **options: Any) -> ProblemSet:
        del data_dir  # procedural: nothing on disk
        return load_rg_problems(rg_task, split, template=template, **options)
    load.__name__ = f"load_rg_{rg_task}"
    return load


def _rg_verifier(rg_task: str) -> Callable[[dict[str, Any]], Verifier]:
    def make_verifier(options: dict[str, Any]) -> Verifier:
        config = {k: v for k, v in options.items() if k not in ("size", "test_size", "seed")}
        return rg_verifier(rg_task, config)
    return make_verifier


def _register_builtins() -> None:
    register("gsm8k-v0", TaskDef("gsm8k", _local("gsm8k"), prompts.GSM8K_TEMPLATE, "gsm8k",
                                 ("train", "test"), description="GSM8K grade-school math (7473/1319)"))
    register("math-v0", TaskDef("math", _local("math"), prompts.MATH_TEMPLATE, "math",
                                ("train", "test", "train4500"),
                                description="MATH (train 7500 answers-only; test 5000; "
                                            "train4500 = test minus MATH-500)"))
    register("math500-v0", TaskDef("math500", _local("math500"), prompts.MATH_TEMPLATE, "math",
                                   ("test",), description="MATH-500 evaluation set (test only)"))
    for t in RG_TASKS:
        register(f"rg-{t}-v0", TaskDef(f"rg-{t}", _rg_loader(t), prompts.RG_TEMPLATE, _rg_verifier(t),
                                       ("train", "test"), options=None,
                                       description=f"reasoning-gym {t} (procedural; kwargs size, test_size, seed, "
                                                   "task config)"))
