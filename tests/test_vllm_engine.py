"""The vLLM rollout engine (agents/vllm_engine.py, the optional `vllm` extra) against the transformers
engine on a zoo model: greedy text, sampled log-probs vs re-scoring, weight sync after updates, a
two-agent HACPO step with one agent on each engine and its resume. Those skip when vLLM does not
import; the sleep-mode order (GPU only in vLLM) and the memory-share setting are checked against a
fake `vllm.LLM` that records its calls, so they run everywhere."""

from __future__ import annotations

import copy
import random
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

import agents
from agents import LLMAgent
from agents.engine import Completion, SamplingParams
from agents.vllm_engine import VLLMEngine, vllm_available

REPO = Path(__file__).resolve().parents[1]
PROMPTS = ["What is 2 + 3?", "Compute 4 + 5 + 1.", "What is 7 + 1 + 2?"]
#: vLLM's fp32 CPU kernels vs a transformers forward, per token log-prob (observed: ~1e-6)
LOGP_ATOL = 1e-4

_NO_VLLM = vllm_available()  # not installed, or a broken install (e.g. torchvision's operators)


def real_vllm(test):
    """A test that runs vLLM itself: slow (vLLM starts in tens of seconds on 2 busy cores), and
    skipped where vLLM does not import."""
    skip = pytest.mark.skipif(_NO_VLLM is not None, reason=f"vLLM does not import ({_NO_VLLM}); "
                              "pip install 'hacrl[vllm]'")
    return pytest.mark.slow(skip(test))



@pytest.fixture(scope="module")
def zoo_llama():
    return agents.load("tiny-llama-bpe", device="cpu")


@pytest.fixture
def pair(zoo_llama):
    """(transformers agent, vLLM agent) over ONE model copy: the vLLM engine serves its weights."""
    model = copy.deepcopy(zoo_llama.model)
    hf = LLMAgent(model, zoo_llama.tokenizer, name="hf")
    vl = LLMAgent(model, zoo_llama.tokenizer, name="vl", engine="vllm")
    yield hf, vl
    vl.engine.close()


def _greedy(agent, prompts=PROMPTS, n=1):
    return agent.generate(prompts, n=n, greedy=True, max_new_tokens=28)


@real_vllm
def test_greedy_text_ids_and_logprobs_equal_the_transformers_engine(pair) -> None:
    hf, vl = pair
    assert vl.engine.exact is False
    threads, rng, py_rng = torch.get_num_threads(), torch.random.get_rng_state(), random.getstate()
    vl.engine.start()
    assert vl.engine.started and vl.engine.startup_seconds > 0
    # vLLM's in-process start seeds the global RNGs and disables torch.set_num_threads: both undone
    assert torch.equal(torch.random.get_rng_state(), rng) and random.getstate() == py_rng
    assert torch.get_num_threads() == threads
    torch.set_num_threads(1)
    assert torch.get_num_threads() == 1
    torch.set_num_threads(threads)
    ref, got = _greedy(hf, n=2), _greedy(vl, n=2)
    for r_rows, g_rows in zip(ref, got):
        assert len(g_rows) == 2
        for r, g in zip(r_rows, g_rows):
            assert (g.text, g.token_ids, g.finished) == (r.text, r.token_ids, r.finished)
            assert g.token_ids[-1] in vl.eos_token_ids if g.finished else len(g.token_ids) == 28
            torch.testing.assert_close(torch.tensor(g.logprobs), torch.tensor(r.logprobs), atol=LOGP_ATOL, rtol=0)


@real_vllm
def test_sampled_logprobs_agree_with_rescoring_and_seeds_repeat(pair) -> None:
    _, vl = pair
    kw = dict(n=4, temperature=0.8, top_p=0.95, max_new_tokens=20, seed=123)
    rows = vl.generate(PROMPTS, **kw)
    again = vl.generate(PROMPTS, **kw)
    assert [[s.token_ids for s in r] for r in rows] == [[s.token_ids for s in r] for r in again]
    flat = [s for r in rows for s in r]
    assert len({tuple(s.token_ids) for s in flat}) > 1  # rows are not all the same draw
    prompts = [p for p in PROMPTS for _ in range(4)]
    scored = vl.sequence_logprobs(prompts, response_ids=[s.token_ids for s in flat], append_eos=False)
    for s, lp in zip(flat, scored.token_logprobs):
        assert len(s.logprobs) == len(s.token_ids) == lp.numel()
        torch.testing.assert_close(torch.tensor(s.logprobs), lp, atol=LOGP_ATOL, rtol=0)


@real_vllm
def test_weight_sync_follows_the_training_model(pair) -> None:
    hf, vl = pair
    before = _greedy(vl)
    syncs = vl.engine.syncs
    with torch.no_grad():  # an in-place update (bumps version counters, as an optimizer step)
        g = torch.Generator().manual_seed(0)
        for p in vl.model.parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.05)
    after, ref = _greedy(vl), _greedy(hf)
    assert vl.engine.syncs == syncs + 1
    assert [r[0].token_ids for r in after] != [r[0].token_ids for r in before]
    for a, r in zip(after, ref):
        assert a[0].token_ids == r[0].token_ids
        torch.testing.assert_close(torch.tensor(a[0].logprobs), torch.tensor(r[0].logprobs), atol=LOGP_ATOL, rtol=0)
    # a write through .data leaves version counters alone: invalidate() + sync_weights() (what the worker does)
    with torch.no_grad():
        for p in vl.model.parameters():
            p.data.mul_(0.9)
    vl.engine.invalidate()
    hf.engine.invalidate()  # the transformers engine's fused decode plan is stale the same way
    assert vl.engine.sync_weights() > 0 and vl.engine.syncs == syncs + 2
    assert vl.engine.sync_weights() == 0.0  # nothing changed since
    for a, r in zip(_greedy(vl), _greedy(hf)):
        assert a[0].token_ids == r[0].token_ids


def _step_rows(run_dir) -> dict[int, dict]:
    from train.plots import read_metrics

    return {row["step"]: row for row in read_metrics(Path(run_dir) / "metrics.jsonl")}


@pytest.fixture(scope="module")
def vllm_run(tmp_path_factory):
    """One HACPO step of configs/smoke.yaml with llama on vLLM and qwen2 on transformers,
    checkpointed (save_every 1); the resume test continues it."""
    from train.config import load_config
    from train.loop import train

    out = tmp_path_factory.mktemp("vllm-runs")
    cfg = load_config(str(REPO / "configs" / "smoke.yaml"),
                      [f"output_dir={out}", "run_name=vllm", "schedule.steps=1", "agents.0.engine=vllm",
                       "agents.0.max_new_tokens=24", "agents.1.max_new_tokens=24", "logging.plots=false"])
    return train(cfg)


@real_vllm
def test_two_agent_hacpo_step_with_one_vllm_agent(vllm_run) -> None:
    step = _step_rows(vllm_run["run_dir"])[1]
    assert step["llama/time/weight_sync"] > 0 and "qwen2/time/weight_sync" not in step
    # llama's sampler is approximate, so its behaviour log-probs were re-scored; the gap (logged when
    # the first mini-batch held own samples) is small
    assert step.get("llama/logp_mismatch", 0.0) < 1e-3
    for name in ("llama", "qwen2"):
        assert step[f"{name}/cost/responses"] == 4 and f"{name}/eval/greedy_acc" in step


@real_vllm
def test_a_run_with_a_vllm_agent_resumes_from_its_checkpoint(vllm_run) -> None:
    from train.config import load_config
    from train.loop import train

    run = Path(vllm_run["run_dir"])
    assert (run / "checkpoints" / "step_1" / "llama" / "model.safetensors").is_file()
    # what `python train/hacpo.py --resume <run> --schedule.steps=2` does
    resumed = train(load_config(str(run / "config.yaml"), ["schedule.steps=2"]), resume=str(run))
    assert Path(resumed["run_dir"]) == run
    rows = _step_rows(run)
    assert sorted(rows) == [0, 1, 2]
    step = rows[2]
    # the new process's vLLM engine started from the checkpoint's weights: it samples what the
    # (restored) training model scores, so the re-scoring gap stays as small as in a fresh run
    assert step["llama/time/weight_sync"] > 0 and step.get("llama/logp_mismatch", 0.0) < 1e-3
    for name in ("llama", "qwen2"):
        assert step[f"{name}/cost/responses"] == 4 and f"{name}/eval/greedy_acc" in step
        assert (run / "checkpoints" / "step_2" / name / "training_state.pt").is_file()
    assert len((run / "resumes.jsonl").read_text().splitlines()) == 1


@real_vllm
def test_min_new_tokens_and_prompt_cut_match_the_transformers_engine(pair) -> None:
    hf, vl = pair
    kw = dict(greedy=True, max_new_tokens=16, min_new_tokens=12, max_prompt_tokens=8)
    for r, g in zip(hf.generate(PROMPTS, **kw), vl.generate(PROMPTS, **kw)):
        assert g[0].token_ids == r[0].token_ids and len(g[0].token_ids) >= 12
        torch.testing.assert_close(torch.tensor(g[0].logprobs), torch.tensor(r[0].logprobs), atol=LOGP_ATOL, rtol=0)
    with pytest.raises(ValueError, match="exceeds the model's 512 positions"):
        vl.generate(PROMPTS, max_new_tokens=600)


@real_vllm
def test_an_unsupported_head_size_fails_at_construction_with_the_fix() -> None:
    from vllm.platforms import current_platform

    if not current_platform.is_cpu():
        pytest.skip("head sizes are a limit of vLLM's CPU attention")
    qwen = agents.load("tiny-qwen2-char", device="cpu")  # head_dim 24
    with pytest.raises(ValueError, match="head sizes .* use engine='transformers'"):
        LLMAgent(qwen.model, qwen.tokenizer, name="q", engine="vllm")


@real_vllm
def test_the_worker_hands_the_configs_memory_share_to_the_engine() -> None:
    from train.config import AgentConfig
    from train.workers import local_worker

    config = AgentConfig(name="l", model="tiny-llama-bpe", engine="vllm", vllm_gpu_memory_utilization=0.25)
    worker = local_worker(config, "tiny-llama-bpe", total_steps=1)  # vLLM starts at the first generate
    assert worker.agent.engine.gpu_memory_utilization == 0.25 and not worker.agent.engine.started


@real_vllm
def test_on_a_gpu_the_engine_asks_vllm_for_sleep_mode_and_the_memory_share(zoo_llama, monkeypatch) -> None:
    """What `start` asks of `vllm.LLM` on a CUDA platform (faked: vLLM's CPU build cannot sleep)."""
    import vllm
    from vllm.platforms import current_platform

    engine = VLLMEngine(zoo_llama.model, zoo_llama.tokenizer, eos_token_ids=zoo_llama.eos_token_ids,
                        pad_token_id=zoo_llama.pad_token_id, gpu_memory_utilization=0.4)
    asked = {}
    monkeypatch.setattr(vllm, "LLM", lambda **kwargs: asked.update(kwargs) or FakeLLM([]))
    monkeypatch.setattr(current_platform, "is_cpu", lambda: False)
    monkeypatch.setattr(current_platform, "is_sleep_mode_available", lambda: True)
    try:
        engine.start()
        assert asked["gpu_memory_utilization"] == 0.4 and asked["enable_sleep_mode"] is True
        assert "kv_cache_memory_bytes" not in asked  # the KV cache fills the share
        assert engine.sleep_mode is True
    finally:
        engine.close()
    monkeypatch.undo()
    cpu = VLLMEngine(zoo_llama.model, zoo_llama.tokenizer, eos_token_ids=zoo_llama.eos_token_ids,
                     pad_token_id=zoo_llama.pad_token_id, sleep_mode=True)
    with pytest.raises(ValueError, match="no sleep mode on this platform"):
        cpu.start()
    cpu.close()


# -- sleep mode and the memory share, against a fake vLLM (run without vLLM or a GPU) ---------------
class FakeLLM:
    """Records the calls the engine makes of `vllm.LLM`, under vLLM's rules: level-1 sleep unmaps
    the weights (a reload then would write to freed memory) and pauses the scheduler (a generate
    before every tag is awake again would wait forever)."""

    def __init__(self, log: list):
        self.log, self.asleep = log, set()

    def sleep(self, level: int = 1) -> None:
        self.log.append(f"sleep{level}")
        self.asleep = {"weights", "kv_cache"}

    def wake_up(self, tags=None) -> bool:
        tags = tags or ["weights", "kv_cache"]
        self.log.append("wake:" + ",".join(tags))
        self.asleep -= set(tags)
        return not self.asleep

    def collective_rpc(self, method, kwargs=None):
        assert "weights" not in self.asleep, "weights reloaded into sleeping (unmapped) memory"
        self.log.append(method)

    def reset_prefix_cache(self) -> bool:
        self.log.append("reset_prefix_cache")
        return True

    def generate(self, prompts, params=None, **kw):
        assert not self.asleep, "generate on a sleeping engine"
        self.log.append("generate")


@pytest.fixture
def fake_engine(monkeypatch):
    """A VLLMEngine around a FakeLLM, with sleep mode on (as `start` decides on a GPU)."""
    import agents.vllm_engine as vllm_engine
    from agents.engine import weights_fingerprint

    monkeypatch.setattr(vllm_engine, "vllm_available", lambda: None)
    monkeypatch.setattr(VLLMEngine, "_check_supported", lambda self: None)
    model = torch.nn.Linear(2, 2)
    model.config = SimpleNamespace(max_position_embeddings=512)
    engine = VLLMEngine(model, eos_token_ids=[1], pad_token_id=0, sleep_mode=True)
    log: list[str] = []
    engine._llm, engine._key = FakeLLM(log), weights_fingerprint(model)  # as `start` leaves them
    monkeypatch.setattr(engine, "_sample", lambda ids, params: engine._llm.generate(ids) or
                        [Completion(token_ids=[1], logprobs=[0.0], finished=True) for _ in ids])
    return engine, log


def _take(log: list) -> list:
    out = list(log)
    log.clear()
    return out


def _train_step(model) -> None:
    with torch.no_grad():  # in place, as an optimizer step (bumps the version counters)
        for p in model.parameters():
            p.add_(0.1)


def test_sleep_mode_wakes_weights_then_syncs_then_wakes_the_kv_cache(fake_engine) -> None:
    engine, log = fake_engine
    params = SamplingParams(max_new_tokens=4)
    engine.generate([[5, 6]], params)
    assert _take(log) == ["generate"]  # awake, weights current: nothing else
    engine.sleep()
    engine.sleep()  # already asleep: once
    assert _take(log) == ["sleep1"] and engine.asleep and engine.sleeps == 1
    _train_step(engine.model)
    engine.sync_weights()  # what the worker does after the update: weights back first, KV cache stays asleep
    assert _take(log) == ["wake:weights", "reload_weights", "reset_prefix_cache"] and engine._asleep == {"kv_cache"}
    engine.generate([[5, 6]], params)
    assert _take(log) == ["wake:kv_cache", "generate"] and not engine.asleep
    engine.sleep()
    _train_step(engine.model)  # weights changed with no explicit sync: generate syncs between the wakes
    engine.generate([[5, 6]], params)
    assert _take(log) == ["sleep1", "wake:weights", "reload_weights", "reset_prefix_cache", "wake:kv_cache", "generate"]
    engine.sleep()
    engine.generate([[5, 6]], params)  # level 1 kept the weights: a wake without a reload
    assert _take(log) == ["sleep1", "wake:weights", "wake:kv_cache", "generate"]


def test_without_sleep_mode_the_engine_never_sleeps(fake_engine) -> None:
    engine, log = fake_engine
    engine.sleep_mode = False  # what `start` decides on CPU (vLLM's CPU build has no sleep mode)
    engine.sleep()
    _train_step(engine.model)
    engine.generate([[5, 6]], SamplingParams())
    assert _take(log) == ["reload_weights", "reset_prefix_cache", "generate"] and engine.sleeps == 0
    engine.sleep_mode, engine._llm = True, None  # not started yet: nothing to put to sleep
    engine.sleep()
    assert engine.sleeps == 0


def test_the_worker_puts_the_engine_to_sleep_after_rollouts_and_syncs_it_after_updates(fake_engine,
                                                                                      monkeypatch) -> None:
    import train.evaluate
    import train.workers as workers
    from train.config import AgentConfig

    engine, log = fake_engine
    agent = SimpleNamespace(model=engine.model, precision="fp32", engine=engine,
                            generate=lambda prompts, **kw: engine.generate([[5, 6]] * len(prompts), SamplingParams()))
    worker = workers.LocalWorker(agent, AgentConfig(name="a", model="x", engine="vllm"), total_steps=2)

    def fake_update(agent, optimizer, rows, spec, **kw):
        log.append("update")
        _train_step(agent.model)
        return {}

    monkeypatch.setattr(workers, "update_policy", fake_update)
    monkeypatch.setattr(train.evaluate, "evaluate_agent", lambda agent, *a, **kw: agent.generate(["q"]))
    monkeypatch.setattr(train.evaluate, "scores", lambda result: {})
    worker.generate(["p"], 2)
    assert _take(log) == ["generate", "sleep1"]  # asleep while peers score and everyone updates
    metrics = worker.update([], SimpleNamespace(kl_beta=0.0), seed=0)
    assert _take(log) == ["update", "wake:weights", "reload_weights", "reset_prefix_cache"]
    assert metrics["time/weight_sync"] > 0 and engine._asleep == {"kv_cache"}
    worker.evaluate("env", "test")
    assert _take(log) == ["wake:kv_cache", "generate", "sleep1"]
    worker.update([], SimpleNamespace(kl_beta=0.0), seed=0)  # asleep already: no second sleep
    worker.generate(["p"], 2)
    assert _take(log) == ["update", "wake:weights", "reload_weights", "reset_prefix_cache",
                          "wake:kv_cache", "generate", "sleep1"]


@pytest.mark.parametrize("share", [0, 1, 1.5, -0.2])
def test_the_memory_share_config_is_checked_with_its_range(share) -> None:
    from train.config import ConfigError, load_config

    with pytest.raises(ConfigError, match=r"agents\.1\.vllm_gpu_memory_utilization: .* must be in \(0, 1\)"):
        load_config(None, [f"agents.1.vllm_gpu_memory_utilization={share}"])
    with pytest.raises(ValueError, match=r"gpu_memory_utilization=.* must be in \(0, 1\)"):
        from agents.vllm_engine import _check_memory_share

        _check_memory_share(share)


def test_the_memory_share_config_defaults_to_0_3_and_may_change_on_resume() -> None:
    from train.config import AgentConfig, load_config
    from train.resume import RESUMABLE

    assert AgentConfig.vllm_gpu_memory_utilization == 0.3
    cfg = load_config(None, ["agents.0.vllm_gpu_memory_utilization=0.45"])
    assert cfg.agents[0].vllm_gpu_memory_utilization == 0.45
    assert "agents.*.vllm_gpu_memory_utilization" in RESUMABLE
