"""Loaders: GSM8K / MATH / MATH-500 from their upstream files, golds, splits, bad rows, sources."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import hacrl_env
from hacrl_env.data import DataError, load_problems, resolve_data_dir
from hacrl_env.prompts import GSM8K_TEMPLATE, MATH_TEMPLATE

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def test_gsm8k_splits_golds_and_prompt():
    train = load_problems("gsm8k", "train", template=GSM8K_TEMPLATE)
    test = load_problems("gsm8k", "test", template=GSM8K_TEMPLATE)
    assert (len(train), len(test)) == (7473, 1319)  # SOURCE.md line counts
    p = train[0]
    # First train row: Natalia sold 48/2 = 24 clips in May, 48 + 24 = 72 in all.
    assert p.id == "gsm8k/train/0" and p.index == 0 and p.answer == "72"
    assert p.question.startswith("Natalia sold clips")
    assert p.prompt == p.question + "\nSolve step by step, then give the final answer after '####'."
    assert "<<48/2=24>>" in p.meta["solution"]
    # Thousands separators are dropped from golds ("#### 1,080" -> "1080").
    assert all("," not in q.answer for q in train)


def test_math_splits_and_golds():
    train = load_problems("math", "train", template=MATH_TEMPLATE)
    test = load_problems("math", "test", template=MATH_TEMPLATE)
    t4500 = load_problems("math", "train4500", template=MATH_TEMPLATE)
    m500 = load_problems("math500", "test", template=MATH_TEMPLATE)
    # 7500 rows minus the 2 with an empty answer (lines 7037 and 7437, listed in SOURCE.md).
    assert len(train) == 7498 and len(train.skipped) == 2
    assert all("empty gold answer" in s for s in train.skipped)
    assert train.skipped[0].endswith("train.jsonl:7037: empty gold answer")
    assert (len(test), len(t4500), len(m500)) == (5000, 4500, 500)
    # Test gold = last \boxed of the worked solution: "... the graph has $\boxed{2}$ vertical asymptotes."
    assert test[0].answer == "2" and test[0].meta["level"] == "Level 3"
    # train4500 holds no MATH-500 question.
    held_out = {p.question.strip() for p in m500}
    assert not any(p.question.strip() in held_out for p in t4500)
    assert t4500[0].id.startswith("math/train4500/")
    assert train[0].id == "math/train/prealgebra/947.json"  # the copy's misleading "test/" dropped
    assert m500[0].answer == "\\left( 3, \\frac{\\pi}{2} \\right)"
    assert m500[0].prompt.endswith("Put your final answer within \\boxed{}.")


def test_math500_has_no_train_split():
    with pytest.raises(ValueError, match="evaluation set only"):
        hacrl_env.make("math500-v0")  # split defaults to "train"
    with pytest.raises(ValueError, match="no split 'valid'.*'train', 'test'"):
        hacrl_env.make("gsm8k-v0", split="valid")


def test_loading_is_cached_and_env_making_is_cheap():
    a = hacrl_env.make("gsm8k-v0", split="test")
    b = hacrl_env.make("gsm8k-v0", split="test", agents=4)
    assert a.problem_set._records is b.problem_set._records  # parsed once, shared


def test_problem_lookup_by_index_and_id():
    env = hacrl_env.make("gsm8k-v0", split="test")
    p = env.problem(17)
    obs, infos = env.reset(options={"problem_id": p.id})
    assert infos["agent_0"]["index"] == 17 and obs["agent_0"] == p.prompt
    with pytest.raises(IndexError, match="out of range.*1319 problems"):
        env.problem(1319)
    with pytest.raises(KeyError, match="no problem with id 'nope'"):
        env.reset(options={"problem_id": "nope"})
    with pytest.raises(TypeError, match="must be an int"):
        env.reset(options={"index": "3"})
    test_split = hacrl_env.make("gsm8k-v0").problems_for_split("test")
    assert len(test_split) == 1319 and test_split[0].id == "gsm8k/test/0"


def test_prompt_template_override_and_checks():
    env = hacrl_env.make("math500-v0", split="test", prompt_template="Q: {question}\nA (\\boxed{}):")
    p = env.problem(0)
    assert p.prompt == f"Q: {p.question}\nA (\\boxed{{}}):"  # braces in a template are kept as is
    with pytest.raises(ValueError, match="exactly once"):
        hacrl_env.make("gsm8k-v0", prompt_template="no placeholder")
    with pytest.raises(TypeError, match="must be a str"):
        hacrl_env.make("gsm8k-v0", prompt_template=3)


def _write(tmp_path: Path, task: str, name: str, lines: list[str]) -> Path:
    (tmp_path / task).mkdir(parents=True, exist_ok=True)
    path = tmp_path / task / name
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


@pytest.mark.parametrize("bad_line, message", [
    ('{"question": "q"}', r"train.jsonl:2: field 'answer' is missing"),
    ('{"question": 5, "answer": "#### 1"}', r"train.jsonl:2: field 'question' is a int"),
    ('{"question": "q", "answer": "no final line"}', r"train.jsonl:2: GSM8K answer has no '####"),
    ('{"question": "q", "answer": "#### "}', r"train.jsonl:2: GSM8K answer has an empty value"),
    ('{"question": "q", ', r"train.jsonl:2: not valid JSON"),
    ('[1, 2]', r"train.jsonl:2: expected a JSON object"),
])
def test_malformed_gsm8k_rows_name_file_and_line(tmp_path, bad_line, message):
    _write(tmp_path, "gsm8k", "train.jsonl", ['{"question": "ok", "answer": "#### 1"}', bad_line])
    with pytest.raises(DataError, match=message):
        load_problems("gsm8k", "train", data_dir=tmp_path, template=GSM8K_TEMPLATE)


def test_malformed_math_rows(tmp_path):
    _write(tmp_path, "math", "test.jsonl", ['{"problem": "p", "solution": "it is 2"}'])
    with pytest.raises(DataError, match=r"test.jsonl:1: MATH solution has no .*boxed"):
        load_problems("math", "test", data_dir=tmp_path, template=MATH_TEMPLATE)
    _write(tmp_path, "math500", "test.jsonl", ['{"problem": "p", "answer": " "}'])
    with pytest.raises(DataError, match=r"test.jsonl:1: MATH-500 row has an empty answer"):
        load_problems("math500", "test", data_dir=tmp_path, template=MATH_TEMPLATE)


def test_empty_and_missing_files(tmp_path):
    _write(tmp_path, "gsm8k", "train.jsonl", ["", "  "])
    with pytest.raises(DataError, match="no problems"):
        load_problems("gsm8k", "train", data_dir=tmp_path, template=GSM8K_TEMPLATE)
    with pytest.raises(DataError, match="test.jsonl' not found"):
        load_problems("gsm8k", "test", data_dir=tmp_path, template=GSM8K_TEMPLATE)


def test_edited_file_is_reread(tmp_path):
    path = _write(tmp_path, "gsm8k", "test.jsonl", ['{"question": "a", "answer": "#### 1"}'])
    assert len(load_problems("gsm8k", "test", data_dir=tmp_path, template=GSM8K_TEMPLATE)) == 1
    path.write_text('{"question": "a", "answer": "#### 1"}\n{"question": "b", "answer": "#### 22"}\n')
    again = load_problems("gsm8k", "test", data_dir=tmp_path, template=GSM8K_TEMPLATE)
    assert len(again) == 2 and again[1].answer == "22"


def test_data_dir_kwarg_beats_env_var(tmp_path, monkeypatch):
    _write(tmp_path, "gsm8k", "test.jsonl", [json.dumps({"question": "only", "answer": "#### 7"})])
    env = hacrl_env.make("gsm8k-v0", split="test", data_dir=tmp_path)
    assert env.num_problems == 1 and env.problem(0).answer == "7"
    monkeypatch.setenv("HACRL_DATA_DIR", str(tmp_path))
    assert resolve_data_dir(None) == tmp_path
    assert resolve_data_dir(DATA) == DATA


def test_no_source_is_one_clear_error(monkeypatch):
    monkeypatch.delenv("HACRL_DATA_DIR", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # the hub is not an option offline
    with pytest.raises(DataError) as err:
        hacrl_env.make("gsm8k-v0")
    msg = str(err.value)
    assert "data_dir=" in msg and "HACRL_DATA_DIR" in msg and "hacrl[data]" in msg


def test_bad_data_dir(tmp_path):
    with pytest.raises(DataError, match="data_dir = .* is not a directory"):
        hacrl_env.make("gsm8k-v0", data_dir=tmp_path / "nope")
    with pytest.raises(TypeError, match="data_dir must be a path"):
        hacrl_env.make("gsm8k-v0", data_dir=3)
    with pytest.raises(TypeError, match="split must be a str"):
        hacrl_env.make("gsm8k-v0", split=0)


def test_hub_fallback_reads_the_same_upstream_fields(monkeypatch):
    """With no data_dir / HACRL_DATA_DIR, an installed and online `datasets` is used (faked
    here: tests never download)."""
    import sys
    import types

    from hacrl_env import data

    calls = []

    def load_dataset(name, config, split):
        calls.append((name, config, split))
        if name == "openai/gsm8k":
            return [{"question": "1 + 1?", "answer": "1 + 1 = 2\n#### 2"}]
        if name == "HuggingFaceH4/MATH-500":
            return [{"problem": "shared", "answer": "4", "unique_id": "test/a/1.json"}]
        return [{"problem": "shared", "solution": "so $\\boxed{4}$", "level": "Level 1", "type": "A"},
                {"problem": "own", "solution": "so $\\boxed{\\frac{1}{2}}$", "level": "Level 2", "type": "A"}]

    monkeypatch.setitem(sys.modules, "datasets", types.SimpleNamespace(load_dataset=load_dataset))
    monkeypatch.delenv("HACRL_DATA_DIR", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    data._hub_records.cache_clear()
    try:
        g = hacrl_env.make("gsm8k-v0", split="test")
        assert g.problem(0).answer == "2" and calls[0] == ("openai/gsm8k", "main", "test")
        m = hacrl_env.make("math-v0", split="train4500")  # MATH test minus MATH-500
        assert [p.answer for p in m.problem_set] == ["\\frac{1}{2}"]
        assert m.problem(0).id == "math/train4500/1"
    finally:
        data._hub_records.cache_clear()
