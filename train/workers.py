"""Agents behind a worker interface, so the trainer never touches a model directly.

`AgentWorker` is what the loop calls: generate / score / learn / evaluate / save_pretrained /
restore. `LocalWorker` runs in this process; `train.ray_backend.RayWorker` runs the same
`LocalWorker` inside a Ray actor. Everything crossing the interface is plain data (lists of
strings, ids, floats; the step's `SharedStep` of pool records; the frozen `AlgoSpec`), and the
loop calls every worker at once through `call_all` (`submit`, then `result`): Ray actors run
those calls in parallel, local workers one after another.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import torch

from train.update_step import LearnerRow, score_rows, update_policy
from train.views import SharedStep, learner_rows

#: A worker's optimizer, lr schedule and KL reference, beside its HF files in a checkpoint.
TRAINING_STATE = "training_state.pt"


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

    def learn(self, step: SharedStep, k: int, spec: Any, *, seed: int) -> dict[str, float]:
        """As learner k of `step`: build its rows from the pool (`train.views`) and run the step's
        optimizer updates under `spec` (the run's `AlgoSpec`); returns metrics."""

    def evaluate(self, env_id: str, split: str, **kwargs: Any) -> dict:
        """Held-out accuracy of this agent alone (`train.evaluate.evaluate_agent` keywords), as
        `train.evaluate.scores` keeps it: aggregates plus per-problem scores (plain lists)."""

    def save_pretrained(self, path: str) -> None:
        """Write the model as a plain Hugging Face directory, and its training state beside it."""

    def restore(self, path: str, legacy_state: dict | None = None) -> None:
        """Load the training state `save_pretrained` wrote into `path` (weights are loaded when the
        worker is built from that directory); `legacy_state`: a checkpoint's older in-file copy."""

    def submit(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """Start `method(*args, **kwargs)`; the returned handle's `result()` gives its value."""

    def share(self, obj: Any) -> Any:
        """`obj` as an argument every worker of the run reads (stored once for all)."""

    def close(self) -> None:
        """Release the worker's process and resources at the end of the run."""


class WorkerLost(RuntimeError):
    """An agent's worker process died (killed, out of memory, or its node went away)."""

    def __init__(self, name: str, reason: str):
        self.name, self.reason = name, reason
        super().__init__(f"agent {name!r}: its worker process died ({reason})")


class Done:
    """The handle of a call that already ran (a local worker runs a call when it is submitted)."""

    def __init__(self, value: Any):
        self.value = value

    def result(self) -> Any:
        return self.value


def call_all(workers: Sequence[AgentWorker], method: str, calls: Sequence[tuple[tuple, dict]]) -> list:
    """`method` on every worker with its own (args, kwargs), all started before any is awaited."""
    pending = [w.submit(method, *args, **kwargs) for w, (args, kwargs) in zip(workers, calls, strict=True)]
    return [p.result() for p in pending]


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
            out = self.agent.generate(list(prompts), n=n, temperature=c.temperature, top_p=c.top_p,
                                      max_new_tokens=max_new_tokens or c.max_new_tokens, seed=seed, greedy=greedy,
                                      max_prompt_tokens=c.max_prompt_tokens)
        self._engine_sleep()  # scoring and the update need the device; the next generate wakes it
        return out

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
    def learn(self, step, k, spec, *, seed):
        rows, info = learner_rows(spec, k, step)
        return {**info, **self.update(rows, spec, seed=seed)}

    def update(self, rows: Sequence[LearnerRow], spec, *, seed: int) -> dict[str, float]:
        """The step's optimizer updates on `rows`; returns metrics (lr included)."""
        c = self.config
        self._engine_sleep()  # no-op when asleep already (after `generate`)
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
        # An engine holding its own weight copy (vLLM) takes the new weights now, timed (asleep, it
        # wakes its weights for that and leaves its KV cache asleep until the next rollout).
        sync = getattr(self.agent.engine, "sync_weights", None)
        if sync is not None:
            t0 = time.perf_counter()
            sync()
            out = {**out, "time/weight_sync": time.perf_counter() - t0}
        return {**out, "learning_rate": lr}

    def evaluate(self, env_id, split, **kwargs):
        from train.evaluate import evaluate_agent, scores

        # the trained model itself, not an approximate (int8) rollout sampler; an agent class
        # without such a sampler has nothing to switch
        with getattr(self.agent, "model_precision_sampling", contextlib.nullcontext)():
            out = scores(evaluate_agent(self.agent, env_id, split, **kwargs))
        self._engine_sleep()
        return out

    def _engine_sleep(self) -> None:
        """Free the device for the learner: a vLLM engine on a GPU sleeps (its `sleep` is a no-op
        on CPU); the transformers engine shares the training weights and has nothing to free."""
        sleep = getattr(self.agent.engine, "sleep", None)
        if sleep is not None:
            sleep()

    # -- calls and persistence -----------------------------------------------------------------
    def submit(self, method, *args, **kwargs):
        return Done(getattr(self, method)(*args, **kwargs))

    def share(self, obj):
        return obj

    def close(self):
        close = getattr(self.agent.engine, "close", None)  # vLLM: shut its engine down
        if close is not None:
            close()

    def save_pretrained(self, path):
        """The HF model dir plus TRAINING_STATE, so one directory restores this worker wherever
        it runs (a checkpoint hands workers to `RunDir.save_checkpoint` like agents)."""
        self.agent.save_pretrained(str(path))
        torch.save(self.state_dict(), Path(path) / TRAINING_STATE)

    def restore(self, path, legacy_state=None):
        saved = Path(path) / TRAINING_STATE
        state = torch.load(saved, map_location="cpu", weights_only=True) if saved.is_file() else legacy_state
        if state is None:
            raise ValueError(f"{path} holds no {TRAINING_STATE} and the checkpoint no optimizer state for "
                             f"agent {self.name!r}; it was not written by a hacrl checkpoint")
        self.load_state_dict(state)

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


def local_worker(config, source: str, *, total_steps: int) -> LocalWorker:
    """A LocalWorker for agent `config` (an `AgentConfig`), its model loaded from `source` (the
    configured model, or its directory in a checkpoint)."""
    import agents as agents_lib

    from train.config import resolve_device

    agent = agents_lib.load(source, device=resolve_device(config), precision=config.precision,
                            generation_precision=config.generation_precision, engine=config.engine)
    agent.name = config.name  # the run's name for it (zoo loaders name agents after the zoo entry)
    if config.engine == "vllm":  # read when the engine starts (its first generate)
        agent.engine.gpu_memory_utilization = config.vllm_gpu_memory_utilization
    return LocalWorker(agent, config, total_steps=total_steps)


@contextlib.contextmanager
def compute_session(cfg):
    """This process's torch threads set to cfg.threads (restored after), and for backend=ray a
    Ray session around the run."""
    threads = torch.get_num_threads()
    torch.set_num_threads(cfg.threads)
    try:
        if cfg.backend == "ray":
            from train.ray_backend import ray_session

            with ray_session(cfg):
                yield
        else:
            yield
    finally:
        torch.set_num_threads(threads)


def build_workers(cfg, agent_dirs: dict[str, str] | None = None) -> list:
    """One worker per configured agent (from its checkpoint dir when resuming): in this process
    (backend=local), or each in its own Ray actor (backend=ray; Ray must be started)."""
    sources = {a.name: str((agent_dirs or {}).get(a.name, a.model)) for a in cfg.agents}
    if cfg.backend == "ray":
        from train.ray_backend import ray_workers

        return ray_workers(cfg, sources)
    return [local_worker(a, sources[a.name], total_steps=cfg.schedule.steps) for a in cfg.agents]


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
