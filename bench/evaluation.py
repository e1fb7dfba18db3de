"""How long one periodic evaluation takes, and what batching across problems buys.

    python bench/evaluation.py                       # the default run's agents and eval settings
    python bench/evaluation.py --untrained --n 64    # no warm start needed (random weights)
    taskset -c 0,1 python bench/evaluation.py --untrained --env gsm8k-v0 --threads 2 --baseline-n 10

The training loop evaluates every agent on `env.eval_size` problems (greedy + `eval_k` samples)
every `eval_every` steps, so this cost recurs. Prints a markdown table: seconds per evaluation
for each prompt batch size; batch 1 (one problem per generate call) is the unbatched baseline,
timed on fewer problems and scaled per problem.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default="tiny-llama-bpe,tiny-qwen2-char")
    ap.add_argument("--env", default="rg-chain_sum-v0")
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--k", type=int, default=4)
    ap.add_argument("--max-new-tokens", type=int, default=24)
    ap.add_argument("--batch-sizes", default="1,16,64,200")
    ap.add_argument("--baseline-n", type=int, default=20, help="problems timed at batch size 1")
    ap.add_argument("--untrained", action="store_true", help="random-weight zoo agents (no warm start)")
    ap.add_argument("--device", default=None)
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (2 = the project's CI box)")
    args = ap.parse_args()

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    import agents
    import hacrl_env
    from agents.zoo import build_untrained
    from train.config import TrainConfig
    from train.evaluate import evaluate_agent

    kwargs = dict(TrainConfig().env.kwargs) if args.env == TrainConfig().env.id else {}
    env = hacrl_env.make_single(args.env, split="test", **kwargs)
    # untrained tokenizers are fitted on this env's own prompts, so any env works offline
    corpus = [env.problem(i).prompt for i in range(min(300, env.num_problems))]
    print(f"torch threads {torch.get_num_threads()}, cpus {os.cpu_count()}, device {args.device or 'auto'}, "
          f"env {args.env}, n={args.n}, k={args.k}, max_new_tokens={args.max_new_tokens}, "
          f"untrained={args.untrained}")
    print("| agent | batch | problems | seconds | s/problem | generate s | verify s | greedy acc |")
    print("|---|---|---|---|---|---|---|---|")
    for name in args.models.split(","):
        agent = (build_untrained(name, corpus=corpus, device=args.device) if args.untrained
                 else agents.load(name, device=args.device))
        for bs in (int(b) for b in args.batch_sizes.split(",")):
            n = args.baseline_n if bs == 1 else args.n
            t = time.perf_counter()
            r = evaluate_agent(agent, args.env, "test", env_kwargs=kwargs, n_problems=n, k=args.k,
                               max_new_tokens=args.max_new_tokens, batch_size=bs)
            sec = time.perf_counter() - t
            print(f"| {name} | {bs} | {r['n']} | {sec:.2f} | {sec / r['n']:.4f} | {r['time/generate']:.2f} "
                  f"| {r['time/verify']:.2f} | {r['accuracy']:.3f} |", flush=True)


if __name__ == "__main__":
    main()
