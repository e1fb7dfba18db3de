"""Re-evaluate finished runs: every agent's latest checkpoint against the model it started from,
on the run's own held-out set, with k samples per problem and a paired 95% CI on the change.

Why: a sweep may have been run with a noisy in-training eval (avg@1 on 200 problems), and greedy
pass@1 churns between nearby checkpoints. Re-reading the end points with avg@k (k=8) and a paired
interval says which start -> end gains are clear, without retraining anything.

Run: python bench/reeval.py runs/collab/hacpo-s0 runs/collab/gspo-s0 ...   (any run dirs)
     python bench/reeval.py --out-dir runs/collab --arms hacpo,gspo,gspo2x --k 8 --out docs/reeval.md
     python bench/reeval.py --out-dir runs/real --n-problems 200 --k 1 --baseline gspo --cache runs/reeval-cache

Each run's config.yaml supplies the env, eval split and size, verifier, max_new_tokens and the
agent's sampling temperature/top_p, so the numbers compare with what the run logged. Sampling is
seeded (--seed), and a starting model shared by several runs is evaluated once.

--n-problems re-reads on more held-out problems than the run evaluated on (a short run on a slow
pair may have used 50, where every interval spans 10-30 points). --baseline ARM adds, per seed and
agent, each arm's end minus the baseline arm's end on the same problems and sampling seeds, paired.
--cache DIR keeps every evaluation as one JSON file, so an interrupted re-read resumes where it
stopped, and two processes can split the work (--agents a in one, --agents b in the other) and a
last call without --agents writes the whole report from the cache.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make `import train.x` work from a clone
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.collab_report import RUN_NAME  # noqa: E402


def _agent_eval(model: str, settings: dict) -> dict:
    import agents as agents_lib

    from train.evaluate import evaluate_agent, scores

    return scores(evaluate_agent(agents_lib.load(model), **settings))


def _cached_eval(model: str, settings: dict, cache_dir: Path | None) -> dict:
    """`_agent_eval`, kept in cache_dir/<hash>.json when a cache is given (written atomically, so a
    kill leaves no half file; the model path and settings are stored and checked on reading)."""
    if cache_dir is None:
        return _agent_eval(model, settings)
    from train.atomic import atomic_open

    key = json.dumps([model, settings], sort_keys=True, default=str)
    path = cache_dir / f"{hashlib.sha1(key.encode()).hexdigest()[:20]}.json"
    if path.is_file():
        saved = json.loads(path.read_text(encoding="utf-8"))
        if saved["key"] == key:
            return saved["scores"]
    result = _agent_eval(model, settings)
    cache_dir.mkdir(parents=True, exist_ok=True)
    with atomic_open(path) as f:
        json.dump({"key": key, "scores": result}, f)
    return result


def reevaluate(run_dirs: list[Path], k: int = 8, seed: int = 0, *, n_problems: int | None = None,
               agents: set[str] | None = None, cache_dir: Path | None = None) -> list[dict]:
    """One row per (run, agent): {"run", "agent", "start", "end" (evaluation scores),
    "change": accuracy_changes(...)[agent]}. n_problems: held-out problems (default: the run's
    eval size); agents: only these agent names (default: all)."""
    from train.checkpoint import find_latest_checkpoint
    from train.config import load_config
    from train.loop import eval_settings
    from train.summary import accuracy_changes

    start_cache: dict[tuple, dict] = {}
    out = []
    for run in run_dirs:
        cfg = load_config(run / "config.yaml", check_hardware=False)
        ckpt = find_latest_checkpoint(run)
        if ckpt is None:
            raise SystemExit(f"{run} has no checkpoint to re-evaluate; finish or resume the run first")
        for i, a in enumerate(cfg.agents):
            if agents is not None and a.name not in agents:
                continue
            settings = eval_settings(cfg, i, k=k, seed=seed)
            if n_problems is not None:
                settings["n_problems"] = n_problems
            key = (a.model, repr(sorted(settings.items())))
            if key not in start_cache:
                start_cache[key] = _cached_eval(a.model, settings, cache_dir)
            start, end = start_cache[key], _cached_eval(str(ckpt / a.name), settings, cache_dir)
            out.append({"run": run.name, "agent": a.name, "start": start, "end": end,
                        "change": accuracy_changes({a.name: start}, {a.name: end})[a.name]})
    return out


def against_baseline(rows: list[dict], baseline: str) -> list[dict]:
    """Per (arm, seed, agent) with a baseline run of the same seed: the arm's end minus the
    baseline's end, paired over problems: {"arm", "seed", "agent", "change": {metric: {...}}}."""
    from train.summary import accuracy_changes

    ends = {}
    for r in rows:
        m = RUN_NAME.match(r["run"])
        if m:
            ends[(m["arm"], int(m["seed"]), r["agent"])] = r["end"]
    out = []
    for (arm, seed, agent), end in ends.items():
        base = ends.get((baseline, seed, agent))
        if arm != baseline and base is not None:
            out.append({"arm": arm, "seed": seed, "agent": agent,
                        "change": accuracy_changes({agent: base}, {agent: end})[agent]})
    return out


def report(rows: list[dict], k: int, baseline: str | None = None) -> str:
    """Markdown: per run and agent, greedy and avg@k start -> end with the paired interval; then
    per arm (run dirs named <arm>-s<seed>) the mean change over seeds; with a baseline arm, each
    arm's end minus the baseline's per seed, and its mean over seeds."""
    def cell(r: dict) -> str:
        ci = r["ci95"]
        return f"{r['start']:.3f} -> {r['end']:.3f} ({r['change']:+.3f}, CI {ci[0]:+.3f}..{ci[1]:+.3f})"

    lines = [f"| run | agent | greedy | avg@{k} |", "|---|---|---|---|"]
    for row in rows:
        lines.append(f"| {row['run']} | {row['agent']} | {cell(row['change']['greedy'])} | "
                     f"{cell(row['change']['avg_at_k'])} |")
    arms: dict[tuple[str, str], list[dict]] = {}
    for row in rows:
        m = RUN_NAME.match(row["run"])
        if m:
            arms.setdefault((m["arm"], row["agent"]), []).append(row["change"])
    if arms:
        lines += ["", f"| arm | agent | seeds | mean greedy change | mean avg@{k} change | seeds with avg@{k} CI above 0 |",
                  "|---|---|---|---|---|---|"]
        for (arm, agent), changes in arms.items():
            n = len(changes)
            g = sum(c["greedy"]["change"] for c in changes) / n
            s = sum(c["avg_at_k"]["change"] for c in changes) / n
            clear = sum(c["avg_at_k"]["ci95"][0] > 0 for c in changes)
            lines.append(f"| {arm} | {agent} | {n} | {g:+.3f} | {s:+.3f} | {clear} of {n} |")
    if baseline:
        lines += _baseline_tables(against_baseline(rows, baseline), baseline, k)
    return "\n".join(lines) + "\n"


def _baseline_tables(diffs: list[dict], baseline: str, k: int) -> list[str]:
    def cell(c: dict) -> str:
        lo, hi = c["ci95"] or (float("nan"), float("nan"))
        return f"{100 * c['change']:+.1f} [{100 * lo:+.1f}, {100 * hi:+.1f}]"

    lines = ["", f"End minus `{baseline}`'s end, same seed, paired over problems (points, 95% interval):", "",
             f"| arm | agent | seed | greedy | avg@{k} |", "|---|---|---|---|---|"]
    for d in sorted(diffs, key=lambda d: (d["arm"], d["agent"], d["seed"])):
        lines.append(f"| {d['arm']} | {d['agent']} | {d['seed']} | {cell(d['change']['greedy'])} | "
                     f"{cell(d['change']['avg_at_k'])} |")
    groups: dict[tuple[str, str], list[dict]] = {}
    for d in diffs:
        groups.setdefault((d["arm"], d["agent"]), []).append(d["change"])
    lines += ["", f"| arm | agent | seeds | mean greedy - {baseline} | mean avg@{k} - {baseline} "
                  f"| seeds with avg@{k} interval above 0 | below 0 |", "|---|---|---|---|---|---|---|"]
    for (arm, agent), cs in sorted(groups.items()):
        g = 100 * statistics.mean(c["greedy"]["change"] for c in cs)
        s = 100 * statistics.mean(c["avg_at_k"]["change"] for c in cs)
        above = sum(bool(c["avg_at_k"]["ci95"]) and c["avg_at_k"]["ci95"][0] > 0 for c in cs)
        below = sum(bool(c["avg_at_k"]["ci95"]) and c["avg_at_k"]["ci95"][1] < 0 for c in cs)
        lines.append(f"| {arm} | {agent} | {len(cs)} | {g:+.1f} | {s:+.1f} | {above} of {len(cs)} | {below} of {len(cs)} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    head, _, rest = __doc__.partition("\n\n")
    p = argparse.ArgumentParser(description=head, formatter_class=argparse.RawDescriptionHelpFormatter, epilog=rest)
    p.add_argument("runs", nargs="*", help="run dirs (each with config.yaml and checkpoints/)")
    p.add_argument("--out-dir", help="parent of <arm>-s<seed> run dirs (with --arms)")
    p.add_argument("--arms", help="comma-separated arms to take from --out-dir (default: every run dir there)")
    p.add_argument("--k", type=int, default=8, help="samples per problem for avg@k (default 8)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--n-problems", type=int, help="held-out problems (default: each run's eval size)")
    p.add_argument("--agents", help="comma-separated agent names to evaluate (default: all)")
    p.add_argument("--baseline", help="arm to compare every other arm's end with, per seed (e.g. gspo)")
    p.add_argument("--cache", help="folder keeping each evaluation, to resume or split the work")
    p.add_argument("--out", help="also write the markdown to this file")
    args = p.parse_args(argv)
    runs = [Path(r) for r in args.runs]
    if args.out_dir:
        arms = set(args.arms.split(",")) if args.arms else None
        runs += sorted(d for d in Path(args.out_dir).iterdir()
                       if (m := RUN_NAME.match(d.name)) and (arms is None or m["arm"] in arms))
    if not runs:
        p.error("no runs: pass run dirs or --out-dir")
    if args.k < 1:
        p.error(f"--k must be >= 1 (got {args.k}): avg@k needs at least one sample per problem")
    if args.n_problems is not None and args.n_problems < 1:
        p.error(f"--n-problems must be >= 1 (got {args.n_problems})")
    agents = set(args.agents.split(",")) if args.agents else None
    rows = reevaluate(runs, args.k, args.seed, n_problems=args.n_problems, agents=agents,
                      cache_dir=Path(args.cache) if args.cache else None)
    if not rows:
        p.error(f"no agent named {sorted(agents)} in these runs" if agents else "the runs have no agents")
    text = report(rows, args.k, args.baseline)
    print(text, end="")
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
