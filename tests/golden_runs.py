"""Short training runs whose metrics are pinned in tests/data/golden_metrics.json.

A refactor of the trainer must not move a number: `tests/test_golden_metrics.py` re-runs each
run below on one torch thread and compares every logged metric (timings aside) with the values
the file holds. After a change that is MEANT to move numbers, regenerate the file and say why in
the commit:

    HF_HUB_OFFLINE=1 python tests/golden_runs.py --write

`--compare` reruns them and lists every metric that is not bit-for-bit the pinned value.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
GOLDEN = REPO / "tests" / "data" / "golden_metrics.json"

_QUIET = ["logging.progress=false", "logging.plots=false", "logging.tensorboard=false"]
_SMOKE = ["env.kwargs.size=64", *_QUIET, "agents.0.max_new_tokens=24", "agents.1.max_new_tokens=24"]

#: name -> (config file, overrides). The default run is cut to a few small steps; the three-agent
#: run is the end-to-end test's; the smoke variants walk every row kind and option of the update.
RUNS: dict[str, tuple[str, list[str]]] = {
    "default": ("configs/default.yaml", ["schedule.steps=3", "schedule.prompts_per_step=8", "schedule.eval_every=0",
                                         "schedule.eval_k=2", "env.eval_size=16", *_QUIET]),
    "three_agents": ("configs/three_agents.yaml", [
        "agents.2.model=tiny-llama-bpe", "schedule.steps=2", "schedule.prompts_per_step=2", "schedule.group_size=2",
        "schedule.eval_every=0", "schedule.eval_k=1", "env.eval_size=4", "env.kwargs.size=32", *_QUIET,
        *[f"agents.{i}.max_new_tokens=6" for i in range(3)]]),
    "smoke_hacpo_kl_no_shuffle": ("configs/smoke.yaml", [*_SMOKE, "algo.kl_beta=0.05", "algo.shuffle=false",
                                                         "algo.behaviour_logprobs=recompute"]),
    "smoke_grpo": ("configs/smoke.yaml", [*_SMOKE, "algo.name=grpo"]),
    "smoke_naive": ("configs/smoke.yaml", [*_SMOKE, "algo.name=naive"]),
    "smoke_one_way": ("configs/smoke.yaml", [*_SMOKE, "algo.name=one_way", "algo.minibatch_size=4"]),
    "smoke_gspo2x_int8": ("configs/smoke.yaml", [*_SMOKE, "algo.name=gspo2x", "agents.0.generation_precision=int8"]),
    "smoke_no_stepwise_alpha3": ("configs/smoke.yaml", [*_SMOKE, "algo.name=no_stepwise", "algo.alpha=3"]),
    "smoke_external": ("configs/smoke.yaml", [*_SMOKE, "schedule.external_trajectories={out}/external.jsonl"]),
}
#: external trajectories of "smoke_external": one group with its own behaviour log-prob, one a run
#: agent re-scores every step
EXTERNAL = [
    {"prompt": "What is 2 + 3?", "response": "#### 5", "reward": 1.0, "source_mean_logp": -0.5, "prompt_id": "a"},
    {"prompt": "What is 2 + 3?", "response": "#### 6", "reward": 0.0, "source_mean_logp": -1.5, "prompt_id": "a"},
    {"prompt": "What is 4 - 1?", "response": "#### 3", "reward": 1.0, "source": "qwen2", "prompt_id": "b"},
    {"prompt": "What is 4 - 1?", "response": "#### 2", "reward": 0.0, "source": "qwen2", "prompt_id": "b",
     "finished": False},
]


def run(name: str, output_dir: str) -> dict[str, dict[str, float]]:
    """{step: {metric: value}} of run `name` (timings left out), on one torch thread."""
    import torch

    from train.config import load_config
    from train.loop import train

    config, overrides = RUNS[name]
    (Path(output_dir) / "external.jsonl").write_text("".join(json.dumps(r) + "\n" for r in EXTERNAL))
    overrides = [o.format(out=output_dir) for o in overrides]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        summary = train(load_config(str(REPO / config), [f"output_dir={output_dir}", f"run_name={name}", *overrides]))
    finally:
        torch.set_num_threads(threads)
    rows: dict[str, dict[str, float]] = {}
    for line in (Path(summary["run_dir"]) / "metrics.jsonl").read_text().splitlines():
        d = json.loads(line)
        step = str(d.pop("step"))
        rows.setdefault(step, {}).update({k: v for k, v in d.items() if not k.startswith("time/")})
    return rows


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--write", action="store_true", help=f"write {GOLDEN.relative_to(REPO)}")
    parser.add_argument("--compare", action="store_true", help="list metrics that differ from the file in any bit")
    parser.add_argument("names", nargs="*", default=list(RUNS))
    args = parser.parse_args(argv)
    sys.path.insert(0, str(REPO))
    with tempfile.TemporaryDirectory() as tmp:
        out = {name: run(name, tmp) for name in args.names}
    if args.write:
        GOLDEN.write_text(json.dumps(out, indent=1, sort_keys=True) + "\n")
    elif args.compare:
        pinned = json.loads(GOLDEN.read_text())
        moved = [(name, step, key, value, out[name][step].get(key)) for name in out
                 for step, metrics in pinned[name].items() for key, value in metrics.items()
                 if out[name].get(step, {}).get(key) != value]
        print(f"{len(moved)} metrics differ from {GOLDEN.name} in any bit")
        for name, step, key, want, got in moved:
            print(f"  {name} step {step} {key}: {want!r} -> {got!r}")
    else:
        print(json.dumps(out, indent=1, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
