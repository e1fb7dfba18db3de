"""The offline zoo: tokenizers, cache keys, and the warm start's accuracy band.

The warm-started agents come from the shared cache (`$HACRL_CACHE` or ~/.cache/hacrl): the first
run on a machine builds them (about a minute each on 2 cores), later runs only load them.
"""

from __future__ import annotations

import sys
from dataclasses import replace

import pytest

import agents
from agents.zoo import ZOO, build_tokenizer, build_untrained, cache_root, evaluate, spec_hash, zoo_path
from agents.zoo_task import TaskProblem, is_correct, target_response, task_problems

DEFAULT_PAIR = ("tiny-llama-bpe", "tiny-qwen2-char")


def test_zoo_agents_are_heterogeneous() -> None:
    # the base agents; the skill-split variants (tests/test_skill_split.py) reuse their architectures
    specs = [ZOO[n] for n in ZOO if ZOO[n].sft_subset == "all"]
    assert len(specs) >= 3
    assert len({s.arch for s in specs}) == len(specs)
    assert len({s.tokenizer for s in specs}) == len(specs)
    assert len({s.chat_template for s in specs}) == len(specs)
    assert len({(s.hidden, s.layers) for s in specs}) == len(specs)


@pytest.mark.parametrize("name", list(ZOO))
def test_zoo_tokenizers_round_trip_any_text(name: str) -> None:
    tok = build_tokenizer(ZOO[name], ["State the answer: 12 + 7 = #### 19"] * 20)
    for text in ["#### -12", "3+4=7, 7-2=5 #### 5", "ünïcode ✓ and\nnewlines\t", ""]:
        ids = tok(text, add_special_tokens=False)["input_ids"]
        assert tok.decode(ids, skip_special_tokens=True) == text
    assert tok.eos_token == ZOO[name].eos and tok.pad_token == ZOO[name].pad
    assert tok.chat_template == ZOO[name].chat_template


def test_cache_key_and_location(monkeypatch, tmp_path) -> None:
    spec = ZOO["tiny-llama-bpe"]
    assert spec_hash(spec) == spec_hash(replace(spec))
    assert spec_hash(spec) != spec_hash(replace(spec, sft_steps=spec.sft_steps + 1))
    monkeypatch.setenv("HACRL_CACHE", str(tmp_path))
    assert cache_root() == tmp_path / "zoo"
    assert zoo_path("tiny-llama-bpe").parent == tmp_path / "zoo"
    assert zoo_path("tiny-llama-bpe").name.startswith("tiny-llama-bpe-")


def test_task_split_and_targets() -> None:
    train, test = task_problems("train", limit=200), task_problems("test", limit=200)
    assert all(p.prompt.endswith("\nGive the final answer after '####'.") for p in train)
    # Disjoint sources: a held-out list is not just the training list again.
    assert [p.prompt for p in train[:50]] != [p.prompt for p in test[:50]]
    p = TaskProblem("State the final answer to the following arithmetic problem: 8 + 0 + 7 =\nGive ...", "15")
    assert target_response(p) == "#### 15"
    assert target_response(p, "steps") == "8+0=8, 8+7=15 #### 15"
    assert is_correct(target_response(p, "steps"), "15") and not is_correct("#### 14", "15")
    assert not is_correct("15", "15")  # no '####': no answer


@pytest.mark.parametrize("split", ["train", "test"])
def test_task_problems_are_those_of_the_warmstart_env(split: str) -> None:
    # agents/zoo_task.py draws the task from reasoning-gym itself (agents must not import
    # hacrl_env); the zoo's agents were built on, and the default RL run trains on, the env's.
    import hacrl_env
    from agents.zoo_task import WARMSTART_ENV_ID, WARMSTART_TASK_KWARGS

    env = hacrl_env.make(WARMSTART_ENV_ID, split=split, **WARMSTART_TASK_KWARGS)
    ours = task_problems(split)
    assert len(ours) == env.num_problems == {"train": 2000, "test": 200}[split]
    theirs = [env.problem(i) for i in range(env.num_problems)]
    assert [(p.prompt, p.answer) for p in ours] == [(q.prompt, str(q.answer)) for q in theirs]
    assert task_problems(split, limit=50) == ours[:50]


def test_task_and_cache_key_do_not_depend_on_hacrl_env(monkeypatch) -> None:
    key = {name: spec_hash(spec) for name, spec in ZOO.items()}
    first = task_problems("test", limit=20)
    monkeypatch.setitem(sys.modules, "hacrl_env", None)  # `import hacrl_env` now raises
    assert {name: spec_hash(spec) for name, spec in ZOO.items()} == key
    assert task_problems("test", limit=20) == first


@pytest.fixture(scope="session")
def warm_agents() -> dict:
    return {name: agents.load(name) for name in DEFAULT_PAIR}


@pytest.mark.slow
def test_warm_start_reaches_a_nontrivial_but_imperfect_accuracy(warm_agents) -> None:
    # RL needs both correct and wrong samples: each agent must be in the band, greedy and sampled.
    accuracies = {}
    for name, agent in warm_agents.items():
        greedy = evaluate(agent, num_problems=100, greedy=True)
        sampled = evaluate(agent, num_problems=100, greedy=False, seed=0)
        accuracies[name] = (greedy, sampled)
        assert 0.05 <= greedy <= 0.8 and 0.05 <= sampled <= 0.8, f"{name}: greedy {greedy}, sampled {sampled}"
    assert len({a for a in accuracies.values()}) == len(accuracies), accuracies


@pytest.mark.slow
def test_cached_zoo_dir_is_a_plain_hf_model(warm_agents) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = zoo_path("tiny-qwen2-char")
    assert (path / "zoo_info.json").exists() and (path / "model.safetensors").exists()
    model = AutoModelForCausalLM.from_pretrained(path)
    tok = AutoTokenizer.from_pretrained(path)
    assert type(model).__name__ == "Qwen2ForCausalLM" and tok.eos_token == "<|im_end|>"
    renamed = agents.load("tiny-qwen2-char", name="qwen2")
    assert renamed.name == "qwen2" and renamed.eos_token_ids == warm_agents["tiny-qwen2-char"].eos_token_ids


@pytest.mark.parametrize("name", ["tiny-llama-bpe", "tiny-qwen2-char", "tiny-neox-bpe"])
def test_zoo_tokenizer_survives_a_plain_transformers_reload(name: str, tmp_path) -> None:
    # transformers may rebuild a tokenizer from the model type on reload (Qwen2 does); a zoo
    # tokenizer that came back different once dropped every space and sank the agent's accuracy.
    from transformers import AutoTokenizer

    agent = build_untrained(name)
    agent.save_pretrained(tmp_path)
    reloaded = AutoTokenizer.from_pretrained(tmp_path)
    text = "State the final answer: 3 + 4 - 12 =\nGive it after '####'. 3+4=7, 7-12=-5 #### -5 ü×"
    ids = agent.tokenizer(text, add_special_tokens=False)["input_ids"]
    assert reloaded(text, add_special_tokens=False)["input_ids"] == ids
    assert reloaded.decode(ids) == text
    messages = [{"role": "user", "content": "hi"}]
    assert reloaded.apply_chat_template(messages, tokenize=False, add_generation_prompt=True) == agent.format_prompt("hi")
