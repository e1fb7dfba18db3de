"""Structured-config plumbing for train/config.py: merge a YAML file and dotted CLI overrides into
an OmegaConf structured config, and turn OmegaConf's exceptions into one clear ValueError that
names the key, the bad value, the expected type and the valid keys (with a did-you-mean)."""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException


def merge_yaml_file(cfg: DictConfig, path: Path, root: type) -> DictConfig:
    """cfg <- the mapping in the YAML file at `path` (root: the dataclass cfg was built from)."""
    if not path.is_file():
        raise ValueError(f"config file {str(path)!r} not found; pass an existing YAML file "
                         "(see configs/ for presets)")
    try:
        loaded = OmegaConf.load(path)
    except Exception as exc:  # yaml.YAMLError and friends: name the file, keep the parser's line info
        raise ValueError(f"config file {str(path)!r} is not valid YAML: {exc}") from None
    if loaded is not None and not OmegaConf.is_dict(loaded):
        raise ValueError(f"config file {str(path)!r} must hold a mapping of keys, got "
                         f"{type(loaded).__name__}")
    try:
        merged = OmegaConf.merge(cfg, loaded)
    except OmegaConfBaseException as exc:
        raise _friendly_error(exc, f" (in {path})", root) from None
    assert isinstance(merged, DictConfig)
    return merged


def apply_overrides(cfg: DictConfig, overrides: typing.Iterable[str], root: type) -> DictConfig:
    """Apply `--a.b=c` / `a.b=c` overrides in order; list items by index (`agents.0.lr=1e-5`)."""
    for raw in overrides:
        key, value = _parse_override(raw)
        _check_list_index(cfg, key, raw)
        try:
            OmegaConf.update(cfg, key, value, merge=True)
        except OmegaConfBaseException as exc:
            raise _friendly_error(exc, f" (override {raw!r})", root) from None
    return cfg


def _parse_override(raw: str) -> tuple[str, Any]:
    text = raw[2:] if raw.startswith("--") else raw
    if "=" not in text or not text.split("=", 1)[0].strip():
        raise ValueError(f"override {raw!r} is not of the form key=value; write e.g. "
                         "--algo.alpha=3 or agents.0.lr=1e-5")
    key = text.split("=", 1)[0].strip()
    # from_dotlist parses the value with OmegaConf's YAML grammar (1e-5 -> float, null -> None,
    # [1,2] -> list); the key is applied separately because from_dotlist turns list indices
    # (`agents.0.lr`) into dict keys, which cannot merge into a list.
    value = OmegaConf.from_dotlist([f"v={text.split('=', 1)[1]}"])["v"]
    if OmegaConf.is_config(value):
        value = OmegaConf.to_container(value)
    return key, value


def _check_list_index(cfg: Any, key: str, raw: str) -> None:
    """Out-of-range list indices get their own message (OmegaConf reports a type error)."""
    parts, node = key.split("."), cfg
    for i, part in enumerate(parts):
        if OmegaConf.is_list(node):
            if not part.isdigit() or int(part) >= len(node):
                raise ValueError(f"override {raw!r}: {'.'.join(parts[:i])} has {len(node)} entries (indices "
                                 f"0..{len(node) - 1}); to add or remove entries, list them in the YAML")
            part = int(part)
        elif not (OmegaConf.is_dict(node) and part in node):
            return  # unknown keys are reported by OmegaConf.update, with the valid keys listed
        if i == len(parts) - 1:
            return  # the leaf itself is not read: it may be a required (???) value
        node = node[part]


def _friendly_error(exc: OmegaConfBaseException, where: str, root: type) -> ValueError:
    """One ValueError naming the key, the bad value, the expected type, and the valid keys."""
    full_key = str(getattr(exc, "full_key", "") or "")
    dotted = full_key.replace("[", ".").replace("]", "")
    msg = str(getattr(exc, "msg", "") or exc).splitlines()[0]
    parts = dotted.split(".") if dotted else []
    parent_t, leaf = _dataclass_at(root, parts[:-1]), parts[-1] if parts else ""
    if parent_t is not None and leaf and leaf not in {f.name for f in dataclasses.fields(parent_t)}:
        valid = [f.name for f in dataclasses.fields(parent_t)]
        close = difflib.get_close_matches(leaf, valid, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        prefix = ".".join(parts[:-1])
        return ValueError(f"unknown config key {dotted!r}{where}{hint} valid keys"
                          f"{' under ' + prefix if prefix else ''}: {', '.join(valid)}")
    expected = _expected_type(root, parts)
    value = getattr(exc, "value", None)  # not always set; the message below carries it too
    bad = f" value {value!r}" if value is not None else ""
    return ValueError(f"config key {dotted or '<root>'!r}{where}: bad{bad}, expected {expected}: {msg}")


def _dataclass_at(root: type, parts: list[str]) -> type | None:
    """The dataclass type at a dotted path (list indices step into the element type)."""
    t: Any = root
    for part in parts:
        t = _unwrap(t)
        if typing.get_origin(t) is list:
            t = typing.get_args(t)[0]
            continue
        if not dataclasses.is_dataclass(t):
            return None
        hints = typing.get_type_hints(t)
        if part not in hints:
            return None
        t = hints[part]
    t = _unwrap(t)
    return t if isinstance(t, type) and dataclasses.is_dataclass(t) else None


def _expected_type(root: type, parts: list[str]) -> str:
    if not parts:
        return "a mapping"
    parent = _dataclass_at(root, parts[:-1])
    if parent is None:
        return "a value of the declared type"
    hint = typing.get_type_hints(parent).get(parts[-1])
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")


def _unwrap(t: Any) -> Any:
    """`X | None` -> X."""
    args = [a for a in typing.get_args(t) if a is not type(None)]
    if typing.get_origin(t) in (typing.Union, getattr(types, "UnionType", None)) and len(args) == 1:
        return args[0]
    return t
