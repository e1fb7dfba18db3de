"""The HACPO training loop, one named function per phase (CleanRL style, read top to bottom):

    rollout -> verify -> pool -> behaviour log-probs -> capability + advantages -> update -> log/eval/save

`train(cfg)` runs a whole experiment; each phase is a small function taking plain data so it can
be tested alone.  The math is `train.core`'s; the algorithm variant (hacpo, gspo, grpo, naive,
ablations) is an `AlgoSpec` from `train.algorithms` that only decides which rows each learner
gets and which objective/advantage they use.  Agents sit behind `train.workers.AgentWorker`.
"""

from __future__ import annotations

import random
import time
import warnings
from dataclasses import dataclass, field

import numpy as np
import torch

from train import core
from train.algorithms import learns_from_peers
from train.pool import Pool, Trajectory, group_external
from train.update_step import LearnerBatch, UpdateParams


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
    """{agent: [P][num_samples] Sample}; each agent gets its own derived seed."""
    return {w.name: w.generate(prompts, num_samples, seed=seed * 1009 + i) for i, w in enumerate(workers)}


# ---------------------------------------------------------------------------------------------
# Phase 2: verify -- ONE env step verifies all P x n x G responses


def verify(vec, samples: dict[str, list[list]]):
    """Returns (rewards {agent: (P, G) ndarray}, infos {agent: env info dict})."""
    actions = {name: [[s.text for s in group] for group in per_prompt] for name, per_prompt in samples.items()}
    _, _, _, _, infos = vec.step(actions)
    rewards = {name: np.stack([np.asarray(r, dtype=np.float64) for r in infos[name]["rewards"]])
               for name in samples}
    return rewards, infos


# ---------------------------------------------------------------------------------------------
# Phase 3: the shared pool (tokenizer-neutral records)


def build_pool(problems, prompts: list, samples, rewards, infos, step: int) -> Pool:
    pool = Pool(step=step)
    for name, per_prompt in samples.items():
        for p, group in enumerate(per_prompt):
            for i, s in enumerate(group):
                pool.add(Trajectory(
                    prompt_id=str(problems[p].id), prompt=prompts[p], response=s.text, source=name,
                    reward=float(rewards[name][p, i]), extracted=str(infos[name]["extracted"][p][i]),
                    reason=str(infos[name]["reasons"][p][i]), source_num_tokens=len(s.token_ids),
                    sampling_mean_logp=float(np.mean(s.logprobs)) if len(s.logprobs) else 0.0,
                    finished=bool(s.finished), policy_version=step, prompt_index=p, sample_index=i,
                    source_token_ids=tuple(int(t) for t in s.token_ids)))
    return pool


# ---------------------------------------------------------------------------------------------
# Phase 4: behaviour log-probs of every sample under its source's policy before ANY update


def score_behaviour(workers, pool: Pool, external: list[Trajectory], *, shared: bool = True,
                    samples: dict[str, list[list]] | None = None) -> tuple[dict, list[Trajectory]]:
    """Fills `source_mean_logp` of the pool records it knows and returns ({agent: per-record token
    log-prob lists, None where not known yet}, external records with logps filled).

    samples (the rollout's): a record whose source's sampler is exact for its prompt
    (`sampler_logprobs_exact`: an fp32 sampler on fp32 weights; algo.behaviour_logprobs="auto") takes
    the sampler's own log-probs, which equal the training model's within fp32 rounding. The rest
    are re-scored by the source's training model over its own ids (EOS included), so an
    approximate sampler (int8, bf16) changes nothing; None re-scores everything.

    shared=False (no learner reads a peer's samples): nothing is re-scored here; each learner's
    update takes its own missing pre-update log-probs from its first forward (`update_policy`),
    and the loop fills the pool from what the update reports (`fill_self_logps`)."""
    token_logps = {}
    by_name = {w.name: w for w in workers}
    for w in workers:
        mine = pool.from_source(w.name)
        lps: list = [None] * len(mine)
        if samples is not None and mine:
            prompts = {r.prompt_index: r.prompt for r in mine}
            exact = dict(zip(prompts, w.sampler_logprobs_exact(list(prompts.values()))))
            lps = [list(samples[w.name][r.prompt_index][r.sample_index].logprobs) if exact[r.prompt_index] else None
                   for r in mine]
        todo = [i for i, lp in enumerate(lps) if lp is None]
        if shared and todo:
            rescored = w.score([mine[i].prompt for i in todo], response_ids=[list(mine[i].source_token_ids) for i in todo])
            for i, lp in zip(todo, rescored):
                lps[i] = lp
        token_logps[w.name] = lps
        pool.with_source_logps(w.name, [None if lp is None else sum(lp) / max(len(lp), 1) for lp in lps])
    scored = []
    for r in external:
        if r.source in by_name:  # rescored every step by that agent's current model
            lp = by_name[r.source].score([r.prompt], responses=[r.response], append_eos=[r.finished])[0]
            r = Trajectory(**{**r.__dict__, "source_mean_logp": sum(lp) / max(len(lp), 1),
                              "source_num_tokens": len(lp)})
        scored.append(r)
    return token_logps, scored


def fill_self_logps(pool: Pool, name: str, update_out: dict) -> None:
    """After an update that scored its own samples itself (score_behaviour(shared=False)),
    record those pre-update mean log-probs in the pool (for dumps and `logp_mismatch`)."""
    lps = update_out.get("self_old_mean_logp")
    if lps is not None and all(lp is not None for lp in lps) and pool.from_source(name):
        pool.with_source_logps(name, lps)


# ---------------------------------------------------------------------------------------------
# Phase 5: capability (once per step, before any update) and each learner's rows


def update_capability(state: TrainerState, rewards_pnG: torch.Tensor, spec) -> tuple[torch.Tensor, torch.Tensor]:
    """Appends this step's positive rates; returns (capability (n,), ratios (n, n))."""
    rates = [float(core.positive_rate(rewards_pnG[:, j])) for j in range(rewards_pnG.shape[1])]
    state.capability_history.append(rates)
    cap = core.capability_estimate(torch.tensor(state.capability_history), window=spec.window)
    return cap, core.capability_ratios(cap, clip=(spec.ratio_clip_low, spec.ratio_clip_high))


def learner_batch(k: int, names: list[str], pool: Pool, rewards_pnG: torch.Tensor, ratios: torch.Tensor,
                  capability: torch.Tensor, spec, self_token_logps: list, external: list[Trajectory]
                  ) -> tuple[LearnerBatch, dict[str, float]]:
    """Rows for learner k: its own samples plus (per the algorithm) peers' and external ones."""
    share = learns_from_peers(spec, k, capability)
    if share:
        adv = core.capability_advantages(rewards_pnG, k, ratios, eps=spec.adv_eps, uniform_guard=spec.uniform_guard,
                                         baseline_guard=spec.baseline_guard,
                                         capability_weighted=spec.capability_weighted_baseline)  # (P, n, G)
    else:
        adv = torch.zeros_like(rewards_pnG)
        adv[:, k] = core.group_advantages(rewards_pnG[:, k], eps=spec.adv_eps)
    batch = LearnerBatch()
    own_obj = "grpo" if spec.objective == "grpo" else "gspo"
    mine = pool.from_source(names[k])
    for r, tok in zip(mine, self_token_logps):  # self rows first (the V1 order when shuffle is off)
        batch.add(prompt=r.prompt, response_ids=r.source_token_ids, objective=own_obj, is_self=True,
                  advantage=float(adv[r.prompt_index, k, r.sample_index]), old_mean_logp=r.source_mean_logp,
                  old_token_logps=tok if own_obj == "grpo" else None, sampling_mean_logp=r.sampling_mean_logp)
    if share:
        for j, name in enumerate(names):
            if j == k:
                continue
            for r in pool.from_source(name):
                a = float(adv[r.prompt_index, j, r.sample_index])
                if spec.cross_as_self:  # naive: peers' samples treated exactly like own ones
                    batch.add(prompt=r.prompt, response=r.response, append_eos=r.finished, objective="gspo",
                              advantage=a, old_mean_logp=None)
                else:
                    batch.add(prompt=r.prompt, response=r.response, append_eos=r.finished, objective="cross",
                              advantage=a, coef=float(ratios[k, j]) if spec.use_omega else 1.0,
                              old_mean_logp=r.source_mean_logp)
    for group in group_external(external):  # configured by the user: mixed in for every learner
        ext_adv = core.group_advantages(torch.tensor([[r.reward for r in group]]), eps=spec.adv_eps)[0]
        for r, a in zip(group, ext_adv.tolist()):
            coef = float(ratios[k, names.index(r.source)]) if (r.source in names and spec.use_omega) else 1.0
            batch.add(prompt=r.prompt, response=r.response, append_eos=r.finished, objective="cross", advantage=a,
                      coef=coef, old_mean_logp=r.source_mean_logp)
    cross = [a for a, s in zip(batch.advantages, batch.is_self) if not s]
    positive = [s for a, s in zip(batch.advantages, batch.is_self) if a > 0]
    info = {"adv/peer_positive_share": (sum(1 for s in positive if not s) / len(positive)) if positive else 0.0,
            "cross_rows": float(len(cross))}
    return batch, info


def update_params(spec, minibatch_size: int, cfg_algo) -> UpdateParams:
    return UpdateParams(minibatch_size=minibatch_size, shuffle=cfg_algo.shuffle, eps_low=spec.eps_low,
                        eps_high=spec.eps_high, grpo_eps_low=spec.grpo_eps_low, grpo_eps_high=spec.grpo_eps_high,
                        alpha=spec.alpha, delta=spec.delta, delta_step=spec.delta_step, cross_clip=spec.cross_clip,
                        stepwise=spec.stepwise, kl_beta=cfg_algo.kl_beta)


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


def capture_rng() -> dict:
    """RNG states as tensors and plain containers, so checkpoints load with weights_only=True."""
    name, key, pos, has_gauss, cached = np.random.get_state()
    return {"python": random.getstate(), "numpy": (name, key.tolist(), pos, has_gauss, cached),
            "torch": torch.get_rng_state()}


def restore_rng(saved: dict) -> None:
    random.setstate(saved["python"])
    name, key, pos, has_gauss, cached = saved["numpy"]
    np.random.set_state((name, np.asarray(key, dtype=np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(saved["torch"])


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


def rl_step(workers, vec, spec, params, state: TrainerState, *, indices: list[int], group: int, seed: int,
            external: list[Trajectory] = ()) -> tuple[Pool, dict[str, float], dict[str, float]]:
    """One RL step on the problems at `indices`, phase by phase: rollout -> verify -> pool ->
    behaviour log-probs -> capability + advantages -> update. Returns (pool, per-agent metrics,
    seconds per phase). Its random streams derive from (`seed`, state.step); `train` and
    bench/throughput.py both run this, so a benchmark times exactly the trainer's step."""
    names = [w.name for w in workers]
    step, times = state.step, {}
    obs, _ = vec.reset(options={"indices": indices})
    prompts, problems = list(obs[names[0]]), list(vec.problems)
    with timed(times, "time/generate"):
        samples = rollout(workers, prompts, group, seed=_seed(seed, step, 1))
    with timed(times, "time/verify"):
        rewards, infos = verify(vec, samples)
    pool = build_pool(problems, prompts, samples, rewards, infos, step)
    with timed(times, "time/score"):
        reuse = samples if spec.behaviour_logprobs == "auto" else None
        self_token_logps, ext = score_behaviour(workers, pool, list(external), shared=spec.share_pool, samples=reuse)
    R = pool.rewards_tensor(names)  # (P, n, G)
    capability, ratios = update_capability(state, R, spec)
    metrics = {}
    with timed(times, "time/update"):
        for k, w in enumerate(workers):  # learners independent: inputs were all fixed above
            batch, info = learner_batch(k, names, pool, R, ratios, capability, spec, self_token_logps[w.name], ext)
            upd = w.update(batch, params, seed=_seed(seed, step, 2, k))
            if not spec.share_pool:
                fill_self_logps(pool, w.name, upd)
            upd.pop("self_old_mean_logp", None)
            metrics.update({f"{w.name}/{key}": v for key, v in {**info, **upd}.items()
                            if key not in ("nan_consecutive", "cross_rows")})
            skipped_all = upd["nan_skips"] >= upd.get("updates", 0) > 0
            state.nan_consecutive[w.name] = (state.nan_consecutive.get(w.name, 0) + int(upd["nan_skips"])
                                             if skipped_all else int(upd["nan_consecutive"]))
    return pool, {**rollout_metrics(names, pool, R, capability, ratios, state), **metrics}, times


# ---------------------------------------------------------------------------------------------
# The run


def _seed(*parts: int) -> int:
    """A well-mixed 31-bit seed from (run seed, step, agent, ...), so each stream is independent."""
    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(1)[0] & 0x7FFFFFFF)


def build_workers(cfg, agent_dirs: dict[str, str] | None = None) -> list:
    """One LocalWorker per configured agent (from its checkpoint dir when resuming)."""
    import agents as agents_lib

    from train.config import resolve_device
    from train.workers import LocalWorker

    workers = []
    for a in cfg.agents:
        source = (agent_dirs or {}).get(a.name, a.model)
        agent = agents_lib.load(source, device=resolve_device(a), precision=a.precision,
                                generation_precision=a.generation_precision)
        agent.name = a.name  # the run's name for it (zoo loaders name agents after the zoo entry)
        workers.append(LocalWorker(agent, a, total_steps=cfg.schedule.steps))
    return workers


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
    """Held-out accuracy of every agent ALONE (greedy pass@1 and sampled avg@k)."""
    return {w.name: w.evaluate(**eval_settings(cfg, i)) for i, w in enumerate(workers)}


def train(cfg, *, resume: str | None = None) -> dict:
    """Run (or resume) one experiment; returns {"run_dir", "start", "end"} held-out accuracies."""
    from tqdm.auto import tqdm

    from train.config import minibatch_size, resolve_algo
    from train.preflight import preflight
    from train.resume import prepare_resume
    from train.run_dir import RunDir

    spec = resolve_algo(cfg)
    names = [a.name for a in cfg.agents]
    resume = resume or cfg.resume
    # Everything that can be wrong with the inputs fails here, before a model loads or a file is written.
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
        for w in workers:
            w.load_state_dict(point.state["workers"][w.name])
        restore_rng(point.state["rng"])
    params = update_params(spec, minibatch_size(cfg), cfg.algo)
    P, G = cfg.schedule.prompts_per_step, cfg.schedule.group_size * int(spec.rollout_multiplier)
    dump_all = cfg.logging.dump_pools

    def checkpoint() -> None:
        run.save_checkpoint(state.step, {w.name: w for w in workers},
                            {"trainer": state.__dict__, "rng": capture_rng(),
                             "workers": {w.name: w.state_dict() for w in workers}})

    if state.step == 0 and not state.first_eval:
        state.first_eval = state.last_eval = evaluate_all(workers, cfg, 0)
        run.log(0, {f"{n}/eval/{k}": v for n, r in state.first_eval.items()
                    for k, v in (("greedy_acc", r["accuracy"]), ("avg_at_k", r["avg_at_k"]))})
    bar = tqdm(range(state.step, cfg.schedule.steps), initial=state.step, total=cfg.schedule.steps,
               disable=not cfg.logging.progress, desc=f"{cfg.algo.name}", dynamic_ncols=True)
    for step in bar:
        t_step = time.perf_counter()
        indices = next_prompt_indices(state, P, vec.num_problems, cfg.seed)
        pool, metrics, times = rl_step(workers, vec, spec, params, state, indices=indices, group=G, seed=cfg.seed,
                                       external=external_for_step(external, state, P))
        state.step = step + 1
        pool.to_jsonl(run.path / "pools" / "latest.jsonl")
        if dump_all:
            pool.to_jsonl(run.path / "pools" / f"step_{state.step:06d}.jsonl")
        last = state.step == cfg.schedule.steps
        if last or (cfg.schedule.eval_every and state.step % cfg.schedule.eval_every == 0):
            state.last_eval = evaluate_all(workers, cfg, state.step)
            for n, r in state.last_eval.items():
                metrics[f"{n}/eval/greedy_acc"], metrics[f"{n}/eval/avg_at_k"] = r["accuracy"], r["avg_at_k"]
        times["time/step"] = time.perf_counter() - t_step
        run.log(state.step, {**metrics, **times})
        bar.set_postfix({n: f"{metrics[f'{n}/reward']:.2f}" for n in names})
        stuck = [n for n, c in state.nan_consecutive.items() if c > cfg.schedule.max_nan_skips]
        if stuck:
            checkpoint()
            raise RuntimeError(
                f"agents {stuck} skipped more than schedule.max_nan_skips={cfg.schedule.max_nan_skips} consecutive "
                f"updates on non-finite losses/gradients; saved a checkpoint in {run.path}. Lower the agent's lr, "
                "use precision=fp32, or raise max_nan_skips, then resume with --resume")
        if last or (cfg.schedule.save_every and state.step % cfg.schedule.save_every == 0):
            checkpoint()
    bar.close()
    if cfg.logging.plots:
        run.plot()
    run.close()
    summary = {"run_dir": str(run.path), "start": state.first_eval, "end": state.last_eval,
               "change": accuracy_changes(state.first_eval, state.last_eval)}
    run.write_json("summary.json", {"run_dir": summary["run_dir"], "change": summary["change"]})
    print_summary(summary)
    return summary


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
