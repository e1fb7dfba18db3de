"""Agents that differ in skill (configs/skill_split.yaml): warm starts on one kind of training
problem, the zoo variants built from them, the per-kind bench, and the preset."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import pytest

import agents
from agents import zoo_task
from agents.zoo import ZOO, build_untrained, evaluate, spec_hash, warm_start, zoo_path
from agents.zoo_task import SUBSETS, TaskProblem, problem_kinds, target_response, task_problems

REPO = Path(__file__).resolve().parents[1]
PRESET = REPO / "configs" / "skill_split.yaml"
VARIANTS = {"tiny-llama-bpe-add": ("tiny-llama-bpe", "add"), "tiny-qwen2-char-sub": ("tiny-qwen2-char", "sub")}


def _operators(prompt: str) -> list[str]:
    """The operators of a chain question, read independently of zoo_task's regexes."""
    expr = prompt.split("problem:", 1)[1].split("=", 1)[0]
    return re.findall(r"[-+]", expr)


def test_cache_keys_of_the_existing_zoo_agents_are_unchanged() -> None:
    # ZooSpec.sft_subset is left out of the key when "all": every agent cached before it existed
    # (and every published run's agents) keeps its directory and is not rebuilt.
    assert {n: spec_hash(ZOO[n]) for n in ("tiny-llama-bpe", "tiny-qwen2-char", "tiny-neox-bpe")} == {
        "tiny-llama-bpe": "6a3a82a17954", "tiny-qwen2-char": "f51382d25667", "tiny-neox-bpe": "ab6070cf0acf"}


@pytest.mark.parametrize("name", list(VARIANTS))
def test_skill_variants_differ_from_their_base_only_in_the_warm_start_subset(name: str) -> None:
    base, subset = VARIANTS[name]
    assert ZOO[name].sft_subset == subset
    assert replace(ZOO[name], sft_subset="all") == ZOO[base]
    assert spec_hash(ZOO[name]) != spec_hash(ZOO[base]) and zoo_path(name) != zoo_path(base)
    assert name in agents.available()


def test_subsets_are_kinds_of_training_problems_in_a_fixed_order() -> None:
    train = task_problems("train")
    test_prompts = {p.prompt for p in task_problems("test")}
    by_subset = {s: task_problems("train", subset=s) for s in SUBSETS}
    assert by_subset["all"] == train
    zoo_task._split.cache_clear()  # drawn again from reasoning-gym: the same problems
    assert {s: task_problems("train", subset=s) for s in SUBSETS} == by_subset
    for s, problems in by_subset.items():
        assert problems and not {p.prompt for p in problems} & test_prompts  # held-out filter kept
        assert problems == [p for p in train if s in problem_kinds(p)]     # train order, nothing else
    assert all(set(_operators(p.prompt)) == {"+"} for p in by_subset["add"])
    assert all("-" in _operators(p.prompt) for p in by_subset["sub"])
    assert all(len(_operators(p.prompt)) == 1 for p in by_subset["short"])
    assert all(len(_operators(p.prompt)) == 2 for p in by_subset["long"])
    for a, b in (("add", "sub"), ("short", "long")):  # two partitions of the split
        assert len(by_subset[a]) + len(by_subset[b]) == len(train)
    assert (len(by_subset["add"]), len(by_subset["sub"])) == (690, 1310)
    assert task_problems("train", limit=5, subset="sub") == by_subset["sub"][:5]
    test = task_problems("test")
    assert sorted(p.prompt for p in task_problems("test", subset="add") + task_problems("test", subset="sub")) == \
        sorted(p.prompt for p in test)


def test_problem_kinds_and_unknown_subsets() -> None:
    assert problem_kinds("State the final answer to the following arithmetic problem: 8 + 2 - 7 =") == \
        {"all", "sub", "long"}
    assert problem_kinds(TaskProblem("... problem: 3 + 4 =\nGive it.", "7")) == {"all", "add", "short"}
    assert problem_kinds("What is two plus two?") == {"all"}
    with pytest.raises(ValueError, match="unknown warm-start subset 'mul'"):
        task_problems("train", subset="mul")


def test_warm_start_trains_on_its_subset_only(monkeypatch) -> None:
    agent = build_untrained("tiny-llama-bpe-add", corpus=["State the answer: 12 + 7 = #### 19"] * 20)
    seen = {}
    encode = agent.encode

    def spy(prompts, responses=None, **kwargs):
        seen.update(prompts=list(prompts), responses=list(responses))
        return encode(prompts, responses=responses, **kwargs)

    monkeypatch.setattr(agent, "encode", spy)
    warm_start(agent, ZOO["tiny-llama-bpe-add"], steps=1)
    add = task_problems("train", subset="add")
    assert seen["prompts"] == [p.prompt for p in add]
    assert seen["responses"] == [target_response(p, "steps") for p in add]
    assert not any("-" in r for r in seen["responses"])


def test_skill_split_rows_count_each_kind_and_the_overlap() -> None:
    import sys

    sys.path.insert(0, str(REPO))
    from bench.skill_split import split_rows

    prompts = {0: "problem: 1 + 2 =", 1: "problem: 5 - 2 =", 2: "problem: 1 + 2 - 3 =", 3: "problem: 4 + 4 + 1 ="}

    def result(greedy, sampled):
        return {"per_problem": [{"index": i, "greedy_correct": g, "sampled_acc": s}
                                for i, (g, s) in enumerate(zip(greedy, sampled))]}

    table = split_rows({"a": result([1, 0, 0, 1], [1.0, 0.0, 0.5, 0.5]), "b": result([0, 1, 1, 1], [0, 1, 1, 1])},
                       prompts, ("add", "sub"))
    assert table["acc"]["a", "add"] == (2, 1.0, 0.75) and table["acc"]["a", "sub"] == (2, 0.0, 0.25)
    assert table["acc"]["b", "all"] == (4, 0.75, 0.75)
    assert table["overlap"]["all"] == {"n": 4, "both": 1, "a only": 1, "b only": 2, "neither": 0}
    assert table["overlap"]["sub"] == {"n": 2, "both": 0, "a only": 0, "b only": 2, "neither": 0}


def test_preset_is_the_default_with_the_skill_split_agents() -> None:
    from train.config import TrainConfig, load_config

    cfg, default = load_config(PRESET, []), TrainConfig()
    assert [(a.name, a.model) for a in cfg.agents] == [("llama_add", "tiny-llama-bpe-add"),
                                                       ("qwen2_sub", "tiny-qwen2-char-sub")]
    for a, d in zip(cfg.agents, default.agents):  # every other agent setting is the default's
        assert replace(a, name=d.name, model=d.model) == d
    assert (cfg.env, cfg.schedule, cfg.algo) == (default.env, default.schedule, default.algo)
    assert replace(cfg, agents=default.agents, output_dir=default.output_dir) == default


@pytest.fixture(scope="module")
def skill_agents() -> dict:
    return {name: agents.load(name) for name in VARIANTS}


@pytest.mark.slow
def test_each_skill_agent_leads_on_its_own_kind(skill_agents) -> None:
    # Greedy on the whole held-out split (62 addition-only, 138 with a subtraction): each agent
    # far ahead on its own kind, neither near 0 or 1 overall (RL needs signal in both).
    acc = {(name, kind): evaluate(agent, greedy=True, subset=kind)
           for name, agent in skill_agents.items() for kind in ("all", "add", "sub")}
    assert acc["tiny-llama-bpe-add", "add"] >= acc["tiny-qwen2-char-sub", "add"] + 0.3, acc
    assert acc["tiny-qwen2-char-sub", "sub"] >= acc["tiny-llama-bpe-add", "sub"] + 0.3, acc
    assert all(0.15 <= acc[name, "all"] <= 0.7 for name in VARIANTS), acc
    info = json.loads((zoo_path("tiny-llama-bpe-add") / "zoo_info.json").read_text())
    assert info["spec"]["sft_subset"] == "add"


@pytest.mark.slow
def test_skill_split_preset_runs_one_step(tmp_path, skill_agents) -> None:
    from train.config import load_config
    from train.loop import train

    cfg = load_config(PRESET, [f"output_dir={tmp_path}", "run_name=r", "schedule.steps=1",
                               "schedule.prompts_per_step=4", "schedule.group_size=2", "schedule.eval_every=0",
                               "schedule.eval_k=1", "env.eval_size=4",
                               "logging.progress=false", "logging.plots=false", "logging.tensorboard=false"])
    summary = train(cfg)
    assert set(summary["start"]) == set(summary["end"]) == {"llama_add", "qwen2_sub"}
    rows = [json.loads(line) for line in (Path(summary["run_dir"]) / "metrics.jsonl").read_text().splitlines()]
    step = [r for r in rows if r.get("step") == 1 and "llama_add/cost/responses" in r][0]
    assert step["llama_add/cost/responses"] == step["qwen2_sub/cost/responses"] == 8


@pytest.mark.slow
def test_skill_split_bench_prints_both_tables(capsys, skill_agents) -> None:
    import sys

    sys.path.insert(0, str(REPO))
    from bench.skill_split import main

    assert main(["--n", "12", "--k", "1", "--max-new-tokens", "12"]) == 0
    out = capsys.readouterr().out
    assert "| tiny-llama-bpe-add | " in out and "| tiny-qwen2-char-sub | " in out
    assert re.search(r"\| all \| 12 \| \d+ \| \d+ \| \d+ \| \d+ \| \d+ \(", out), out
