"""Problems for the envs: the `Problem` record, `ProblemSet` (one split of one task) and the
GSM8K / MATH / MATH-500 loaders.

Data comes from local files in their upstream formats (gsm8k/{train,test}.jsonl, math/{train,test}.jsonl,
math500/test.jsonl; the README's Data section names the sources; tests/data/benchmarks holds a few
rows of each):
the `data_dir=` argument, else the `HACRL_DATA_DIR` environment variable (a folder holding
gsm8k/, math/, math500/), else the Hugging Face hub through `datasets` when it is installed and
online. Files are parsed once per (path, size, mtime) and shared by every env that reads them,
so making many envs is cheap.
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence, overload

from hacrl_env.prompts import render_prompt
from verifiers.gsm8k import last_boxed

DATA_DIR_ENV = "HACRL_DATA_DIR"


class DataError(ValueError):
    """A data file or data source is missing, empty or malformed."""


@dataclass(frozen=True)
class Problem:
    """One task instance.

    id: stable across runs (e.g. "gsm8k/test/17"); index: position in its split.
    question: the raw task text; prompt: question + instruction, what every agent sees.
    answer: the gold answer in the form the verifier wants; meta: source fields (level, subject,
    worked solution, ...).
    """

    id: str
    index: int
    question: str
    prompt: str
    answer: str
    meta: dict[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class Record:
    """A parsed source row before a prompt template is applied."""

    id: str
    question: str
    answer: str
    meta: dict[str, Any]
    #: What the env passes to the verifier as gold; `answer` when None. reasoning-gym needs its
    #: whole entry (metadata included) to score, so it stores the entry as JSON here.
    verifier_answer: str | None = None


class ProblemSet(Sequence[Problem]):
    """One split of one task, with its prompt template applied. Indexing builds `Problem`s on
    demand from the shared parsed records (no per-env copy of the data)."""

    def __init__(self, task: str, split: str, records: Sequence[Record], template: str,
                 skipped: Sequence[str] = ()):
        if len(records) == 0:
            raise DataError(f"task {task!r} split {split!r} has no problems; check the data source "
                            "(an empty file, or task kwargs that generate nothing)")
        self.task = task
        self.split = split
        self.template = template
        self._records = records
        #: Rows left out on purpose, as "file:line: reason" (only MATH train's empty golds).
        self.skipped: tuple[str, ...] = tuple(skipped)
        self._by_id: dict[str, int] | None = None

    def __len__(self) -> int:
        return len(self._records)

    @overload
    def __getitem__(self, index: int) -> Problem: ...
    @overload
    def __getitem__(self, index: slice) -> list[Problem]: ...

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        i = self.check_index(index)
        r = self._records[i]
        return Problem(id=r.id, index=i, question=r.question,
                       prompt=render_prompt(self.template, r.question), answer=r.answer, meta=r.meta)

    def __iter__(self) -> Iterator[Problem]:
        return (self[i] for i in range(len(self)))

    def check_index(self, index: Any) -> int:
        """`index` as a valid int position, or a clear error."""
        if isinstance(index, bool) or not hasattr(index, "__index__"):
            raise TypeError(f"problem index must be an int, got {type(index).__name__}")
        i = int(index)
        if not 0 <= i < len(self):
            raise IndexError(f"problem index {i} is out of range for {self.task!r} split "
                             f"{self.split!r}, which has {len(self)} problems (0..{len(self) - 1})")
        return i

    def verifier_answer(self, index: int, *, task_verifier: bool = True) -> str:
        """The gold passed to the verifier: the task's own form (e.g. a reasoning-gym entry as
        JSON) for its default verifier, else the plain `answer` a user's verifier expects."""
        r = self._records[index]
        return r.verifier_answer if task_verifier and r.verifier_answer is not None else r.answer

    def index_of(self, problem_id: str) -> int:
        if self._by_id is None:
            self._by_id = {r.id: i for i, r in enumerate(self._records)}
        try:
            return self._by_id[problem_id]
        except KeyError:
            raise KeyError(f"no problem with id {problem_id!r} in {self.task!r} split "
                           f"{self.split!r} (ids look like {self._records[0].id!r})") from None

    def __repr__(self) -> str:
        return f"ProblemSet(task={self.task!r}, split={self.split!r}, n={len(self)})"


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


class _NonFinite:
    """Stands in for a NaN / Infinity constant or an overflowing number (1e999) while one line is
    parsed, so that the error can name the field it sits in."""

    def __init__(self, text: str):
        self.text = text


def _find_non_finite(value: Any, at: str = "") -> tuple[str, _NonFinite] | None:
    """(field path such as "prompt[0].content", marker) of the first marker in `value`."""
    if isinstance(value, _NonFinite):
        return at, value
    if isinstance(value, dict):
        children = ((f"{at}.{k}" if at else k, v) for k, v in value.items())
    elif isinstance(value, list):
        children = ((f"{at}[{i}]", v) for i, v in enumerate(value))
    else:
        return None
    for child_at, child in children:
        found = _find_non_finite(child, child_at)
        if found:
            return found
    return None


def _parse_line(text: str, where: str) -> Any:
    """One JSON value, strictly: Python's json accepts NaN, Infinity and -Infinity and turns 1e999
    into inf; none of these is standard JSON, and a non-finite number in a reward or log-prob
    silently poisons training, so each is an error naming its field."""
    markers: list[_NonFinite] = []

    def mark(token: str) -> _NonFinite:
        markers.append(_NonFinite(token))
        return markers[-1]

    def parse_float(token: str) -> float | _NonFinite:
        number = float(token)
        return number if math.isfinite(number) else mark(token)

    try:
        value = json.loads(text, parse_constant=mark, parse_float=parse_float)
    except json.JSONDecodeError as exc:
        raise DataError(f"{where}: not valid JSON ({exc.msg}, column {exc.colno}); "
                        "each line must be one JSON object") from None
    except (ValueError, RecursionError) as exc:  # e.g. an int of > 4300 digits, absurd nesting
        raise DataError(f"{where}: JSON this reader cannot hold ({type(exc).__name__}: {exc}); "
                        "each line must be one JSON object of ordinary numbers and depth") from None
    found = _find_non_finite(value) if markers else None  # a repeated key may have dropped it
    if found:
        at, marker = found
        what = f"field {at!r}" if at else "the line"
        raise DataError(f"{where}: {what} is {marker.text}, which is not a finite JSON number "
                        "(Python's json writes NaN/Infinity for float('nan')/float('inf')); "
                        "write a finite number instead, or drop the field where it is optional")
    return value


def iter_jsonl(path: str | os.PathLike) -> Iterator[tuple[int, dict[str, Any]]]:
    """(1-based line number, object) for each non-blank line of a UTF-8 jsonl file.

    The one strict jsonl reader of the project (the trainer's trajectory files use it too):
    invalid UTF-8, a line that is not JSON or not an object, and NaN / Infinity anywhere are
    DataErrors naming `path:line`. A missing file is the caller's to report (each names its own
    fix). Lines are split on "\\n" only, so the numbers match an editor's.
    """
    with open(path, "rb") as f:  # bytes, so a decoding error can name its line
        for lineno, raw in enumerate(f, 1):
            where = f"{path}:{lineno}"
            if lineno == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]  # a UTF-8 byte-order mark (Windows editors write one) is not an error
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise DataError(f"{where}: not valid UTF-8 (byte {raw[exc.start]:#04x} at byte "
                                f"{exc.start + 1} of the line); re-save the file as UTF-8") from None
            if not line.strip():
                continue
            row = _parse_line(line, where)
            if not isinstance(row, dict):
                raise DataError(f"{where}: expected a JSON object, got {type(row).__name__}")
            yield lineno, row


@lru_cache(maxsize=32)
def _read_jsonl_cached(path: str, size: int, mtime_ns: int) -> tuple[dict[str, Any], ...]:
    rows = []
    for lineno, row in iter_jsonl(path):
        row["_line"] = lineno
        rows.append(row)
    return tuple(rows)


def read_jsonl(path: Path) -> tuple[dict[str, Any], ...]:
    """Rows of a jsonl file, each with its 1-based `_line`; cached while the file is unchanged."""
    if not path.is_file():
        raise DataError(f"data file {str(path)!r} not found; the data folder must hold the "
                        "upstream files: gsm8k/{train,test}.jsonl, math/{train,test}.jsonl, math500/test.jsonl "
                        "(README, Data; tests/data/benchmarks shows each format)")
    st = path.stat()
    return _read_jsonl_cached(str(path), st.st_size, st.st_mtime_ns)


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
        recs, skipped = _records_from_rows(read_jsonl(path), str(path), split, _gsm8k_record)
    elif task == "math500":
        path = base / "math500" / "test.jsonl"
        recs, skipped = _records_from_rows(read_jsonl(path), str(path), split, _math500_record)
    elif task == "math" and split in ("train", "test"):
        path = base / "math" / f"{split}.jsonl"
        # The MATH train copy has 2 rows with an empty answer (SOURCE.md); they cannot be graded,
        # so they are left out and listed in ProblemSet.skipped instead of failing the split.
        recs, skipped = _records_from_rows(read_jsonl(path), str(path), split, _math_record,
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


class ProblemAccess:
    """Data access shared by the parallel and vector envs: both hold `problem_set` (the split in
    use) and `_split_loader` (builds another split of the same task, or None)."""

    problem_set: ProblemSet
    _split_loader: Callable[[str], ProblemSet] | None

    @property
    def num_problems(self) -> int:
        return len(self.problem_set)

    @property
    def split(self) -> str:
        return self.problem_set.split

    def problem(self, index: int) -> Problem:
        return self.problem_set[index]

    def problems_for_split(self, split: str) -> ProblemSet:
        """Another split of the same task (same data source, template and task kwargs), e.g.
        "test" for evaluation."""
        if split == self.problem_set.split:
            return self.problem_set
        if self._split_loader is None:
            raise ValueError(f"this env was built from a fixed problem set; make a new env with "
                             f"split={split!r}")
        return self._split_loader(split)
