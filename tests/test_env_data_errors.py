"""Bad data files are one DataError naming file, line and fix: encoding, GSM8K golds, NaN.

Every test builds its own tiny data folder in tmp_path; nothing here reads shipped data.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hacrl_env.data import DataError, iter_jsonl, load_problems
from hacrl_env.prompts import GSM8K_TEMPLATE, MATH_TEMPLATE

GOOD = json.dumps({"question": "1 + 1?", "answer": "1 + 1 = 2\n#### 2"})


def _folder(tmp_path: Path, task: str, name: str, lines: list[bytes | str]) -> Path:
    """tmp_path/<task>/<name> holding `lines` (bytes are written as they are)."""
    (tmp_path / task).mkdir(parents=True, exist_ok=True)
    path = tmp_path / task / name
    path.write_bytes(b"".join((x if isinstance(x, bytes) else x.encode("utf-8")) + b"\n" for x in lines))
    return path


def _gsm8k(tmp_path: Path, answer: str) -> Path:
    return _folder(tmp_path, "gsm8k", "train.jsonl", [GOOD, json.dumps({"question": "q", "answer": answer})])


def test_invalid_utf8_names_file_line_and_fix(tmp_path):
    bad = b'{"question": "caf\xe9", "answer": "#### 1"}'  # latin-1 e-acute, not UTF-8
    _folder(tmp_path, "gsm8k", "train.jsonl", [GOOD, GOOD, bad])
    with pytest.raises(DataError, match=r"train\.jsonl:3: not valid UTF-8 \(byte 0xe9.*re-save the file as UTF-8"):
        load_problems("gsm8k", "train", data_dir=tmp_path, template=GSM8K_TEMPLATE)


def test_a_utf8_byte_order_mark_is_not_an_error(tmp_path):
    _folder(tmp_path, "gsm8k", "train.jsonl", [b"\xef\xbb\xbf" + GOOD.encode(), GOOD])
    assert len(load_problems("gsm8k", "train", data_dir=tmp_path, template=GSM8K_TEMPLATE)) == 2


@pytest.mark.parametrize("gold", ["eighteen", "1/2x", "18 dollars", "$18", "1,00", "--3", "1.", "١٨"])
def test_a_gsm8k_gold_that_is_not_a_number_is_refused(tmp_path, gold):
    _gsm8k(tmp_path, f"so it is\n#### {gold}")
    with pytest.raises(DataError) as err:
        load_problems("gsm8k", "train", data_dir=tmp_path, template=GSM8K_TEMPLATE)
    msg = str(err.value)
    assert "train.jsonl:2: GSM8K gold after '####'" in msg and repr(gold) in msg and "not a number" in msg


@pytest.mark.parametrize("gold, stored", [("18", "18"), ("-3", "-3"), ("1,080", "1080"), ("2.5", "2.5"),
                                          ("1,234,567.25", "1234567.25"), ("  7 ", "7")])
def test_gsm8k_golds_in_the_upstream_forms_load(tmp_path, gold, stored):
    _gsm8k(tmp_path, f"work\n#### {gold}")
    problems = load_problems("gsm8k", "train", data_dir=tmp_path, template=GSM8K_TEMPLATE)
    assert problems[1].answer == stored


@pytest.mark.parametrize("row, field, token", [
    ('{"question": "q", "answer": "#### 1", "score": NaN}', "score", "NaN"),
    ('{"question": "q", "answer": "#### 1", "meta": {"w": [1, Infinity]}}', "meta.w[1]", "Infinity"),
    ('{"question": "q", "answer": "#### 1", "x": -Infinity}', "x", "-Infinity"),
    ('{"question": "q", "answer": "#### 1", "x": 1e999}', "x", "1e999"),  # json makes it inf
])
def test_nan_and_infinity_constants_are_refused_naming_the_field(tmp_path, row, field, token):
    _folder(tmp_path, "gsm8k", "test.jsonl", [GOOD, row])
    with pytest.raises(DataError) as err:
        load_problems("gsm8k", "test", data_dir=tmp_path, template=GSM8K_TEMPLATE)
    assert f"test.jsonl:2: field {field!r} is {token}" in str(err.value)
    assert "finite" in str(err.value)


def test_nan_in_a_math_row_is_refused_too(tmp_path):
    _folder(tmp_path, "math500", "test.jsonl", ['{"problem": "p", "answer": "2", "level": NaN}'])
    with pytest.raises(DataError, match=r"test\.jsonl:1: field 'level' is NaN"):
        load_problems("math500", "test", data_dir=tmp_path, template=MATH_TEMPLATE)


def test_iter_jsonl_numbers_lines_like_an_editor_and_skips_blanks(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_bytes(b'{"a": 1}\r\n\n  \n{"b": "x\\u2028y"}\n')  # CRLF and an escaped line separator
    assert list(iter_jsonl(path)) == [(1, {"a": 1}), (4, {"b": "x\u2028y"})]
    path.write_bytes(b'{"a": 1}\n"just a string"\n')
    with pytest.raises(DataError, match=r"x\.jsonl:2: expected a JSON object, got str"):
        list(iter_jsonl(path))
    path.write_bytes(b"NaN\n")
    with pytest.raises(DataError, match=r"x\.jsonl:1: the line is NaN"):
        list(iter_jsonl(path))


def test_skip_torn_skips_only_lines_that_are_not_json(tmp_path):
    """A log written line by line (metrics.jsonl) may hold a line its writer was killed in the
    middle of; skip_torn passes over it (and over undecodable bytes), nothing else."""
    path = tmp_path / "x.jsonl"
    path.write_bytes(b'{"a": 1}\n{"b": 2, "c\n\xff\xfe{\n{"d": 3}\n{"e": 4')
    assert list(iter_jsonl(path, skip_torn=True)) == [(1, {"a": 1}), (4, {"d": 3})]
    with pytest.raises(DataError, match=r"x\.jsonl:2: not valid JSON"):
        list(iter_jsonl(path))
    for line, error in ((b"[1]", "expected a JSON object"), (b'{"f": Infinity}', "field 'f' is Infinity")):
        path.write_bytes(b'{"a": 1}\n' + line + b"\n")
        with pytest.raises(DataError, match=rf"x\.jsonl:2: {error}"):
            list(iter_jsonl(path, skip_torn=True))


def test_a_nan_overwritten_by_a_repeated_key_is_gone_not_a_crash(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_text('{"a": NaN, "a": 1}\n{"n": 1' + "0" * 5000 + "}\n")
    rows = iter_jsonl(path)
    assert next(rows) == (1, {"a": 1})  # json keeps the last value of a repeated key
    with pytest.raises(DataError, match=r"x\.jsonl:2: JSON this reader cannot hold"):
        next(rows)
