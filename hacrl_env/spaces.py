"""`UnicodeText`: a text space that really contains prompts and LLM responses.

`gymnasium.spaces.Text` only contains strings drawn from its charset (alphanumeric by default),
so a real prompt ("What is 3 × 4?") is not in it, and `Text.sample()` draws lengths up to
`max_length`: 50k-character junk on average for a response-sized space. `UnicodeText` contains
every `str` within the length bounds, and samples short strings (spaces, punctuation and
non-ASCII included) so that API tests stay fast while still exercising unicode handling.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium.spaces import Text

# What `sample()` draws from: ASCII letters, digits, whitespace, punctuation, LaTeX-ish symbols,
# and a few multi-byte characters (Greek, CJK, emoji) responses really contain.
SAMPLE_CHARSET = (
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    " \n\t.,;:!?'\"()[]{}+-*/=<>^_\\#$%&|~@"
    "×÷±≤≥≠√πθΣ∞°αβγλ中文数学答案😀✓"
)


class UnicodeText(Text):
    """Any `str` with `min_length <= len(s) <= max_length` characters.

    `sample()` returns a string of at most `sample_max_length` characters from `SAMPLE_CHARSET`
    (a mask or probability is passed on to `Text.sample`, over that charset).
    """

    def __init__(self, max_length: int = 100_000, *, min_length: int = 0,
                 sample_max_length: int = 64, seed: int | np.random.Generator | None = None):
        super().__init__(max_length, min_length=min_length, charset=SAMPLE_CHARSET, seed=seed)
        self.sample_max_length = int(min(max(sample_max_length, self.min_length), self.max_length))

    def contains(self, x: Any) -> bool:
        return isinstance(x, str) and self.min_length <= len(x) <= self.max_length

    def sample(self, mask: Any = None, probability: Any = None) -> str:
        if mask is None and probability is None:
            length = int(self.np_random.integers(self.min_length, self.sample_max_length + 1))
            chars = self.np_random.choice(len(self.character_list), size=length)
            return "".join(self.character_list[i] for i in chars)
        return super().sample(mask=mask, probability=probability)

    def __repr__(self) -> str:
        return f"UnicodeText({self.min_length}, {self.max_length})"

    def __eq__(self, other: Any) -> bool:
        return (isinstance(other, UnicodeText) and self.min_length == other.min_length
                and self.max_length == other.max_length)

    __hash__ = None  # mutable RNG inside, like other spaces
