"""A learner's update reaches its sampler, whatever optimizer wrote the weights."""

from __future__ import annotations

import torch

from agents.zoo import build_untrained
from train.config import AgentConfig
from learner_rows import Rows, spec
from train.workers import LocalWorker, lr_schedule

PROMPTS = ["3 + 4 = ?", "12 - 5 = ?"]


def test_the_sampler_sees_weights_from_an_optimizer_that_leaves_versions_alone() -> None:
    """torch's fused AdamW updates parameters without bumping their version counters, which is how
    the engine notices new weights. The worker tells the engine after every update; without that
    the fast decode path kept sampling from the old fused projection copies (log-prob mismatch
    1e-7 -> 1e-2 after one step in a real run)."""
    torch.manual_seed(0)
    agent = build_untrained("tiny-llama-bpe", corpus=[p + " #### 7" for p in PROMPTS] * 5)
    worker = LocalWorker(agent, AgentConfig(name="a", model="x", lr=0.05), total_steps=2)
    worker.optimizer = torch.optim.AdamW(agent.model.parameters(), lr=0.05, fused=True)
    worker.scheduler = lr_schedule(worker.optimizer, worker.config, 2)
    versions = [p._version for p in agent.model.parameters()]
    first = agent.generate(PROMPTS, n=2, max_new_tokens=6, seed=0)  # builds the decode plan
    rows = Rows()
    for prompt, group in zip(PROMPTS, first):
        for adv, s in zip((1.0, -1.0), group):
            rows.add(prompt=prompt, response_ids=s.token_ids, objective="gspo", advantage=adv, is_self=True)
    worker.update(rows, spec(minibatch_size=4, eps_low=0.5, eps_high=10.0), seed=0)
    assert [p._version for p in agent.model.parameters()] == versions  # the premise: no version bump
    samples = [s for group in agent.generate(PROMPTS, n=2, max_new_tokens=6, seed=1) for s in group]
    batch = agent.encode([p for p in PROMPTS for _ in range(2)], response_ids=[s.token_ids for s in samples])
    with torch.no_grad():
        rescored = agent.token_logprobs(batch)
    for i, s in enumerate(samples):
        torch.testing.assert_close(rescored[i][batch.response_mask[i]], torch.tensor(s.logprobs), atol=1e-4, rtol=0)


def test_a_worker_restores_its_own_training_state_or_an_older_checkpoints_copy(tmp_path) -> None:
    import pytest

    torch.manual_seed(0)
    corpus = [p + " #### 7" for p in PROMPTS] * 5
    worker = LocalWorker(build_untrained("tiny-llama-bpe", corpus=corpus), AgentConfig(name="a", model="x", lr=0.05))
    rows = Rows()
    for prompt, group in zip(PROMPTS, worker.generate(PROMPTS, 2, seed=0)):
        for adv, s in zip((1.0, -1.0), group):
            rows.add(prompt=prompt, response_ids=s.token_ids, objective="gspo", advantage=adv, is_self=True)
    worker.update(rows, spec(minibatch_size=4), seed=0)
    worker.save_pretrained(tmp_path / "a")  # the model and, beside it, training_state.pt
    fresh = LocalWorker(build_untrained("tiny-llama-bpe", corpus=corpus), AgentConfig(name="a", model="x", lr=0.05))
    fresh.restore(str(tmp_path / "a"))
    saved, restored = worker.optimizer.state_dict(), fresh.optimizer.state_dict()
    assert all(torch.equal(saved["state"][i]["exp_avg"], restored["state"][i]["exp_avg"]) for i in saved["state"])
    assert fresh.scheduler.last_epoch == worker.scheduler.last_epoch == 1
    (tmp_path / "a" / "training_state.pt").unlink()  # a checkpoint from before: the state in trainer_state.pt
    fresh.restore(str(tmp_path / "a"), worker.state_dict())
    with pytest.raises(ValueError, match="no training_state.pt"):
        fresh.restore(str(tmp_path / "a"))
