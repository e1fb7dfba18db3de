"""Everything a run needs from outside its config, checked before anything heavy starts: the env
ids, splits, verifier and task kwargs (by building the envs, which also reads the data), every
agent's model (found, without loading weights) and the external trajectory file. A mistake is one
ConfigError naming the field and the fix, raised before a model loads or a run dir is made.

    vec, external = preflight(cfg)      # the training env and the external records, ready to use
"""

from __future__ import annotations

from typing import Any

from train.config import ConfigError, TrainConfig
from train.pool import Trajectory, load_trajectories

# What building an env or checking a model raises for bad input (not for a bug in hacrl).
_INPUT_ERRORS = (TypeError, ValueError, KeyError, ImportError, OSError)


def preflight(cfg: TrainConfig, *, check_models: bool = True) -> tuple[Any, list[Trajectory]]:
    """(training vector env, external trajectories); a ConfigError listing every problem found.
    check_models=False skips the model lookup (a test swapping in its own models)."""
    problems: list[tuple[str, str]] = []
    vec = _training_env(cfg, problems)
    _eval_env(cfg, problems)
    if check_models:
        import agents

        for i, a in enumerate(cfg.agents):
            try:
                agents.check(a.model)
            except _INPUT_ERRORS as exc:
                problems.append((f"agents.{i}.model", _text(exc)))
    external: list[Trajectory] = []
    path = cfg.schedule.external_trajectories
    if path:
        try:
            external = load_trajectories(path, [a.name for a in cfg.agents])
        except (ValueError, OSError) as exc:
            problems.append(("schedule.external_trajectories", _text(exc)))
    if problems:
        raise ConfigError(problems, headline="cannot start the run")
    return vec, external


def _training_env(cfg: TrainConfig, problems: list) -> Any:
    import hacrl_env

    e = cfg.env
    task_ok = _task_ok(e.id, e.train_split, "env.id", "env.train_split", problems)
    if not (_verifier_ok(e.verifier, problems) and task_ok):
        return None
    try:
        return hacrl_env.make_vec(e.id, num_envs=cfg.schedule.prompts_per_step, agents=[a.name for a in cfg.agents],
                                  split=e.train_split, verifier=e.verifier, **e.kwargs)
    except _INPUT_ERRORS as exc:
        problems.append((_blame(exc, e.kwargs, "env.id"), _text(exc)))
    return None


def _eval_env(cfg: TrainConfig, problems: list) -> None:
    import hacrl_env

    e = cfg.env
    env_id = e.eval_id or e.id
    id_key = "env.eval_id" if e.eval_id else "env.id"
    if e.eval_id is None and any(key == "env.id" for key, _ in problems):
        return  # the same id, already reported
    if not _task_ok(env_id, e.eval_split, id_key, "env.eval_split", problems) or not _verifier_ok(e.verifier, []):
        return
    try:
        hacrl_env.make(env_id, agents=1, split=e.eval_split, verifier=e.verifier, **e.kwargs)
    except _INPUT_ERRORS as exc:
        problem = (_blame(exc, e.kwargs, id_key), _text(exc))
        if problem not in problems:
            problems.append(problem)


def _task_ok(env_id: str, split: str, id_key: str, split_key: str, problems: list) -> bool:
    import hacrl_env

    try:
        task = hacrl_env.spec(env_id).kwargs["task"]
    except ValueError as exc:
        problems.append((id_key, _text(exc)))
        return False
    if split not in task.splits:
        problems.append((split_key, f"{env_id} has no split {split!r}; choose one of {list(task.splits)}"))
        return False
    return True


def _verifier_ok(name: str | None, problems: list) -> bool:
    if name is None:
        return True
    import verifiers

    try:
        verifiers.get_verifier(name)
    except (KeyError, ValueError) as exc:
        problems.append(("env.verifier", _text(exc)))
        return False
    return True


def _blame(exc: BaseException, kwargs: dict, id_key: str) -> str:
    """The field an env build error points at: the data behind the id, or the task kwargs (an
    unknown option is a TypeError; a value the task rejects, a ValueError)."""
    from hacrl_env import DataError

    if isinstance(exc, DataError) or not (kwargs or isinstance(exc, TypeError)):
        return id_key
    return "env.kwargs"


def _text(exc: BaseException) -> str:
    # KeyError's str() quotes its message; the first argument is the message itself
    return str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
