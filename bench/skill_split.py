"""Which kinds of chain problems each of two agents solves: greedy and avg@k per kind, and overlap.

    python bench/skill_split.py                                           # configs/skill_split.yaml's pair
    python bench/skill_split.py --models tiny-llama-bpe,tiny-qwen2-char   # the default pair
    python bench/skill_split.py --models runs/<run>/checkpoints/step_150/llama,runs/<run>/checkpoints/step_150/qwen2
    python bench/skill_split.py --split length                            # 2 terms vs 3 terms

Each agent is evaluated alone by `train.evaluate.evaluate_agent` (the trainer's own evaluation and
grader) on the held-out split of rg-chain_sum-v0 with the default task options; every problem is
then put in one kind: "add" (only '+') or "sub" (at least one '-'), or with `--split length`
"short" (2 terms) or "long" (3 terms) (`agents.zoo_task.problem_kinds`). Prints a markdown table of
accuracy per agent and kind, and how many problems (greedy) both, only one or neither agent solves.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PARTITIONS = {"operator": ("add", "sub"), "length": ("short", "long")}


def split_rows(results: dict[str, dict[str, Any]], prompts: dict[int, str], kinds: tuple[str, ...]) -> dict:
    """Per agent and kind: (n, greedy accuracy, avg@k); per kind: problems solved (greedy) by both,
    by each agent only, by neither. `results` maps an agent's name to its `evaluate_agent` result
    (all on the same problems); `prompts` maps a problem index to its prompt."""
    from agents.zoo_task import problem_kinds

    names = list(results)
    first = results[names[0]]["per_problem"]
    kind_of = {}
    for row in first:
        found = [k for k in kinds if k in problem_kinds(prompts[row["index"]])]
        kind_of[row["index"]] = found[0] if found else "other"
    groups = [*kinds, "all"]
    acc: dict = {}
    for name, res in results.items():
        rows = {r["index"]: r for r in res["per_problem"]}
        if set(rows) != set(kind_of):
            raise ValueError("every agent must be evaluated on the same problems")
        for g in groups:
            sel = [r for i, r in rows.items() if g == "all" or kind_of[i] == g]
            greedy = sum(r["greedy_correct"] for r in sel) / max(1, len(sel))
            avg = sum(r["sampled_acc"] for r in sel) / max(1, len(sel)) if sel and "sampled_acc" in sel[0] else None
            acc[name, g] = (len(sel), greedy, avg)
    overlap: dict = {}
    if len(names) == 2:
        a = {r["index"]: bool(r["greedy_correct"]) for r in results[names[0]]["per_problem"]}
        b = {r["index"]: bool(r["greedy_correct"]) for r in results[names[1]]["per_problem"]}
        for g in groups:
            idx = [i for i in kind_of if g == "all" or kind_of[i] == g]
            overlap[g] = {"n": len(idx), "both": sum(a[i] and b[i] for i in idx),
                          f"{names[0]} only": sum(a[i] and not b[i] for i in idx),
                          f"{names[1]} only": sum(b[i] and not a[i] for i in idx),
                          "neither": sum(not a[i] and not b[i] for i in idx)}
    return {"names": names, "groups": groups, "acc": acc, "overlap": overlap}


def print_tables(table: dict, k: int) -> None:
    names, groups = table["names"], table["groups"]
    print(f"| agent | " + " | ".join(f"{g} (n={table['acc'][names[0], g][0]}) greedy / avg@{k}" for g in groups) + " |")
    print("|---" * (len(groups) + 1) + "|")
    for name in names:
        cells = []
        for g in groups:
            _, greedy, avg = table["acc"][name, g]
            cells.append(f"{greedy:.3f} / {avg:.3f}" if avg is not None else f"{greedy:.3f}")
        print(f"| {name} | " + " | ".join(cells) + " |")
    if table["overlap"]:
        cols = [c for c in table["overlap"]["all"] if c != "n"]
        print()
        print("| kind | n | " + " | ".join(cols) + " | exactly one |")
        print("|---" * (len(cols) + 3) + "|")
        for g, row in table["overlap"].items():
            one = row[cols[1]] + row[cols[2]]
            print(f"| {g} | {row['n']} | " + " | ".join(str(row[c]) for c in cols)
                  + f" | {one} ({one / max(1, row['n']):.1%}) |")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default="tiny-llama-bpe-add,tiny-qwen2-char-sub",
                    help="comma-separated zoo names or model dirs (two for the overlap table)")
    ap.add_argument("--split", default="operator", choices=sorted(PARTITIONS), help="how to group problems")
    ap.add_argument("--n", type=int, default=200, help="held-out problems (200 = the whole test split)")
    ap.add_argument("--k", type=int, default=32, help="samples per problem for avg@k (0 = greedy only)")
    ap.add_argument("--max-new-tokens", type=int, default=28, help="the default run's agents.N.max_new_tokens")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = ap.parse_args(argv)

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    import agents
    import hacrl_env
    from agents.zoo_task import WARMSTART_ENV_ID, WARMSTART_TASK_KWARGS
    from train.evaluate import evaluate_agent

    env = hacrl_env.make_single(WARMSTART_ENV_ID, split="test", **WARMSTART_TASK_KWARGS)
    prompts = {i: env.problem(i).prompt for i in range(env.num_problems)}
    results = {}
    for model in args.models.split(","):
        agent = agents.load(model)
        name = Path(model.rstrip("/")).name
        if name in results:  # two checkpoints of one role, e.g. step_0/llama and step_150/llama
            name = model
        results[name] = evaluate_agent(agent, WARMSTART_ENV_ID, "test", env_kwargs=dict(WARMSTART_TASK_KWARGS),
                                       n_problems=args.n, k=args.k, max_new_tokens=args.max_new_tokens,
                                       seed=args.seed)
    print(f"{WARMSTART_ENV_ID}/test {WARMSTART_TASK_KWARGS}, n={args.n}, k={args.k}, "
          f"max_new_tokens={args.max_new_tokens}, seed={args.seed}, torch threads {torch.get_num_threads()}")
    print_tables(split_rows(results, prompts, PARTITIONS[args.split]), args.k)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
