"""`bench/throughput.py --backend ray`: the trainer's real step under backend=local and backend=ray.

Cases: the embedded default (2 agents) and configs/three_agents.yaml, each as the trainer runs it
(warm-started zoo agents, P=32 x G=8, their own response lengths), under
  local  threads=2   the local backend at two torch threads (the old default)
  local  threads=1   the local backend at one thread (the default since the backends came)
  ray              one actor per agent, one torch thread each, num_cpus = 1 (or the machine's
                   cores split among the agents when they outnumber them), a local Ray
each idle and with one competing CPU-bound process (`python -c "while True: pass"`) beside it,
plus the bound of one agent per core: from the idle local 1-thread case, each phase's slowest
agent summed (no trainer, no transfer), the step a perfect one-actor-per-core backend would take.
Every case runs in a fresh child process; cases are interleaved repeat by repeat, so a slow drift
of the host hits every case alike; the table gives medians over repeats of each case's median
step. The two backends do the same work step for step (tests/test_ray_backend.py: bit for bit).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PRESETS = {"default": "configs/default.yaml", "three_agents": "configs/three_agents.yaml",
           "smoke": "configs/smoke.yaml"}  # smoke: seconds, for tests/test_bench_throughput_smoke.py
SETUPS = (("local", 2), ("local", 1), ("ray", 1))


@dataclass(frozen=True)
class BackendCase:
    preset: str = "default"
    backend: str = "local"
    threads: int = 1  # local: torch threads of the trainer; ray: num_cpus (and threads) per actor
    busy: bool = False  # one competing CPU-bound process
    steps: int = 3
    warmup: int = 1

    @property
    def label(self) -> str:
        return f"{self.preset} {self.backend} {self.threads}t{' +1 busy' if self.busy else ''}"


def run_backend_case(case: BackendCase) -> dict:
    """warmup + steps RL steps of the preset under the case's backend; seconds per step."""
    from train.config import load_config, resolve_algo, resolved_config
    from train.loop import TrainerState, next_prompt_indices, rl_step
    from train.workers import build_workers, compute_session
    from train.preflight import preflight

    n = 3 if case.preset == "three_agents" else 2
    phases = _time_local_phases() if case.backend == "local" else None
    # Ray: each actor one torch thread; its CPU share is the machine's cores split among the
    # agents when they outnumber the cores (3 agents on 2 cores: 0.67 each)
    share = min(float(case.threads), int(1000 * (os.cpu_count() or 1) / n) / 1000)  # 0.666, summing to <= the cores
    overrides = [f"backend={case.backend}", f"threads={case.threads}", f"schedule.steps={case.warmup + case.steps}"]
    overrides += [f"agents.{i}.num_cpus={share}" for i in range(n)]
    cfg = resolved_config(load_config(str(REPO / PRESETS[case.preset]), overrides))
    spec, state, seconds, ideal = resolve_algo(cfg), TrainerState(), [], []
    with compute_session(cfg):
        vec, _ = preflight(cfg, check_models=False)
        workers = build_workers(cfg)
        try:
            for _ in range(case.warmup + case.steps):
                indices = next_prompt_indices(state, cfg.schedule.prompts_per_step, vec.num_problems, cfg.seed)
                start = time.perf_counter()
                rl_step(workers, vec, spec, state, indices=indices, group=cfg.schedule.group_size, seed=cfg.seed)
                seconds.append(time.perf_counter() - start)
                state.step += 1
                if phases is not None:  # this step's slowest agent per phase, as if each had its own core
                    ideal.append(sum(max(v.pop() for v in phases[m].values()) for m in phases))
        finally:
            for w in workers:
                w.close()
    out = {"case": asdict(case), "seconds": seconds, "median": statistics.median(seconds[case.warmup:])}
    if ideal:
        out["parallel_bound"] = statistics.median(ideal[case.warmup:])
    return out


def _time_local_phases() -> dict[str, dict[str, list[float]]]:
    """Times every LocalWorker.generate and .learn of this process by agent: {method: {agent: [s]}}.

    With one thread, max over agents of each phase, summed, is the step the agents would take if
    each had a core to itself and the trainer cost nothing: the bound no backend that runs one
    agent per core can beat (a child process of its own, so patching the class is harmless)."""
    from train.workers import LocalWorker

    phases: dict[str, dict[str, list[float]]] = {"generate": {}, "learn": {}}
    for method in phases:
        original = getattr(LocalWorker, method)

        def timed(self, *args, _original=original, _method=method, **kwargs):
            start = time.perf_counter()
            out = _original(self, *args, **kwargs)
            phases[_method].setdefault(self.name, []).append(time.perf_counter() - start)
            return out
        setattr(LocalWorker, method, timed)
    return phases


def _child(case: BackendCase) -> dict:
    burner = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if case.busy else None
    try:
        out = subprocess.run([sys.executable, str(REPO / "bench" / "throughput.py"), "--child", "backend",
                              json.dumps(asdict(case))], capture_output=True, text=True, cwd=REPO)
    finally:
        if burner is not None:
            burner.kill()
            burner.wait()
    if out.returncode != 0:
        raise RuntimeError(f"case {case.label} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def part_backends(presets: list[str], repeats: int, steps: int, warmup: int) -> list[dict]:
    cases = [BackendCase(preset, backend, threads, busy, steps, warmup)
             for preset in presets for busy in (False, True) for backend, threads in SETUPS]
    runs: dict[str, list[float]] = {c.label: [] for c in cases}
    bounds: dict[str, list[float]] = {preset: [] for preset in presets}
    raw = []
    for r in range(repeats):
        for c in cases:
            result = _child(c)
            raw.append(result)
            runs[c.label].append(result["median"])
            if c.backend == "local" and c.threads == 1 and not c.busy:
                bounds[c.preset].append(result["parallel_bound"])
            print(f"repeat {r + 1}: {c.label}: median {result['median']:.2f} s, steps "
                  f"{[round(x, 2) for x in result['seconds']]}", flush=True)
    med = {label: statistics.median(v) for label, v in runs.items()}
    print(f"\n### Seconds per RL step, backend=local vs backend=ray, medians of {repeats} interleaved repeats "
          f"(each the median of {steps} steps after {warmup} warm-up)\n")
    print("| preset | setup | idle | with one busy process | busy / idle | ray / local 2t (idle) |\n|---|---|---|---|---|---|")
    for preset in presets:
        base = med[BackendCase(preset, "local", 2).label]
        for backend, threads in SETUPS:
            idle, busy = med[BackendCase(preset, backend, threads).label], med[BackendCase(preset, backend, threads, True).label]
            name = f"{backend}, {threads} thread{'s' if threads > 1 else ''}" + (" per actor" if backend == "ray" else "")
            print(f"| {preset} | {name} | {idle:.2f} | {busy:.2f} | {busy / idle:.2f} | {idle / base:.2f} |")
        bound = statistics.median(bounds[preset])
        print(f"| {preset} | bound: each agent 1 thread on its own core, trainer free | {bound:.2f} | | | {bound / base:.2f} |")
    return raw
