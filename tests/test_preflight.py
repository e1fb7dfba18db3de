"""Every mistake a user makes in a run's inputs is one message naming the field and the fix,
raised before any model loads and before the run directory exists."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import train.loop as loop
from train.config import ConfigError, load_config

REPO = Path(__file__).resolve().parents[1]
SMOKE = REPO / "configs" / "smoke.yaml"


@pytest.fixture
def no_models(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("models were loaded before the inputs were checked")
    monkeypatch.setattr(loop, "build_workers", refuse)


@pytest.mark.parametrize("overrides, key, fragment", [
    (["agents.0.model=tiny-lama-bpe"], "agents.0.model", "did you mean 'tiny-llama-bpe'"),
    (["agents.1.model=NoSuchOrg/no-such-model"], "agents.1.model", "not in the local Hugging Face cache"),
    (["agents.1.model=not a model"], "agents.1.model", "neither a known agent"),
    (["env.id=gsm9k-v0"], "env.id", "Did you mean 'gsm8k-v0'?"),
    (["env.id=math500-v0"], "env.train_split", "math500-v0 has no split 'train'; choose one of ['test']"),
    (["env.eval_split=validation"], "env.eval_split", "has no split 'validation'; choose one of ['train', 'test']"),
    (["env.eval_id=gsm8k-v1"], "env.eval_id", "no version v1"),
    (["env.verifier=mth"], "env.verifier", "did you mean 'math'"),
    (["env.kwargs.max_termz=3"], "env.kwargs", "unknown option(s) ['max_termz']"),
    (["env.kwargs.min_terms=9"], "env.kwargs", "reasoning-gym rejected the config"),  # min_terms > max_terms
    (["env.id=gsm8k-v0", "env.kwargs.size=3"], "env.kwargs", "gsm8k got unknown keyword(s) ['size']"),
    (["schedule.external_trajectories=/no/such.jsonl"], "schedule.external_trajectories", "does not exist"),
])
def test_bad_inputs_fail_before_models_load_or_the_run_dir_exists(tmp_path, no_models, overrides, key, fragment):
    cfg = load_config(SMOKE, [f"output_dir={tmp_path / 'runs'}", *overrides])
    with pytest.raises(ConfigError) as info:
        loop.train(cfg)
    assert f"{key}: " in str(info.value) and fragment in str(info.value)
    assert not (tmp_path / "runs").exists()


def test_every_problem_is_listed_at_once(tmp_path, no_models):
    cfg = load_config(SMOKE, [f"output_dir={tmp_path}", "env.id=gsm9k-v0", "env.verifier=mth",
                              "agents.0.model=tiny-lama-bpe"])
    with pytest.raises(ConfigError) as info:
        loop.train(cfg)
    assert [key for key, _ in info.value.problems] == ["env.id", "env.verifier", "agents.0.model"]


def test_missing_data_names_the_file_and_the_variable(tmp_path, no_models, monkeypatch):
    monkeypatch.setenv("HACRL_DATA_DIR", str(tmp_path))  # a folder without gsm8k/
    cfg = load_config(SMOKE, [f"output_dir={tmp_path / 'runs'}", "env.id=gsm8k-v0"])
    with pytest.raises(ConfigError, match=r"env.id: data file .*gsm8k/train.jsonl' not found"):
        loop.train(cfg)


def test_the_script_prints_one_line_and_no_traceback(tmp_path):
    proc = subprocess.run([sys.executable, "train/hacpo.py", "--config", str(SMOKE), f"--output_dir={tmp_path}",
                           "--env.id=gsm9k-v0", "--agents.0.model=tiny-lama-bpe"],
                          cwd=REPO, capture_output=True, text=True, timeout=300,
                          env={**__import__("os").environ, "HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("error: cannot start the run:") and "Did you mean 'gsm8k-v0'?" in proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_fresh_run_into_an_existing_runs_directory_is_refused(tmp_path, no_models):
    run = tmp_path / "r"
    run.mkdir()
    (run / "metrics.jsonl").write_text('{"step": 1}\n')
    cfg = load_config(SMOKE, [f"output_dir={tmp_path}", "run_name=r"])
    with pytest.raises(ConfigError, match=r"run_name: .* already holds a run; continue it with --resume"):
        loop.train(cfg)
    assert [p.name for p in run.iterdir()] == ["metrics.jsonl"]
