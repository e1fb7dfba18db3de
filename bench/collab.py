"""Does collaboration pay? HACPO against its baselines and ablations on one rollout accounting.

Trains every arm (an `algo.name` of train/algorithms.py) for every seed on the same config, then
compares held-out accuracy per agent at equal training steps and at equal generated tokens, and
states whether "HACPO beats GSPO" and "HACPO >= GSPO x2 at half the tokens" hold (analysis and
plots: bench/collab_report.py; results and how to read them: docs/results.md).

Rollout accounting: at every step each agent generates G responses per prompt under every arm
except gspo2x, which generates 2G; so at equal steps gspo2x has spent about twice the tokens.
Tokens are each agent's own `cost/generated_tokens_total` (response tokens, EOS included).

Run: python bench/collab.py                             (all arms x 3 seeds, embedded default; hours)
     python bench/collab.py --arms hacpo,gspo,gspo2x --seeds 0,1,2 --set agents.0.lr=3e-4
     python bench/collab.py --resume-existing           (continue an interrupted sweep)
     python bench/collab.py --analyze-only --out docs/collab_table.md
     python bench/collab.py --quick                     (smoke: 2 arms x 1 seed x 1 step, tiny eval)

Runs go to <out-dir>/<arm>-s<seed>/ in seed-major order (every arm of seed 0 first), so a sweep cut
short still holds comparable arms. Each run is `python train/hacpo.py ...` in a child process (a
crash of one arm does not stop the sweep; its log is <out-dir>/logs/<arm>-s<seed>.log), or
in this process with --in-process (no per-run import cost; used by the smoke test).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make `import bench.x` / `train.x` work from a clone
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import collab_report  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
ARMS = ("hacpo", "gspo", "gspo2x", "naive", "one_way", "no_adv", "no_omega", "alpha0", "no_stepwise")
# keys the sweep sets per run; a --set of one of them would silently break the arm/seed layout
RESERVED = ("algo.name", "seed", "run_name", "output_dir", "resume")
# config keys that may differ between a finished run and this sweep without changing its result
IGNORED_KEYS = ("run_name", "output_dir", "resume", "logging")
# how often and how many checkpoints a run keeps: disk, not results (a sweep may keep fewer than its first half)
IGNORED_SCHEDULE_KEYS = ("save_every", "keep_checkpoints")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    head, _, rest = __doc__.partition("\n\n")
    p = argparse.ArgumentParser(description=head, formatter_class=argparse.RawDescriptionHelpFormatter, epilog=rest)
    p.add_argument("--arms", help="comma-separated algo names (default: all nine)")
    p.add_argument("--seeds", help="a count N (seeds 0..N-1) or a comma list, e.g. 0,1,2 (default: 3)")
    p.add_argument("--steps", type=int, help="schedule.steps (default: the config's)")
    p.add_argument("--eval-every", type=int, help="schedule.eval_every (default: the config's)")
    p.add_argument("--eval-size", type=int, help="env.eval_size (default: the config's)")
    p.add_argument("--config", help="base YAML (default: the embedded default, configs/default.yaml)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="config override passed to every run, e.g. --set agents.0.lr=3e-4 (repeatable)")
    p.add_argument("--out-dir", help="parent of the run dirs (default runs/collab; --quick: runs/collab-quick)")
    p.add_argument("--out", help="also write the markdown report to this file")
    p.add_argument("--plot-dir", help="where collab_steps.png / collab_tokens.png go (default docs/; "
                   "--quick: the out dir)")
    p.add_argument("--jobs", type=int, default=1, help="runs at once (default 1: the CPU has 2 cores)")
    p.add_argument("--resume-existing", action="store_true",
                   help="skip finished runs, resume unfinished ones from their checkpoint")
    p.add_argument("--analyze-only", action="store_true", help="train nothing; report on the run dirs found")
    p.add_argument("--in-process", action="store_true", help="train in this process instead of child processes")
    p.add_argument("--timeout", type=float, help="seconds before a child run is killed (default: none)")
    p.add_argument("--quick", action="store_true",
                   help="smoke run: configs/smoke.yaml, hacpo+gspo, 1 seed, 1 step, 4 eval problems")
    args = p.parse_args(argv)
    if args.quick:
        args.config = args.config or str(REPO / "configs" / "smoke.yaml")
        args.arms, args.seeds = args.arms or "hacpo,gspo", args.seeds or "1"
        args.steps, args.eval_every, args.eval_size = args.steps or 1, args.eval_every or 1, args.eval_size or 4
        args.out_dir = args.out_dir or "runs/collab-quick"
        args.plot_dir = args.plot_dir or args.out_dir
        # seconds, not minutes: one eval sample, no per-run plots, one checkpoint at the end
        args.set = ["schedule.eval_k=1", "logging.plots=false", "schedule.save_every=0", *args.set]
    # absolute: child runs start in the repo root, whatever the caller's working directory
    args.out_dir = str(Path(args.out_dir or "runs/collab").resolve())
    args.plot_dir = args.plot_dir or str(REPO / "docs")
    args.arms = [a.strip() for a in (args.arms or ",".join(ARMS)).split(",") if a.strip()]
    args.seeds = args.seeds or "3"
    try:
        args.seeds = (list(range(int(args.seeds))) if args.seeds.strip().isdigit()
                      else [int(s) for s in args.seeds.split(",") if s.strip()])
    except ValueError:
        p.error(f"--seeds {args.seeds!r}: give a count N (seeds 0..N-1) or a comma list such as 0,1,2")
    if not args.seeds:  # `--seeds 0` reads as a count: say so instead of training nothing
        p.error("--seeds 0 is a count of zero seeds; for seed 0 alone write --seeds 1 (or the list --seeds 0,)")
    for s in args.set:
        key = s.removeprefix("--").split("=", 1)[0].strip()
        if "=" not in s or key in RESERVED:
            p.error(f"--set {s!r}: give KEY=VALUE, and not one of {RESERVED} (the sweep sets those per run)")
    if args.jobs < 1 or (args.in_process and args.jobs != 1):
        p.error("--jobs must be >= 1, and 1 with --in-process (runs in one process share its RNGs)")
    return args


def run_overrides(args: argparse.Namespace, arm: str, seed: int) -> list[str]:
    """Dotted overrides for one run: the user's --set first, then what the sweep owns."""
    out = list(args.set)
    for key, value in (("schedule.steps", args.steps), ("schedule.eval_every", args.eval_every),
                       ("env.eval_size", args.eval_size)):
        if value is not None:
            out.append(f"{key}={value}")
    return out + [f"algo.name={arm}", f"seed={seed}", f"output_dir={args.out_dir}", f"run_name={arm}-s{seed}",
                  "logging.progress=false"]


def _comparable(cfg_yaml: str) -> dict:
    import yaml

    d = yaml.safe_load(cfg_yaml)
    d["schedule"] = {k: v for k, v in d.get("schedule", {}).items() if k not in IGNORED_SCHEDULE_KEYS}
    return {k: v for k, v in d.items() if k not in IGNORED_KEYS}


def _flat_diff(a, b, prefix: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        return [d for k in sorted(set(a) | set(b)) for d in _flat_diff(a.get(k), b.get(k), f"{prefix}{k}.")]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in _flat_diff(x, y, f"{prefix}{i}.")]
    return [] if a == b else [f"{prefix.rstrip('.')}: run has {a!r}, sweep wants {b!r}"]


def plan(args: argparse.Namespace) -> list[tuple[str, int, list[str]]]:
    """[(arm, seed, child argv)] still to train, seed-major. Raises SystemExit when an existing run
    dir is in the way (without --resume-existing) or was trained with a different config."""
    from train.config import config_to_yaml, load_config, resolved_config

    todo, out = [], Path(args.out_dir)
    for seed in args.seeds:
        for arm in args.arms:
            overrides = run_overrides(args, arm, seed)
            try:
                cfg = load_config(args.config, overrides)
            except ValueError as e:
                raise SystemExit(f"error: arm {arm} seed {seed}: {e}") from None
            run_dir = out / f"{arm}-s{seed}"
            script = [sys.executable, str(REPO / "train" / "hacpo.py")]
            base = script + (["--config", args.config] if args.config else [])
            if not run_dir.exists():
                todo.append((arm, seed, base + overrides))
                continue
            if not args.resume_existing:
                raise SystemExit(f"error: {run_dir} already exists; pass --resume-existing to keep finished runs "
                                 "and continue unfinished ones, or pick another --out-dir")
            status, why = collab_report.run_status(run_dir)
            if status != "missing":
                # as the runs use them (a config.yaml written before the algo defaults were filled in
                # equals one written after)
                saved = load_config(run_dir / "config.yaml", check_hardware=False)
                diff = _flat_diff(_comparable(config_to_yaml(resolved_config(saved))),
                                  _comparable(config_to_yaml(resolved_config(cfg))))
                if diff:
                    raise SystemExit(f"error: {run_dir} was trained with another config, so it cannot join this "
                                     "sweep:\n  " + "\n  ".join(diff[:10]) + "\nuse another --out-dir or the same "
                                     "--set/--steps/--config as the original sweep")
            if status == "finished":
                print(f"skip {run_dir.name}: finished ({why})", flush=True)
            elif (run_dir / "checkpoints").is_dir() and any((run_dir / "checkpoints").glob("step_*")):
                todo.append((arm, seed, script + ["--resume", str(run_dir)]))
            else:  # nothing to resume from: keep the partial dir for inspection, start over
                aside = run_dir.with_name(f"{run_dir.name}.incomplete-{int(time.time())}")
                run_dir.rename(aside)
                print(f"moved unfinished {run_dir.name} ({why}, no checkpoint) to {aside.name}; rerunning", flush=True)
                todo.append((arm, seed, base + overrides))
    return todo


def train_one(args: argparse.Namespace, arm: str, seed: int, argv: list[str]) -> tuple[bool, float, str]:
    """(ok, seconds, message) of one run, in a child process or in this one."""
    name, t0 = f"{arm}-s{seed}", time.perf_counter()
    if args.in_process:
        from train.config import load_config
        from train.loop import train

        try:
            if "--resume" in argv:
                run_dir = argv[argv.index("--resume") + 1]
                train(load_config(Path(run_dir) / "config.yaml"), resume=run_dir)
            else:
                train(load_config(args.config, run_overrides(args, arm, seed)))
            return True, time.perf_counter() - t0, ""
        except Exception as e:  # one failed arm must not end the sweep
            traceback.print_exc()
            return False, time.perf_counter() - t0, f"{type(e).__name__}: {e}"
    logs = Path(args.out_dir) / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log = logs / f"{name}.log"
    with open(log, "a", encoding="utf-8") as f:
        f.write(f"$ {' '.join(argv)}\n")
        f.flush()
        try:
            rc = subprocess.run(argv, cwd=REPO, stdout=f, stderr=subprocess.STDOUT, timeout=args.timeout,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"}).returncode
        except subprocess.TimeoutExpired:
            return False, time.perf_counter() - t0, f"killed after --timeout {args.timeout} s (log: {log})"
    if rc != 0:
        tail = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-3:]
        return False, time.perf_counter() - t0, f"exit code {rc} (log: {log}): " + " / ".join(tail)
    return True, time.perf_counter() - t0, ""


def _outcome(run_dir: Path) -> str:
    """'llama 0.300->0.350, qwen2 ...' from a finished run's metrics."""
    runs, _ = collab_report.load_runs(run_dir.parent, None)
    run = next((r for r in runs if r.path == run_dir), None)
    if run is None:
        return "no finished metrics"
    parts = []
    for agent in run.agents:
        pts = run.eval_points(agent)
        parts.append(f"{agent} {pts[0][2]:.3f}->{pts[-1][2]:.3f}")
    return ", ".join(parts)


def sweep(args: argparse.Namespace) -> list[str]:
    """Train what `plan` lists; returns a message per failed run."""
    todo = plan(args)
    total, failures = len(todo), []
    print(f"{total} run(s) to train in {args.out_dir} ({len(args.arms)} arms x seeds {','.join(map(str, args.seeds))}, "
          f"{'in-process' if args.in_process else f'child processes, jobs={args.jobs}'})", flush=True)

    def one(item: tuple[int, tuple[str, int, list[str]]]) -> None:
        i, (arm, seed, argv) = item
        print(f"[{i}/{total}] {arm} seed {seed}: started {time.strftime('%H:%M:%S')}", flush=True)
        ok, secs, msg = train_one(args, arm, seed, argv)
        if ok:
            print(f"[{i}/{total}] {arm} seed {seed}: done in {secs:.0f} s; held-out greedy "
                  f"{_outcome(Path(args.out_dir) / f'{arm}-s{seed}')}", flush=True)
        else:
            failures.append(f"{arm}-s{seed}: {msg}")
            print(f"[{i}/{total}] {arm} seed {seed}: FAILED after {secs:.0f} s: {msg}", flush=True)

    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        list(pool.map(one, enumerate(todo, 1)))
    return failures


def analyze(args: argparse.Namespace) -> str:
    runs, skipped = collab_report.load_runs(args.out_dir, args.arms)
    text = collab_report.report(runs, skipped, args.arms)
    if runs:
        for path in collab_report.plot(runs, args.plot_dir, args.arms):
            text += f"\nplot: {path}"
        text += "\n"
    print(text, flush=True)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text, encoding="utf-8")
    return text


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    failures = [] if args.analyze_only else sweep(args)
    analyze(args)
    for f in failures:
        print(f"FAILED {f}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
