"""The GSM8K / MATH / MATH-500 data: `load_problems(task, split)` as a `ProblemSet`
(hacrl_env.problems), parsed from the upstream rows with errors naming file and line.

Data comes from local files in their upstream formats (gsm8k/{train,test}.jsonl, math/{train,test}.jsonl,
math500/test.jsonl; the README's Data section names the sources; tests/data/benchmarks holds a few
rows of each):
the `data_dir=` argument, else the `HACRL_DATA_DIR` environment variable (a folder holding
gsm8k/, math/, math500/), else the Hugging Face hub through `datasets` when it is installed and
online. Files are parsed once per (path, size, mtime) and shared by every env that reads them,
so making many envs is cheap.
"""

from __future__ import annotations

import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Sequence

from hacrl_env.jsonl import DataError, iter_jsonl
from hacrl_env.problems import Problem, ProblemSet, Record
from verifiers.gsm8k import last_boxed

# Problem, ProblemSet, Record, DataError and iter_jsonl keep being importable from here.
__all__ = ["DATA_DIR_ENV", "DataError", "Problem", "ProblemSet", "Record", "TASK_SPLITS",
           "iter_jsonl", "load_problems", "read_data_file", "resolve_data_dir"]

DATA_DIR_ENV = "HACRL_DATA_DIR"


# ---------------------------------------------------------------------------- data sources

def resolve_data_dir(data_dir: str | os.PathLike | None) -> Path | None:
    """The local data folder: `data_dir`, else $HACRL_DATA_DIR, else None (use the hub)."""
    chosen = data_dir if data_dir is not None else os.environ.get(DATA_DIR_ENV) or None
    if chosen is None:
        return None
    if not isinstance(chosen, (str, os.PathLike)):
        raise TypeError(f"data_dir must be a path (str or os.PathLike), got {type(chosen).__name__}")
    path = Path(chosen).expanduser()
    if not path.is_dir():
        origin = "data_dir" if data_dir is not None else f"${DATA_DIR_ENV}"
        raise DataError(f"{origin} = {str(path)!r} is not a directory; point it at a folder "
                        "holding gsm8k/, math/ and math500/ (upstream jsonl files)")
    return path


def _hub_available() -> bool:
    if os.environ.get("HF_HUB_OFFLINE", "0") not in ("", "0", "false", "False"):
        return False
    try:
        import datasets  # noqa: F401
    except ImportError:
        return False
    return True


def _no_source_error(task: str) -> DataError:
    return DataError(
        f"no data source for {task!r}: pass data_dir=<folder with gsm8k/, math/, math500/> "
        f"(or set ${DATA_DIR_ENV}), or install the hub loader with `pip install 'hacrl[data]'` "
        "and stay online (HF_HUB_OFFLINE unset) to download it from the Hugging Face hub")


@lru_cache(maxsize=32)
def _read_data_file_cached(path: str, size: int, mtime_ns: int) -> tuple[dict[str, Any], ...]:
    rows = []
    for lineno, row in iter_jsonl(path):
        row["_line"] = lineno
        rows.append(row)
    return tuple(rows)


def read_data_file(path: Path) -> tuple[dict[str, Any], ...]:
    """Rows of a benchmark jsonl file (read by `iter_jsonl`), each with its 1-based `_line`;
    cached while the file is unchanged."""
    if not path.is_file():
        raise DataError(f"data file {str(path)!r} not found; the data folder must hold the "
                        "upstream files: gsm8k/{train,test}.jsonl, math/{train,test}.jsonl, math500/test.jsonl "
                        "(README, Data; tests/data/benchmarks shows each format)")
    st = path.stat()
    return _read_data_file_cached(str(path), st.st_size, st.st_mtime_ns)


def _field(row: dict[str, Any], key: str, where: str) -> str:
    value = row.get(key)
    if not isinstance(value, str):
        got = "missing" if value is None else f"a {type(value).__name__}"
        raise DataError(f"{where}: field {key!r} is {got}; expected a string")
    return value


# ---------------------------------------------------------------------------- row parsers
# Each turns one upstream row into a Record, or raises DataError naming file and line.

#: A GSM8K gold: an integer, maybe negative, with optional thousands commas ("1,080") and decimals.
_GSM8K_GOLD = re.compile(r"-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?", re.ASCII)


def _gsm8k_record(row: dict[str, Any], where: str, split: str, i: int) -> Record:
    question = _field(row, "question", where)
    solution = _field(row, "answer", where)
    if "####" not in solution:
        raise DataError(f"{where}: GSM8K answer has no '#### <number>' final line")
    final = solution.rsplit("####", 1)[1].strip()
    if not final:
        raise DataError(f"{where}: GSM8K answer has an empty value after '####'")
    if not _GSM8K_GOLD.fullmatch(final):
        # The gsm8k verifiers compare numbers: a gold like "eighteen" could never be matched, so
        # every response to it would silently score 0.
        raise DataError(f"{where}: GSM8K gold after '####' is {final!r}, not a number; write it "
                        "like the upstream golds: 18, -3, 1,080 or 2.5")
    return Record(id=f"gsm8k/{split}/{i}", question=question, answer=final.replace(",", ""),
                  meta={"solution": solution})


def _math_record(row: dict[str, Any], where: str, split: str, i: int) -> Record:
    question = _field(row, "problem", where)
    meta = {k: row[k] for k in ("level", "type", "subject", "unique_id", "idx") if k in row}
    if "solution" in row:  # MATH test: gold = last \boxed of the worked solution
        solution = _field(row, "solution", where)
        gold = last_boxed(solution)
        if gold is None or not gold.strip():
            raise DataError(f"{where}: MATH solution has no (balanced, non-empty) \\boxed{{...}} answer")
        meta["solution"] = solution
    else:  # MATH train copy: answers only
        gold = _field(row, "answer", where)
    uid = meta.get("unique_id")
    if uid and split == "train" and uid.startswith("test/"):
        uid = uid[len("test/"):]  # the train copy's unique_ids all (wrongly) start "test/"
    pid = f"math/{split}/{uid}" if uid else f"math/{split}/{row.get('idx', i)}"
    return Record(id=pid, question=question, answer=gold.strip(), meta=meta)


def _math500_record(row: dict[str, Any], where: str, split: str, i: int) -> Record:
    question = _field(row, "problem", where)
    gold = _field(row, "answer", where).strip()
    if not gold:
        raise DataError(f"{where}: MATH-500 row has an empty answer")
    meta = {k: row[k] for k in ("level", "subject", "unique_id", "solution") if k in row}
    return Record(id=f"math500/{row.get('unique_id', i)}", question=question, answer=gold, meta=meta)


RowParser = Callable[[dict, str, str, int], Record]


def _records_from_rows(rows: Sequence[dict[str, Any]], origin: str, split: str, parse: RowParser,
                       *, skip_empty_gold: bool = False) -> tuple[list[Record], list[str]]:
    records: list[Record] = []
    skipped: list[str] = []
    for row in rows:
        where = f"{origin}:{row.get('_line', len(records) + len(skipped) + 1)}"
        if skip_empty_gold and isinstance(row.get("answer"), str) and not row["answer"].strip():
            skipped.append(f"{where}: empty gold answer")
            continue
        records.append(parse(row, where, split, len(records)))
    if not records:
        raise DataError(f"{origin}: no problems (empty file?); expected one JSON object per line")
    return records, skipped


@lru_cache(maxsize=32)
def _local_records(task: str, split: str, root: str, key: tuple) -> tuple[tuple[Record, ...], tuple[str, ...]]:
    base = Path(root)
    if task == "gsm8k":
        path = base / "gsm8k" / f"{split}.jsonl"
        recs, skipped = _records_from_rows(read_data_file(path), str(path), split, _gsm8k_record)
    elif task == "math500":
        path = base / "math500" / "test.jsonl"
        recs, skipped = _records_from_rows(read_data_file(path), str(path), split, _math500_record)
    elif task == "math" and split in ("train", "test"):
        path = base / "math" / f"{split}.jsonl"
        # The MATH train copy has 2 rows with an empty answer (SOURCE.md); they cannot be graded,
        # so they are left out and listed in ProblemSet.skipped instead of failing the split.
        recs, skipped = _records_from_rows(read_data_file(path), str(path), split, _math_record,
                                           skip_empty_gold=split == "train")
    elif task == "math" and split == "train4500":
        recs = _minus_math500(_local_records("math", "test", root, key)[0],
                              _local_records("math500", "test", root, key)[0])
        skipped = []
    else:  # pragma: no cover - guarded by TASK_SPLITS
        raise AssertionError((task, split))
    return tuple(recs), tuple(skipped)


def _minus_math500(math_test: Sequence[Record], math500: Sequence[Record]) -> list[Record]:
    """MATH test without the MATH-500 problems (matched on question text): the PRM800K
    convention's extra training set, so MATH-500 stays held out."""
    held_out = {r.question.strip() for r in math500}
    return [Record(id=r.id.replace("math/test/", "math/train4500/", 1), question=r.question,
                   answer=r.answer, meta=r.meta)
            for r in math_test if r.question.strip() not in held_out]


def _file_key(root: Path, task: str) -> tuple:
    """Sizes and mtimes of the task's files, so an edited file is re-read."""
    out = []
    for sub in {"gsm8k": ("gsm8k",), "math": ("math", "math500"), "math500": ("math500",)}[task]:
        folder = root / sub
        if folder.is_dir():
            out.extend((p.name, p.stat().st_size, p.stat().st_mtime_ns)
                       for p in sorted(folder.glob("*.jsonl")))
    return tuple(out)


# Hub fallbacks: (dataset, config, split) per (task, split). The rows have the upstream fields the
# local parsers read.
_HUB = {
    ("gsm8k", "train"): ("openai/gsm8k", "main", "train"),
    ("gsm8k", "test"): ("openai/gsm8k", "main", "test"),
    ("math", "train"): ("DigitalLearningGmbH/MATH-lighteval", "default", "train"),
    ("math", "test"): ("DigitalLearningGmbH/MATH-lighteval", "default", "test"),
    ("math500", "test"): ("HuggingFaceH4/MATH-500", None, "test"),
}


def _hub_records(task: str, split: str) -> tuple[tuple[Record, ...], tuple[str, ...]]:
    import datasets

    if task == "math" and split == "train4500":
        return tuple(_minus_math500(_hub_records("math", "test")[0],
                                    _hub_records("math500", "test")[0])), ()
    name, config, hub_split = _HUB[(task, split)]
    ds = datasets.load_dataset(name, config, split=hub_split)
    rows = [dict(row, _line=i + 1) for i, row in enumerate(ds)]
    parse = {"gsm8k": _gsm8k_record, "math": _math_record, "math500": _math500_record}[task]
    recs, skipped = _records_from_rows(rows, f"hf://{name}/{hub_split}", split, parse)
    return tuple(recs), tuple(skipped)


_hub_records = lru_cache(maxsize=16)(_hub_records)

TASK_SPLITS: dict[str, tuple[str, ...]] = {
    "gsm8k": ("train", "test"),
    "math": ("train", "test", "train4500"),
    "math500": ("test",),
}


def load_problems(task: str, split: str = "train", *, data_dir: str | os.PathLike | None = None,
                  template: str) -> ProblemSet:
    """The `split` of GSM8K ("gsm8k"), MATH ("math") or MATH-500 ("math500") as a ProblemSet."""
    if task not in TASK_SPLITS:
        raise ValueError(f"unknown task {task!r}; local data tasks are {sorted(TASK_SPLITS)}")
    splits = TASK_SPLITS[task]
    if split not in splits:
        extra = (" MATH-500 is an evaluation set only; train on 'math-v0' (split 'train' or "
                 "'train4500', which excludes MATH-500)." if task == "math500" else "")
        raise ValueError(f"{task!r} has no split {split!r}; choose one of {list(splits)}.{extra}")
    root = resolve_data_dir(data_dir)
    if root is not None:
        recs, skipped = _local_records(task, split, str(root), _file_key(root, task))
    elif _hub_available():
        recs, skipped = _hub_records(task, split)
    else:
        raise _no_source_error(task)
    return ProblemSet(task, split, recs, template, skipped)
