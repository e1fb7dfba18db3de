"""The HACPO training loop, one named function per phase (CleanRL style, read top to bottom):

    rollout -> verify -> behaviour log-probs -> pool -> capability + advantages -> update -> log/eval/save

`train(cfg)` runs a whole experiment; each phase is a small function taking plain data so it can
be tested alone.  The math is `train.core`'s; the algorithm variant (hacpo, gspo, grpo, naive,
ablations) is an `AlgoSpec` from `train.algorithms` that only decides which rows each learner
gets and which objective/advantage they use.  Agents sit behind `train.workers.AgentWorker`.
"""

from __future__ import annotations

import dataclasses
import random
import time
import warnings
from dataclasses import dataclass, field

import numpy as np
import torch

from train import core
from train.pool import Pool, Trajectory, group_external
from train.views import SharedStep
from train.workers import WorkerLost, build_workers, call_all, compute_session


@dataclass
class TrainerState:
    """Everything besides model/optimizer weights needed to resume a run exactly."""

    step: int = 0  # completed training steps
    data_order: list[int] = field(default_factory=list)  # seeded permutation of the train split
    cursor: int = 0  # next position in data_order
    epoch: int = 0  # completed passes over the split (reshuffled per epoch)
    capability_history: list[list[float]] = field(default_factory=list)  # (T, n) positive rates
    generated_tokens_total: dict[str, int] = field(default_factory=dict)
    external_cursor: int = 0  # next external trajectory group
    first_eval: dict[str, dict] = field(default_factory=dict)  # step-0 held-out results per agent
    last_eval: dict[str, dict] = field(default_factory=dict)
    nan_consecutive: dict[str, int] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------
# Phase 0: data order (the trainer owns it so resume continues the exact same prompt sequence)


def next_prompt_indices(state: TrainerState, count: int, num_problems: int, seed: int) -> list[int]:
    """The next `count` problem indices; a fresh seeded permutation per epoch over the split."""
    if num_problems < 1:
        raise ValueError("the training split is empty")
    out = []
    while len(out) < count:
        if state.cursor >= len(state.data_order):
            if state.data_order:  # a pass just ended
                state.epoch += 1
            state.data_order = np.random.default_rng([seed, state.epoch]).permutation(num_problems).tolist()
            state.cursor = 0
        take = min(count - len(out), len(state.data_order) - state.cursor)
        out.extend(state.data_order[state.cursor:state.cursor + take])
        state.cursor += take
    return out


# ---------------------------------------------------------------------------------------------
# Phase 1: rollout -- every agent answers the same prompts with its own chat template


def rollout(workers, prompts: list, num_samples: int, *, seed: int) -> dict[str, list[list]]:
    """{agent: [P][num_samples] Sample}, all agents at once; each gets its own derived seed."""
    out = call_all(workers, "generate", [((prompts, num_samples), {"seed": seed * 1009 + i})
                                         for i in range(len(workers))])
    return {w.name: samples for w, samples in zip(workers, out)}


# ---------------------------------------------------------------------------------------------
# Phase 2: verify -- ONE env step verifies all P x n x G responses


def verify(vec, samples: dict[str, list[list]]) -> tuple[torch.Tensor, dict]:
    """(rewards (P, n, G) in the order of `samples`' agents, infos {agent: env info dict})."""
    actions = {name: [[s.text for s in group] for group in per_prompt] for name, per_prompt in samples.items()}
    _, _, _, _, infos = vec.step(actions)
    rewards = np.stack([np.asarray(infos[name]["rewards"], dtype=np.float64) for name in samples], axis=1)
    return torch.tensor(rewards, dtype=torch.float32), infos


# ---------------------------------------------------------------------------------------------
# Phase 3: behaviour log-probs of every sample under its source's policy before ANY update


def behaviour_logprobs(workers, prompts: list, samples: dict[str, list[list]], spec) -> dict[str, list[list]]:
    """{agent: [P][G] token log-probs of each of its samples (None: left to its own update)}.

    An agent whose sampler is exact for the prompt (`sampler_logprobs_exact`: fp32 sampling from
    the fp32 training weights; algo.behaviour_logprobs="auto") gives its sampler's log-probs, which
    equal the training model's within fp32 rounding. The rest are re-scored by the source's
    training model over its own ids (EOS included), so an approximate sampler (int8, bf16) changes
    nothing -- but only when a peer reads them (spec.share_pool): otherwise the learner's update
    takes its own from its first forward (`train.update_step`), and no pass is spent here."""
    auto = spec.behaviour_logprobs == "auto"
    exact = call_all(workers, "sampler_logprobs_exact", [((prompts,), {})] * len(workers)) if auto else None
    out, todo = {}, {}
    for j, w in enumerate(workers):
        mine = samples[w.name]
        out[w.name] = [[list(s.logprobs) if exact and exact[j][p] else None for s in group]
                       for p, group in enumerate(mine)]
        todo[w.name] = [(p, i) for p, group in enumerate(out[w.name]) for i, lp in enumerate(group) if lp is None]
    scorers = [w for w in workers if todo[w.name]] if spec.share_pool else []
    if scorers:  # every source re-scores its own samples, all at the same time
        rescored = call_all(scorers, "score", [
            (([prompts[p] for p, _ in todo[w.name]],), {"response_ids": [list(samples[w.name][p][i].token_ids)
                                                                        for p, i in todo[w.name]]})
            for w in scorers])
        for w, lps in zip(scorers, rescored):
            for (p, i), lp in zip(todo[w.name], lps):
                out[w.name][p][i] = lp
    return out


def score_external(workers, external: list[Trajectory]) -> list[Trajectory]:
    """External records that name a run agent as source, re-scored by its current model; the
    others as given (their own source_mean_logp)."""
    by_name = {w.name: w for w in workers}
    scored = []
    for r in external:
        if r.source in by_name:
            lp = by_name[r.source].score([r.prompt], responses=[r.response], append_eos=[r.finished])[0]
            r = dataclasses.replace(r, source_mean_logp=sum(lp) / max(len(lp), 1), source_num_tokens=len(lp))
        scored.append(r)
    return scored


# ---------------------------------------------------------------------------------------------
# Phase 4: the shared pool -- tokenizer-neutral records, made once, complete


def build_pool(problems, prompts: list, samples, infos, behaviour, step: int) -> Pool:
    records = []
    for name, per_prompt in samples.items():
        for p, group in enumerate(per_prompt):
            for i, s in enumerate(group):
                lp = behaviour[name][p][i]
                records.append(Trajectory(
                    prompt_id=str(problems[p].id), prompt=prompts[p], response=s.text, source=name,
                    reward=float(infos[name]["rewards"][p][i]), extracted=str(infos[name]["extracted"][p][i]),
                    reason=str(infos[name]["reasons"][p][i]), source_num_tokens=len(s.token_ids),
                    source_mean_logp=None if lp is None else sum(lp) / max(len(lp), 1),
                    source_token_logps=None if lp is None else tuple(lp),
                    sampling_mean_logp=float(np.mean(s.logprobs)) if len(s.logprobs) else 0.0,
                    finished=bool(s.finished), policy_version=step, prompt_index=p, sample_index=i,
                    source_token_ids=tuple(int(t) for t in s.token_ids)))
    return Pool(records, step=step)


# ---------------------------------------------------------------------------------------------
# Phase 5: capability (once per step, before any update); each learner's rows are train.views'


def update_capability(state: TrainerState, rewards_pnG: torch.Tensor, spec) -> tuple[torch.Tensor, torch.Tensor]:
    """Appends this step's positive rates; returns (capability (n,), ratios (n, n))."""
    rates = [float(core.positive_rate(rewards_pnG[:, j])) for j in range(rewards_pnG.shape[1])]
    state.capability_history.append(rates)
    cap = core.capability_estimate(torch.tensor(state.capability_history), window=spec.window)
    return cap, core.capability_ratios(cap, clip=(spec.ratio_clip_low, spec.ratio_clip_high))


# ---------------------------------------------------------------------------------------------
# Phase 6: per-agent metrics of the step (names documented in docs/metrics.md)


def rollout_metrics(names: list[str], pool: Pool, rewards_pnG: torch.Tensor, capability, ratios,
                    state: TrainerState) -> dict[str, float]:
    out: dict[str, float] = {}
    correct = rewards_pnG > 0  # (P, n, G)
    for k, name in enumerate(names):
        r = rewards_pnG[:, k]  # (P, G)
        recs = pool.from_source(name)
        tokens = sum(x.source_num_tokens for x in recs)
        state.generated_tokens_total[name] = state.generated_tokens_total.get(name, 0) + tokens
        own_none = ~correct[:, k].any(-1)
        peers = [j for j in range(len(names)) if j != k]
        peer_any = correct[:, peers].flatten(1).any(-1) if peers else torch.zeros_like(own_none)
        std = r.std(-1) if r.shape[-1] > 1 else torch.zeros(r.shape[0])
        out.update({
            f"{name}/reward": float(r.mean()), f"{name}/reward_std": float(std.mean()),
            f"{name}/frac_reward_zero_std": float((std == 0).float().mean()),
            f"{name}/completions/mean_length": tokens / max(len(recs), 1),
            f"{name}/completions/clipped_ratio": float(np.mean([not x.finished for x in recs])),
            f"{name}/capability": float(capability[k]),
            f"{name}/rescue_rate": float((own_none & peer_any).float().mean()),
            f"{name}/cost/responses": float(len(recs)), f"{name}/cost/generated_tokens": float(tokens),
            f"{name}/cost/generated_tokens_total": float(state.generated_tokens_total[name]),
        })
        for j in peers:
            out[f"{name}/capability_ratio/{names[j]}"] = float(ratios[k, j])
    return out


def external_for_step(records: list[Trajectory], state: TrainerState, num_groups: int) -> list[Trajectory]:
    """The next `num_groups` prompt groups of the external file, cycling through it."""
    groups = group_external(records)
    if not groups:
        return []
    out = []
    for _ in range(min(num_groups, len(groups))):
        out.extend(groups[state.external_cursor % len(groups)])
        state.external_cursor += 1
    return out


def timed(times: dict, key: str):
    """Context manager adding the block's wall time to times[key]."""
    class _T:
        def __enter__(self):
            self.t = time.perf_counter()

        def __exit__(self, *exc):
            times[key] = times.get(key, 0.0) + time.perf_counter() - self.t
    return _T()


def rl_step(workers, vec, spec, state: TrainerState, *, indices: list[int], group: int, seed: int,
            external: list[Trajectory] = ()) -> tuple[Pool, dict[str, float], dict[str, float]]:
    """One RL step on the problems at `indices`, phase by phase: rollout -> verify -> behaviour
    log-probs -> pool -> capability + advantages -> update. Returns (pool, per-agent metrics,
    seconds per phase). Its random streams derive from (`seed`, state.step); `train` and
    bench/throughput.py both run this, so a benchmark times exactly the trainer's step."""
    names = [w.name for w in workers]
    step, times = state.step, {}
    obs, _ = vec.reset(options={"indices": indices})
    prompts, problems = list(obs[names[0]]), list(vec.problems)
    with timed(times, "time/generate"):
        samples = rollout(workers, prompts, group, seed=_seed(seed, step, 1))
    with timed(times, "time/verify"):
        rewards, infos = verify(vec, samples)  # (P, n, G)
    with timed(times, "time/score"):
        behaviour = behaviour_logprobs(workers, prompts, samples, spec)
        ext = score_external(workers, list(external))
    pool = build_pool(problems, prompts, samples, infos, behaviour, step)
    capability, ratios = update_capability(state, rewards, spec)
    metrics = {}
    with timed(times, "time/update"):  # learners independent: inputs were all fixed above
        shared = workers[0].share(SharedStep(tuple(names), pool, rewards, ratios, capability, tuple(ext)))
        updates = call_all(workers, "learn", [((shared, k, spec), {"seed": _seed(seed, step, 2, k)})
                                              for k in range(len(workers))])
        for w, upd in zip(workers, updates):
            metrics.update({f"{w.name}/{key}": v for key, v in upd.items() if key not in ("nan_consecutive", "cross_rows")})
            skipped_all = upd["nan_skips"] >= upd.get("updates", 0) > 0
            state.nan_consecutive[w.name] = (state.nan_consecutive.get(w.name, 0) + int(upd["nan_skips"])
                                             if skipped_all else int(upd["nan_consecutive"]))
    return pool, {**rollout_metrics(names, pool, rewards, capability, ratios, state), **metrics}, times


# ---------------------------------------------------------------------------------------------
# The run


def _seed(*parts: int) -> int:
    """A well-mixed 31-bit seed from (run seed, step, agent, ...), so each stream is independent."""
    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(1)[0] & 0x7FFFFFFF)


def eval_settings(cfg, i: int, *, k: int | None = None, seed: int | None = None) -> dict:
    """`evaluate_agent` keywords for agent i's held-out eval: the run's eval split, size, verifier
    and k, and the agent's own generation settings."""
    a = cfg.agents[i]
    return dict(env_id=cfg.env.eval_id or cfg.env.id, split=cfg.env.eval_split, env_kwargs=dict(cfg.env.kwargs),
                n_problems=cfg.env.eval_size, k=cfg.schedule.eval_k if k is None else k, greedy=True,
                max_new_tokens=a.max_new_tokens, seed=_seed(cfg.seed, 7, i) if seed is None else seed,
                # avg@k samples as the agent samples in training, so the two compare
                temperature=a.temperature, top_p=a.top_p, verifier=cfg.env.verifier)


def evaluate_all(workers, cfg, step: int) -> dict[str, dict]:
    """Held-out accuracy of every agent ALONE (greedy pass@1 and sampled avg@k), all at once."""
    out = call_all(workers, "evaluate", [((), eval_settings(cfg, i)) for i in range(len(workers))])
    return {w.name: r for w, r in zip(workers, out)}


def train(cfg, *, resume: str | None = None) -> dict:
    """Run (or resume) one experiment; returns {"run_dir", "start", "end", "change"}: held-out
    accuracies of every agent alone and their changes."""
    from train.config import resolve_algo, resolved_config

    cfg = resolved_config(cfg)  # what the run prints and saves is what it uses
    spec = resolve_algo(cfg)
    with compute_session(cfg):
        run, state, workers, vec, external = start_run(cfg, resume or cfg.resume)
        try:
            run_steps(cfg, spec, run, state, workers, vec, external)
        except WorkerLost as lost:
            raise RuntimeError(f"{lost}. The run stopped during step {state.step + 1}; {last_checkpoint(run)}. "
                               f"Continue it with: python train/hacpo.py --resume {run.path}") from None
        finally:
            for w in workers:
                w.close()
        return finish_run(run, cfg, state)


def run_steps(cfg, spec, run, state: TrainerState, workers, vec, external) -> None:
    """Steps state.step+1 .. schedule.steps, with evaluation, logging and checkpoints."""
    from tqdm.auto import tqdm

    P, G = cfg.schedule.prompts_per_step, cfg.schedule.group_size * spec.rollout_multiplier
    if state.step == 0 and not state.first_eval:
        state.first_eval = state.last_eval = evaluate_all(workers, cfg, 0)
        run.log(0, eval_metrics(state.first_eval))
    bar = tqdm(range(state.step, cfg.schedule.steps), initial=state.step, total=cfg.schedule.steps,
               disable=not cfg.logging.progress, desc=f"{cfg.algo.name}", dynamic_ncols=True)
    for step in bar:
        t_step = time.perf_counter()
        indices = next_prompt_indices(state, P, vec.num_problems, cfg.seed)
        pool, metrics, times = rl_step(workers, vec, spec, state, indices=indices, group=G, seed=cfg.seed,
                                       external=external_for_step(external, state, P))
        state.step = step + 1
        pool.to_jsonl(run.path / "pools" / "latest.jsonl")
        if cfg.logging.dump_pools:
            pool.to_jsonl(run.path / "pools" / f"step_{state.step:06d}.jsonl")
        last = state.step == cfg.schedule.steps
        if last or _due(state.step, cfg.schedule.eval_every):
            state.last_eval = evaluate_all(workers, cfg, state.step)
            metrics.update(eval_metrics(state.last_eval))
        times["time/step"] = time.perf_counter() - t_step
        run.log(state.step, {**metrics, **times})
        bar.set_postfix({w.name: f"{metrics[f'{w.name}/reward']:.2f}" for w in workers})
        stop_if_stuck(run, state, workers, cfg.schedule.max_nan_skips)
        if last or _due(state.step, cfg.schedule.save_every):
            save_checkpoint(run, state, workers)
    bar.close()


def last_checkpoint(run) -> str:
    from train.checkpoint import list_checkpoints

    saved = list_checkpoints(run.checkpoints_dir)
    return f"the last checkpoint is {saved[-1][1]}" if saved else "no checkpoint was saved yet"


def start_run(cfg, resume: str | None):
    """(run dir, trainer state, workers, training env, external trajectories). Everything that can
    be wrong with the inputs fails first, before a model loads or a file is written; a resume
    restores the checkpoint's weights, optimizer states, trainer state and random streams."""
    from train.preflight import preflight
    from train.resume import prepare_resume, restore_rng
    from train.run_dir import RunDir

    point = prepare_resume(resume, cfg) if resume else None
    vec, external = preflight(cfg)
    run = RunDir.open(point.run_dir, cfg) if point else RunDir.create(cfg)
    state, agent_dirs = TrainerState(), None
    if point is not None:
        for reason in point.skipped:
            warnings.warn(f"skipping a damaged checkpoint: {reason}; resuming from {point.checkpoint.name}")
        run.rewind_to(point.checkpoint)
        run.record_resume({"checkpoint": str(point.checkpoint.relative_to(point.run_dir)), "step": point.step,
                           "changed": {k: list(v) for k, v in point.changes.items()}, "skipped": point.skipped})
        print(f"resuming {point.run_dir} from {point.checkpoint.name}"
              + "".join(f"\n  {k}: {old!r} -> {new!r}" for k, (old, new) in point.changes.items()), flush=True)
        agent_dirs, state = point.agent_dirs, TrainerState(**point.state["trainer"])
    random.seed(cfg.seed)
    np.random.seed(cfg.seed % 2**32)
    torch.manual_seed(cfg.seed)
    workers = build_workers(cfg, agent_dirs)
    if point is not None:
        legacy = point.state.get("workers", {})  # checkpoints that kept optimizer states in one file
        call_all(workers, "restore", [((str(agent_dirs[w.name]), legacy.get(w.name)), {}) for w in workers])
        restore_rng(point.state["rng"])
    return run, state, workers, vec, external


def _due(step: int, every: int) -> bool:
    return bool(every) and step % every == 0


def eval_metrics(results: dict[str, dict]) -> dict[str, float]:
    return {f"{n}/eval/{k}": r[key] for n, r in results.items()
            for k, key in (("greedy_acc", "accuracy"), ("avg_at_k", "avg_at_k"))}


def save_checkpoint(run, state: TrainerState, workers) -> None:
    from train.resume import capture_rng

    # each worker writes its own model and training state (under Ray: from its actor)
    run.save_checkpoint(state.step, {w.name: w for w in workers}, {"trainer": state.__dict__, "rng": capture_rng()})


def stop_if_stuck(run, state: TrainerState, workers, max_nan_skips: int) -> None:
    """Checkpoint and stop when an agent skipped more than `max_nan_skips` updates in a row."""
    stuck = [n for n, c in state.nan_consecutive.items() if c > max_nan_skips]
    if stuck:
        save_checkpoint(run, state, workers)
        raise RuntimeError(
            f"agents {stuck} skipped more than schedule.max_nan_skips={max_nan_skips} consecutive "
            f"updates on non-finite losses/gradients; saved a checkpoint in {run.path}. Lower the agent's lr, "
            "use precision=fp32, or raise max_nan_skips, then resume with --resume")


def finish_run(run, cfg, state: TrainerState) -> dict:
    from train.flow import run_totals
    from train.summary import accuracy_changes, print_summary

    if cfg.logging.plots:
        run.plot()
    run.close()
    rows = run.read_metrics()  # the whole run's, resumed parts included
    flow = {a.name: totals for a in cfg.agents if (totals := run_totals(rows, a.name)) is not None}
    summary = {"run_dir": str(run.path), "start": state.first_eval, "end": state.last_eval,
               "change": accuracy_changes(state.first_eval, state.last_eval), "flow": flow}
    run.write_json("summary.json", {"run_dir": summary["run_dir"], "change": summary["change"], "flow": flow})
    print_summary(summary)
    return summary
