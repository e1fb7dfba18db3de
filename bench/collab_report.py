"""Analysis half of bench/collab.py: read finished run dirs, compare arms per agent, print the
markdown report and draw the PNGs. Works from run dirs alone (no training code is imported).

Run dirs are `<out_dir>/<arm>-s<seed>/` holding `config.yaml` and `metrics.jsonl` as written by
`train.loop.train`. For every agent:

  equal steps   held-out greedy accuracy (and avg@k) at each eval step, mean and spread over seeds;
  equal tokens  each run's (generated tokens, accuracy) eval points are linearly interpolated onto
                a common token axis (the agent's own `cost/generated_tokens_total`), and arms are
                compared at the largest budget every run reaches (no extrapolation);
  claims        "HACPO beats GSPO" (equal steps and equal tokens) and "HACPO >= GSPO x2 at half
                the tokens" (HACPO after N tokens against GSPO x2 after 2N tokens).
"""

from __future__ import annotations

import math
import re
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from train.plots import agent_names, read_metrics, tokens_at_steps

RUN_NAME = re.compile(r"^(?P<arm>[A-Za-z0-9_]+)-s(?P<seed>\d+)$")
TOKEN_GRID_POINTS = 50


@dataclass
class Run:
    """One finished run: its arm, seed, metrics rows and agents."""

    arm: str
    seed: int
    path: Path
    rows: list[dict[str, Any]]
    steps: int
    agents: list[str] = field(default_factory=list)

    def eval_points(self, agent: str, metric: str = "greedy_acc") -> list[tuple[int, float, float]]:
        """[(step, generated tokens so far, accuracy)] at the eval steps, in step order."""
        tokens = tokens_at_steps(self.rows, agent) or {}
        key = f"{agent}/eval/{metric}"
        return [(r["step"], tokens.get(r["step"], 0.0), float(r[key])) for r in self.rows
                if isinstance(r.get(key), (int, float)) and math.isfinite(r[key])]

    def final_tokens(self, agent: str) -> float:
        points = self.eval_points(agent)
        return points[-1][1] if points else 0.0


def run_status(path: Path) -> tuple[str, str]:
    """("finished" | "unfinished" | "missing", why) for a run dir: finished means metrics.jsonl
    holds the eval row of the configured last step for every agent."""
    cfg_path, metrics_path = path / "config.yaml", path / "metrics.jsonl"
    if not cfg_path.is_file() or not metrics_path.is_file():
        return "missing", "no config.yaml/metrics.jsonl"
    steps = int(yaml.safe_load(cfg_path.read_text(encoding="utf-8"))["schedule"]["steps"])
    rows = read_metrics(metrics_path)
    last = next((r for r in rows if r["step"] == steps), None)
    names = agent_names(rows)
    if last is None or not names or not all(f"{n}/eval/greedy_acc" in last for n in names):
        done = rows[-1]["step"] if rows else -1
        return "unfinished", f"metrics reach step {done} of {steps}"
    return "finished", f"{steps} steps"


def load_runs(out_dir: str | Path, arms: list[str] | None = None) -> tuple[list[Run], list[str]]:
    """Finished runs under out_dir (only `arms` if given) and a note per skipped dir."""
    runs, skipped = [], []
    for path in sorted(Path(out_dir).iterdir()) if Path(out_dir).is_dir() else []:
        m = RUN_NAME.match(path.name)
        if not path.is_dir() or not m or (arms and m["arm"] not in arms):
            continue
        status, why = run_status(path)
        if status != "finished":
            skipped.append(f"{path.name}: {status} ({why})")
            continue
        rows = read_metrics(path / "metrics.jsonl")
        steps = int(yaml.safe_load((path / "config.yaml").read_text(encoding="utf-8"))["schedule"]["steps"])
        runs.append(Run(m["arm"], int(m["seed"]), path, rows, steps, agent_names(rows)))
    return runs, skipped


# ---------------------------------------------------------------------------------------------
# Statistics


@dataclass(frozen=True)
class Stat:
    """Mean and spread over seeds (std is the sample std, 0 for one seed)."""

    mean: float
    std: float
    lo: float
    hi: float
    n: int

    def fmt(self) -> str:
        if self.n == 0:
            return "-"
        return f"{self.mean:.3f} ±{self.std:.3f} [{self.lo:.3f}, {self.hi:.3f}]"


def stat(values: list[float]) -> Stat:
    vals = [float(v) for v in values if v is not None and math.isfinite(v)]
    if not vals:
        return Stat(math.nan, math.nan, math.nan, math.nan, 0)
    std = statistics.stdev(vals) if len(vals) > 1 else 0.0
    return Stat(statistics.fmean(vals), std, min(vals), max(vals), len(vals))


def acc_at_tokens(run: Run, agent: str, budget: float) -> float:
    """The run's greedy accuracy interpolated linearly at `budget` generated tokens; NaN beyond
    the run's last eval point (never extrapolated)."""
    pts = run.eval_points(agent)
    if not pts:
        return math.nan
    xs, ys = [p[1] for p in pts], [p[2] for p in pts]
    if budget < xs[0] or budget > xs[-1]:
        return math.nan
    return float(np.interp(budget, xs, ys))


def common_budget(runs: list[Run], agent: str) -> float:
    """The largest generated-token count every run reaches for this agent."""
    return min(r.final_tokens(agent) for r in runs)


def by_arm(runs: list[Run]) -> dict[str, list[Run]]:
    out: dict[str, list[Run]] = {}
    for r in sorted(runs, key=lambda r: r.seed):
        out.setdefault(r.arm, []).append(r)
    return out


def common_eval_steps(runs: list[Run], agent: str) -> list[int]:
    """Eval steps present in every run (equal-step comparisons use only these)."""
    sets = [{p[0] for p in r.eval_points(agent)} for r in runs]
    return sorted(set.intersection(*sets)) if sets else []


def at_steps(runs: list[Run], agent: str, metric: str = "greedy_acc") -> dict[int, Stat]:
    """{eval step: Stat over the runs (seeds) of one arm}."""
    out = {}
    for step in common_eval_steps(runs, agent):
        vals = [next(p[2] for p in r.eval_points(agent, metric) if p[0] == step) for r in runs
                if any(p[0] == step for p in r.eval_points(agent, metric))]
        out[step] = stat(vals)
    return out


# ---------------------------------------------------------------------------------------------
# Claims


@dataclass(frozen=True)
class Verdict:
    agent: str
    claim: str
    holds: bool | None  # None: an arm needed for the claim was not run
    hacpo: Stat
    baseline: Stat
    separate: bool = False  # every HACPO seed beats every baseline seed (hacpo.lo > baseline.hi)
    note: str = ""

    @property
    def diff(self) -> float:
        return self.hacpo.mean - self.baseline.mean


def _last_step_stat(runs: list[Run], agent: str) -> tuple[int, Stat]:
    steps = at_steps(runs, agent)
    last = max(steps)
    return last, steps[last]


def verdicts(runs: list[Run], agent: str) -> list[Verdict]:
    arms = by_arm([r for r in runs if agent in r.agents])
    out = []
    hacpo, gspo, gspo2x = arms.get("hacpo"), arms.get("gspo"), arms.get("gspo2x")
    missing = Stat(math.nan, math.nan, math.nan, math.nan, 0)
    for claim, base, name in (("HACPO beats GSPO (equal steps)", gspo, "gspo"),
                              ("HACPO beats GSPO (equal tokens)", gspo, "gspo"),
                              ("HACPO >= GSPO x2 at half the tokens", gspo2x, "gspo2x")):
        if not hacpo or not base:
            absent = ", ".join(a for a, rs in (("hacpo", hacpo), (name, base)) if not rs)
            out.append(Verdict(agent, claim, None, missing, missing, note=f"arm not run: {absent}"))
            continue
        if claim.endswith("(equal steps)"):
            step, h = _last_step_stat(hacpo, agent)
            _, b = _last_step_stat(base, agent)
            note = f"step {step}"
            holds = h.mean > b.mean
        elif claim.endswith("(equal tokens)"):
            budget = common_budget(hacpo + base, agent)
            h = stat([acc_at_tokens(r, agent, budget) for r in hacpo])
            b = stat([acc_at_tokens(r, agent, budget) for r in base])
            note = f"at {budget:.0f} tokens"
            holds = h.mean > b.mean
        else:
            # HACPO after its N tokens against GSPO x2 after 2N (the paper's "half the rollout cost");
            # a GSPO x2 seed that stopped short of 2N (shorter responses) is read at its last point.
            _, h = _last_step_stat(hacpo, agent)
            n_h = statistics.fmean(r.final_tokens(agent) for r in hacpo)
            read_at = [min(2 * n_h, r.final_tokens(agent)) for r in base]
            b = stat([acc_at_tokens(r, agent, t) for r, t in zip(base, read_at)])
            ratio = n_h / statistics.fmean(read_at) if statistics.fmean(read_at) > 0 else math.nan
            note = f"HACPO {n_h:.0f} tokens vs GSPO x2 {statistics.fmean(read_at):.0f} (ratio {ratio:.2f})"
            holds = h.mean >= b.mean
        out.append(Verdict(agent, claim, bool(holds), h, b, separate=h.lo > b.hi, note=note))
    return out


# ---------------------------------------------------------------------------------------------
# Report


def _yes_no(v: bool | None) -> str:
    return "n/a" if v is None else ("yes" if v else "no")


def report(runs: list[Run], skipped: list[str], arms_order: list[str] | None = None) -> str:
    """The markdown report: per agent an equal-steps/equal-tokens table, then the claims."""
    if not runs:
        return "No finished runs found.\n" + "".join(f"- skipped {s}\n" for s in skipped)
    groups = by_arm(runs)
    order = [a for a in (arms_order or []) if a in groups] + sorted(set(groups) - set(arms_order or []))
    agents = list(dict.fromkeys(a for r in runs for a in r.agents))
    lines = [f"Finished runs: {len(runs)} ({', '.join(f'{a} x{len(groups[a])}' for a in order)}).",
             "Cells: mean ±std [min, max] over seeds of held-out greedy accuracy.", ""]
    if len({r.steps for r in runs}) > 1:  # e.g. an --analyze-only over dirs of two different sweeps
        lines += [f"WARNING: runs differ in schedule.steps ({sorted({r.steps for r in runs})}); arms are "
                  "compared at their own last eval step, so 'equal steps' does not hold.", ""]
    lines += [f"- skipped {s}" for s in skipped] + ([""] if skipped else [])
    for agent in agents:
        arm_runs = {a: [r for r in groups[a] if agent in r.agents] for a in order}
        arm_runs = {a: rs for a, rs in arm_runs.items() if rs}
        steps = sorted(set.intersection(*[set(common_eval_steps(rs, agent)) for rs in arm_runs.values()]))
        budget = common_budget([r for rs in arm_runs.values() for r in rs], agent)
        lines += [f"### {agent}", "",
                  "| arm | seeds | " + " | ".join(f"step {s}" for s in steps)
                  + " | avg@k (last) | tokens (last) | acc @ " + f"{budget:.0f} tokens |",
                  "|---|---|" + "---|" * (len(steps) + 3)]
        for arm, rs in arm_runs.items():
            greedy, avgk = at_steps(rs, agent), at_steps(rs, agent, "avg_at_k")
            tokens = stat([r.final_tokens(agent) for r in rs])
            at_budget = stat([acc_at_tokens(r, agent, budget) for r in rs])
            cells = [greedy[s].fmt() if s in greedy else "-" for s in steps]
            last_k = avgk[max(avgk)].fmt() if avgk else "-"
            lines.append(f"| {arm} | {len(rs)} | " + " | ".join(cells)
                         + f" | {last_k} | {tokens.mean:.0f} | {at_budget.fmt()} |")
        lines.append("")
    lines += ["### Claims", "",
              "| agent | claim | holds | HACPO | baseline | HACPO - baseline | all seeds separate | note |",
              "|---|---|---|---|---|---|---|---|"]
    for agent in agents:
        for v in verdicts(runs, agent):
            diff = "-" if v.holds is None else f"{v.diff:+.3f}"
            sep = "-" if v.holds is None else _yes_no(v.separate)
            lines.append(f"| {agent} | {v.claim} | {_yes_no(v.holds)} | {v.hacpo.fmt()} | {v.baseline.fmt()} "
                         f"| {diff} | {sep} | {v.note} |")
    return "\n".join(lines) + "\n"


def token_curve(runs: list[Run], agent: str, grid: np.ndarray) -> tuple[np.ndarray, ...]:
    """(grid, mean, lo, hi) of one arm's accuracy on the token grid, cut where a seed ends."""
    vals = np.array([[acc_at_tokens(r, agent, float(t)) for t in grid] for r in runs])
    keep = ~np.isnan(vals).any(axis=0)
    v = vals[:, keep]
    return grid[keep], v.mean(axis=0), v.min(axis=0), v.max(axis=0)


def plot(runs: list[Run], plot_dir: str | Path, arms_order: list[str] | None = None) -> list[Path]:
    """collab_steps.png and collab_tokens.png: one panel per agent, one line per arm (mean over
    seeds) with a min-max band."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    groups = by_arm(runs)
    order = [a for a in (arms_order or []) if a in groups] + sorted(set(groups) - set(arms_order or []))
    agents = list(dict.fromkeys(a for r in runs for a in r.agents))
    out_dir = Path(plot_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, xlabel in (("collab_steps.png", "training step"), ("collab_tokens.png", "generated tokens (own)")):
        fig = Figure(figsize=(5.5 * len(agents), 4.2))
        FigureCanvasAgg(fig)
        for i, agent in enumerate(agents):
            ax = fig.add_subplot(1, len(agents), i + 1)
            arm_runs = {a: [r for r in groups[a] if agent in r.agents] for a in order}
            top = max((r.final_tokens(agent) for rs in arm_runs.values() for r in rs), default=0.0)
            # every run's last eval point joins the grid, so each arm's curve ends exactly where its
            # shortest seed does instead of at the grid point before it
            ends = [r.final_tokens(agent) for rs in arm_runs.values() for r in rs]
            grid = np.union1d(np.linspace(0.0, top, TOKEN_GRID_POINTS), ends)
            for arm, rs in arm_runs.items():
                if not rs:
                    continue
                if name == "collab_steps.png":
                    st = at_steps(rs, agent)
                    xs = np.array(sorted(st), dtype=float)
                    mean = np.array([st[s].mean for s in sorted(st)])
                    lo, hi = np.array([st[s].lo for s in sorted(st)]), np.array([st[s].hi for s in sorted(st)])
                else:
                    xs, mean, lo, hi = token_curve(rs, agent, grid)
                style = "-" if arm in ("hacpo", "gspo", "gspo2x") else "--"
                (line,) = ax.plot(xs, mean, style, marker="o" if len(xs) < 8 else None, ms=3,
                                  label=f"{arm} (n={len(rs)})")
                ax.fill_between(xs, lo, hi, color=line.get_color(), alpha=0.12, lw=0)
            if name == "collab_tokens.png" and any(arm_runs.values()):
                budget = common_budget([r for rs in arm_runs.values() for r in rs], agent)
                ax.axvline(budget, color="grey", lw=0.8, ls=":", label="common budget")
            ax.set_title(f"{agent}: held-out greedy accuracy")
            ax.set_xlabel(xlabel)
            ax.set_ylabel("accuracy (band: min-max over seeds)")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7)
        fig.tight_layout()
        path = out_dir / name
        fig.savefig(path, dpi=110)
        written.append(path)
    return written
