"""Typed configs as data: frozen dataclasses checked at construction, to and from JSON.

Every component (the loop, an agent, a skill method) has one frozen dataclass whose
`__post_init__` checks its values with the helpers below, so a bad value fails where it is made,
whether it came from a flag, a file or Python, with one line naming the field. `from_dict`
rebuilds a (nested) config from JSON over a base config, checking every key and type, so a file
may hold only the fields that differ from the defaults.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, Literal, TypeVar

T = TypeVar("T")


class ConfigError(ValueError):
    """Input a user can fix: a bad option value, a missing device, an unknown feature."""


class FieldError(ConfigError):
    """A bad value of one field of a config dataclass; the CLI names the field by its flag."""

    def __init__(self, cls: type, name: str, problem: str):
        self.cls, self.name, self.problem = cls, name, problem
        super().__init__(f"{name} {problem}")


def integer(text: str) -> int:
    """An int from a flag's text, also written as an integral float: step counts are commonly
    written 1e6 (int() takes only "1000000" and "1_000_000")."""
    try:
        return int(text)
    except ValueError:
        value = float(text)  # ValueError for what is no number at all
        if not value.is_integer():  # 1.5, inf, nan
            raise ValueError(f"not an integer: {text!r}") from None
        return int(value)


integer.__name__ = "int"  # argparse names the type in its message: "invalid int value: '1.5'"


# ---------------------------------------------------------------- checks for __post_init__


def check(cfg: Any, name: str, ok: bool, problem: str) -> None:
    if not ok:
        raise FieldError(type(cfg), name, f"{problem} (got {getattr(cfg, name)!r})")


def positive(cfg: Any, *names: str) -> None:
    """Each named field is > 0 (None allowed: 'derived' or 'off')."""
    for n in names:
        v = getattr(cfg, n)
        check(cfg, n, v is None or v > 0, "must be > 0")


def non_negative(cfg: Any, *names: str) -> None:
    for n in names:
        v = getattr(cfg, n)
        check(cfg, n, v is None or v >= 0, "must be >= 0")


def layer_sizes(cfg: Any, name: str, min_layers: int = 1) -> None:
    v = getattr(cfg, name)
    check(cfg, name, len(v) >= min_layers and all(h > 0 for h in v),
          f"must be {min_layers} or more layer sizes, each > 0")


# ---------------------------------------------------------------- JSON


def to_dict(cfg: Any) -> dict:
    """A config as JSON-ready data; a field marked `registry` (one of several configs: a skill
    method's, an agent's) also records which one it holds under its `key` ("method", "algo")."""
    out = {}
    for f in dataclasses.fields(cfg):
        v = getattr(cfg, f.name)
        if dataclasses.is_dataclass(v):
            d = to_dict(v)
            if "registry" in f.metadata:
                key = f.metadata["key"]
                d = {key: getattr(type(v), key), **d}
            out[f.name] = d
        elif isinstance(v, tuple):
            out[f.name] = list(v)
        else:
            out[f.name] = v
    return out


def from_dict(cls: type[T], data: dict, base: T | None = None, where: str = "") -> T:
    """`cls` from JSON data laid over `base` (default: `cls()`): keys missing from `data` keep
    base's values; an unknown key or a value of the wrong type is a ConfigError naming it."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where or cls.__name__} must be a JSON object, got {data!r}")
    base = cls() if base is None else base
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(f"unknown field '{where}{unknown[0]}'; valid fields there: "
                          f"{', '.join(fields)}")
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for name, value in data.items():
        f, path = fields[name], f"{where}{name}"
        if "registry" in f.metadata:
            kwargs[name] = _registered(f.metadata, value, getattr(base, name), path)
        else:
            kwargs[name] = coerce(hints[name], value, getattr(base, name), path)
    return dataclasses.replace(base, **kwargs)


def _registered(meta: Any, value: Any, base: Any, path: str) -> Any:
    """A field that holds one of several registered configs, named under meta["key"]; the
    registry `meta["registry"](name)` gives the config a name starts from."""
    if not isinstance(value, dict):
        raise ConfigError(f"{path} must be a JSON object, got {value!r}")
    value, key = dict(value), meta["key"]
    name = value.pop(key, getattr(type(base), key))
    start = meta["registry"](name)
    return from_dict(type(start), value, base if type(base) is type(start) else start, f"{path}.")


def coerce(tp: Any, value: Any, base: Any, path: str) -> Any:
    """`value` checked against type `tp` (JSON's lists become tuples, ints pass as floats and
    integral floats as ints: 1e6 steps)."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return coerce(inner[0], value, base, path)
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, base if isinstance(base, tp) else None, f"{path}.")
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{path} must be a list, got {value!r}")
        return tuple(coerce(args[0], v, None, path) for v in value)
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"{path} must be one of {', '.join(map(repr, args))}, got {value!r}")
        return value
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp is int and isinstance(value, float) and value.is_integer():
        return int(value)
    if tp in (int, float, str, bool) and (type(value) is not tp):
        raise ConfigError(f"{path} must be {tp.__name__}, got {value!r}")
    return value
