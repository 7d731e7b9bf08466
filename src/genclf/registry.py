"""Name -> constructor registries: the single source of choices for CLI, configs and tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from genclf.errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """A named mapping from string keys to constructors, filled by a decorator."""

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def decorate(obj: T) -> T:
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._entries[name] = obj
            return obj

        return decorate

    def get(self, name: str, field: str | None = None) -> T:
        if name not in self._entries:
            choices = ", ".join(sorted(self._entries))
            raise ConfigError(field or self.kind, f"unknown {self.kind} {name!r}; expected one of: {choices}")
        return self._entries[name]

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
