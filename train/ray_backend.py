"""backend=ray: one Ray actor per agent, each holding the agent's `LocalWorker`.

    with ray_session(cfg):                  # ray.init (a local Ray, or cfg.ray.address), then shutdown
        workers = ray_workers(cfg, sources) # resources reserved up front in one placement group

The trainer calls actors exactly as it calls local workers (`train.workers.call_all`): `submit`
returns at once, so all agents generate, and all learners update, at the same time. Each actor
uses `num_cpus` torch threads and sees only the `num_gpus` it reserved (fractions share a GPU).
The step's pool goes to Ray's object store once (`share`) and every actor reads it from there;
weights never leave their actor. Checkpoints are written by the actors themselves into the run
directory, so on a cluster that directory must be on a filesystem every node sees.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from train.workers import WorkerLost

REPO = Path(__file__).resolve().parents[1]


@contextlib.contextmanager
def ray_session(cfg) -> Iterator[None]:
    """Ray for the run: the cluster cfg.ray.address names ("auto", "ray://..."), else one that
    `ray start` runs on this machine, else a local one on this machine's cores, without dashboard,
    shut down at the end of the run (a cluster the run joined is left running)."""
    import ray

    started = False
    if not ray.is_initialized():
        quiet = dict(include_dashboard=False, log_to_driver=False, logging_level="ERROR", configure_logging=True)
        if cfg.ray.address:
            ray.init(address=cfg.ray.address, **quiet)
        elif _local_cluster_running() and _join_local_cluster(quiet):
            pass  # `ray start --head` on this machine: the run joins it, as `ray.address=auto` would
        else:
            # actors of a local Ray import this checkout even when it is not pip-installed
            path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
            ray.init(num_cpus=os.cpu_count(), runtime_env={"env_vars": {"PYTHONPATH": path}}, **quiet)
            _OWN_LOCAL_RAY.append(True)
        started = True
    try:
        yield
    finally:
        if started:
            _OWN_LOCAL_RAY.clear()
            ray.shutdown()


# Set while this process runs the local Ray it started: the machine's cores are then the run's own.
_OWN_LOCAL_RAY: list[bool] = []


def _local_cluster_running() -> bool:
    """A cluster started on this machine with `ray start` (or RAY_ADDRESS set by the user)."""
    return bool(os.environ.get("RAY_ADDRESS")) or Path("/tmp/ray/ray_current_cluster").is_file()


def _join_local_cluster(quiet: dict) -> bool:
    import ray

    try:
        ray.init(address="auto", **quiet)
    except ConnectionError:  # a stale marker of a stopped cluster: start our own
        return False
    return True


class AgentActor:
    """Runs in the actor process: builds the agent's LocalWorker and answers the trainer's calls."""

    def __init__(self, config, source: str, total_steps: int):
        import torch

        from train.workers import local_worker

        torch.set_num_threads(max(1, int(config.num_cpus)))
        self.worker = local_worker(config, source, total_steps=total_steps)

    def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return getattr(self.worker, method)(*args, **kwargs)

    def pid(self) -> int:
        return os.getpid()

    def pin(self, cores: list[int]) -> None:
        os.sched_setaffinity(0, cores)


class RayPending:
    """The handle of one call to an actor; `result()` waits for it."""

    def __init__(self, ref, name: str):
        self.ref, self.name = ref, name

    def result(self) -> Any:
        import ray

        try:
            return ray.get(self.ref)
        except ray.exceptions.RayActorError as exc:
            raise WorkerLost(self.name, _first_line(exc)) from None
        except ray.exceptions.RayTaskError as exc:  # the agent's own error: raise it as itself
            raise exc.as_instanceof_cause() from None


class RayWorker:
    """An `AgentWorker` whose LocalWorker lives in a Ray actor (in placement group `group`)."""

    def __init__(self, name: str, actor, group):
        self.name, self.actor, self.group = name, actor, group

    def close(self) -> None:
        """End the actor and free its reserved resources (a cluster outlives the run)."""
        import ray
        from ray.util.placement_group import remove_placement_group

        ray.kill(self.actor)
        with contextlib.suppress(Exception):  # the group is shared by the run's actors: removed once
            remove_placement_group(self.group)

    def submit(self, method: str, *args: Any, **kwargs: Any) -> RayPending:
        return RayPending(self.actor.call.remote(method, *args, **kwargs), self.name)

    def share(self, obj: Any) -> Any:
        import ray

        return ray.put(obj)

    def pid(self) -> int:
        return RayPending(self.actor.pid.remote(), self.name).result()

    def __getattr__(self, method: str):
        # generate, score, learn, evaluate, save_pretrained, restore, ...: one blocking call
        if method.startswith("_"):
            raise AttributeError(method)
        return lambda *args, **kwargs: self.submit(method, *args, **kwargs).result()


def ray_workers(cfg, sources: dict[str, str]) -> list[RayWorker]:
    """One actor per agent, its resources reserved in a placement group first: an agent that
    cannot be placed fails here, naming what it asked for, instead of waiting forever."""
    import ray
    from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

    group = _placement_group(cfg)
    actor_class = ray.remote(AgentActor)
    workers = []
    for i, a in enumerate(cfg.agents):
        actor = actor_class.options(
            num_cpus=a.num_cpus, num_gpus=a.num_gpus, max_restarts=0,
            scheduling_strategy=PlacementGroupSchedulingStrategy(group, placement_group_bundle_index=i),
        ).remote(a, sources[a.name], cfg.schedule.steps)
        workers.append(RayWorker(a.name, actor, group))
    try:
        for w in workers:  # wait for every model to load; a load error surfaces as itself
            w.pid()
        for w, cores in zip(workers, _own_cores(cfg)):
            ray.get(w.actor.pin.remote(cores))
    except BaseException:
        for w in workers:
            w.close()
        raise
    return workers


def _own_cores(cfg) -> list[list[int]]:
    """Disjoint cores per actor, when the run started Ray on this machine and whole CPUs fit: actors
    pinned to their own cores do not migrate (the default's step 1.57 -> 1.31 s on 2 cores,
    docs/performance.md). Nothing on a cluster, or when CPUs are shared out in fractions."""
    asks = [a.num_cpus for a in cfg.agents]
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if not _OWN_LOCAL_RAY or any(c != int(c) for c in asks) or sum(asks) > len(cores):
        return []
    starts = [int(sum(asks[:i])) for i in range(len(asks))]
    return [cores[s:s + int(c)] for s, c in zip(starts, asks)]


def _placement_group(cfg):
    import ray
    from ray.util.placement_group import placement_group

    bundles = [{"CPU": a.num_cpus, **({"GPU": a.num_gpus} if a.num_gpus else {})} for a in cfg.agents]
    nodes = [n["Resources"] for n in ray.nodes() if n.get("Alive")]
    unplaceable = [f"agents.{i} ({a.name}) asks for {_ask(a)}" for i, a in enumerate(cfg.agents)
                   if not any(all(node.get(k, 0) >= v for k, v in bundles[i].items()) for node in nodes)]
    if unplaceable:
        raise RuntimeError("cannot place " + "; ".join(unplaceable) + f": no node of the Ray cluster has that much "
                           f"({_cluster(nodes)}); lower agents.N.num_cpus / num_gpus or add a node")
    short = [f"{sum(b.get(k, 0) for b in bundles):g} {k}s" for k in ("CPU", "GPU")
             if sum(b.get(k, 0) for b in bundles) > sum(node.get(k, 0) for node in nodes)]
    if short:
        raise RuntimeError(f"the agents ask for {' and '.join(short)} in all ({'; '.join(f'{a.name}: {_ask(a)}' for a in cfg.agents)}), "
                           f"more than the Ray cluster has ({_cluster(nodes)}); lower agents.N.num_cpus / num_gpus, "
                           "or start Ray yourself with more (ray start --head --num-cpus=N) and set ray.address=auto")
    group = placement_group(bundles, strategy="PACK")
    try:
        ray.get(group.ready(), timeout=cfg.ray.placement_timeout)
    except ray.exceptions.GetTimeoutError:
        ray.util.remove_placement_group(group)
        asks = "; ".join(f"{a.name}: {_ask(a)}" for a in cfg.agents)
        raise RuntimeError(f"the agents' resources were not free within ray.placement_timeout="
                           f"{cfg.ray.placement_timeout:g} s ({asks}; the cluster has {_cluster(nodes)}, some of it "
                           "possibly taken by other jobs); free it, or lower agents.N.num_cpus / num_gpus") from None
    return group


def _ask(a) -> str:
    return f"num_cpus={a.num_cpus:g}" + (f", num_gpus={a.num_gpus:g}" if a.num_gpus else "")


def _cluster(nodes: list[dict]) -> str:
    return ", ".join(f"node {i}: {n.get('CPU', 0):g} CPUs, {n.get('GPU', 0):g} GPUs" for i, n in enumerate(nodes))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__
