"""Agents behind a worker interface, so the trainer never touches a model directly.

`AgentWorker` is what the loop calls: generate / score / update / save / load / state_dict.
`LocalWorker` runs in this process.  Everything crossing the interface is plain data (lists of
strings, ids, floats; `LearnerRow`s of pool records; the frozen `AlgoSpec`), so a worker in
another process or on another device can wrap the same `LocalWorker` without any change to the
math in `train/update_step.py`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import torch

from train.update_step import LearnerRow, score_rows, update_policy


@runtime_checkable
class AgentWorker(Protocol):
    """One agent (model + tokenizer + optimizer) the trainer drives by name."""

    name: str

    def generate(self, prompts: Sequence[Any], n: int, *, seed: int | None = None,
                 greedy: bool = False, max_new_tokens: int | None = None) -> list[list[Any]]:
        """[len(prompts)][n] `agents.Sample`s with this agent's sampling settings."""

    def score(self, prompts: Sequence[Any], *, responses: Sequence[str] | None = None,
              response_ids: Sequence[Sequence[int]] | None = None,
              append_eos: Sequence[bool] | bool = False) -> list[list[float]]:
        """Per-sequence response-token log-probs under the current weights (no grad)."""

    def sampler_logprobs_exact(self, prompts: Sequence[Any]) -> list[bool]:
        """Per prompt: are the log-probs `generate` returns for it the training model's own (within
        fp32 rounding), so the trainer may use them as behaviour log-probs without re-scoring?"""

    def update(self, rows: Sequence[LearnerRow], spec: Any, *, seed: int) -> dict[str, float]:
        """One training step's optimizer updates on `rows` under `spec` (the run's `AlgoSpec`,
        minibatch_size set); returns metrics."""

    def evaluate(self, env_id: str, split: str, **kwargs: Any) -> dict:
        """Held-out accuracy of this agent alone (`train.evaluate.evaluate_agent` keywords), as
        `train.evaluate.scores` keeps it: aggregates plus per-problem scores (plain lists)."""

    def save(self, path: str) -> None:
        """Write the model as a plain Hugging Face directory."""

    def load(self, path: str) -> None:
        """Load model weights saved by `save` (same architecture)."""

    def state_dict(self) -> dict:
        """Optimizer (and any other training) state for checkpoints."""

    def load_state_dict(self, state: dict) -> None: ...


class LocalWorker:
    """An in-process worker around an `agents.LLMAgent` with its own AdamW optimizer.

    `config` is the agent's `AgentConfig` (lr, lr_scheduler, warmup_ratio, weight_decay,
    max_grad_norm, precision, temperature, top_p, max_new_tokens, max_prompt_tokens, token_budget).
    `total_steps` is the run's number of training steps, which the lr schedule spans; each
    `update` call is one training step and advances the schedule once.
    """

    def __init__(self, agent, config, *, total_steps: int = 1):
        self.agent = agent
        self.name: str = config.name
        self.config = config
        if config.precision not in ("fp32", "bf16"):
            raise ValueError(f"agents[{config.name}].precision={config.precision!r}; use 'fp32' or 'bf16'")
        if not (config.lr > 0 and math.isfinite(config.lr)):
            raise ValueError(f"agents[{config.name}].lr must be a positive number, got {config.lr}")
        # fp32 master weights always; bf16 only autocasts the forward passes (inside the agent)
        self.agent.precision = config.precision
        self.agent.model.float()
        self.agent.model.train()
        self.optimizer = torch.optim.AdamW(self.agent.model.parameters(), lr=config.lr,
                                           weight_decay=config.weight_decay)
        self.total_steps = total_steps
        self.scheduler = lr_schedule(self.optimizer, config, total_steps)
        self.reference = None  # frozen copy for the KL term, made on first use (kl_beta > 0)

    # -- rollout -------------------------------------------------------------------------------
    def generate(self, prompts, n, *, seed=None, greedy=False, max_new_tokens=None):
        c = self.config
        with torch.no_grad():
            # the prompt cut to max_prompt_tokens here too: sampler and learner see one context
            return self.agent.generate(list(prompts), n=n, temperature=c.temperature, top_p=c.top_p,
                                       max_new_tokens=max_new_tokens or c.max_new_tokens, seed=seed, greedy=greedy,
                                       max_prompt_tokens=c.max_prompt_tokens)

    def score(self, prompts, *, responses=None, response_ids=None, append_eos=False):
        c = self.config
        if not prompts:
            return []
        batch = self.agent.encode(list(prompts), responses=None if responses is None else list(responses),
                                  response_ids=None if response_ids is None else [list(x) for x in response_ids],
                                  append_eos=append_eos if isinstance(append_eos, bool) else list(append_eos),
                                  max_prompt_tokens=c.max_prompt_tokens, max_response_tokens=c.max_new_tokens)
        return score_rows(self.agent, batch, token_budget=c.token_budget)

    def sampler_logprobs_exact(self, prompts):
        # Exact: fp32 sampling from the fp32 training weights (an int8 or bf16 sampler is not). The
        # prompt does not matter: `generate` cuts it to max_prompt_tokens as the update does.
        exact = self.agent.precision == "fp32" and getattr(self.agent.engine, "exact", False)
        return [exact] * len(prompts)

    # -- update --------------------------------------------------------------------------------
    def update(self, rows, spec, *, seed):
        c = self.config
        if spec.kl_beta > 0 and self.reference is None:
            import copy

            self.reference = copy.deepcopy(self.agent.model).eval().requires_grad_(False)
        lr = self.optimizer.param_groups[0]["lr"]
        out = update_policy(self.agent, self.optimizer, rows, spec, seed=seed, max_grad_norm=c.max_grad_norm,
                            max_prompt_tokens=c.max_prompt_tokens, max_response_tokens=c.max_new_tokens,
                            token_budget=c.token_budget, reference=self.reference)
        self.scheduler.step()
        # The engine spots weight updates by tensor version counters, which some in-place optimizers
        # do not bump (torch's fused AdamW): without this it would sample from stale weight copies.
        invalidate = getattr(self.agent.engine, "invalidate", None)
        if invalidate is not None:
            invalidate()
        return {**out, "learning_rate": lr}

    def evaluate(self, env_id, split, **kwargs):
        from train.evaluate import evaluate_agent, scores

        return scores(evaluate_agent(self.agent, env_id, split, **kwargs))

    # -- persistence ---------------------------------------------------------------------------
    def save_pretrained(self, path):
        """So a worker can be handed to `RunDir.save_checkpoint` like an agent."""
        return self.agent.save_pretrained(str(path))

    def save(self, path):
        self.agent.save_pretrained(str(path))

    def load(self, path):
        from transformers import AutoModelForCausalLM

        loaded = AutoModelForCausalLM.from_pretrained(str(path), torch_dtype=torch.float32)
        missing = self.agent.model.load_state_dict(loaded.state_dict(), strict=False)
        if missing.missing_keys:
            # tied embeddings are saved once; anything else missing means a different architecture
            untied = [k for k in missing.missing_keys if "lm_head" not in k]
            if untied:
                raise ValueError(f"checkpoint {path} does not match agent {self.name!r}: missing {untied[:5]}")

    def state_dict(self):
        return {"optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
                "reference": None if self.reference is None else self.reference.state_dict()}

    def load_state_dict(self, state):
        self.optimizer.load_state_dict(state["optimizer"])
        # The schedule resumes at its saved position but with this config's lr and steps, so a
        # resume that changes agents.N.lr or schedule.steps applies them (checkpoints from before
        # lr schedules existed ran at a constant lr: position 0 of "constant" is the same thing).
        done = state.get("scheduler", {}).get("last_epoch", 0)
        self.scheduler = lr_schedule(self.optimizer, self.config, self.total_steps, steps_done=done)
        if state.get("reference") is not None:
            import copy

            self.reference = copy.deepcopy(self.agent.model).eval().requires_grad_(False)
            self.reference.load_state_dict(state["reference"])


def lr_schedule(optimizer, config, total_steps: int, *, steps_done: int = 0):
    """The agent's lr schedule over `total_steps` training steps, positioned after `steps_done`
    of them: transformers' schedules, so "linear"/"cosine" with `warmup_ratio` mean what they
    mean in TRL. The optimizer's lr is set to the one the next step uses."""
    from transformers import (get_constant_schedule_with_warmup, get_cosine_schedule_with_warmup,
                              get_linear_schedule_with_warmup)

    for group in optimizer.param_groups:
        group["initial_lr"] = config.lr
    warmup = round(config.warmup_ratio * total_steps)
    if config.lr_scheduler == "constant":
        return get_constant_schedule_with_warmup(optimizer, warmup, last_epoch=steps_done - 1)
    decay = {"linear": get_linear_schedule_with_warmup, "cosine": get_cosine_schedule_with_warmup}
    if config.lr_scheduler not in decay:
        from train.config import LR_SCHEDULERS  # the names the config validates against

        raise ValueError(f"agents[{config.name}].lr_scheduler={config.lr_scheduler!r}; use one of {LR_SCHEDULERS}")
    return decay[config.lr_scheduler](optimizer, warmup, max(1, total_steps), last_epoch=steps_done - 1)
