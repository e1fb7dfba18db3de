"""Structured-config plumbing for train/config.py: read a YAML layer, merge it and dotted CLI
overrides into an OmegaConf structured config, and turn OmegaConf's exceptions into one clear
ValueError that names the key, the bad value, the expected type and the valid keys (with a
did-you-mean).

Free-form mappings (fields typed `dict`, i.e. `env.kwargs`) are replaced by a layer that sets
them, never merged: otherwise no preset or command line could drop a key the default set.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

Override = tuple[str, Any, str]  # (dotted key, parsed value, the raw argument)


def read_yaml_layer(path: Path) -> dict[str, Any]:
    """The mapping in the YAML file at `path`, as plain containers ({} for an empty file)."""
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
    out = OmegaConf.to_container(loaded) if loaded is not None else {}
    assert isinstance(out, dict)
    return out


def merge_layer(cfg: DictConfig, layer: dict[str, Any], where: str, root: type) -> DictConfig:
    """cfg <- a YAML file's mapping (`where` says which file, for messages)."""
    _prepare_layer(cfg, layer, root, [], where)
    try:
        merged = OmegaConf.merge(cfg, layer)
    except OmegaConfBaseException as exc:
        raise _friendly_error(exc, where, root) from None
    assert isinstance(merged, DictConfig)
    return merged


def parse_overrides(overrides: typing.Iterable[str]) -> list[Override]:
    """`--a.b=c` / `a.b=c` strings as (dotted key, parsed value, raw string)."""
    return [(*_parse_override(raw), raw) for raw in overrides]


def apply_overrides(cfg: DictConfig, parsed: list[Override], root: type) -> DictConfig:
    """Apply parsed overrides in order; list items by index (`agents.0.lr=1e-5`)."""
    for key, value, raw in parsed:
        where = f" (override {raw!r})"
        _check_list_index(cfg, key, raw)
        parts = key.split(".")
        free = _is_free_mapping(root, parts)
        if free and value is None:
            value = {}  # `--env.kwargs=null` clears it, as `{}` does
        _check_container_kind(root, parts, value, where)
        try:
            OmegaConf.update(cfg, key, value, merge=not free)
        except OmegaConfBaseException as exc:
            raise _friendly_error(exc, where, root) from None
    return cfg


def layer_keys(layer: Any, prefix: str = "") -> list[str]:
    """Every dotted key a layer sets, parents included: `env`, `env.kwargs`, `agents.0.lr`."""
    if isinstance(layer, dict):
        items: Any = layer.items()
    elif isinstance(layer, list):
        items = enumerate(layer)
    else:
        return []
    out = []
    for key, value in items:
        out.append(f"{prefix}{key}")
        out.extend(layer_keys(value, f"{prefix}{key}."))
    return out


def yaml_key_lines(path: Path) -> dict[str, int]:
    """The 1-based line of every dotted key of a YAML file, for messages that point at it."""
    import yaml

    try:
        root = yaml.compose(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, OSError, UnicodeDecodeError):
        return {}
    out: dict[str, int] = {}

    def walk(node: Any, prefix: str) -> None:
        if isinstance(node, yaml.MappingNode):
            children = [(k.value, k, v) for k, v in node.value]
        elif isinstance(node, yaml.SequenceNode):
            children = [(i, v, v) for i, v in enumerate(node.value)]
        else:
            return
        for key, where, value in children:
            out[f"{prefix}{key}"] = where.start_mark.line + 1
            walk(value, f"{prefix}{key}.")

    walk(root, "")
    return out


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


def _prepare_layer(cfg: Any, layer: dict[str, Any], root: type, parts: list[str], where: str) -> None:
    """Walk a layer beside the config before merging: check that mappings and lists sit where
    they belong, and clear each free-form mapping the layer sets (null there means {})."""
    for key, value in layer.items():
        path = [*parts, str(key)]
        if _declared_type(root, path) is None:
            continue  # unknown key, or inside a free-form mapping: OmegaConf's merge reports the former
        _check_container_kind(root, path, value, where)
        if _is_free_mapping(root, path):
            layer[key] = {} if value is None else value
            if OmegaConf.is_dict(cfg) and key in cfg:
                cfg[key] = {}
        elif isinstance(value, dict) and OmegaConf.is_dict(cfg) and key in cfg:
            _prepare_layer(cfg[key], value, root, path, where)
        elif isinstance(value, list) and dataclasses.is_dataclass(_declared_type(root, [*path, "0"])):
            bad = [i for i, item in enumerate(value) if not isinstance(item, dict)]
            if bad:
                raise ValueError(f"config key '{'.'.join(path)}.{bad[0]}'{where} must be a mapping of keys "
                                 f"(e.g. {{name: llama, model: tiny-llama-bpe}}), got {value[bad[0]]!r}")


def _check_container_kind(root: type, parts: list[str], value: Any, where: str) -> None:
    """A mapping where a list belongs, or a list where a mapping belongs: say which shape is
    wanted (OmegaConf raises a bare TypeError for it)."""
    t = _declared_type(root, parts)
    key = ".".join(parts)
    if typing.get_origin(t) is list and isinstance(value, dict):
        example = "  - {name: llama, model: tiny-llama-bpe}\n  - {name: qwen2, model: tiny-qwen2-char}" \
            if key == "agents" else "  - <item>"
        raise ValueError(f"config key {key!r}{where} must be a list, got a mapping; write one '- ' entry "
                         f"per item, e.g.\n{key}:\n{example}")
    wants_mapping = dataclasses.is_dataclass(t) or t is dict or typing.get_origin(t) is dict
    if wants_mapping and isinstance(value, list):
        raise ValueError(f"config key {key!r}{where} must be a mapping of keys, got a list")


def _declared_type(root: type, parts: list[str]) -> Any:
    """The declared type at a dotted path (`X | None` unwrapped; a list index steps into the
    element type), or None where the path leaves the dataclass tree."""
    t: Any = root
    for part in parts:
        t = _unwrap(t)
        if typing.get_origin(t) is list:
            t = typing.get_args(t)[0]
            continue
        if not dataclasses.is_dataclass(t):
            return None
        t = typing.get_type_hints(t).get(part)
        if t is None:
            return None
    return _unwrap(t)


def _is_free_mapping(root: type, parts: list[str]) -> bool:
    t = _declared_type(root, parts)
    return t is dict or typing.get_origin(t) is dict


def _friendly_error(exc: OmegaConfBaseException, where: str, root: type) -> ValueError:
    """One ValueError naming the key, the bad value, the expected type, and the valid keys."""
    full_key = str(getattr(exc, "full_key", "") or "")
    dotted = full_key.replace("[", ".").replace("]", "")
    msg = str(getattr(exc, "msg", "") or exc).splitlines()[0]
    parts = dotted.split(".") if dotted else []
    parent_t, leaf = _declared_type(root, parts[:-1]), parts[-1] if parts else ""
    if dataclasses.is_dataclass(parent_t) and leaf and leaf not in {f.name for f in dataclasses.fields(parent_t)}:
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


def _expected_type(root: type, parts: list[str]) -> str:
    if not parts:
        return "a mapping"
    parent = _declared_type(root, parts[:-1])
    if not dataclasses.is_dataclass(parent):
        return "a value of the declared type"
    hint = typing.get_type_hints(parent).get(parts[-1])
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")


def _unwrap(t: Any) -> Any:
    """`X | None` -> X."""
    args = [a for a in typing.get_args(t) if a is not type(None)]
    if typing.get_origin(t) in (typing.Union, getattr(types, "UnionType", None)) and len(args) == 1:
        return args[0]
    return t
