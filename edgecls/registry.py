"""One decorator, one dict, one lookup: the pattern behind models, data sources and formats."""

from __future__ import annotations

import difflib
import fnmatch
from typing import Callable, Generic, Iterator, TypeVar

from edgecls.errors import EdgeclsError

T = TypeVar("T")


def unknown_name(kind: str, name: str, choices: list[str]) -> str:
    """The one-line message for a name that is not among ``choices``, with a "did you mean"."""
    close = difflib.get_close_matches(name, choices, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return f"unknown {kind} {name!r}.{hint} Choose from: {', '.join(sorted(choices))}"


class Registry(Generic[T]):
    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def add(entry: T) -> T:
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._entries[name] = entry
            return entry

        return add

    def get(self, name: str) -> T:
        try:
            return self._entries[name]
        except KeyError:
            raise EdgeclsError(self.unknown(name)) from None

    def unknown(self, name: str) -> str:
        return unknown_name(self.kind, name, self.names())

    def names(self, pattern: str = "*") -> list[str]:
        return sorted(n for n in self._entries if fnmatch.fnmatch(n, pattern))

    def __contains__(self, name: str) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
