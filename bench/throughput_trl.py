"""The TRL side of bench/throughput.py: TRL's GRPOTrainer set up to do what one `gspo` step does.

Matching, setting by setting (ours -> TRL):
  weights/tokenizer   one save_pretrained dir         -> AutoModelForCausalLM/AutoTokenizer from it, fp32
  prompts             trainer's seeded order, P/step  -> the same rows in that order, shuffle_dataset=False,
                                                         as chat messages (TRL applies the same chat template)
  G, length           G, exactly T tokens             -> num_generations=G, max_completion_length=T,
                                                         generation_kwargs min_new_tokens=T (EOS banned before)
  sampling            temperature 1, top_p 1, no top-k -> temperature=1, top_p=1, top_k=0
  updates per step    2 minibatches of P*G/2          -> generation_batch_size=P*G, per_device_train_batch_size
                                                         =P*G/2, gradient_accumulation_steps=1: 2 optimizer steps
                                                         per generation (the 2nd one off-policy, so TRL
                                                         scores old log-probs of all P*G rows first)
  old log-probs       the fp32 sampler's own (exact;   -> (TRL's transformers generation returns none: it
                      algo.behaviour_logprobs=auto)       re-scores them with the training model)
  objective           GSPO eps 3e-4/4e-4, no KL       -> importance_sampling_level="sequence", epsilon=3e-4,
                                                         epsilon_high=4e-4, beta=0, loss_type="grpo"
  optimizer           AdamW lr 2e-4, wd 0, clip 1.0    -> optim=adamw_torch, same, constant schedule, no warm-up
  reward              env verifier                    -> verifiers.as_trl_reward(the env's verifier)
  device              CPU fp32                        -> use_cpu=True, bf16=False, no vLLM
  activations         kept for backward                -> activation_checkpointing=False (GRPOConfig's default
                                                         True would recompute the forward: slower, not fairer)

One RL step of TRL = two consecutive optimizer steps; its time is measured between the
`on_step_end` callbacks around them, so it covers generation, reward, scoring and both updates.
"""

from __future__ import annotations

import dataclasses
import statistics
import tempfile
import time
from typing import Any


def run_trl_case(case: Any) -> dict:
    """`case` is a bench.throughput.Case with algo=gspo, one agent and model_dirs=(saved dir,)."""
    import torch
    import trl
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer, PrinterCallback, TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    from bench.throughput import _rss_peak_mib, build_config, make_env, prompt_indices
    from verifiers import as_trl_reward

    if case.algo != "gspo" or len(case.model_dirs) != 1:
        raise ValueError(f"the TRL comparison runs one gspo agent from a saved dir; got algo={case.algo!r}, "
                         f"model_dirs={case.model_dirs!r}")
    cfg = build_config(case)  # the same defaults our side runs with (lr, clip, minibatch)
    agent_cfg = cfg.agents[0]
    vec = make_env(cfg, case.prompts)
    rows = [{"prompt": [{"role": "user", "content": vec.problem_set[i].prompt}],
             "answer": vec.problem_set.verifier_answer(i, task_verifier=vec.task_verifier)}
            for step in prompt_indices(case, vec.num_problems) for i in step]
    torch.manual_seed(case.seed)
    model = AutoModelForCausalLM.from_pretrained(case.model_dirs[0], dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(case.model_dirs[0])
    per_update = case.prompts * case.group // 2
    total_steps = case.warmup + case.steps

    class StepClock(TrainerCallback):
        def __init__(self) -> None:
            self.ends: list[float] = []
            self.lengths: list[float] = []

        def on_train_begin(self, args, state, control, **kw):
            self.ends.append(time.perf_counter())

        def on_step_end(self, args, state, control, **kw):
            self.ends.append(time.perf_counter())

        def on_log(self, args, state, control, logs=None, **kw):
            if logs and "completions/mean_length" in logs:
                self.lengths.append(float(logs["completions/mean_length"]))

    clock = StepClock()
    with tempfile.TemporaryDirectory(prefix="hacrl-trl-") as out_dir:
        args = GRPOConfig(
            output_dir=out_dir, use_cpu=True, bf16=False, fp16=False, activation_checkpointing=False, seed=case.seed,
            num_generations=case.group, max_completion_length=case.tokens,
            generation_kwargs={"min_new_tokens": case.tokens}, temperature=agent_cfg.temperature,
            top_p=agent_cfg.top_p, top_k=0,
            generation_batch_size=case.prompts * case.group, per_device_train_batch_size=per_update,
            gradient_accumulation_steps=1, num_iterations=1, shuffle_dataset=False,
            importance_sampling_level="sequence", loss_type="grpo", epsilon=3e-4, epsilon_high=4e-4, beta=0.0,
            learning_rate=agent_cfg.lr, weight_decay=agent_cfg.weight_decay, max_grad_norm=agent_cfg.max_grad_norm,
            optim="adamw_torch", lr_scheduler_type="constant", warmup_steps=0,
            max_steps=2 * total_steps, logging_steps=1, save_strategy="no", report_to="none",
            disable_tqdm=True, dataloader_num_workers=0)
        trainer = GRPOTrainer(model=model, reward_funcs=[as_trl_reward(vec.verifier)], args=args,
                              train_dataset=Dataset.from_list(rows), processing_class=tokenizer, callbacks=[clock])
        trainer.remove_callback(PrinterCallback)  # it prints every log dict (logging_steps=1 feeds StepClock)
        trainer.train()
    rl_steps = [clock.ends[2 * k + 2] - clock.ends[2 * k] for k in range(total_steps)]
    timed = rl_steps[case.warmup:]
    mean_len = statistics.mean(clock.lengths) if clock.lengths else float("nan")
    return {"case": dataclasses.asdict(case), "side": "trl", "trl_version": trl.__version__, "step_seconds": rl_steps,
            "median": {"step": statistics.median(timed)}, "updates_per_step": 2,
            "gen_tokens_per_step": mean_len * case.prompts * case.group, "peak_rss_mib": _rss_peak_mib()}
