"""Arm against baseline on the same held-out problems: paired 95% intervals per agent and seed.

Two runs of one seed evaluate every agent at the end on the same problems with the same sampling
seeds (the eval seed derives from the run seed and the agent), so each problem gives one paired
difference of avg@k (and of greedy correctness). This reads the per-problem scores from each run's
last checkpoint (`trainer_state.pt`: `last_eval`), so it needs runs saved at their end (the
default) and nothing else: no model is loaded.

At equal steps hacpo, gspo, one_way and the variants have generated about the same tokens (each
agent G responses per prompt per step); gspo2x has generated twice as many. The table gives each
arm's generated tokens relative to the baseline's, per agent.

Run: python bench/collab_paired.py --runs runs/collab --baseline gspo --arms hacpo,gspo2x,one_way
     python bench/collab_paired.py --runs runs/a --runs runs/b --baseline gspo --out docs/x.md
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make `import train.x` work from a clone
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.collab_report import RUN_NAME  # noqa: E402


def final_eval(run_dir: Path) -> tuple[int, dict, dict]:
    """(step, {agent: last_eval}, {agent: generated tokens}) of the run's newest checkpoint."""
    import torch

    steps = sorted(run_dir.glob("checkpoints/step_*/trainer_state.pt"), key=lambda p: int(p.parent.name[5:]))
    if not steps:
        raise FileNotFoundError(f"{run_dir}: no checkpoints/step_*/trainer_state.pt; was the run finished and saved?")
    state = torch.load(steps[-1], weights_only=False)["trainer"]
    return state["step"], state["last_eval"], state["generated_tokens_total"]


def find_runs(dirs: list[str]) -> tuple[dict[tuple[str, int], Path], list[str]]:
    """({(arm, seed): finished run dir}, names of unfinished ones) over the sweep directories (a
    later directory wins a clash). Finished = it wrote summary.json (train.loop.finish_run)."""
    out, unfinished = {}, []
    for d in dirs:
        for p in sorted(Path(d).iterdir()):
            m = RUN_NAME.match(p.name)
            if m and p.is_dir():
                if (p / "summary.json").is_file():
                    out[(m["arm"], int(m["seed"]))] = p
                else:
                    unfinished.append(p.name)
    return out, unfinished


def paired_rows(runs: dict[tuple[str, int], Path], arms: list[str], baseline: str) -> list[dict]:
    """One row per (arm, agent, seed): the arm's end accuracy minus the baseline's, paired."""
    from train.evaluate import paired_change

    rows = []
    seeds = sorted({s for (a, s) in runs if a == baseline})
    for arm in arms:
        for seed in seeds:
            if (arm, seed) not in runs:
                continue
            step_b, base, tok_b = final_eval(runs[(baseline, seed)])
            step_a, mine, tok_a = final_eval(runs[(arm, seed)])
            for agent in base:
                if agent not in mine:
                    continue
                row = {"arm": arm, "agent": agent, "seed": seed, "steps": (step_a, step_b),
                       "tokens": tok_a.get(agent, 0) / max(tok_b.get(agent, 1), 1)}
                for key, name in (("sampled_acc", "avg"), ("greedy_correct", "greedy")):
                    b, a = base[agent][key], mine[agent][key]
                    if len(a) != len(b):
                        raise ValueError(f"{arm}-s{seed} and {baseline}-s{seed} evaluated {agent} on "
                                         f"{len(a)} and {len(b)} problems: not the same held-out set")
                    row[name] = paired_change(list(map(float, b)), list(map(float, a)))
                    row[f"{name}_end"] = sum(map(float, a)) / len(a)
                rows.append(row)
    return rows


def report(rows: list[dict], baseline: str) -> str:
    lines = [f"| arm | agent | seed | avg@k end | avg@k - {baseline} [95% paired] | greedy - {baseline} [95% paired] "
             f"| tokens / {baseline} | steps |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        (d, lo, hi), (gd, glo, ghi) = r["avg"], r["greedy"]
        mark = " **above 0**" if lo > 0 else (" below 0" if hi < 0 else "")
        lines.append(f"| {r['arm']} | {r['agent']} | {r['seed']} | {r['avg_end']:.3f} | {100 * d:+.1f} "
                     f"[{100 * lo:+.1f}, {100 * hi:+.1f}]{mark} | {100 * gd:+.1f} [{100 * glo:+.1f}, {100 * ghi:+.1f}] "
                     f"| {r['tokens']:.2f} | {r['steps'][0]} / {r['steps'][1]} |")
    lines += ["", f"Mean over seeds, avg@k - {baseline} (points), and on how many seeds the interval is above 0:", "",
              "| arm | agent | mean | min | max | seeds above 0 |", "|---|---|---|---|---|---|"]
    keys = dict.fromkeys((r["arm"], r["agent"]) for r in rows)
    for arm, agent in keys:
        these = [r for r in rows if (r["arm"], r["agent"]) == (arm, agent)]
        diffs = [100 * r["avg"][0] for r in these]
        above = sum(r["avg"][1] > 0 for r in these)
        lines.append(f"| {arm} | {agent} | {statistics.mean(diffs):+.1f} | {min(diffs):+.1f} | {max(diffs):+.1f} "
                     f"| {above} of {len(these)} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> str:
    head, _, rest = __doc__.partition("\n\n")
    p = argparse.ArgumentParser(description=head, epilog=rest, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", action="append", required=True, help="a sweep directory of <arm>-s<seed> runs (repeatable)")
    p.add_argument("--baseline", default="gspo")
    p.add_argument("--arms", help="comma list (default: every arm found but the baseline)")
    p.add_argument("--out", help="also write the markdown to this file")
    args = p.parse_args(argv)
    runs, unfinished = find_runs(args.runs)
    if not any(a == args.baseline for a, _ in runs):
        p.error(f"no {args.baseline}-s<seed> run in {args.runs}")
    arms = [a.strip() for a in args.arms.split(",")] if args.arms else sorted({a for a, _ in runs} - {args.baseline})
    text = report(paired_rows(runs, arms, args.baseline), args.baseline)
    if unfinished:
        text += f"\nNot finished (left out): {', '.join(unfinished)}\n"
    print(text)
    if args.out:  # a page of docs: say what it is and what made it
        command = "python bench/collab_paired.py " + " ".join(argv if argv is not None else sys.argv[1:])
        Path(args.out).write_text(f"# Arms against {args.baseline}, per agent and seed (paired on the same problems)\n\n"
                                  f"Made by `{command}`; how to read it: the docstring of bench/collab_paired.py "
                                  f"and docs/results.md.\n\n{text}")
    return text


if __name__ == "__main__":
    main()
