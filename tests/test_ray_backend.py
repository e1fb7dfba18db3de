"""backend=ray: one actor per agent gives the local backend's numbers bit for bit; an actor that
dies stops the run with a message naming the agent and the last checkpoint, and --resume
finishes it; runs resume across backends; an agent that cannot be placed fails at once."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")

from golden_runs import RUNS  # noqa: E402

from train.config import load_config  # noqa: E402
from train.loop import train  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SMOKE = str(REPO / "configs" / "smoke.yaml")
QUIET = ["logging.progress=false", "logging.plots=false", "logging.tensorboard=false"]


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    # Three 1-CPU actors on a 2-core machine: Ray's CPUs are scheduling tokens, so the tests start
    # Ray with 3 of them (a run started without a Ray running starts one with the machine's cores).
    ray.init(num_cpus=3, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    yield
    ray.shutdown()


def _rows(run_dir) -> dict[int, dict]:
    rows: dict[int, dict] = {}
    for line in (Path(run_dir) / "metrics.jsonl").read_text().splitlines():
        d = json.loads(line)
        rows.setdefault(d["step"], {}).update({k: v for k, v in d.items() if not k.startswith("time/")})
    return rows


def test_three_agents_under_ray_match_the_local_backend_step_for_step(tmp_path, monkeypatch):
    from train.ray_backend import RayWorker

    config, overrides = RUNS["three_agents"]
    shared = []
    real_share = RayWorker.share
    monkeypatch.setattr(RayWorker, "share", lambda self, obj: shared.append(1) or real_share(self, obj))
    runs = {}
    for backend in ("local", "ray"):
        cfg = load_config(str(REPO / config), [f"output_dir={tmp_path}", f"run_name={backend}", *overrides,
                                               f"backend={backend}", "threads=1",
                                               *[f"agents.{i}.num_cpus=1" for i in range(3)]])
        runs[backend] = _rows(train(cfg)["run_dir"])
    assert runs["ray"] == runs["local"]  # every metric of every step, bit for bit
    assert sorted(runs["ray"]) == [0, 1, 2] and "neox/cross_ratio/mean" in runs["ray"][1]
    assert len(shared) == 2  # the step's pool went to the object store once per step, not per learner


def test_a_killed_actor_stops_the_run_naming_it_and_resume_finishes(tmp_path, monkeypatch):
    import train.loop as loop

    cfg = load_config(SMOKE, [f"output_dir={tmp_path}", "run_name=killed", "backend=ray", "schedule.steps=3", *QUIET])
    killed = {}
    real_save = loop.save_checkpoint

    def save_then_kill(run, state, workers):
        real_save(run, state, workers)
        if state.step == 1:  # step 1 is saved: kill qwen2's actor process as an OOM killer would
            os.kill(workers[1].pid(), signal.SIGKILL)
            killed["at"] = time.monotonic()

    monkeypatch.setattr(loop, "save_checkpoint", save_then_kill)
    with pytest.raises(RuntimeError) as err:
        train(cfg)
    assert time.monotonic() - killed["at"] < 30  # stopped within seconds, not a hang
    message = str(err.value)
    assert "'qwen2'" in message and "died" in message and "step_1" in message
    assert f"--resume {tmp_path / 'killed'}" in message
    run = tmp_path / "killed"
    assert sorted(_rows(run)) == [0, 1]  # nothing half-written: metrics end at the saved step
    assert [p.name for p in (run / "checkpoints").iterdir() if p.name.startswith(".")] == []

    monkeypatch.setattr(loop, "save_checkpoint", real_save)
    resumed = load_config(str(run / "config.yaml"), ["backend=local"])  # and across backends
    summary = train(resumed, resume=str(run))
    assert sorted(_rows(summary["run_dir"])) == [0, 1, 2, 3]
    assert (run / "checkpoints" / "step_3" / "qwen2" / "training_state.pt").is_file()


def test_a_local_run_resumes_under_ray_with_the_same_numbers(tmp_path):
    base = [f"output_dir={tmp_path}", *QUIET, "schedule.steps=2"]
    whole = _rows(train(load_config(SMOKE, [*base, "run_name=whole"]))["run_dir"])
    half = train(load_config(SMOKE, [*base, "run_name=half", "schedule.steps=1"]))["run_dir"]
    resumed = load_config(str(Path(half) / "config.yaml"), ["backend=ray", "schedule.steps=2"])
    rows = _rows(train(resumed, resume=half)["run_dir"])
    assert rows[2] == whole[2]  # the step after the checkpoint, computed by actors, is the local one


def test_an_agent_that_cannot_be_placed_fails_at_once_naming_it(tmp_path):
    from train.ray_backend import ray_workers

    cfg = load_config(SMOKE, [f"output_dir={tmp_path}", "backend=ray", "agents.1.num_gpus=1"], check_hardware=False)
    start = time.monotonic()
    with pytest.raises(RuntimeError, match=r"agents\.1 \(qwen2\) asks for num_cpus=1, num_gpus=1"):
        ray_workers(cfg, {a.name: a.model for a in cfg.agents})
    cfg = load_config(SMOKE, [f"output_dir={tmp_path}", "backend=ray", "agents.0.num_cpus=3"])
    with pytest.raises(RuntimeError, match=r"ask for 4 CPUs in all"):
        ray_workers(cfg, {a.name: a.model for a in cfg.agents})
    assert time.monotonic() - start < 10


def test_cuda_under_ray_needs_a_gpu_reserved():
    with pytest.raises(ValueError, match=r"agents\.0\.num_gpus: device 'cuda' under backend=ray needs num_gpus > 0"):
        load_config(SMOKE, ["backend=ray", "agents.0.device=cuda"])


def test_actors_get_their_own_cores_only_on_a_local_ray_the_run_started(monkeypatch):
    import train.ray_backend as rb

    cfg = load_config(SMOKE, ["backend=ray"])
    monkeypatch.setattr(rb.os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    assert rb._own_cores(cfg) == []  # this module's Ray was started by the test, not by the run
    monkeypatch.setattr(rb, "_OWN_LOCAL_RAY", [True])
    assert rb._own_cores(cfg) == [[0], [1]]
    assert rb._own_cores(load_config(SMOKE, ["backend=ray", "agents.0.num_cpus=0.5"])) == []  # fractions share
    assert rb._own_cores(load_config(SMOKE, ["backend=ray", "agents.0.num_cpus=2"])) == []  # more than the cores
