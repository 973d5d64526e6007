"""The message catalogue: every sentence a person reads, as data, in ``domain/locales/<lang>/*.json``.

One JSON object per area (``common``, ``portal``, ``desk``, ``profile``, ``applications``,
``enduser``, ``account``), each key once per language; a language's files are merged into one
table. A key found twice (in two files, or twice in one file) refuses to load rather than
letting one text silently shadow the other. ``tests/test_locales.py`` keeps the languages in
step (same keys, same ``{placeholders}``) and finds the keys the code uses.

Standard library only: the API, the activities and the domain rules all read it.
"""

import json
from collections.abc import Callable, Mapping
from functools import cache
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from types import MappingProxyType

LANGUAGES = ("ja", "en")
DEFAULT_LANGUAGE = "ja"
LOCALES: Traversable = files(__package__ or "domain") / "locales"


class CatalogueError(ValueError):
    """A locale file that cannot be loaded: bad JSON, not an object of strings, or a duplicate key."""


def _objects_without_duplicates(source: str) -> Callable[[list[tuple[str, object]]], dict[str, object]]:
    def hook(pairs: list[tuple[str, object]]) -> dict[str, object]:
        seen: dict[str, object] = {}
        for key, value in pairs:
            if key in seen:
                raise CatalogueError(f"{source}: key {key!r} appears twice")
            seen[key] = value
        return seen
    return hook


def load(lang: str, directory: Traversable | Path | str = LOCALES) -> dict[str, str]:
    """A language's merged table from ``<directory>/<lang>/*.json`` (files in name order), not cached.

    Raises CatalogueError on a key defined twice, a value that is not a string, or no files at all.
    """
    folder = (Path(directory) if isinstance(directory, str) else directory) / lang
    found = folder.iterdir() if folder.is_dir() else ()
    paths = sorted((p for p in found if p.name.endswith(".json")), key=lambda p: p.name)
    if not paths:
        raise CatalogueError(f"no message files for language {lang!r} in {folder}")
    table: dict[str, str] = {}
    origin: dict[str, str] = {}
    for path in paths:
        source = f"{lang}/{path.name}"
        try:
            data = json.loads(path.read_text(encoding="utf-8"), object_pairs_hook=_objects_without_duplicates(source))
        except json.JSONDecodeError as exc:
            raise CatalogueError(f"{source}: {exc}") from exc
        if not isinstance(data, dict):
            raise CatalogueError(f"{source}: expected a JSON object of key -> text")
        for key, text in data.items():
            if not isinstance(text, str):
                raise CatalogueError(f"{source}: the text of {key!r} is not a string")
            if key in table:
                raise CatalogueError(f"{source}: key {key!r} is already defined in {origin[key]}")
            table[key], origin[key] = text, source
    return table


@cache
def _catalogue(lang: str) -> Mapping[str, str]:
    return MappingProxyType(load(lang))


def catalogue(lang: str) -> Mapping[str, str]:
    """The read-only table of a language (loaded once); an unknown language gets the default's."""
    return _catalogue(lang if lang in LANGUAGES else DEFAULT_LANGUAGE)


def translator(lang: str) -> Callable[[str], str]:
    """``t(key)``: the text in ``lang``, else the default language's, else the key itself."""
    table, fallback = catalogue(lang), catalogue(DEFAULT_LANGUAGE)
    return lambda key: table.get(key, fallback.get(key, key))
