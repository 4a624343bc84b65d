"""The training commands' flags, derived from their config dataclasses (cli/configs.py).

Every field of a command's config and of its components is a flag named after it (`--total-steps`
for loop.total_steps) unless its metadata names the flag (`{"flag": "skills"}`) or keeps it out
of the CLI (`{"cli": False}`: an experiment's knob, set in a --config file). Types, choices,
defaults and help come from the fields and the docstrings under them, so nothing is written
twice. Fields in the "lr" group share one more flag, `--lr`, that sets them all. Flags default
to "not given", so a config from a file or a resumed run keeps what the user did not name.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import functools
import inspect
import textwrap
import types
import typing
from dataclasses import dataclass
from typing import Any, Literal

from agents.config import FieldError, integer


@dataclass(frozen=True)
class Flag:
    name: str
    """the flag without its dashes, e.g. total-steps"""
    paths: tuple[tuple[str, ...], ...]
    """the config fields it sets, e.g. (("loop", "total_steps"),)"""
    tp: Any
    """the fields' type"""
    default: Any
    """the command's default value"""
    help: str
    owners: tuple[tuple[type, str], ...]
    """(component class, field name) of each field, to name the flag in a FieldError"""


@functools.cache
def field_docs(cls: type) -> dict[str, str]:
    """The docstrings under a dataclass's fields (and its bases'), as one line each."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not dataclasses.is_dataclass(klass):
            continue
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(klass)))
        except (OSError, TypeError):
            continue
        body = tree.body[0].body
        for node, nxt in zip(body, body[1:]):
            if (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
                    and isinstance(nxt, ast.Expr) and isinstance(nxt.value, ast.Constant)
                    and isinstance(nxt.value.value, str)):
                docs[node.target.id] = " ".join(nxt.value.value.split())
    return docs


def command_flags(cfg_cls: type) -> dict[str, Flag]:
    """The flags of command config `cfg_cls`. A `registry` field (the skill method, the agent)
    may hold one of several configs: the flags of all of them are offered, one flag per field
    name, and a field whose default differs between them shows no default."""
    flags: dict[str, Flag] = {}
    _walk(cfg_cls, cfg_cls(), (), flags)
    groups: dict[str, list[Flag]] = {}
    for f in list(flags.values()):
        group = _meta(f).get("group")
        if group:
            groups.setdefault(group, []).append(f)
    for group, members in groups.items():
        names = ", ".join(m.name.replace("-", "_") for m in members)
        flags[group] = Flag(group, tuple(p for m in members for p in m.paths), members[0].tp,
                            None, f"sets {names} together", tuple(o for m in members for o in m.owners))
    return flags


def _meta(flag: Flag) -> dict:
    cls, name = flag.owners[0]
    return dict(next(f for f in dataclasses.fields(cls) if f.name == name).metadata)


def _walk(cls: type, default: Any, prefix: tuple[str, ...], flags: dict[str, Flag]) -> None:
    hints = typing.get_type_hints(cls)
    docs = field_docs(cls)
    for f in dataclasses.fields(cls):
        if not f.metadata.get("cli", True):
            continue
        value = getattr(default, f.name)
        if "registry" in f.metadata:
            for name in f.metadata["names"]():
                start = f.metadata["registry"](name)
                _walk(type(start), value if type(value) is type(start) else start,
                      (*prefix, f.name), flags)
            continue
        if dataclasses.is_dataclass(hints[f.name]):
            _walk(hints[f.name], value, (*prefix, f.name), flags)
            continue
        name = f.metadata.get("flag", f.name).replace("_", "-")
        path = (*prefix, f.name)
        if name in flags:
            old = flags[name]
            if old.paths != (path,):
                raise RuntimeError(f"flag --{name} would set both {old.paths} and {path}")
            if (cls, f.name) not in old.owners:  # the same field of another registered config
                flags[name] = dataclasses.replace(
                    old, owners=(*old.owners, (cls, f.name)),
                    default=old.default if old.default == value else None)
            continue
        flags[name] = Flag(name, (path,), hints[f.name], value, docs.get(f.name, ""), ((cls, f.name),))


def add_flags(parser: argparse.ArgumentParser, flags: dict[str, Flag]) -> None:
    for flag in flags.values():
        tp, default = _inner(flag.tp), flag.default
        shown = "" if default in (None, "") else f" (default: {_show(default)})"
        kw: dict[str, Any] = {"default": argparse.SUPPRESS, "dest": flag.name}
        if tp is bool:
            # A switch: --name turns on what is off by default, --no-name turns off what is on.
            opt = f"--no-{flag.name}" if default else f"--{flag.name}"
            text = f"{flag.help} (on by default; this turns it off)" if default else flag.help
            parser.add_argument(opt, action="store_const", const=not default, help=text.replace("%", "%%"),
                                **kw)
            continue
        if typing.get_origin(tp) is tuple:
            kw.update(nargs="+", type=flag_type(typing.get_args(tp)[0]), metavar="N")
        elif typing.get_origin(tp) is Literal:
            choices = typing.get_args(tp)
            kw.update(type=type(choices[0]), choices=choices)
        else:
            kw.update(type=flag_type(tp))
        parser.add_argument(f"--{flag.name}", help=f"{flag.help}{shown}".replace("%", "%%"), **kw)


def flag_type(tp: Any) -> Any:
    """What argparse parses a field of type `tp` with: ints also as 1e6."""
    return integer if tp is int else tp


def _inner(tp: Any) -> Any:
    """X for `X | None`."""
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    return args[0] if typing.get_origin(tp) in (typing.Union, types.UnionType) else tp


def _show(value: Any) -> str:
    return " ".join(map(str, value)) if isinstance(value, tuple) else str(value)


def given(args: argparse.Namespace, flags: dict[str, Flag]) -> dict[str, Any]:
    """The flags the user gave, by name, with tuples for lists."""
    out = {}
    for name in flags:
        if hasattr(args, name):
            v = getattr(args, name)
            out[name] = tuple(v) if isinstance(v, list) else v
    return out


def flag_of(flags: dict[str, Flag], e: FieldError) -> str:
    """The flag that sets the field a FieldError is about (the group flag last)."""
    for flag in sorted(flags.values(), key=lambda f: len(f.paths)):
        if (e.cls, e.name) in flag.owners:
            return f"--{flag.name}"
    return e.name
