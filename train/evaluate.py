"""Held-out evaluation of ONE agent alone: greedy pass@1 with a Wilson 95% CI, and sampled avg@k.

    res = evaluate_agent(agent, "gsm8k-v0", "test", n_problems=200, k=4, max_new_tokens=256)
    python train/evaluate.py --model tiny-llama-bpe --env rg-chain_sum-v0 --split test --n 200
    python train/evaluate.py --model runs/<run>/checkpoints/step_40/llama --env gsm8k-v0 --n 50 --out r.jsonl

Generation is batched across problems (`batch_size` prompts of similar length per
`agent.generate` call); grading goes through the single-agent env (`hacrl_env.make_single`):
one `step` per problem verifies its greedy response and its k samples together, so evaluation
uses exactly the training reward.
The problems are a fixed subset of the split (independent of `seed`), so numbers from different
steps and runs are comparable.
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: make `import train.x` work from a clone
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

Z_95 = 1.959963984540054  # two-sided 95% normal quantile


def wilson_interval(successes: float, n: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (better than the normal interval near 0/1
    and for small n, where eval sets on a CPU live)."""
    if n <= 0:
        return 0.0, 1.0
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    # exact ends at 0/n and n/n (the formula gives them only up to rounding)
    lo = 0.0 if successes <= 0 else max(0.0, centre - half)
    hi = 1.0 if successes >= n else min(1.0, centre + half)
    return lo, hi


def paired_change(before: list[float], after: list[float], z: float = Z_95) -> tuple[float, float, float]:
    """Change in accuracy on the SAME problems, with its paired normal 95% interval.

    d_i = after_i - before_i per problem (0/1 for greedy, a fraction for avg@k);
    change = mean(d), interval = change -/+ z * sd(d) / sqrt(n) (sd with n-1). Pairing removes
    the problem-difficulty variance that two independent Wilson intervals would count twice, so
    a start -> end gain can be called clear (interval above 0) on a 200-problem eval set.
    """
    if len(before) != len(after) or len(before) < 2:
        raise ValueError(f"paired_change needs two equal-length lists of >= 2 per-problem scores "
                         f"(got {len(before)} and {len(after)}): evaluate both on the same problems")
    d = np.asarray(after, dtype=float) - np.asarray(before, dtype=float)
    change = float(d.mean())
    half = z * float(d.std(ddof=1)) / math.sqrt(len(d))
    return change, change - half, change + half


def eval_indices(num_problems: int, n: int) -> list[int]:
    """A fixed subset of n problem indices: a permutation with a constant seed, so a subset spans
    the whole split (MATH's test file is ordered by subject) yet never changes between calls."""
    if n >= num_problems:
        return list(range(num_problems))
    return sorted(int(i) for i in np.random.default_rng(0).permutation(num_problems)[:n])


def default_batch_size(agent: Any, prompts: list[str]) -> int:
    """Prompts per generate call. GPU: 256 (an H100 got faster per problem up to 200+). CPU:
    about 8000 prompt characters per call, 8..128 prompts: on 2 threads short rg prompts (~110
    chars) were fastest at 64-200 and GSM8K's (~280) at 16, slower at 64 (docs/evaluation.md)."""
    device = getattr(agent, "device", None)
    if device is not None and getattr(device, "type", str(device)) != "cpu":
        return 256
    median = sorted(len(p) for p in prompts)[len(prompts) // 2] if prompts else 1
    return max(8, min(128, 8000 // max(1, median)))


def evaluate_agent(agent: Any, env_id: str, split: str = "test", *, env_kwargs: dict | None = None,
                   n_problems: int = 200, k: int = 4, greedy: bool = True, max_new_tokens: int = 256,
                   seed: int = 0, temperature: float = 1.0, top_p: float = 1.0,
                   batch_size: int | None = None, verifier: str | None = None) -> dict[str, Any]:
    """Evaluate `agent` (an `agents.LLMAgent`) on `n_problems` of `env_id`/`split`.

    Returns {accuracy, ci_low, ci_high, avg_at_k, n, k, per_problem, ...}: accuracy is greedy
    pass@1 with its Wilson 95% CI; avg_at_k is the mean correctness of k samples at
    `temperature` (None when k == 0). With greedy=False, accuracy is avg@k and the CI treats
    each problem's average as one trial (conservative). per_problem: one dict per problem.
    batch_size: prompts per generate call; None = `default_batch_size`.
    """
    import hacrl_env

    if n_problems < 1 or k < 0 or (not greedy and k == 0):
        raise ValueError(f"need n_problems >= 1 and k >= 0 with greedy or k >= 1 (got n_problems="
                         f"{n_problems}, k={k}, greedy={greedy})")
    if batch_size is not None and batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    start = time.perf_counter()
    env = hacrl_env.make_single(env_id, split=split, verifier=verifier, **(env_kwargs or {}))
    indices = eval_indices(env.num_problems, n_problems)
    problems = [env.problem(i) for i in indices]
    prompts = [p.prompt for p in problems]
    if batch_size is None:
        batch_size = default_batch_size(agent, prompts)

    t_gen = time.perf_counter()
    greedy_samples, sampled = _generate(agent, prompts, batch_size, greedy=greedy, k=k, max_new_tokens=max_new_tokens,
                                        seed=seed, temperature=temperature, top_p=top_p)
    t_gen = time.perf_counter() - t_gen

    t_ver = time.perf_counter()
    rows = [_grade(env, problem, g, ss, greedy=greedy, k=k)
            for problem, g, ss in zip(problems, greedy_samples, sampled)]
    t_ver = time.perf_counter() - t_ver

    n = len(rows)
    avg_at_k = sum(r["sampled_acc"] for r in rows) / n if k else None
    accuracy = sum(r["greedy_correct"] for r in rows) / n if greedy else avg_at_k
    assert accuracy is not None
    ci_low, ci_high = wilson_interval(accuracy * n, n)
    lengths = [r["greedy_tokens"] for r in rows] if greedy else [t for r in rows for t in r["sampled_tokens"]]
    return {
        "accuracy": accuracy, "ci_low": ci_low, "ci_high": ci_high, "avg_at_k": avg_at_k, "n": n, "k": k,
        "greedy": greedy, "env_id": env_id, "split": split, "batch_size": batch_size,
        "mean_tokens": sum(lengths) / max(1, len(lengths)),
        "time/generate": t_gen, "time/verify": t_ver, "time/total": time.perf_counter() - start,
        "per_problem": rows,
    }


def _generate(agent: Any, prompts: list[str], batch_size: int, *, greedy: bool, k: int, max_new_tokens: int,
              seed: int, temperature: float, top_p: float) -> tuple[list[list[Any]], list[list[Any]]]:
    """Each prompt's greedy sample (a list of one, or empty without `greedy`) and its k samples,
    generated `batch_size` prompts at a time."""
    greedy_samples: list[list[Any]] = [[] for _ in prompts]
    sampled: list[list[Any]] = [[] for _ in prompts]
    # Chunks of similar prompt length: a left-padded batch costs its longest prompt, and GSM8K /
    # MATH prompt lengths vary several-fold.
    order = sorted(range(len(prompts)), key=lambda i: (len(prompts[i]), i))
    for lo in range(0, len(order), batch_size):
        ids = order[lo:lo + batch_size]
        chunk = [prompts[i] for i in ids]
        if greedy:
            for i, s in zip(ids, agent.generate(chunk, n=1, greedy=True, max_new_tokens=max_new_tokens)):
                greedy_samples[i] = s
        if k:
            # seed per chunk: the same (seed, batch_size) reproduces the same samples
            out = agent.generate(chunk, n=k, temperature=temperature, top_p=top_p,
                                 max_new_tokens=max_new_tokens, seed=seed + lo)
            for i, s in zip(ids, out):
                sampled[i] = s
    return greedy_samples, sampled


def _grade(env: Any, problem: Any, g: list[Any], ss: list[Any], *, greedy: bool, k: int) -> dict[str, Any]:
    """One problem's row: its greedy response and k samples graded by the env in one step."""
    responses = [s.text for s in g + ss]
    env.reset(options={"index": problem.index})
    _, _, _, _, info = env.step(responses)  # one verifier batch: greedy + k samples
    correct = [bool(c) for c in info["correct"]]
    row: dict[str, Any] = {"index": problem.index, "problem_id": problem.id, "answer": problem.answer}
    if greedy:
        row.update(greedy_correct=correct[0], greedy_response=g[0].text,
                   greedy_extracted=info["extracted"][0], greedy_reason=info["reasons"][0],
                   greedy_tokens=g[0].num_tokens, greedy_finished=g[0].finished)
    if k:
        off = 1 if greedy else 0
        row.update(sampled_correct=correct[off:], sampled_acc=sum(correct[off:]) / k,
                   sampled_responses=[s.text for s in ss],
                   sampled_extracted=info["extracted"][off:],
                   sampled_tokens=[s.num_tokens for s in ss])
    return row


def scores(result: dict[str, Any]) -> dict[str, Any]:
    """The compact part of an `evaluate_agent` result a trainer keeps: accuracy, its CI, avg@k, n,
    and the per-problem scores (`greedy_correct` 0/1, `sampled_acc`) a paired change needs."""
    rows = result["per_problem"]
    out = {key: result[key] for key in ("accuracy", "ci_low", "ci_high", "avg_at_k", "n")}
    out["greedy_correct"] = [int(r["greedy_correct"]) for r in rows if "greedy_correct" in r]
    out["sampled_acc"] = [r["sampled_acc"] for r in rows if "sampled_acc" in r]
    return out


def save_results(result: dict[str, Any], path: str | Path, **meta: Any) -> Path:
    """Per-problem rows as JSONL (one problem per line), plus `<path>.summary.json` with the rest."""
    import json

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for row in result["per_problem"]:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    summary = {**meta, **{key: v for key, v in result.items() if key != "per_problem"}}
    path.with_name(path.name + ".summary.json").write_text(json.dumps(summary, indent=1), encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="zoo name (agents.available()), model/checkpoint dir, or hub id")
    ap.add_argument("--env", default="gsm8k-v0", help="env id, e.g. gsm8k-v0, math500-v0, rg-chain_sum-v0")
    ap.add_argument("--split", default="test")
    ap.add_argument("--n", type=int, default=200, help="problems (a fixed subset of the split)")
    ap.add_argument("--k", type=int, default=4, help="samples per problem for avg@k (0 = greedy only)")
    ap.add_argument("--no-greedy", action="store_true", help="skip greedy pass@1")
    ap.add_argument("--max-new-tokens", type=int, default=256)
    ap.add_argument("--temperature", type=float, default=1.0)
    ap.add_argument("--top-p", type=float, default=1.0)
    ap.add_argument("--batch-size", type=int, default=None,
                    help="prompts per generate call (default 16 on CPU, 256 on GPU)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default=None, help="cpu, cuda, ...; default cuda if available")
    ap.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
    ap.add_argument("--generation-precision", default=None, choices=["fp32", "bf16", "int8"],
                    help="sample through this approximate sampler instead (default: --precision), to see "
                         "what a run's agents.N.generation_precision does to accuracy")
    ap.add_argument("--verifier", default=None, help="verifier name overriding the env's default")
    ap.add_argument("--env-kwarg", action="append", default=[], metavar="KEY=VALUE",
                    help="task kwarg for the env (repeatable), e.g. --env-kwarg max_digits=1")
    ap.add_argument("--out", default=None, help="per-problem JSONL (default: eval-<model>-<env>-<split>.jsonl)")
    args = ap.parse_args(argv)

    import agents

    try:
        env_kwargs = _parse_kwargs(args.env_kwarg)
        agent = agents.load(args.model, device=args.device, precision=args.precision,
                            generation_precision=args.generation_precision)
        res = evaluate_agent(agent, args.env, args.split, env_kwargs=env_kwargs, n_problems=args.n, k=args.k,
                             greedy=not args.no_greedy, max_new_tokens=args.max_new_tokens, seed=args.seed,
                             temperature=args.temperature, top_p=args.top_p, batch_size=args.batch_size,
                             verifier=args.verifier)
    except (OSError, KeyError, ValueError, TypeError) as exc:  # bad model/env/split/kwargs: say which
        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"error: {msg}", file=sys.stderr)
        return 2
    stem = Path(str(args.model).rstrip("/")).name
    out = Path(args.out or f"eval-{stem}-{args.env}-{args.split}.jsonl")
    save_results(res, out, model=args.model, env_kwargs=env_kwargs, seed=args.seed,
                 max_new_tokens=args.max_new_tokens, temperature=args.temperature)
    kind = "greedy pass@1" if res["greedy"] else f"avg@{res['k']}"
    print(f"{args.model} on {args.env}/{args.split} (n={res['n']}): {kind} {res['accuracy']:.3f} "
          f"[95% CI {res['ci_low']:.3f}, {res['ci_high']:.3f}]"
          + (f"; avg@{res['k']} {res['avg_at_k']:.3f}" if res["avg_at_k"] is not None and res["greedy"] else "")
          + f"; {res['time/total']:.1f}s")
    print(f"per-problem results: {out}")
    return 0


def _parse_kwargs(items: list[str]) -> dict[str, Any]:
    import yaml

    out = {}
    for item in items:
        if "=" not in item:
            raise ValueError(f"--env-kwarg {item!r} must be KEY=VALUE, e.g. --env-kwarg max_digits=1")
        key, value = item.split("=", 1)
        out[key.strip()] = yaml.safe_load(value)  # numbers, bools, lists; plain text stays a str
    return out


if __name__ == "__main__":
    raise SystemExit(main())
