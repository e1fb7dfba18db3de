"""Training throughput: seconds per RL step of our trainer vs TRL, phase times, and scaling.

Three parts, each printing a markdown table (docs/performance.md records the full run):

  trl      our `gspo` vs TRL's GRPOTrainer(importance_sampling_level="sequence") on one agent: same
           saved weights and tokenizer, same prompts in the same order, same G, every response
           forced to exactly --tokens new tokens (EOS banned until then on both sides), two
           optimizer updates of P*G/2 sequences per RL step, same clip, beta 0, same reward function
           (our verifier through `verifiers.as_trl_reward`). See bench/throughput_trl.py.
  phases   time per phase (generate, verify, score, update, other) of a HACPO step, 2 and 3 agents.
  scaling  step time and peak memory as G, response length and the number of agents grow; a PNG.

One "step" = one RL step: P prompts x G responses per agent generated, verified, scored once, then
each learner's optimizer updates (2 per agent for gspo, 2n for hacpo: minibatch P*G/2).
Reported: the median over the timed steps after warm-up steps. Each case runs in a fresh child
process (unless --in-process) so its peak RSS is its own.

Run: python bench/throughput.py                 (full: trl + phases + scaling, PNG in docs/)
     python bench/throughput.py --quick         (seconds-long smoke run, tiny shapes, in-process)
     python bench/throughput.py --parts trl     (one part)
     python bench/throughput.py --backend ray   (the real default and three-agent steps under
                                                 backend=local and backend=ray, idle and beside a
                                                 busy process: bench/throughput_backends.py)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make `import bench.x` / `train.x` work from a clone
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

REPO = Path(__file__).resolve().parents[1]
PHASES = ("generate", "verify", "score", "update", "other")
PLOT_NAME = "throughput_scaling.png"  # docs/performance.md embeds it
AGENTS_3 = ("tiny-llama-bpe", "tiny-qwen2-char", "tiny-neox-bpe")  # three architectures and tokenizers


@dataclass(frozen=True)
class Case:
    """One measured configuration (JSON round-trips to a child process)."""

    algo: str = "hacpo"               # "gspo" (one agent) or "hacpo"
    agents: tuple[str, ...] = AGENTS_3[:2]
    prompts: int = 8                  # P
    group: int = 8                    # G responses per agent per prompt
    tokens: int = 32                  # every response is exactly this long (EOS banned before)
    steps: int = 3                    # timed steps
    warmup: int = 1                   # untimed steps first (allocator, lazy imports, first kernels)
    seed: int = 0
    model_dirs: tuple[str, ...] = ()  # load agents from these saved dirs instead of zoo names
    untrained: bool = False           # random-weight zoo models (no one-off warm start; same speed)
    behaviour_logprobs: str = "auto"  # algo.behaviour_logprobs of our side ("recompute": re-score all)

    @property
    def label(self) -> str:
        return f"{self.algo} n={len(self.agents)} P={self.prompts} G={self.group} T={self.tokens}"


def _rss_peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def build_config(case: Case):
    """A validated TrainConfig for the case (defaults everywhere else: lr, clip, minibatch P*G/2)."""
    from train.config import AgentConfig, AlgoConfig, ScheduleConfig, TrainConfig
    from train.config_checks import validate_config

    sources = case.model_dirs or case.agents
    agent_cfgs = [AgentConfig(name=f"a{i}-{Path(name).name}", model=src, max_new_tokens=case.tokens)
                  for i, (name, src) in enumerate(zip(case.agents, sources))]
    cfg = TrainConfig(seed=case.seed, algo=AlgoConfig(name=case.algo, behaviour_logprobs=case.behaviour_logprobs),
                      schedule=ScheduleConfig(steps=case.warmup + case.steps, prompts_per_step=case.prompts,
                                              group_size=case.group),
                      agents=agent_cfgs)
    validate_config(cfg)
    return cfg


def prompt_indices(case: Case, num_problems: int) -> list[list[int]]:
    """Per step, the problem indices the trainer draws (its seeded order): TRL gets the same list."""
    from train.loop import TrainerState, next_prompt_indices

    state = TrainerState()
    return [next_prompt_indices(state, case.prompts, num_problems, case.seed)
            for _ in range(case.warmup + case.steps)]


def make_env(cfg, num_envs: int):
    import hacrl_env

    return hacrl_env.make_vec(cfg.env.id, num_envs=num_envs, agents=[a.name for a in cfg.agents],
                              split=cfg.env.train_split, verifier=cfg.env.verifier, **cfg.env.kwargs)


def load_agent(source: str, untrained: bool, name: str | None = None):
    """A zoo name (warm-started, or random weights when untrained) or a saved model dir."""
    import agents as agents_lib
    from agents.zoo import ZOO, build_untrained

    if untrained and source in ZOO:
        return build_untrained(source, device="cpu")
    return agents_lib.load(source, device="cpu", **({"name": name} if name else {}))


def _fixed_length_worker(agent, agent_cfg):
    """A LocalWorker whose rollouts are exactly max_new_tokens long, so both sides of a comparison
    (and every scaling point) process the same number of tokens whatever the model would say."""
    import torch

    from train.workers import LocalWorker

    class FixedLengthWorker(LocalWorker):
        def generate(self, prompts, n, *, seed=None, greedy=False, max_new_tokens=None):
            c, m = self.config, max_new_tokens or self.config.max_new_tokens
            with torch.no_grad():
                return self.agent.generate(list(prompts), n=n, temperature=c.temperature, top_p=c.top_p,
                                           max_new_tokens=m, min_new_tokens=m, seed=seed, greedy=greedy)

    return FixedLengthWorker(agent, agent_cfg)


def run_case(case: Case) -> dict:
    """Run warmup + steps RL steps of our trainer's phases; per-step phase seconds and memory.

    Each step is train.loop.rl_step, the trainer's own step body (rollout, verify, behaviour
    log-probs, pool, capability, updates), without the loop's logging, eval and checkpoints, which a
    step of TRL's trainer does not do either."""
    import torch
    from agents.memory import PeakMemory
    from train.config import resolve_algo
    from train.loop import TrainerState, rl_step

    cfg = build_config(case)
    torch.manual_seed(case.seed)
    spec, names = resolve_algo(cfg), [a.name for a in cfg.agents]
    workers = [_fixed_length_worker(load_agent(a.model, case.untrained, a.name), a) for a in cfg.agents]
    vec = make_env(cfg, case.prompts)
    order = prompt_indices(case, vec.num_problems)
    state, steps = TrainerState(), []
    rss_before = _rss_peak_mib()
    with PeakMemory(torch.device("cpu")) as peak:
        for step, indices in enumerate(order):
            state.step = step
            start = time.perf_counter()
            pool, metrics, times = rl_step(workers, vec, spec, state, indices=indices, group=case.group,
                                           seed=case.seed)
            t = {phase: times[f"time/{phase}"] for phase in PHASES[:-1]}
            t["step"] = time.perf_counter() - start
            t["other"] = t["step"] - sum(t[p] for p in PHASES[:-1])
            t["gen_tokens"] = sum(r.source_num_tokens for r in pool.records)
            t["updates"] = sum(int(metrics.get(f"{n}/updates", 0)) for n in names)
            steps.append(t)
    timed = steps[case.warmup:]
    return {"case": asdict(case), "side": "hacrl", "steps": steps,
            "median": {k: statistics.median(s[k] for s in timed) for k in (*PHASES, "step")},
            "gen_tokens_per_step": statistics.median(s["gen_tokens"] for s in timed),
            "updates_per_step": statistics.median(s["updates"] for s in timed),
            "peak_step_growth_mib": peak.peak_bytes / 2**20, "rss_before_steps_mib": rss_before,
            "peak_rss_mib": _rss_peak_mib()}


_RESULTS: dict[str, dict] = {}  # a case shared by two parts (the scaling base is a phases row) runs once


def run_isolated(side: str, case: Case, in_process: bool) -> dict:
    """run_case / run_trl_case in a fresh interpreter (own peak RSS), or here when in_process."""
    key = json.dumps([side, asdict(case)])
    if key not in _RESULTS:
        _RESULTS[key] = _run(side, case, in_process)
    return _RESULTS[key]


def _run(side: str, case: Case, in_process: bool) -> dict:
    if in_process:
        if side == "trl":
            from bench.throughput_trl import run_trl_case

            return run_trl_case(case)
        return run_case(case)
    out = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child", side,
                          json.dumps(asdict(case))], capture_output=True, text=True, cwd=REPO)
    if out.returncode != 0:
        raise RuntimeError(f"{side} case {case.label} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _fmt_phase_row(label: str, r: dict) -> str:
    m = r["median"]
    cells = " | ".join(f"{m[p]:.3f} ({100 * m[p] / m['step']:.0f}%)" for p in PHASES)
    return f"| {label} | {cells} | **{m['step']:.3f}** | {r['updates_per_step']:.0f} |"


def part_trl(base: Case, in_process: bool, model_dir: str, repeats: int = 1) -> list[dict]:
    """Ours then TRL, `repeats` times alternating (a slow drift of the host then hits both sides);
    the verdict reads the median ratio, the detailed table shows the run with that ratio."""
    ours = replace(base, algo="gspo", agents=base.agents[:1], model_dirs=(model_dir,))
    try:
        import trl  # noqa: F401
    except ImportError:
        print("\nTRL comparison skipped: trl is not installed (pip install -e '.[bench]')")
        return [run_isolated("hacrl", ours, in_process)]
    pairs = [(_run("hacrl", ours, in_process), _run("trl", ours, in_process)) for _ in range(repeats)]
    ratios = [a["median"]["step"] / b["median"]["step"] for a, b in pairs]
    mid = sorted(range(repeats), key=ratios.__getitem__)[(repeats - 1) // 2]  # the (lower) median run
    rows = list(pairs[mid])
    print(f"\n### gspo vs TRL GRPOTrainer (sequence-level IS), {ours.label}, {ours.steps} timed steps"
          f"{f', {repeats} alternating runs' if repeats > 1 else ''}, our behaviour log-probs: "
          f"{ours.behaviour_logprobs}\n")
    if repeats > 1:
        print("| run | ours s / RL step | TRL s / RL step | ours / TRL |\n|---|---|---|---|")
        for i, ((a, b), r) in enumerate(zip(pairs, ratios), 1):
            print(f"| {i} | {a['median']['step']:.3f} | {b['median']['step']:.3f} | {r:.2f} |")
        print(f"\nthe median run ({mid + 1}) in detail:\n")
    print("| trainer | s / RL step (median) | s / optimizer update | optimizer updates / step | "
          "generated tokens / step | peak RSS MiB |\n|---|---|---|---|---|---|")
    for name, r in zip(("hacrl gspo", f"TRL {rows[1].get('trl_version', '')} GRPOTrainer"), rows):
        s = r["median"]["step"]
        print(f"| {name} | {s:.3f} | {s / r['updates_per_step']:.3f} | {r['updates_per_step']:.0f} | "
              f"{r['gen_tokens_per_step']:.0f} | {r['peak_rss_mib']:.0f} |")
    ratio = ratios[mid]
    print(f"\nours / TRL = {ratio:.2f}{' (median of the runs)' if repeats > 1 else ''} "
          f"(target <= 0.50: {'met' if ratio <= 0.5 else 'MISSED'}); "
          f"TRL per-step times: {[round(x, 3) for x in rows[1]['step_seconds']]}; "
          f"ours: {[round(x['step'], 3) for x in rows[0]['steps']]}; the first {ours.warmup} of each untimed warm-up")
    print("\nour gspo step by phase: seconds (share of step)\n\n| case | " + " | ".join(PHASES) +
          " | step | optimizer updates |\n|" + "---|" * (len(PHASES) + 3))
    print(_fmt_phase_row(ours.label, rows[0]))
    return [*rows, {"ratios": ratios}] if repeats > 1 else rows


def part_phases(base: Case, in_process: bool) -> list[dict]:
    rows = [run_isolated("hacrl", replace(base, agents=AGENTS_3[:n]), in_process) for n in (2, 3)]
    print(f"\n### HACPO phase times, P={base.prompts} G={base.group} T={base.tokens}: seconds (share of step)\n")
    print("| case | " + " | ".join(PHASES) + " | step | optimizer updates |\n|" + "---|" * (len(PHASES) + 3))
    for r in rows:
        print(_fmt_phase_row(Case(**{**r["case"], "agents": tuple(r["case"]["agents"])}).label, r))
    return rows


def scaling_cases(base: Case, quick: bool) -> dict[str, list[Case]]:
    g, t, n = ((2, 4), (4,), (1, 2)) if quick else ((4, 8, 16), (16, 32, 64), (1, 2, 3))
    return {"G (responses per prompt per agent)": [replace(base, group=x) for x in g],
            "T (tokens per response)": [replace(base, tokens=x) for x in t],
            "n (agents)": [replace(base, algo="gspo" if k == 1 else base.algo, agents=AGENTS_3[:k]) for k in n]}


def part_scaling(base: Case, in_process: bool, quick: bool, plot: Path | None) -> dict[str, list[dict]]:
    results = {axis: [run_isolated("hacrl", c, in_process) for c in cases]
               for axis, cases in scaling_cases(base, quick).items()}
    print(f"\n### Scaling from {base.label} (one axis varied at a time)\n")
    print("| varied | case | s / step | generate | update | generated tokens | step peak RSS growth MiB "
          "| process peak RSS MiB |\n|---|---|---|---|---|---|---|---|")
    for axis, rows in results.items():
        for r in rows:
            c, m = Case(**{**r["case"], "agents": tuple(r["case"]["agents"])}), r["median"]
            print(f"| {axis.split()[0]} | {c.label} | {m['step']:.3f} | {m['generate']:.3f} | {m['update']:.3f} | "
                  f"{r['gen_tokens_per_step']:.0f} | {r['peak_step_growth_mib']:.0f} | {r['peak_rss_mib']:.0f} |")
    if plot is not None:
        _plot_scaling(results, plot)
        print(f"\nplot: {plot}")
    return results


def _plot_scaling(results: dict[str, list[dict]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = {"G": "group", "T": "tokens", "n": "agents"}
    fig, axes = plt.subplots(2, len(results), figsize=(4 * len(results), 6), squeeze=False)
    for col, (axis, rows) in enumerate(results.items()):
        key = keys[axis.split()[0]]
        xs = [len(r["case"][key]) if key == "agents" else r["case"][key] for r in rows]
        for p in PHASES:
            axes[0][col].plot(xs, [r["median"][p] for r in rows], marker=".", label=p)
        axes[0][col].plot(xs, [r["median"]["step"] for r in rows], marker="o", color="k", label="step")
        axes[0][col].set(title=f"step time vs {axis}", ylabel="seconds (median)", xticks=xs)
        axes[1][col].plot(xs, [r["peak_step_growth_mib"] for r in rows], marker="o", label="RSS growth during steps")
        axes[1][col].plot(xs, [r["peak_rss_mib"] for r in rows], marker="s", label="process peak RSS")
        axes[1][col].set(xlabel=axis, ylabel="MiB", xticks=xs)
    axes[0][0].legend(fontsize=7)
    axes[1][0].legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smoke run: P=2 G=2 T=4, 1 timed step, in-process")
    parser.add_argument("--parts", default="trl,phases,scaling", help="comma list of trl, phases, scaling")
    parser.add_argument("--prompts", type=int, default=8, help="P of the phases and scaling base case")
    parser.add_argument("--steps", type=int, default=2, help="timed RL steps per case (after --warmup)")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--trl-steps", type=int, default=3, help="timed RL steps of each side of the trl part")
    parser.add_argument("--trl-repeats", type=int, default=1,
                        help="run the two sides this many times, alternating; the verdict reads the median ratio")
    parser.add_argument("--untrained", action="store_true",
                        help="random-weight zoo models: skips the one-off warm start (speed is the same)")
    parser.add_argument("--behaviour-logprobs", choices=("auto", "recompute"), default="auto",
                        help="our side's algo.behaviour_logprobs (recompute: the training model gives them all, as in TRL)")
    parser.add_argument("--in-process", action="store_true", help="no child processes (peak RSS then cumulative)")
    parser.add_argument("--plot", default=None,
                        help="scaling PNG path (default docs/throughput_scaling.png; none with --quick)")
    parser.add_argument("--json", default="", help="also write every raw result to this JSON file")
    parser.add_argument("--backend", choices=("local", "ray"), default="local",
                        help="ray: compare backend=ray with backend=local on the real presets (no other part runs)")
    parser.add_argument("--presets", default="default,three_agents",
                        help="--backend ray: comma list of default, three_agents, smoke (a seconds-long check)")
    parser.add_argument("--repeats", type=int, default=3, help="--backend ray: interleaved repeats of every case")
    parser.add_argument("--child", nargs=2, metavar=("SIDE", "CASE_JSON"), help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> dict:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.child and args.child[0] == "backend":
        from bench.throughput_backends import BackendCase, run_backend_case

        print(json.dumps(run_backend_case(BackendCase(**json.loads(args.child[1])))))
        return {}
    if args.child:  # one case in this fresh process; the result is the last stdout line
        side, case = args.child[0], json.loads(args.child[1])
        case = Case(**{**case, "agents": tuple(case["agents"]), "model_dirs": tuple(case["model_dirs"])})
        print(json.dumps(run_isolated(side, case, in_process=True)))
        return {}
    if args.trl_repeats < 1:
        parser.error(f"--trl-repeats must be >= 1, got {args.trl_repeats}")
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = sorted(set(parts) - {"trl", "phases", "scaling"})
    if unknown:
        parser.error(f"--parts: unknown {unknown}; choose from trl, phases, scaling")
    in_process = args.in_process or args.quick
    base = (Case(prompts=2, group=2, tokens=4, steps=1, warmup=0, untrained=True) if args.quick
            else Case(prompts=args.prompts, steps=args.steps, warmup=args.warmup, untrained=args.untrained))
    base = replace(base, behaviour_logprobs=args.behaviour_logprobs)
    import torch

    print(f"python {platform.python_version()}, torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{os.cpu_count()} cpus, {platform.processor() or platform.machine()}; load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}; {time.strftime('%Y-%m-%d %H:%M %Z')}", flush=True)
    out: dict = {"args": vars(args)}
    if args.backend == "ray":
        from bench.throughput_backends import PRESETS, part_backends

        presets = [p.strip() for p in args.presets.split(",") if p.strip()]
        if not presets or set(presets) - set(PRESETS):
            parser.error(f"--presets: choose from {', '.join(PRESETS)}")
        out["backends"] = part_backends(presets, args.repeats, args.steps, args.warmup)
        if args.json:
            Path(args.json).write_text(json.dumps(out, indent=1))
        return out
    with tempfile.TemporaryDirectory(prefix="hacrl-throughput-") as tmp:
        if "trl" in parts:
            model_dir = str(Path(tmp) / base.agents[0])  # one saved copy: both trainers load these weights
            load_agent(base.agents[0], base.untrained).save_pretrained(model_dir)
            # the batch whatever --prompts says: 8 prompts x 8 responses x 32 tokens
            trl_case = base if args.quick else replace(base, prompts=8, group=8, tokens=32, steps=args.trl_steps)
            out["trl"] = part_trl(trl_case, in_process, model_dir, repeats=args.trl_repeats)
        if "phases" in parts:
            out["phases"] = part_phases(base, in_process)
        if "scaling" in parts:
            plot = args.plot if args.plot is not None else ("" if args.quick else str(REPO / "docs" / PLOT_NAME))
            out["scaling"] = part_scaling(base, in_process, args.quick, Path(plot) if plot else None)
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))
    return out


if __name__ == "__main__":
    main()
