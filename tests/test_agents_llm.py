"""LLMAgent on tiny untrained zoo architectures: sampling, exact log-probs, encoding, scoring, saving."""

from __future__ import annotations

import copy
import functools

import pytest
import torch
from torch import nn

from agents import EncodedBatch, LLMAgent, SamplingParams, TransformersEngine, fast_decode
from agents.zoo import build_untrained

# A fixed small corpus keeps tokenizer training instant (the zoo trains on the real task text).
CORPUS = [f"State the final answer to the following arithmetic problem: {a} + {b} - {c} =\n"
          f"Give the final answer after '####'. #### {a + b - c}" for a in range(10) for b in range(10) for c in (1, 7)]
PROMPTS = ["What is 2 + 3?", "State the final answer to the following arithmetic problem: 41 - 7 + 3 =",
           [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "1+1"}]]
ARCHS = ["tiny-llama-bpe", "tiny-qwen2-char", "tiny-neox-bpe"]


@pytest.fixture(scope="module")
def agents() -> dict[str, LLMAgent]:
    return {name: build_untrained(name, corpus=CORPUS) for name in ARCHS}


@pytest.mark.parametrize("name", ARCHS)
def test_generate_shapes_and_fields(agents, name: str) -> None:
    agent = agents[name]
    out = agent.generate(PROMPTS, n=3, max_new_tokens=7, seed=0)
    assert len(out) == len(PROMPTS) and all(len(row) == 3 for row in out)
    for s in (s for row in out for s in row):
        assert len(s.logprobs) == s.num_tokens and 1 <= s.num_tokens <= 7
        assert all(lp <= 0 for lp in s.logprobs)
        assert s.finished == (s.token_ids[-1] in agent.eos_token_ids)
        assert not any(t in agent.eos_token_ids for t in s.token_ids[:-1])
        if not s.finished:
            assert s.num_tokens == 7
        assert s.text == agent.tokenizer.decode(s.token_ids, skip_special_tokens=True)


@pytest.mark.parametrize("name,fast", [(n, True) for n in ARCHS] + [("tiny-llama-bpe", False)])
def test_generate_logprobs_match_rescoring(agents, name: str, fast: bool) -> None:
    # Left-padded sampling (KV cache, explicit positions) vs right-padded scoring: same numbers,
    # through the static-cache fast path (Llama/Qwen2) and the plain transformers forward.
    agent = agents[name]
    agent.engine.fast_decode = fast and fast_decode.supports(agent.model)
    assert agent.engine.fast_decode == (fast and name != "tiny-neox-bpe")
    out = agent.generate(PROMPTS, n=3, max_new_tokens=9, seed=3, temperature=0.7, top_p=0.9)
    flat = [s for row in out for s in row]
    prompts = [p for p in PROMPTS for _ in range(3)]
    scored = agent.sequence_logprobs(prompts, response_ids=[s.token_ids for s in flat], token_budget=64)
    agent.engine.fast_decode = fast_decode.supports(agent.model)  # restore for later tests
    for s, lp in zip(flat, scored.token_logprobs):
        assert lp.shape == (s.num_tokens,)
        torch.testing.assert_close(lp, torch.tensor(s.logprobs), atol=1e-4, rtol=0)


def test_seeded_sampling_is_reproducible(agents) -> None:
    agent = agents["tiny-llama-bpe"]
    a = agent.generate(PROMPTS, n=4, max_new_tokens=8, seed=11)
    b = agent.generate(PROMPTS, n=4, max_new_tokens=8, seed=11)
    c = agent.generate(PROMPTS, n=4, max_new_tokens=8, seed=12)
    ids = lambda out: [s.token_ids for row in out for s in row]  # noqa: E731
    assert ids(a) == ids(b)
    assert ids(a) != ids(c)
    greedy = agent.generate(PROMPTS[:1], n=3, max_new_tokens=8, greedy=True)[0]
    assert greedy[0].token_ids == greedy[1].token_ids == greedy[2].token_ids


def test_rows_stop_independently_on_any_eos_id(agents) -> None:
    """Two EOS ids; row-specific logit pushes make rows end at different steps or truncate."""
    agent = agents["tiny-qwen2-char"]
    eos_a, eos_b = agent.eos_token_ids[0], agent.tokenizer.convert_tokens_to_ids("<|endoftext|>")
    engine = TransformersEngine(agent.model, eos_token_ids=[eos_a, eos_b], pad_token_id=agent.pad_token_id)
    step = {"t": 0}

    def push(module, args, logits):  # row 0: eos_a at step 0; row 1: eos_b at step 2; row 2: never
        logits[:, :, [eos_a, eos_b]] = -1e9
        if step["t"] == 0:
            logits[0, -1, eos_a] = 1e9
        if step["t"] == 2:
            logits[1, -1, eos_b] = 1e9
        step["t"] += 1
        return logits

    # Hook the LM head: both the static-cache fast path and the plain forward go through it.
    handle = agent.model.lm_head.register_forward_hook(push)
    try:
        prompt_ids = agent.prompt_token_ids(["ab", "a much longer prompt", "c"])
        out = engine.generate(prompt_ids, SamplingParams(max_new_tokens=5, seed=0))
    finally:
        handle.remove()
    assert out[0].token_ids == [eos_a] and out[0].finished
    assert len(out[1].token_ids) == 3 and out[1].token_ids[-1] == eos_b and out[1].finished
    assert len(out[2].token_ids) == 5 and not out[2].finished


def test_sampling_params_reject_bad_values() -> None:
    with pytest.raises(ValueError, match="greedy=True"):
        SamplingParams(temperature=0)
    with pytest.raises(ValueError, match="top_p"):
        SamplingParams(top_p=0)
    with pytest.raises(ValueError, match="n must be"):
        SamplingParams(n=0)


def test_encode_layout_and_eos(agents) -> None:
    agent = agents["tiny-llama-bpe"]
    batch = agent.encode(["hi", "a longer prompt here"], responses=["#### 12", "#### 3"], append_eos=[True, False])
    assert isinstance(batch, EncodedBatch) and len(batch) == 2
    eos = agent.eos_token_ids[0]
    for i, (text, add_eos) in enumerate([("#### 12", True), ("#### 3", False)]):
        ids = batch.input_ids[i][batch.response_mask[i]].tolist()
        expected = agent.tokenizer(text, add_special_tokens=False)["input_ids"] + ([eos] if add_eos else [])
        assert ids == expected
        # Right padding: real tokens first, positions count 0.. over them.
        n = int(batch.attention_mask[i].sum())
        assert batch.attention_mask[i, :n].all() and not batch.attention_mask[i, n:].any()
        assert batch.position_ids[i, :n].tolist() == list(range(n))
    assert batch.num_response_tokens.tolist() == [len(agent.tokenizer("#### 12", add_special_tokens=False)["input_ids"]) + 1,
                                                  len(agent.tokenizer("#### 3", add_special_tokens=False)["input_ids"])]
    cut = agent.encode(["hi"], responses=["#### 12345"], append_eos=True, max_response_tokens=2, max_prompt_tokens=3)
    assert cut.num_response_tokens.tolist() == [2] and eos not in cut.input_ids[0, 3:].tolist()
    assert int(cut.attention_mask.sum()) == 5
    with pytest.raises(ValueError, match="not both"):
        agent.encode(["hi"], responses=["a"], response_ids=[[1]])
    with pytest.raises(ValueError, match="1 prompts but 2 responses"):
        agent.encode(["hi"], responses=["a", "b"])


def test_repeated_prompts_are_templated_once_with_the_same_ids(agents, monkeypatch) -> None:
    """A training batch repeats each prompt G times: ids as if each were encoded alone, one template each."""
    import json

    agent = agents["tiny-llama-bpe"]
    messages = PROMPTS[2]
    rows = [PROMPTS[0], copy.deepcopy(messages), PROMPTS[1], PROMPTS[0], messages, json.dumps(messages, sort_keys=True)]
    alone = [agent.prompt_token_ids([p])[0] for p in rows]
    calls = []
    monkeypatch.setattr(agent, "format_prompt", lambda p, f=agent.format_prompt: calls.append(p) or f(p))
    assert agent.prompt_token_ids(rows) == alone
    # equal content (an equal copy of the messages) is one prompt; a str holding their JSON is not
    assert len(calls) == 4 and alone[1] == alone[4] and alone[5] != alone[1]
    batch = agent.encode(rows, response_ids=[[5, 6]] * len(rows))
    assert batch.input_ids[3].tolist() == batch.input_ids[0].tolist()


def test_cross_tokenizer_scoring_uses_learner_tokens(agents) -> None:
    source, learner = agents["tiny-neox-bpe"], agents["tiny-qwen2-char"]
    sampled = source.generate(PROMPTS[:2], n=2, max_new_tokens=6, seed=5)
    texts = [s.text for row in sampled for s in row]
    prompts = [p for p in PROMPTS[:2] for _ in range(2)]
    batch = learner.encode(prompts, responses=texts, append_eos=True)
    eos = learner.eos_token_ids[0]
    for i, text in enumerate(texts):
        ids = batch.input_ids[i][batch.response_mask[i]].tolist()
        assert ids[-1] == eos
        assert learner.tokenizer.decode(ids[:-1], skip_special_tokens=True) == text  # text round-trips
    out = learner.sequence_logprobs(prompts, responses=texts, append_eos=True)
    assert out.num_tokens.tolist() == batch.num_response_tokens.tolist()
    torch.testing.assert_close(out.mean, out.sum / out.num_tokens)
    assert all(lp.numel() == n for lp, n in zip(out.token_logprobs, out.num_tokens.tolist()))


def test_token_logprobs_masking_grad_and_micro_batches(agents) -> None:
    agent = agents["tiny-llama-bpe"]
    prompts = [f"question {i}" + " pad" * i for i in range(6)]
    batch = agent.encode(prompts, responses=[f"#### {i * 7}" for i in range(6)], append_eos=True)
    with torch.no_grad():
        full = agent.token_logprobs(batch)
    assert not full.requires_grad and full.shape == batch.input_ids.shape
    assert (full[~batch.response_mask] == 0).all() and (full[batch.response_mask] < 0).all()
    seen: list[int] = []
    width = batch.lengths
    for idx, mb in agent.micro_batches(batch, token_budget=40):
        seen += idx
        assert len(idx) == 1 or len(mb) * mb.input_ids.shape[1] <= 40
        assert mb.input_ids.shape[1] == int(width[idx].max())
        with torch.no_grad():
            part = agent.token_logprobs(mb)
        for j, i in enumerate(idx):
            torch.testing.assert_close(part[j][mb.response_mask[j]], full[i][batch.response_mask[i]], atol=1e-5, rtol=0)
    assert sorted(seen) == list(range(6))
    graded = agent.token_logprobs(batch)
    assert graded.requires_grad
    graded.sum().backward()
    assert agent.model.get_input_embeddings().weight.grad is not None
    agent.model.zero_grad(set_to_none=True)
    out = agent.sequence_logprobs(prompts, responses=["#### 1"] * 6, grad=True, token_budget=32)
    assert out.mean.requires_grad and out.sum.shape == (6,)
    assert agent.peak_memory_bytes >= 0


def test_bf16_autocast_keeps_fp32_weights_and_stays_close(agents) -> None:
    base = agents["tiny-qwen2-char"]
    fast = LLMAgent(base.model, base.tokenizer, name="bf16", precision="bf16")
    batch = base.encode(PROMPTS[:2], responses=["#### 4", "#### 37"], append_eos=True)
    with torch.no_grad():
        exact, approx = base.token_logprobs(batch), fast.token_logprobs(batch)
    assert next(fast.model.parameters()).dtype == torch.float32
    assert (exact - approx).abs().max() < 0.1
    assert fast.generate(PROMPTS[:1], n=2, max_new_tokens=4, seed=0)[0][0].num_tokens >= 1


def test_bf16_weights_decode_through_the_fast_path(agents) -> None:
    """A model stored in bf16 (e.g. loaded that way on a GPU) decodes with bf16 attention inputs,
    left padding included; its sampled log-probs stay close to the model's own re-scoring."""
    base = agents["tiny-llama-bpe"]
    agent = LLMAgent(copy.deepcopy(base.model).to(torch.bfloat16), base.tokenizer, name="bf16-weights")
    assert agent.engine.fast_decode
    samples = [s for group in agent.generate(PROMPTS, n=2, max_new_tokens=6, seed=1) for s in group]
    batch = agent.encode([p for p in PROMPTS for _ in range(2)], response_ids=[s.token_ids for s in samples])
    with torch.no_grad():
        rescored = agent.token_logprobs(batch)
    for i, s in enumerate(samples):
        torch.testing.assert_close(rescored[i][batch.response_mask[i]], torch.tensor(s.logprobs), atol=0.1, rtol=0)


def test_save_pretrained_loads_with_plain_transformers(agents, tmp_path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    agent = agents["tiny-neox-bpe"]
    agent.save_pretrained(tmp_path / "m")
    model = AutoModelForCausalLM.from_pretrained(tmp_path / "m")
    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "m")
    prompt = agent.format_prompt("What is 2 + 3?")
    assert tokenizer.apply_chat_template([{"role": "user", "content": "What is 2 + 3?"}], tokenize=False,
                                         add_generation_prompt=True) == prompt
    ids = tokenizer(prompt, add_special_tokens=False, return_tensors="pt")["input_ids"]
    assert ids[0].tolist() == agent.tokenizer(prompt, add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        torch.testing.assert_close(model(ids).logits, agent.model(ids).logits, atol=1e-5, rtol=0)
    assert tokenizer.eos_token_id == agent.eos_token_ids[0]
    again = LLMAgent.from_pretrained(tmp_path / "m", name="again")
    assert again.eos_token_ids == agent.eos_token_ids and again.pad_token_id == agent.pad_token_id


def test_agent_construction_errors(agents) -> None:
    agent = agents["tiny-llama-bpe"]
    with pytest.raises(ValueError, match="unknown engine 'sglang'"):
        LLMAgent(agent.model, agent.tokenizer, name="x", engine="sglang")
    with pytest.raises(ValueError, match="precision must be"):
        LLMAgent(agent.model, agent.tokenizer, name="x", precision="fp8")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="generation_precision must be 'fp32', 'bf16' or 'int8'"):
        LLMAgent(agent.model, agent.tokenizer, name="x", generation_precision="int4")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="a prompt must be"):
        agent.format_prompt(42)  # type: ignore[arg-type]


def test_rows_dropped_after_eos_keep_exact_logprobs(agents) -> None:
    """Many EOS ids make rows end at scattered steps, so the live batch (and KV cache) shrinks."""
    agent = agents["tiny-llama-bpe"]
    vocab = len(agent.tokenizer)
    stop_ids = list(range(0, vocab, 9))  # ~11% of tokens end a row
    engine = TransformersEngine(agent.model, eos_token_ids=stop_ids, pad_token_id=agent.pad_token_id)
    prompts = [p for p in PROMPTS for _ in range(4)]
    out = engine.generate(agent.prompt_token_ids(PROMPTS), SamplingParams(n=4, max_new_tokens=16, seed=2))
    lengths = {len(c.token_ids) for c in out}
    assert len(lengths) > 2, "expected rows to end at different steps"
    scored = agent.sequence_logprobs(prompts, response_ids=[c.token_ids for c in out])
    for c, lp in zip(out, scored.token_logprobs):
        assert c.finished == (c.token_ids[-1] in stop_ids)
        torch.testing.assert_close(lp, torch.tensor(c.logprobs), atol=1e-4, rtol=0)


def test_peak_memory_sees_a_temporary_allocation() -> None:
    from agents.memory import PeakMemory

    with PeakMemory(torch.device("cpu")) as mem:
        big = torch.ones(64 * 1024 * 1024 // 4)  # 64 MiB, touched so it is resident
        del big
    assert mem.peak_bytes >= 48 * 1024 * 1024


# -- fast sampling pieces and the approximate int8 rollout engine ---------------------------------

def test_sample_from_matches_probabilities_and_never_draws_zeros() -> None:
    from agents.engine import sample_from

    probs = torch.tensor([[0.5, 0.0, 0.3, 0.2, 0.0]]).repeat(20000, 1)
    tok = sample_from(probs, torch.Generator().manual_seed(0))
    assert tok.shape == (20000, 1)
    freq = torch.bincount(tok[:, 0], minlength=5).float() / 20000
    assert freq[1] == 0 and freq[4] == 0
    torch.testing.assert_close(freq, probs[0], atol=0.015, rtol=0)  # ~4 standard errors
    again = sample_from(probs, torch.Generator().manual_seed(0))
    assert torch.equal(tok, again)


def test_unfused_plan_keeps_exact_logprobs(agents, monkeypatch) -> None:
    """Models above FUSE_MAX_BYTES (e.g. SmolLM2) call q/k/v and gate/up separately: same numbers."""
    agent = agents["tiny-llama-bpe"]
    monkeypatch.setattr(fast_decode, "FUSE_MAX_BYTES", 0)
    engine = TransformersEngine(agent.model, eos_token_ids=agent.eos_token_ids, pad_token_id=agent.pad_token_id)
    out = engine.generate(agent.prompt_token_ids(PROMPTS), SamplingParams(n=2, max_new_tokens=6, seed=4))
    assert not isinstance(engine._plan.layers[0][1], functools.partial)  # really the unfused projection
    prompts = [p for p in PROMPTS for _ in range(2)]
    scored = agent.sequence_logprobs(prompts, response_ids=[c.token_ids for c in out])
    for c, lp in zip(out, scored.token_logprobs):
        torch.testing.assert_close(lp, torch.tensor(c.logprobs), atol=1e-4, rtol=0)


@pytest.mark.parametrize("name", ["tiny-llama-bpe", "tiny-neox-bpe"])  # fast path and plain-forward path
def test_int8_generation_valid_close_and_reproducible(agents, name: str) -> None:
    base = agents[name]
    agent = LLMAgent(base.model, base.tokenizer, name="int8", generation_precision="int8")
    out = agent.generate(PROMPTS, n=3, max_new_tokens=8, seed=7)
    flat = [s for row in out for s in row]
    for s in flat:
        assert len(s.logprobs) == s.num_tokens and 1 <= s.num_tokens <= 8
        assert all(lp <= 0 for lp in s.logprobs)
        assert s.finished == (s.token_ids[-1] in agent.eos_token_ids)
        assert not any(t in agent.eos_token_ids for t in s.token_ids[:-1])
        assert s.text == agent.tokenizer.decode(s.token_ids, skip_special_tokens=True)
    # The training model's weights are untouched (the int8 model is a copy) ...
    assert all(p.dtype == torch.float32 for p in base.model.parameters())
    # ... and the returned log-probs are the int8 copy's, close to (not equal to) the fp32 model's.
    prompts = [p for p in PROMPTS for _ in range(3)]
    exact = torch.cat(base.sequence_logprobs(prompts, response_ids=[s.token_ids for s in flat]).token_logprobs)
    approx = torch.tensor([lp for s in flat for lp in s.logprobs])
    assert 0 < (exact - approx).abs().max() < 0.25
    again = agent.generate(PROMPTS, n=3, max_new_tokens=8, seed=7)
    other = agent.generate(PROMPTS, n=3, max_new_tokens=8, seed=8)
    ids = lambda o: [s.token_ids for row in o for s in row]  # noqa: E731
    assert ids(again) == ids(out) and ids(other) != ids(out)
    assert agent.engine.rebuilds == 1  # weights unchanged: the copy was built once


@pytest.mark.parametrize("name", ["tiny-llama-bpe", "tiny-neox-bpe"])  # fast path and plain-forward path
def test_int8_sampler_keeps_the_mlp_output_projection_fp32(agents, name: str) -> None:
    """The MLP's output projection stays fp32 (its input's outlier channels defeat per-row int8
    scales); every other projection and the LM head are int8."""
    from torch.ao.nn.quantized.dynamic import Linear as DynamicLinear

    agent = LLMAgent(agents[name].model, agents[name].tokenizer, name="int8", generation_precision="int8")
    agent.generate(PROMPTS[:1], max_new_tokens=2, seed=0)
    engine = agent.engine
    if engine.fast_decode:
        qkv, o, gate_up, down = (engine._plan.layers[0][i] for i in (1, 2, 4, 6))
        assert all(isinstance(f, DynamicLinear) for f in (qkv, o, gate_up, engine._plan.lm_head))
        assert isinstance(down, functools.partial) and down.keywords["weight"] is agent.model.model.layers[0].mlp.down_proj.weight
    else:
        kinds = {name.rsplit(".", 1)[-1]: type(m) for name, m in engine._rollout.named_modules()
                 if isinstance(m, (nn.Linear, DynamicLinear))}
        assert kinds["dense_4h_to_h"] is nn.Linear
        assert kinds["query_key_value"] is DynamicLinear and kinds["lm_head"] is DynamicLinear


def test_model_precision_sampling_samples_the_training_model(agents) -> None:
    """Held-out evaluation of an int8-rollout agent samples its fp32 model: inside the block the
    samples and log-probs are exactly the fp32 agent's; after it (also after an error) the int8
    sampler is back; an agent whose sampler already is its model is left as it is."""
    base = agents["tiny-llama-bpe"]
    agent = LLMAgent(base.model, base.tokenizer, name="int8", generation_precision="int8")
    rollout = agent.engine
    with agent.model_precision_sampling():
        inside = agent.generate(PROMPTS, n=2, max_new_tokens=8, seed=3)
    exact = base.generate(PROMPTS, n=2, max_new_tokens=8, seed=3)
    assert [s.token_ids for row in inside for s in row] == [s.token_ids for row in exact for s in row]
    for a, b in zip([s for row in inside for s in row], [s for row in exact for s in row]):
        assert a.logprobs == pytest.approx(b.logprobs, abs=1e-5)
    assert agent.engine is rollout and rollout.rebuilds == 0  # the int8 copy was never used
    with pytest.raises(RuntimeError, match="boom"), agent.model_precision_sampling():
        raise RuntimeError("boom")
    assert agent.engine is rollout
    before = base.engine
    with base.model_precision_sampling():
        assert base.engine is before


def test_int8_rows_stop_on_any_eos_and_drop_out(agents) -> None:
    agent = agents["tiny-llama-bpe"]
    stop_ids = list(range(0, len(agent.tokenizer), 9))
    engine = TransformersEngine(agent.model, eos_token_ids=stop_ids, pad_token_id=agent.pad_token_id, int8=True)
    out = engine.generate(agent.prompt_token_ids(PROMPTS), SamplingParams(n=4, max_new_tokens=16, seed=2))
    assert len({len(c.token_ids) for c in out}) > 2, "expected rows to end at different steps"
    for c in out:
        assert c.finished == (c.token_ids[-1] in stop_ids)
        assert not any(t in stop_ids for t in c.token_ids[:-1])
        assert c.finished or len(c.token_ids) == 16
    forced = engine.generate(agent.prompt_token_ids(PROMPTS[:1]),
                             SamplingParams(n=4, max_new_tokens=5, min_new_tokens=5, seed=2))
    assert all(len(c.token_ids) == 5 for c in forced)  # EOS banned until min_new_tokens


def test_int8_copy_is_rebuilt_after_an_optimizer_step(agents) -> None:
    source = agents["tiny-qwen2-char"]
    model = copy.deepcopy(source.model)  # private copy: the optimizer step must not leak into other tests
    kw = dict(eos_token_ids=source.eos_token_ids, pad_token_id=source.pad_token_id, int8=True)
    engine = TransformersEngine(model, **kw)
    ids = source.prompt_token_ids(PROMPTS)
    greedy = SamplingParams(n=1, max_new_tokens=6, greedy=True)
    before = [c.token_ids for c in engine.generate(ids, greedy)]
    plan = engine._plan  # the fast path's int8 projections live in its plan
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.5)
    model(input_ids=torch.tensor([ids[0]])).logits.logsumexp(-1).sum().backward()  # any loss moves all weights
    optimizer.step()
    after = [c.token_ids for c in engine.generate(ids, greedy)]
    assert engine.rebuilds == 2 and engine._plan is not plan
    fresh = [c.token_ids for c in TransformersEngine(model, **kw).generate(ids, greedy)]
    assert after == fresh and after != before
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)  # grads left in place
