"""bench/reeval.py: re-reads a finished run's end points against its starting models with a
paired interval, reproduces the run's own final eval, and evaluates a shared start model once."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # bench/ is a folder of scripts, not an installed package
    sys.path.insert(0, str(REPO))

from bench import reeval  # noqa: E402


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    from train.config import load_config
    from train.loop import train

    out = tmp_path_factory.mktemp("sweep")
    summaries = {}
    for arm in ("hacpo", "gspo"):
        cfg = load_config(REPO / "configs" / "smoke.yaml", [f"output_dir={out}", f"run_name={arm}-s0",
                                                            f"algo.name={arm}", "schedule.steps=1"])
        summaries[arm] = train(cfg)
    return out, summaries


def test_reeval_matches_the_runs_own_final_greedy_eval_and_caches_starts(two_runs, monkeypatch):
    out, summaries = two_runs
    calls = []
    real = reeval._agent_eval
    monkeypatch.setattr(reeval, "_agent_eval", lambda model, settings: calls.append(model) or real(model, settings))
    rows = reeval.reevaluate([out / "hacpo-s0", out / "gspo-s0"], k=2)
    assert [(r["run"], r["agent"]) for r in rows] == [("hacpo-s0", "llama"), ("hacpo-s0", "qwen2"),
                                                      ("gspo-s0", "llama"), ("gspo-s0", "qwen2")]
    # both runs start from the same two zoo models: 2 start evals + 4 end evals, not 8
    assert len(calls) == 6 and calls.count("tiny-llama-bpe") == 1
    for r in rows:  # greedy decoding is deterministic: the same numbers the run logged
        greedy = r["change"]["greedy"]
        run = summaries[r["run"].split("-")[0]]
        assert greedy["start"] == run["start"][r["agent"]]["accuracy"]
        assert greedy["end"] == run["end"][r["agent"]]["accuracy"]
        assert greedy["ci95"][0] <= greedy["change"] <= greedy["ci95"][1]


def test_cli_writes_per_run_and_per_arm_tables(two_runs, tmp_path, capsys):
    out, _ = two_runs
    assert reeval.main(["--out-dir", str(out), "--arms", "hacpo", "--k", "1", "--out", str(tmp_path / "r.md")]) == 0
    text = (tmp_path / "r.md").read_text()
    assert text == capsys.readouterr().out
    assert "| hacpo-s0 | llama |" in text and "gspo-s0" not in text
    assert "| hacpo | qwen2 | 1 |" in text and "avg@1" in text
    with pytest.raises(SystemExit):
        reeval.main(["--out-dir", str(out), "--k", "0"])


def test_more_problems_baseline_and_a_cache_split_by_agent(two_runs, tmp_path, monkeypatch):
    out, _ = two_runs
    cache = tmp_path / "cache"
    runs = [out / "hacpo-s0", out / "gspo-s0"]
    # two processes' worth of work, split by agent, then one call that only reads the cache
    llama = reeval.reevaluate(runs, k=1, n_problems=6, agents={"llama"}, cache_dir=cache)
    assert [(r["run"], r["agent"]) for r in llama] == [("hacpo-s0", "llama"), ("gspo-s0", "llama")]
    assert all(r["end"]["n"] == 6 and len(r["end"]["greedy_correct"]) == 6 for r in llama)
    reeval.reevaluate(runs, k=1, n_problems=6, agents={"qwen2"}, cache_dir=cache)
    assert len(list(cache.glob("*.json"))) == 6  # 2 starts + 4 ends
    monkeypatch.setattr(reeval, "_agent_eval", lambda model, settings: pytest.fail(f"{model} was not cached"))
    rows = reeval.reevaluate(runs, k=1, n_problems=6, cache_dir=cache)
    assert rows[0]["end"] == llama[0]["end"] and len(rows) == 4

    diffs = reeval.against_baseline(rows, "gspo")
    assert sorted((d["arm"], d["agent"]) for d in diffs) == [("hacpo", "llama"), ("hacpo", "qwen2")]
    ends = {(r["run"], r["agent"]): r["end"] for r in rows}
    for d in diffs:
        greedy = d["change"]["greedy"]
        assert greedy["start"] == ends[("gspo-s0", d["agent"])]["accuracy"]
        assert greedy["change"] == pytest.approx(ends[("hacpo-s0", d["agent"])]["accuracy"] - greedy["start"])
    text = reeval.report(rows, 1, baseline="gspo")
    assert "End minus `gspo`'s end" in text and "| hacpo | llama | 0 |" in text and "| hacpo | qwen2 | 1 |" in text


def test_cli_refuses_an_agent_no_run_has(two_runs, tmp_path):
    out, _ = two_runs
    with pytest.raises(SystemExit):
        reeval.main(["--out-dir", str(out), "--agents", "lama", "--n-problems", "2", "--k", "1"])
    with pytest.raises(SystemExit):
        reeval.main(["--out-dir", str(out), "--n-problems", "0"])
