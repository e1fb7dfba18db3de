"""The problem records every task produces: `Problem` (what an env serves), `Record` (a parsed
source row before its prompt is rendered) and `ProblemSet` (one split of one task)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator, Sequence, overload

from hacrl_env.jsonl import DataError
from hacrl_env.prompts import render_prompt


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
