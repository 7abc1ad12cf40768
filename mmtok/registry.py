"""One generic name -> factory registry, used by every extension point (text encodings, model families, ...).

Follows tiktoken's encoding registry and timm's `register_model`: an extension is one module that
registers itself by name; modules are imported lazily on first lookup, so importing mmtok stays cheap.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Generic, TypeVar

from .errors import UnknownNameError

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps names (case-insensitive) to factories.

    `modules` lists the modules that register entries; they are imported on the first lookup or listing.
    """

    def __init__(self, kind: str, modules: tuple[str, ...] = ()):
        self.kind = kind
        self._modules = modules
        self._loaded = False
        self._factories: dict[str, Callable[..., T]] = {}
        self._aliases: dict[str, str] = {}

    def register(self, name: str, *, aliases: tuple[str, ...] = ()) -> Callable[[Callable[..., T]], Callable[..., T]]:
        def deco(factory: Callable[..., T]) -> Callable[..., T]:
            key = name.lower()
            if key in self._factories or key in self._aliases:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._factories[key] = factory
            for alias in aliases:
                self._aliases[alias.lower()] = key
            return factory

        return deco

    def _load(self) -> None:
        if not self._loaded:
            self._loaded = True
            for mod in self._modules:
                importlib.import_module(mod)

    def names(self) -> list[str]:
        self._load()
        return sorted(self._factories)

    def canonical(self, name: str) -> str:
        self._load()
        key = name.lower()
        key = self._aliases.get(key, key)
        if key not in self._factories:
            raise UnknownNameError(self.kind, name, self.names())
        return key

    def __contains__(self, name: str) -> bool:
        self._load()
        key = name.lower()
        return key in self._factories or key in self._aliases

    def get(self, name: str, **options) -> T:
        key = self.canonical(name)
        try:
            return self._factories[key](**options)
        except TypeError as e:
            if "unexpected keyword argument" not in str(e):
                raise
            from .errors import InvalidOptionError

            import inspect

            factory = self._factories[key]
            params: list[str] = []
            for klass in getattr(factory, "__mro__", (factory,)):
                init = getattr(klass, "__init__", None) if isinstance(klass, type) else klass
                try:
                    signature = inspect.signature(init)
                except (TypeError, ValueError):
                    continue
                params += [p.name for p in signature.parameters.values() if p.kind == p.KEYWORD_ONLY and p.name not in params]
            raise InvalidOptionError(
                f"{self.kind} {key!r} takes no option {str(e).split('argument')[-1].strip()}; its options: "
                + (", ".join(params) or "none")
            ) from None
