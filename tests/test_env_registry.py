"""Env ids: short-id resolution, did-you-mean and version errors, custom registration."""

from __future__ import annotations

import gymnasium
import pettingzoo
import pytest

import hacrl_env
from hacrl_env import EnvNameNotFound, EnvVersionNotFound, TaskDef
from hacrl_env.data import ProblemSet, Record
from pettingzoo.env_registry.exceptions import NameNotFound, VersionNotFound


def test_short_and_full_ids_resolve_to_the_same_spec():
    full = hacrl_env.spec("hacrl/gsm8k-v0")
    assert hacrl_env.spec("gsm8k-v0") is full
    assert hacrl_env.spec("gsm8k") is full  # no version: the highest
    assert full.id == "hacrl/gsm8k-v0" and full is pettingzoo.spec("parallel", "hacrl/gsm8k-v0")


def test_unknown_name_suggests_close_matches():
    with pytest.raises(EnvNameNotFound, match=r"no hacrl env 'gsm8K-v0'\. Did you mean 'gsm8k-v0'") as err:
        hacrl_env.make("gsm8K-v0")
    assert isinstance(err.value, NameNotFound) and isinstance(err.value, ValueError)
    with pytest.raises(EnvNameNotFound, match="'rg-chain_sum-v0'"):
        hacrl_env.make("rg-chainsum-v0")
    with pytest.raises(EnvNameNotFound, match="pprint_registry"):
        hacrl_env.make("zzzz-v0")
    with pytest.raises(TypeError, match="env id must be a str"):
        hacrl_env.make(3)


def test_unknown_version_lists_the_existing_ones():
    with pytest.raises(EnvVersionNotFound, match=r"hacrl/math has no version v3; available: v0") as err:
        hacrl_env.make("math-v3")
    assert isinstance(err.value, VersionNotFound)


def test_unknown_task_kwargs_are_rejected_with_what_is_accepted():
    with pytest.raises(TypeError, match=r"unknown keyword\(s\) \['sizee'\]; it takes no task options"):
        hacrl_env.make("gsm8k-v0", sizee=3)
    with pytest.raises(TypeError, match=r"unknown option\(s\) \['max_term'\].*'max_terms'"):
        hacrl_env.make("rg-chain_sum-v0", max_term=3)


def test_agents_argument():
    assert hacrl_env.make("gsm8k-v0", split="test", agents=3).possible_agents == \
        ["agent_0", "agent_1", "agent_2"]
    assert hacrl_env.make("gsm8k-v0", split="test", agents=["a", "b"]).possible_agents == ["a", "b"]
    with pytest.raises(ValueError, match="unique"):
        hacrl_env.make("gsm8k-v0", agents=["a", "a"])
    with pytest.raises(ValueError, match="at least one"):
        hacrl_env.make("gsm8k-v0", agents=0)
    with pytest.raises(TypeError, match="int or a list"):
        hacrl_env.make("gsm8k-v0", agents="ab")
    with pytest.raises(ValueError, match="takes one agent"):
        hacrl_env.make_single("gsm8k-v0", agents=2)


def test_pprint_registry_lists_every_id():
    text = hacrl_env.pprint_registry(disable_print=True)
    for env_id in hacrl_env.registered_ids():
        assert env_id in text
    assert "splits=train,test,train4500" in text


def _toy_load(split, *, data_dir, template):
    recs = [Record(id=f"toy/{split}/{i}", question=f"{i} + {i} = ?", answer=str(2 * i), meta={})
            for i in range(5)]
    return ProblemSet("toy", split, recs, template)


def test_register_a_custom_task_everywhere():
    task = TaskDef("toy", _toy_load, "{question} Answer after ####.", "exact", ("train",))
    hacrl_env.register("toy-v1", task)
    try:
        env = hacrl_env.make("toy")  # resolves to the highest (only) version
        obs, infos = env.reset(options={"index": 3})
        assert obs["agent_0"] == "3 + 3 = ? Answer after ####."
        _, rewards, *_ = env.step({"agent_0": "#### 6", "agent_1": "#### 5"})
        assert rewards == {"agent_0": 1.0, "agent_1": 0.0}
        assert pettingzoo.make("parallel", "hacrl/toy-v1").num_problems == 5
        single = gymnasium.make("hacrl/toy-v1")
        assert single.reset(seed=0)[0].endswith("Answer after ####.")
        with pytest.raises(ValueError, match="needs a version suffix"):
            hacrl_env.register("toy", task)
    finally:  # registries are the only module-level mutables: restore them
        pettingzoo.parallel_registry.pop("hacrl/toy-v1", None)
        gymnasium.registry.pop("hacrl/toy-v1", None)
    assert "hacrl/toy-v1" not in hacrl_env.registered_ids()


def test_no_split_given_uses_a_tasks_only_split_else_train():
    """A task with one split serves it by default; with several, "train"; with several and no
    "train", the error lists them."""
    one = TaskDef("toy", _toy_load, "{question}", "exact", ("dev",))
    several = TaskDef("toy", _toy_load, "{question}", "exact", ("dev", "eval"))
    hacrl_env.register("toy-v1", one)
    hacrl_env.register("toy-v2", several)
    try:
        assert hacrl_env.make("toy-v1").split == "dev"
        assert hacrl_env.make_vec("toy-v1", 2).split == "dev"
        assert hacrl_env.make_single("toy-v1").par.split == "dev"
        assert hacrl_env.make("toy-v2", split="eval").split == "eval"
        for build in (lambda: hacrl_env.make("toy-v2"), lambda: hacrl_env.make_vec("toy-v2", 2),
                      lambda: hacrl_env.make_single("toy-v2")):
            with pytest.raises(ValueError, match=r"no default split; pass split= one of \['dev', 'eval'\]"):
                build()
    finally:
        for env_id in ("hacrl/toy-v1", "hacrl/toy-v2"):
            pettingzoo.parallel_registry.pop(env_id, None)
            gymnasium.registry.pop(env_id, None)
