"""train/config.py: defaults, YAML + dotted overrides, clear errors, validation, save round trip."""

from __future__ import annotations

from pathlib import Path

import pytest

from train.config import (
    TrainConfig,
    config_to_yaml,
    load_config,
    resolve_algo,
    resolved_config,
    save_config,
    split_cli_args,
)
from train.config_checks import validate_config

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def test_defaults_are_two_heterogeneous_tiny_agents_on_chain_sum() -> None:
    cfg = load_config(None, [])
    assert cfg == TrainConfig()
    assert [a.model for a in cfg.agents] == ["tiny-llama-bpe", "tiny-qwen2-char"]
    assert cfg.env.id == "rg-chain_sum-v0"
    # paper ratio: minibatch = half the own batch -> 32 prompts * G 8 / 2
    assert resolve_algo(cfg).minibatch_size == 128


def test_the_resolved_config_shows_the_values_the_run_uses() -> None:
    cfg = load_config(None, ["algo.alpha=3"])
    assert cfg.algo.delta is None  # the input config: None = the variant's own value
    shown = resolved_config(cfg)
    assert (shown.algo.alpha, shown.algo.delta, shown.algo.delta_step, shown.algo.window) == (3.0, 0.2, 0.025, 5)
    assert (shown.algo.minibatch_size, shown.algo.shuffle, shown.algo.kl_beta) == (128, True, 0.0)
    assert "null" not in config_to_yaml(shown).split("algo:")[1].split("env:")[0]
    assert resolved_config(shown) == shown and resolve_algo(shown) == resolve_algo(cfg)


def test_a_saved_config_reused_with_another_variant_takes_that_variants_values(tmp_path) -> None:
    path = tmp_path / "config.yaml"
    save_config(resolved_config(load_config(None, [])), path)  # what a run saves: alpha 1.0 written out
    assert resolve_algo(load_config(path, ["algo.name=alpha0"])).alpha == 0.0
    assert resolve_algo(load_config(path, ["algo.name=alpha0", "algo.alpha=0.5"])).alpha == 0.5
    assert resolve_algo(load_config(path, [])).alpha == 1.0


def test_algo_ranges_are_checked_once_by_the_spec_and_name_the_key() -> None:
    with pytest.raises(ValueError) as err:
        load_config(None, ["algo.delta=1.5", "algo.kl_beta=-1"])
    text = str(err.value)
    assert "algo.delta: 1.5 must be in [0, 1]" in text and "override 'algo.delta=1.5'" in text
    assert "algo.kl_beta: -1.0 must be >= 0" in text
    assert resolve_algo(load_config(None, ["algo.delta=0"])).delta == 0.0  # the window [1, 1]: as core allows


def test_default_task_is_graded_with_binary_rewards() -> None:
    # reasoning-gym's chain_sum scorer gives partial credit to answers that merely contain the
    # gold's digits; the default grades with gsm8k (reward 0 or 1) instead.
    import hacrl_env

    cfg = load_config()
    env = hacrl_env.make(cfg.env.id, agents=["a"], verifier=cfg.env.verifier, **cfg.env.kwargs)
    env.reset(seed=0)
    gold = env.current_problem.answer
    rewards = {}
    for text in (f"#### {gold}", f"#### -{gold}2", f"{gold}{gold}{gold}"):
        env.reset(seed=0)
        rewards[text] = env.step({"a": text})[1]["a"]
    assert rewards == {f"#### {gold}": 1.0, f"#### -{gold}2": 0.0, f"{gold}{gold}{gold}": 0.0}


def test_default_task_kwargs_match_the_zoo_warm_start() -> None:
    # The tiny agents are warm-started on the zoo's task; RL on other kwargs would be a different task.
    from agents import zoo
    assert TrainConfig().env.kwargs == zoo.WARMSTART_TASK_KWARGS
    assert TrainConfig().env.id == zoo.WARMSTART_ENV_ID


def test_default_yaml_is_the_embedded_default() -> None:
    assert load_config(CONFIGS / "default.yaml", []) == TrainConfig()


@pytest.mark.parametrize("preset", sorted(p.name for p in CONFIGS.glob("*.yaml")))
def test_every_preset_loads_and_validates(preset: str) -> None:
    # GPU presets are validated without the hardware checks (this machine may be CPU-only).
    cfg = load_config(CONFIGS / preset, [], check_hardware=False)
    validate_config(cfg, check_hardware=False)
    assert cfg.agents and cfg.schedule.steps >= 1


@pytest.mark.parametrize("preset", sorted(p.name for p in CONFIGS.glob("*.yaml")))
def test_preset_models_are_known_names_or_hub_ids(preset: str) -> None:
    import agents

    for a in load_config(CONFIGS / preset, [], check_hardware=False).agents:
        assert a.model in agents.available() or a.model.count("/") == 1, f"{preset}: {a.model!r}"


def test_paper_preset_carries_section6_hyperparameters() -> None:
    cfg = load_config(CONFIGS / "qwen3_math_paper.yaml", [], check_hardware=False)
    assert [a.lr for a in cfg.agents] == [1e-6, 1e-6]
    assert (cfg.schedule.prompts_per_step, cfg.schedule.group_size) == (128, 8)
    # 2048 sequences per learner / 512 per update = 4 updates (HACPO.md §3d)
    assert resolve_algo(cfg).minibatch_size == 64 * 8
    assert (cfg.algo.alpha, cfg.algo.delta, cfg.algo.delta_step, cfg.algo.window) == (1.0, 0.2, 0.025, 5)


def test_yaml_then_overrides_in_both_spellings(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("schedule: {steps: 7}\nalgo: {alpha: 2.0}\n")
    cfg = load_config(path, ["--algo.alpha=3", "agents.1.lr=1e-5", "env.kwargs.size=50",
                             "run_name=null", "agents.0.device=cpu"])
    assert cfg.schedule.steps == 7  # from the YAML
    assert cfg.algo.alpha == 3.0  # override beats YAML
    assert cfg.agents[1].lr == 1e-5 and cfg.agents[0].lr == TrainConfig().agents[0].lr
    assert cfg.env.kwargs["size"] == 50 and cfg.env.kwargs["min_terms"] == 2
    assert cfg.agents[0].device == "cpu"


def test_yaml_agent_list_replaces_the_default_and_fills_field_defaults(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("agents:\n  - {name: a, model: tiny-llama-bpe}\n  - {name: b, model: tiny-neox-bpe, lr: 0.001}\n")
    cfg = load_config(path, [])
    assert [a.name for a in cfg.agents] == ["a", "b"]
    assert cfg.agents[1].lr == 0.001 and cfg.agents[0].max_grad_norm == 1.0


@pytest.mark.parametrize("override, fragments", [
    ("algo.alpah=2", ["'algo.alpah'", "did you mean 'alpha'", "valid keys under algo"]),
    ("agents.0.lrr=1", ["'agents.0.lrr'", "did you mean 'lr'"]),
    ("sede=1", ["'sede'", "did you mean 'seed'"]),
    ("schedule.steps=abc", ["'schedule.steps'", "'abc'", "expected int"]),
    ("agents.0.lr=fast", ["'agents.0.lr'", "'fast'", "expected float"]),
    ("logging.plots=maybe", ["'logging.plots'", "expected bool"]),
    ("agents.5.lr=1", ["agents has 2 entries", "indices 0..1"]),
    ("algo.alpha", ["not of the form key=value"]),
])
def test_bad_overrides_fail_with_one_clear_message(override: str, fragments: list[str]) -> None:
    with pytest.raises(ValueError) as info:
        load_config(None, [override])
    for fragment in fragments:
        assert fragment in str(info.value)


def test_bad_yaml_type_names_the_file_and_key(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("schedule:\n  group_size: eight\n")
    with pytest.raises(ValueError, match=r"schedule.group_size.*bad.yaml.*'eight'.*expected int"):
        load_config(path, [])


def test_missing_file_and_missing_required_agent_fields(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not found"):
        load_config(tmp_path / "nope.yaml", [])
    path = tmp_path / "c.yaml"
    path.write_text("agents:\n  - {name: a}\n")
    with pytest.raises(ValueError, match=r"missing required keys.*agents\[0\]\.model"):
        load_config(path, [])


@pytest.mark.parametrize("overrides, fragment", [
    (["schedule.group_size=1"], "schedule.group_size"),
    (["agents.0.lr=0"], "agents.0.lr"),
    (["agents.0.lr_scheduler=cosine_with_restarts"], "must be one of ('constant', 'linear', 'cosine')"),
    (["agents.1.warmup_ratio=1"], "agents.1.warmup_ratio"),
    (["agents.1.name=llama"], "names must be unique"),
    (["agents.0.precision=fp16"], "agents.0.precision"),
    (["agents.0.generation_precision=int4"], "agents.0.generation_precision"),
    (["agents.0.top_p=1.5"], "agents.0.top_p"),
    (["agents.0.engine=sglang"], "must be one of ('transformers', 'vllm')"),
    (["agents.0.engine=vllm", "agents.0.generation_precision=int8"], "the transformers engine's"),
    (["agents.0.token_budget=100"], "cannot hold one full sequence"),
    (["agents=[]"], "at least one agent"),
    (["algo.minibatch_size=48"], "must divide every learner's batch [512]"),
    (["env.eval_split=train"], "held-out split"),
    (["algo.delta=1.5"], "algo.delta"),
    (["algo.behaviour_logprobs=sampler"], "algo.behaviour_logprobs"),
    (["env.id=math-v0", "env.verifier=gsm8k"], "env.verifier=null"),  # a '####' number grader on LaTeX answers
    (["env.eval_id=math500-v0"], "MATH answers are LaTeX"),
])
def test_validation_names_the_key_and_the_fix(overrides: list[str], fragment: str) -> None:
    with pytest.raises(ValueError, match="invalid config") as info:
        load_config(None, overrides)
    assert fragment in str(info.value)


def test_validation_reports_every_problem_at_once() -> None:
    with pytest.raises(ValueError) as info:
        load_config(None, ["schedule.steps=0", "agents.1.lr=-1"])
    assert "schedule.steps" in str(info.value) and "agents.1.lr" in str(info.value)


def test_unknown_algorithm_suggests_a_name() -> None:
    with pytest.raises(ValueError, match="hacpo"):
        load_config(None, ["algo.name=hacpp"])


def test_peer_learning_needs_two_agents(tmp_path: Path) -> None:
    path = tmp_path / "one.yaml"
    path.write_text("agents:\n  - {name: a, model: tiny-llama-bpe}\n")
    with pytest.raises(ValueError, match="at least 2 agents"):
        load_config(path, [])
    assert len(load_config(path, ["algo.name=gspo"]).agents) == 1


def test_hardware_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    import train.config_checks as config_checks

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="CUDA is not available"):
        load_config(None, ["agents.0.device=cuda"])
    monkeypatch.setattr(config_checks, "cpu_supports_bf16", lambda: False)
    with pytest.raises(ValueError, match="bf16 requested on a CPU without native bf16"):
        load_config(None, ["agents.0.precision=bf16"])
    monkeypatch.setattr(config_checks, "cpu_supports_bf16", lambda: True)
    assert load_config(None, ["agents.0.precision=bf16"]).agents[0].precision == "bf16"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(ValueError, match="'cuda:3' does not exist"):
        load_config(None, ["agents.0.device=cuda:3"])
    assert load_config(None, ["agents.0.device=cuda:0"]).agents[0].device == "cuda:0"
    # the same config loads without hardware checks (validating a GPU preset on a CPU box)
    assert load_config(None, ["agents.0.device=cuda"], check_hardware=False).agents[0].device == "cuda"


def test_vllm_engine_without_vllm_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    import agents.llm
    import train.config_checks as config_checks

    assert config_checks.ENGINES == agents.llm.ENGINES

    monkeypatch.setattr(config_checks, "_vllm_problem", lambda: "ModuleNotFoundError: No module named 'vllm'")
    with pytest.raises(ValueError, match=r"agents\.0\.engine.*engine=vllm needs vLLM: pip install 'hacrl\[vllm\]'"):
        load_config(None, ["agents.0.engine=vllm"])
    assert load_config(None, ["agents.1.engine=transformers"]).agents[1].engine == "transformers"
    monkeypatch.setattr(config_checks, "_vllm_problem", lambda: None)
    assert load_config(None, ["agents.0.engine=vllm"]).agents[0].engine == "vllm"


def test_save_and_reload_round_trip(tmp_path: Path) -> None:
    cfg = load_config(CONFIGS / "smoke.yaml", ["algo.alpha=0.5", "env.kwargs.seed=3", "run_name=x"])
    save_config(cfg, tmp_path / "config.yaml")
    assert load_config(tmp_path / "config.yaml", []) == cfg
    assert "alpha: 0.5" in config_to_yaml(cfg)


def test_split_cli_args() -> None:
    assert split_cli_args(["--config", "a.yaml", "--x.y=1", "z=2"]) == ("a.yaml", ["--x.y=1", "z=2"])
    assert split_cli_args(["--config=b.yaml"]) == ("b.yaml", [])
    assert split_cli_args(["-c", "c.yaml", "--seed=1"]) == ("c.yaml", ["--seed=1"])
    assert split_cli_args([]) == (None, [])
    # the argparse spelling `--key value` is the same override as `--key=value`
    assert split_cli_args(["--run_name", "probe", "--algo.alpha", "-1", "seed=2", "--x=1"]) == (
        None, ["--run_name=probe", "--algo.alpha=-1", "seed=2", "--x=1"])
    for argv in (["--seed", "--x=1"], ["--seed"], ["--resume"]):  # a flag without its value
        with pytest.raises(ValueError, match=f"{argv[0]} needs a value"):
            split_cli_args(argv)
    with pytest.raises(ValueError, match="needs a YAML path"):
        split_cli_args(["--config"])


# --------------------------------------------------------------------------- env settings follow env.id

@pytest.mark.parametrize("env_id", ["gsm8k-v0", "math-v0", "rg-basic_arithmetic-v0"])
def test_changing_env_id_alone_gives_the_new_envs_own_settings(env_id: str) -> None:
    # the default's chain_sum kwargs and '####' grader must not leak into another env
    env = load_config(None, [f"--env.id={env_id}"]).env
    assert (env.kwargs, env.verifier, env.eval_id, env.train_split, env.eval_split) == ({}, None, None, "train", "test")


def test_env_settings_given_with_the_new_id_are_kept_in_any_order(tmp_path: Path) -> None:
    for overrides in (["env.id=gsm8k-v0", "env.verifier=gsm8k-strict"], ["env.verifier=gsm8k-strict", "env.id=gsm8k-v0"]):
        assert load_config(None, overrides).env.verifier == "gsm8k-strict"
    # a preset's eval set belongs to the preset's env: switching env on the command line drops it
    paper = load_config(CONFIGS / "qwen3_math_paper.yaml", [], check_hardware=False)
    assert paper.env.eval_id == "math500-v0" and paper.env.kwargs == {}
    assert load_config(CONFIGS / "qwen3_math_paper.yaml", ["env.id=gsm8k-v0"], check_hardware=False).env.eval_id is None
    # a YAML file that names the same id as the default keeps the default's other settings
    path = tmp_path / "c.yaml"
    path.write_text("env: {id: rg-chain_sum-v0, eval_size: 9}\n")
    assert load_config(path, []).env.verifier == "gsm8k" and load_config(path, []).env.kwargs["max_terms"] == 3


@pytest.mark.parametrize("override, expected", [
    ("--env.kwargs={}", {}),
    ("--env.kwargs=null", {}),
    ("--env.kwargs={size: 5}", {"size": 5}),  # replaced, not merged into the default's
    ("--env.kwargs.size=5", {"min_terms": 2, "max_terms": 3, "min_digits": 1, "max_digits": 1, "size": 5}),
])
def test_env_kwargs_given_whole_replace_the_old_ones(override: str, expected: dict) -> None:
    assert load_config(None, [override]).env.kwargs == expected


@pytest.mark.parametrize("text, expected", [
    ("env: {kwargs: {size: 3}}\n", {"size": 3}),
    ("env: {kwargs: {}}\n", {}),
    ("env: {kwargs: null}\n", {}),
])
def test_a_yaml_file_replaces_env_kwargs(tmp_path: Path, text: str, expected: dict) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(text)
    assert load_config(path, []).env.kwargs == expected


def test_explicit_null_clears_the_grader() -> None:
    assert load_config(None, ["env.verifier=null"]).env.verifier is None


# --------------------------------------------------------------------------- mistakes: one message, where

@pytest.mark.parametrize("override, fragment", [
    ("seed=-1", "seed: -1 must be a non-negative integer"),
    ("agents.0.lr=inf", "agents.0.lr: inf must be a finite number"),
    ("algo.alpha=.nan", "algo.alpha: nan must be a finite number"),
    ("agents.1.temperature=-.inf", "agents.1.temperature: -inf must be a finite number"),
])
def test_non_finite_numbers_and_negative_seeds_are_refused(override: str, fragment: str) -> None:
    with pytest.raises(ValueError) as info:
        load_config(None, [override])
    assert fragment in str(info.value) and f"(set at override '{override}')" in str(info.value)


def test_a_bad_value_in_a_yaml_file_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("schedule:\n  steps: 3\nagents:\n  - name: a\n    model: tiny-llama-bpe\n    lr: .inf\n"
                    "  - {name: b, model: tiny-qwen2-char}\n")
    with pytest.raises(ValueError, match=rf"agents.0.lr: inf must be a finite number \(set at {path}:6\)"):
        load_config(path, [])
    # an override of the same key is what set it, so the message names the override instead
    with pytest.raises(ValueError, match=r"set at override 'agents.0.lr=-1'"):
        load_config(path, ["agents.0.lr=-1"])


@pytest.mark.parametrize("text, fragment", [
    ("agents:\n  a: {name: x, model: tiny-llama-bpe}\n", "'agents' (in {path}) must be a list, got a mapping"),
    ("agents:\n  - tiny-llama-bpe\n", "'agents.0' (in {path}) must be a mapping of keys"),
    ("env: [gsm8k-v0]\n", "'env' (in {path}) must be a mapping of keys, got a list"),
])
def test_wrong_container_shapes_say_which_shape_is_wanted(tmp_path: Path, text: str, fragment: str) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ValueError) as info:
        load_config(path, [])
    assert fragment.format(path=path) in str(info.value)


def test_config_flag_without_a_path_is_one_line_from_the_script() -> None:
    import subprocess
    import sys

    for argv in (["--config"], ["--config="], ["--seed=-1"], ["--agents.0.lr=inf"]):
        proc = subprocess.run([sys.executable, "train/hacpo.py", *argv], cwd=CONFIGS.parent,
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode != 0 and proc.stderr.startswith("error: ") and "Traceback" not in proc.stderr, argv
