"""The end of a run: each agent's held-out accuracy from start to end, with paired intervals."""

from __future__ import annotations


def accuracy_changes(start: dict[str, dict], end: dict[str, dict]) -> dict[str, dict]:
    """Per agent and metric ("greedy", "avg_at_k"): start, end, change and its paired 95% interval
    (None where per-problem scores are missing, e.g. a checkpoint from before they were kept)."""
    from train.evaluate import paired_change

    out = {}
    for name, e in end.items():
        s = start.get(name, {})
        out[name] = {}
        for metric, acc_key, rows_key in (("greedy", "accuracy", "greedy_correct"),
                                          ("avg_at_k", "avg_at_k", "sampled_acc")):
            a0, a1 = s.get(acc_key), e.get(acc_key)
            if a0 is None or a1 is None:
                continue
            r0, r1 = s.get(rows_key) or [], e.get(rows_key) or []
            ci = list(paired_change(r0, r1)[1:]) if len(r0) == len(r1) >= 2 else None
            out[name][metric] = {"start": a0, "end": a1, "change": a1 - a0, "ci95": ci}
    return out


def print_summary(summary: dict) -> None:
    """Start -> end held-out accuracy of every agent, greedy pass@1 and sampled avg@k (the two
    can move differently: RL sharpens sampling before it changes the greedy answer), each change
    with its paired 95% interval; "up"/"down" marks an interval that excludes 0."""
    print(f"\nresults in {summary['run_dir']} (summary.json, metrics.jsonl, config.yaml, checkpoints/, plots)")
    print(f"{'agent':<10} {'metric':<9} {'start -> end':>15} {'change':>8}  {'95% CI (paired)':<18}  (held-out)")
    for name, metrics in summary["change"].items():
        for metric, r in metrics.items():
            ci, verdict = r["ci95"], ""
            if ci is not None:
                verdict = "up" if ci[0] > 0 else "down" if ci[1] < 0 else "within noise"
            ci_text = f"[{ci[0]:+.3f}, {ci[1]:+.3f}]" if ci is not None else "n/a"
            print(f"{name:<10} {metric:<9} {r['start']:>6.3f} -> {r['end']:.3f} {r['change']:>+8.3f}  "
                  f"{ci_text:<18}  {verdict}")
    for name, totals in summary.get("flow", {}).items():
        print(flow_line(name, totals))


def flow_line(name: str, totals: dict) -> str:
    """One agent's run in a line, from `train.flow.run_totals` (the gradient-carrying positive
    share, the peer samples inside the cross window, the all-wrong prompts a peer solved)."""
    def pct(x: float | None) -> str:
        return "n/a" if x is None else f"{100 * x:.0f}%"

    rescued = ("no all-wrong prompt" if totals["rescued"] is None
               else f"rescued {pct(totals['rescued'])} of its all-wrong prompts")
    return (f"{name} learned from peers: {pct(totals['pos_share_grad'])} of its positive advantage mass, "
            f"{pct(totals['in_window'])} of peer samples inside the window, {rescued}")
