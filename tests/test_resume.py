"""Resume cannot mix runs: the run's own config, the checkpoint asked for (or the newest intact
one), overrides that would change what was trained refused before anything is written, safe
ones recorded; and the CLI path a user takes (`--resume <run>/checkpoints/step_N`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from train.checkpoint import list_checkpoints, save_checkpoint
from train.config import ConfigError, TrainConfig, load_config, save_config
from train.resume import config_changes, prepare_resume

REPO = Path(__file__).resolve().parents[1]
SMOKE = REPO / "configs" / "smoke.yaml"


class FakeAgent:
    def __init__(self, name: str, weight: float):
        self.name, self.weight = name, weight

    def save_pretrained(self, path) -> None:
        Path(path).mkdir(parents=True)
        (Path(path) / "config.json").write_text(json.dumps({"weight": self.weight}))
        (Path(path) / "model.safetensors").write_bytes(b"w" * 64)


def _fake_run(tmp_path: Path, steps=(1, 2, 3), *overrides: str) -> tuple[Path, TrainConfig]:
    """A run dir as the trainer leaves it: config.yaml and checkpoints of the config's agents."""
    cfg = load_config(SMOKE, [f"output_dir={tmp_path}", "run_name=run", *overrides])
    run = tmp_path / "run"
    run.mkdir()
    save_config(cfg, run / "config.yaml")
    for s in steps:
        save_checkpoint(run / "checkpoints", s, [FakeAgent(a.name, float(s)) for a in cfg.agents],
                        {"trainer": {"step": s}})
    return run, cfg


def _weight(agent_dir: Path) -> float:
    return json.loads((agent_dir / "config.json").read_text())["weight"]


def test_a_checkpoint_dir_resumes_from_that_checkpoint_not_the_newest(tmp_path):
    run, cfg = _fake_run(tmp_path)
    point = prepare_resume(run / "checkpoints" / "step_1", cfg)
    assert point.run_dir == run and point.checkpoint == run / "checkpoints" / "step_1" and point.step == 1
    assert _weight(point.agent_dirs["llama"]) == 1.0
    assert prepare_resume(run, cfg).step == 3  # a run dir: the newest


def test_overrides_that_change_what_was_trained_are_all_listed_and_nothing_is_written(tmp_path):
    run, cfg = _fake_run(tmp_path)
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    changed = load_config(SMOKE, [f"output_dir={tmp_path}", "run_name=run", "algo.name=gspo",
                                  "schedule.group_size=4", "agents.1.model=tiny-neox-bpe", "seed=3"])
    with pytest.raises(ConfigError) as info:
        prepare_resume(run, changed)
    msg = str(info.value)
    for fragment in ("cannot resume", "algo.name: 'hacpo' -> 'gspo'", "schedule.group_size: 2 -> 4",
                     "agents.1.model: 'tiny-qwen2-char' -> 'tiny-neox-bpe'", "seed: 0 -> 3", "schedule.steps"):
        assert fragment in msg
    assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file()} == before


@pytest.mark.parametrize("override, key", [
    ("agents.1.name=qwen3", "agents.1.name"),          # a renamed agent
    ("env.kwargs.size=65", "env.kwargs.size"),         # another task
    ("env.id=gsm8k-v0", "env.id"),
    ("agents.0.lr=1e-3", "agents.0.lr"),
    ("schedule.prompts_per_step=4", "schedule.prompts_per_step"),
])
def test_each_kind_of_training_change_is_refused(tmp_path, override, key):
    run, _ = _fake_run(tmp_path)
    with pytest.raises(ConfigError, match=f"{key}:"):
        prepare_resume(run, load_config(SMOKE, [f"output_dir={tmp_path}", "run_name=run", override]))


def test_safe_changes_are_accepted_and_reported(tmp_path):
    run, cfg = _fake_run(tmp_path)
    later = load_config(SMOKE, [f"output_dir={tmp_path / 'elsewhere'}", "run_name=run", "schedule.steps=9",
                                "schedule.eval_every=3", "logging.progress=true", "agents.0.device=cpu"])
    point = prepare_resume(run, later)
    assert point.changes == {"schedule.steps": (2, 9), "schedule.eval_every": (1, 3),
                             "logging.progress": (False, True), "agents.0.device": (None, "cpu")}


def test_adding_an_agent_is_refused_even_under_the_same_names(tmp_path):
    run, cfg = _fake_run(tmp_path)
    three = load_config(REPO / "configs" / "three_agents.yaml", [])
    with pytest.raises(ConfigError, match=r"agents.len: 2 -> 3"):
        config_changes(cfg, three)


def test_a_damaged_newest_checkpoint_falls_back_to_the_newest_intact_one(tmp_path):
    run, cfg = _fake_run(tmp_path)
    weights = run / "checkpoints" / "step_3" / "qwen2" / "model.safetensors"
    weights.write_bytes(b"w" * 10)  # truncated
    state = run / "checkpoints" / "step_2" / "trainer_state.pt"
    state.write_bytes(b"x" * state.stat().st_size)  # same size, not a torch file
    point = prepare_resume(run, cfg)
    assert point.step == 1 and point.checkpoint.name == "step_1"
    assert "step_3/qwen2/model.safetensors has 10 bytes, 64 were saved" in point.skipped[0]
    assert "step_2/trainer_state.pt is unreadable (not a torch.save archive)" in point.skipped[1]


@pytest.mark.parametrize("damage, fragment", [
    (lambda c: (c / "trainer_state.pt").unlink(), "missing trainer_state.pt"),
    (lambda c: (c / "meta.json").write_text("{"), "meta.json is unreadable"),
    (lambda c: (c / "llama" / "config.json").unlink(), "missing llama/config.json"),
])
def test_no_intact_checkpoint_is_one_clear_error(tmp_path, damage, fragment):
    run, cfg = _fake_run(tmp_path, (1,))
    damage(run / "checkpoints" / "step_1")
    with pytest.raises(ConfigError, match="no intact checkpoint") as info:
        prepare_resume(run, cfg)
    assert fragment in str(info.value)


def test_a_checkpoint_of_other_agents_is_refused(tmp_path):
    run, cfg = _fake_run(tmp_path)
    # config.yaml edited by hand after the run: the checkpoint still holds llama and qwen2
    edited = load_config(run / "config.yaml", ["agents.1.name=qwen3"])
    save_config(edited, run / "config.yaml")
    with pytest.raises(ConfigError, match=r"holds agents \['llama', 'qwen2'\], the config names \['llama', 'qwen3'\]"):
        prepare_resume(run, edited)


@pytest.mark.parametrize("make, fragment", [
    (lambda t: t / "missing", "does not exist"),
    (lambda t: (t / "empty").mkdir() or t / "empty", "is not a run directory"),
])
def test_a_path_that_is_not_a_run_is_refused_and_left_untouched(tmp_path, make, fragment):
    path = make(tmp_path)
    with pytest.raises(ConfigError, match=fragment):
        prepare_resume(path, TrainConfig())
    assert not path.exists() or list(path.iterdir()) == []


# --------------------------------------------------------------------------- the CLI, end to end

def _main(*argv: str) -> dict:
    from train.hacpo import main

    return main(list(argv))


def _steps(run: Path) -> list[int]:
    return [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_cli_a_checkpoint_that_cannot_be_written_is_one_error_line(monkeypatch, tmp_path):
    import train.loop
    from train.checkpoint import CheckpointWriteError

    def full_disk(cfg, resume=None):
        raise CheckpointWriteError(5, tmp_path / "checkpoints", RuntimeError("unexpected pos 96 vs 88"), 0)

    monkeypatch.setattr(train.loop, "train", full_disk)
    with pytest.raises(SystemExit, match=r"^error: checkpoint step 5 could not be written .*unexpected pos 96 vs 88"
                                         r".*the disk is \(nearly\) full.*--resume"):
        _main("--config", str(SMOKE), f"--output_dir={tmp_path}")


@pytest.fixture(scope="module")
def three_step_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs")
    _main("--config", str(SMOKE), f"--output_dir={out}", "--run_name=r", "--schedule.steps=3",
          "--schedule.keep_checkpoints=3", "--schedule.eval_every=0", "--env.eval_size=2", "--schedule.eval_k=1")
    return out / "r"


def test_cli_resume_from_a_checkpoint_dir_uses_the_runs_config_and_that_step(three_step_run, tmp_path):
    import shutil

    run = tmp_path / "r"
    shutil.copytree(three_step_run, run)
    saved = (run / "config.yaml").read_text()
    # no --config: the run's own config (smoke: 2 prompts x 2 samples), not the built-in default (32 x 8)
    _main("--resume", str(run / "checkpoints" / "step_1"), "--schedule.steps=4")
    assert _steps(run) == [0, 1, 2, 3, 4]  # steps 2 and 3 logged again, once
    last = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()][-1]
    assert last["step"] == 4 and last["llama/cost/responses"] == 4
    record = json.loads((run / "resumes.jsonl").read_text().splitlines()[-1])
    assert record["checkpoint"] == "checkpoints/step_1" and record["step"] == 1
    assert record["changed"] == {"schedule.steps": [3, 4]}
    assert (run / "config.yaml").read_text() == saved.replace("steps: 3", "steps: 4")
    assert [s for s, _ in list_checkpoints(run / "checkpoints")] == [2, 3, 4]  # 2, 3 re-made; old ones aside
    assert len(list((run / "checkpoints" / "superseded").iterdir())) == 2


def test_cli_resume_refuses_changes_before_touching_the_run(three_step_run, capsys):
    before = {p: p.read_bytes() for p in three_step_run.rglob("*") if p.is_file()}
    with pytest.raises(SystemExit) as info:
        _main("--resume", str(three_step_run), "--algo.name=gspo", "--schedule.group_size=4")
    assert "algo.name: 'hacpo' -> 'gspo'" in str(info.value) and "schedule.group_size: 2 -> 4" in str(info.value)
    assert {p: p.read_bytes() for p in three_step_run.rglob("*") if p.is_file()} == before


@pytest.mark.parametrize("argv, fragment", [
    (["--resume"], "--resume needs a value"),
    (["--resume", "{tmp}/nope"], "does not exist"),
    (["--resume", "{tmp}"], "is not a run directory"),
])
def test_cli_resume_of_a_missing_or_non_run_dir_is_one_line(tmp_path, argv, fragment):
    with pytest.raises(SystemExit) as info:
        _main(*[a.format(tmp=tmp_path) for a in argv])
    assert fragment in str(info.value) and str(info.value).startswith("error: ")
    assert list(tmp_path.iterdir()) == []  # no config.yaml written into it
