"""Re-evaluate finished runs: every agent's latest checkpoint against the model it started from,
on the run's own held-out set, with k samples per problem and a paired 95% CI on the change.

Why: a sweep may have been run with a noisy in-training eval (avg@1 on 200 problems), and greedy
pass@1 churns between nearby checkpoints. Re-reading the end points with avg@k (k=8) and a paired
interval says which start -> end gains are clear, without retraining anything.

Run: python bench/reeval.py runs/collab/hacpo-s0 runs/collab/gspo-s0 ...   (any run dirs)
     python bench/reeval.py --out-dir runs/collab --arms hacpo,gspo,gspo2x --k 8 --out docs/reeval.md

Each run's config.yaml supplies the env, eval split and size, verifier, max_new_tokens and the
agent's sampling temperature/top_p, so the numbers compare with what the run logged. Sampling is
seeded (--seed), and a starting model shared by several runs is evaluated once.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make `import train.x` work from a clone
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.collab_report import RUN_NAME  # noqa: E402


def _agent_eval(model: str, settings: dict) -> dict:
    import agents as agents_lib

    from train.evaluate import evaluate_agent, scores

    return scores(evaluate_agent(agents_lib.load(model), **settings))


def reevaluate(run_dirs: list[Path], k: int = 8, seed: int = 0) -> list[dict]:
    """One row per (run, agent): {"run", "agent", "change": accuracy_changes(...)[agent]}."""
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
            settings = eval_settings(cfg, i, k=k, seed=seed)
            key = (a.model, repr(sorted(settings.items())))
            if key not in start_cache:
                start_cache[key] = _agent_eval(a.model, settings)
            end = _agent_eval(str(ckpt / a.name), settings)
            out.append({"run": run.name, "agent": a.name,
                        "change": accuracy_changes({a.name: start_cache[key]}, {a.name: end})[a.name]})
    return out


def report(rows: list[dict], k: int) -> str:
    """Markdown: per run and agent, greedy and avg@k start -> end with the paired interval; then
    per arm (run dirs named <arm>-s<seed>) the mean change over seeds."""
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
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    head, _, rest = __doc__.partition("\n\n")
    p = argparse.ArgumentParser(description=head, formatter_class=argparse.RawDescriptionHelpFormatter, epilog=rest)
    p.add_argument("runs", nargs="*", help="run dirs (each with config.yaml and checkpoints/)")
    p.add_argument("--out-dir", help="parent of <arm>-s<seed> run dirs (with --arms)")
    p.add_argument("--arms", help="comma-separated arms to take from --out-dir (default: every run dir there)")
    p.add_argument("--k", type=int, default=8, help="samples per problem for avg@k (default 8)")
    p.add_argument("--seed", type=int, default=0)
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
    text = report(reevaluate(runs, args.k, args.seed), args.k)
    print(text, end="")
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
