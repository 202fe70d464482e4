"""A small name -> object registry with clear errors (one place per kind of thing)."""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import sys
import warnings
from typing import Callable, Generic, Iterator, TypeVar

T = TypeVar("T")


class ConfigError(ValueError):
    """Bad user input: the message is one line naming the bad value and the valid choices."""


@contextlib.contextmanager
def one_line_warnings(prog: str) -> Iterator[None]:
    """Within the block, each warning is printed to stderr as one line, "PROG: warning: MESSAGE" (a record skipped,
    runs left out, settings told apart), not Python's file:line form with the source line under it."""
    def show(message, category, filename, lineno, file=None, line=None) -> None:
        print(f"{prog}: warning: {message}", file=sys.stderr)

    with warnings.catch_warnings():
        warnings.showwarning = show
        yield


def check(condition: bool, message: str) -> None:
    """Raise ConfigError(message) unless condition holds."""
    if not condition:
        raise ConfigError(message)


def choice(what: str, value, choices) -> None:
    """Refuse `value` unless it is one of `choices`, suggesting the nearest one."""
    choices = list(choices)
    if value in choices:
        return
    close = difflib.get_close_matches(str(value), [str(c) for c in choices], n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise ConfigError(f"unknown {what} {value!r}{hint}; valid choices: {', '.join(map(str, choices))}")


def typed_params(cls, params: dict | None, what: str) -> dict:
    """User values for a dataclass's fields, checked against the types of the fields' defaults:
    unknown names and wrong types are refused (ints are accepted for floats; bools are not ints)."""
    defaults = {f.name: f.default for f in dataclasses.fields(cls)}
    out = {}
    for key, value in (params or {}).items():
        check(key in defaults, f"unknown {what} parameter {key!r}; valid parameters: {', '.join(defaults)}")
        expected = type(defaults[key])
        if expected is float and type(value) is int:
            value = float(value)
        check(type(value) is expected, f"{what} parameter {key} must be {expected.__name__}, got {value!r}")
        out[key] = value
    return out


# The source a registration comes from while a user's file is loaded (bench.plugins sets it): a short hash of the
# file, recorded with every name registered meanwhile, which joins the run id of the runs that use the name.
ORIGIN: list[str] = []


class Registry(Generic[T]):
    """Maps names to objects. Registering a name twice is an error; an unknown name suggests the nearest."""

    def __init__(self, kind: str):
        self.kind = kind
        self._items: dict[str, T] = {}
        self._origins: dict[str, str] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def decorator(obj: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            self._items[name] = obj
            if ORIGIN:
                self._origins[name] = ORIGIN[-1]
            return obj

        return decorator

    def unregister(self, name: str) -> T:
        """Remove `name` and return its object (a test's own registration, taken back when the test is done)."""
        choice(self.kind, name, self._items)
        self._origins.pop(name, None)
        return self._items.pop(name)

    def origin(self, name: str) -> str | None:
        """The source hash of the user's file that registered `name` (bench.plugins), None for rnnbench's own."""
        return self._origins.get(name)

    def get(self, name: str) -> T:
        choice(self.kind, name, self._items)
        return self._items[name]

    def names(self) -> list[str]:
        return list(self._items)

    def __contains__(self, name: str) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def items(self):
        return self._items.items()
