"""Name -> verifier registry, with plug-ins discovered through the `hacrl.verifiers` entry points."""

from __future__ import annotations

import difflib
from typing import Any, Callable, Union

from verifiers.base import Verdict, Verifier

_REGISTRY: dict[str, Callable[..., Verifier]] = {}
_ENTRY_POINT_GROUP = "hacrl.verifiers"
_entry_points_loaded = False


class FunctionVerifier(Verifier):
    """Wraps `f(response, answer) -> Verdict | float | bool` as a `Verifier`."""

    def __init__(self, fn: Callable[[str, str], Any], name: str | None = None):
        self.fn = fn
        self.name = name or getattr(fn, "__name__", "function")

    def _check(self, response: str, answer: str) -> Verdict:
        out = self.fn(response, answer)
        if isinstance(out, Verdict):
            return out
        if isinstance(out, bool) or isinstance(out, (int, float)):
            r = float(out)
            if not 0.0 <= r <= 1.0 or r != r:
                return Verdict(reward=0.0, correct=False, rule=self.name, reason="error",
                               flags=(f"reward {r!r} outside [0, 1]",))
            return Verdict(reward=r, correct=r == 1.0, rule=self.name, reason="" if r == 1.0 else "mismatch")
        raise TypeError(f"verifier {self.name!r} returned {type(out).__name__}; "
                        "return a Verdict, a float in [0, 1] or a bool")

    def __reduce__(self):  # picklable for process pools when fn is a module-level function
        return (FunctionVerifier, (self.fn, self.name))


def register_verifier(name: str, *, override: bool = False):
    """Decorator: register a `Verifier` subclass or a function `(response, answer) -> ...`.

    A class is instantiated by `get_verifier(name, **kwargs)`; a function is wrapped in a
    `FunctionVerifier`. Registering a taken name raises unless `override=True`.
    """

    def deco(obj):
        if name in _REGISTRY and not override:
            raise ValueError(f"verifier {name!r} is already registered; pick another name "
                             "or pass override=True")
        if isinstance(obj, type) and issubclass(obj, Verifier):
            _REGISTRY[name] = obj
        elif callable(obj):
            _REGISTRY[name] = lambda **kw: FunctionVerifier(obj, name)
        else:
            raise TypeError(f"register_verifier({name!r}) needs a Verifier subclass or a function")
        return obj

    return deco


def _load_entry_points() -> None:
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    from importlib.metadata import entry_points

    for ep in entry_points(group=_ENTRY_POINT_GROUP):
        if ep.name in _REGISTRY:
            continue
        try:
            obj = ep.load()
        except Exception as exc:  # a broken plug-in must not break the built-ins
            import warnings

            warnings.warn(f"could not load verifier plug-in {ep.name!r} ({ep.value}): {exc}")
            continue
        register_verifier(ep.name)(obj)


def available_verifiers() -> list[str]:
    _load_entry_points()
    return sorted(_REGISTRY)


VerifierLike = Union[str, Verifier, Callable[[str, str], Any]]


def get_verifier(name: VerifierLike, **kwargs: Any) -> Verifier:
    """Return a verifier by registered name; a `Verifier` or plain callable is passed through
    (a callable is wrapped). Unknown names raise with the closest matches."""
    if isinstance(name, Verifier):
        return name
    if callable(name) and not isinstance(name, str):
        return FunctionVerifier(name)
    if not isinstance(name, str):
        raise TypeError(f"verifier must be a name, a Verifier or a callable, got {type(name).__name__}")
    _load_entry_points()
    if name not in _REGISTRY:
        close = difflib.get_close_matches(name, list(_REGISTRY), n=3, cutoff=0.5)
        hint = f"; did you mean {' or '.join(map(repr, close))}?" if close else ""
        raise ValueError(f"unknown verifier {name!r}{hint} Registered: {', '.join(sorted(_REGISTRY))}. "
                         "Register your own with @verifiers.register_verifier(name).")
    return _REGISTRY[name](**kwargs)
