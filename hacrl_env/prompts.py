"""Prompt templates: the instruction each task family appends to its question.

A template is a str holding `{question}` once. It is filled by plain replacement, not
`str.format`, so templates may contain LaTeX braces (`\\boxed{}`) and questions may contain
anything. Changing a default template changes what agents see: bump the env id's version.
"""

from __future__ import annotations

PLACEHOLDER = "{question}"

GSM8K_TEMPLATE = PLACEHOLDER + "\nSolve step by step, then give the final answer after '####'."
MATH_TEMPLATE = PLACEHOLDER + "\nSolve step by step. Put your final answer within \\boxed{}."
RG_INSTRUCTION = "Give the final answer after '####'."
RG_TEMPLATE = PLACEHOLDER + "\n" + RG_INSTRUCTION


def check_template(template: object) -> str:
    """`template` if it is a usable prompt template, else a clear error."""
    if not isinstance(template, str):
        raise TypeError(f"prompt_template must be a str containing {PLACEHOLDER!r}, "
                        f"got {type(template).__name__}")
    count = template.count(PLACEHOLDER)
    if count != 1:
        raise ValueError(f"prompt_template must contain {PLACEHOLDER!r} exactly once (found {count}); "
                         f"e.g. '{PLACEHOLDER}\\nAnswer after ####.'")
    return template


def render_prompt(template: str, question: str) -> str:
    """The prompt an agent sees for `question`."""
    return template.replace(PLACEHOLDER, question, 1)
