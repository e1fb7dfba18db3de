"""PNG plots of a run's metrics.jsonl: per-agent training reward and held-out eval accuracy, each
against the step and against the agent's cumulative generated tokens (its rollout cost: HACPO's
claim is "better at half the rollout cost", HACPO.md §4.3, so the cost axis is the fair one).

Drawn with matplotlib's object API on an Agg canvas (no pyplot): no display is needed and the
caller's backend and global figure state are left alone.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from hacrl_env.jsonl import iter_jsonl

PLOT_FILES = ("reward_vs_step.png", "reward_vs_tokens.png", "eval_vs_step.png", "eval_vs_tokens.png")
#: what each agent learned from whom (train/flow.py); drawn only when some learner had peer samples
FLOW_PLOT = "learned_from_whom.png"


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """metrics.jsonl rows merged by step (later keys win), sorted by step; [] when there is no
    file. A torn line (the process was killed mid-write) is skipped; any other bad line is a
    DataError naming file:line (RunDir.log writes strict JSON, NaN as null)."""
    by_step: dict[int, dict[str, Any]] = {}
    p = Path(path)
    if not p.is_file():
        return []
    for _, row in iter_jsonl(p, skip_torn=True):
        if isinstance(row.get("step"), int):
            by_step.setdefault(row["step"], {}).update(row)
    return [by_step[s] for s in sorted(by_step)]


def agent_names(rows: Iterable[dict[str, Any]]) -> list[str]:
    """Agents that logged `<agent>/reward` or `<agent>/eval/greedy_acc`, in first-seen order."""
    names: dict[str, None] = {}
    for row in rows:
        for key in row:
            for suffix in ("/reward", "/eval/greedy_acc"):
                if key.endswith(suffix) and key.count("/") == suffix.count("/"):
                    names.setdefault(key[: -len(suffix)])
    return list(names)


def series(rows: list[dict[str, Any]], key: str) -> tuple[list[int], list[float]]:
    """(steps, values) where `key` holds a finite number."""
    xs, ys = [], []
    for row in rows:
        v = row.get(key)
        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
            xs.append(row["step"])
            ys.append(float(v))
    return xs, ys


def tokens_at_steps(rows: list[dict[str, Any]], agent: str) -> dict[int, float] | None:
    """Cumulative generated tokens of `agent` at every step: `<agent>/cost/generated_tokens_total`
    when logged, else the running sum of `<agent>/cost/generated_tokens`; None if neither is."""
    total_key, step_key = f"{agent}/cost/generated_tokens_total", f"{agent}/cost/generated_tokens"
    if not any(total_key in r or step_key in r for r in rows):
        return None
    out, running = {}, 0.0
    for row in rows:
        if isinstance(row.get(total_key), (int, float)):
            running = float(row[total_key])
        elif isinstance(row.get(step_key), (int, float)):
            running += float(row[step_key])
        out[row["step"]] = running  # steps without a cost entry (e.g. eval at step 0) keep the last
    return out


def plot_metrics(metrics_path: str | Path, out_dir: str | Path) -> list[Path]:
    """Write the plots in PLOT_FILES, and FLOW_PLOT, that the logged metrics allow; returns the
    paths written."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows = read_metrics(metrics_path)
    agents = agent_names(rows)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    def draw(name: str, title: str, xlabel: str, ylabel: str, lines: list[tuple]) -> None:
        lines = [ln for ln in lines if ln[1]]
        if not lines:
            return
        fig = Figure(figsize=(6.4, 4.0), dpi=100)
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
        for label, xs, ys, style, band in lines:
            line = _plot(ax, xs, ys, style, label=label)
            if band is not None:
                ax.fill_between(xs, band[0], band[1], color=line.get_color(), alpha=0.15, lw=0)
        if any(ln[4] is not None for ln in lines):
            title += " (band: 95% Wilson CI)"
        ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
        ax.set_ylim(bottom=0)  # rewards and accuracies are >= 0; a floating axis exaggerates noise
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(out / name)
        written.append(out / name)

    for axis in ("step", "tokens"):
        reward_lines, eval_lines = [], []
        for agent in agents:
            tok = tokens_at_steps(rows, agent) if axis == "tokens" else None
            if axis == "tokens" and tok is None:
                continue

            def x_of(steps: list[int]) -> list[float]:
                return [tok[s] for s in steps] if tok is not None else list(steps)

            xs, ys = series(rows, f"{agent}/reward")
            reward_lines.append((agent, x_of(xs), ys, "-", None))
            xs, ys = series(rows, f"{agent}/eval/greedy_acc")
            band = _ci_band(rows, agent, xs)
            eval_lines.append((f"{agent} greedy", x_of(xs), ys, "-", band))
            xs, ys = series(rows, f"{agent}/eval/avg_at_k")
            eval_lines.append((f"{agent} avg@k", x_of(xs), ys, "--", None))
        xlabel = "training step" if axis == "step" else "generated tokens (cumulative, own rollouts)"
        draw(f"reward_vs_{axis}.png", "training reward (mean over own responses)", xlabel, "reward",
             reward_lines)
        draw(f"eval_vs_{axis}.png", "held-out accuracy", xlabel, "accuracy",
             eval_lines)
    if plot_flow(rows, agents, out / FLOW_PLOT):
        written.append(out / FLOW_PLOT)
    return written


def _plot(ax, xs, ys, style: str, **kwargs):
    """One line, with markers while there are few points (a 2-step run stays visible)."""
    (line,) = ax.plot(xs, ys, style, marker="o" if len(xs) < 30 else None, ms=3, **kwargs)
    return line


def flow_sources(rows: list[dict[str, Any]], agent: str) -> list[str]:
    """The sources `agent` logged `<agent>/flow/from/<source>/rows` for, in first-seen order."""
    head, tail = f"{agent}/flow/from/", "/rows"
    return list(dict.fromkeys(k[len(head):-len(tail)] for r in rows for k in r
                              if k.startswith(head) and k.endswith(tail)))


#: (metric, label, style, colour) of the advantage-mass panel
_SHARES = (("peer_pos_share_grad", "positive, rows with gradient", "-", "tab:green"),
           ("peer_pos_share", "positive, all rows", ":", "tab:green"),
           ("peer_neg_share_grad", "negative, rows with gradient", "-", "tab:red"),
           ("peer_neg_share", "negative, all rows", ":", "tab:red"))


def plot_flow(rows: list[dict[str, Any]], agents: list[str], path: Path) -> bool:
    """"What each agent learned from whom": per learner (one row of panels), over steps, its peer
    samples per source (dotted: all, solid: inside the cross window, i.e. carrying gradient) and
    the peers' share of its positive / negative advantage mass. False (nothing written) when no
    agent logged flow metrics (gspo, grpo: nothing was shared)."""
    learners = [a for a in agents if series(rows, f"{a}/flow/cross_rows")[0]]
    if not learners:
        return False
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11.0, 3.2 * len(learners)), dpi=100)
    FigureCanvasAgg(fig)
    for (counts, shares), agent in zip(fig.subplots(len(learners), 2, squeeze=False), learners):
        for source in flow_sources(rows, agent):
            line = _plot(counts, *series(rows, f"{agent}/flow/from/{source}/in_window"), "-",
                         label=f"{source}: in window")
            _plot(counts, *series(rows, f"{agent}/flow/from/{source}/rows"), ":", color=line.get_color(),
                  label=f"{source}: all")
        counts.set(title=f"{agent}: peer samples in its update", xlabel="training step", ylabel="samples")
        counts.set_ylim(bottom=0)
        for key, label, style, colour in _SHARES:
            xs, ys = series(rows, f"{agent}/flow/{key}")
            if xs:
                _plot(shares, xs, ys, style, color=colour, label=label)
        shares.set(title=f"{agent}: peers' share of its advantage mass", xlabel="training step", ylabel="share",
                   ylim=(0, 1.02))
        for ax in (counts, shares):
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7)
    fig.suptitle("what each agent learned from whom")
    fig.tight_layout()
    fig.savefig(path)
    return True


def _ci_band(rows: list[dict[str, Any]], agent: str, steps: list[int]) -> tuple[list, list] | None:
    lo_key, hi_key = f"{agent}/eval/greedy_ci_low", f"{agent}/eval/greedy_ci_high"
    by_step = {r["step"]: r for r in rows}
    if not steps or not all(lo_key in by_step[s] and hi_key in by_step[s] for s in steps):
        return None
    return [by_step[s][lo_key] for s in steps], [by_step[s][hi_key] for s in steps]
