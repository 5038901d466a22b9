"""YAML as the project and scenario files use it: safe, bounded, and every mapping and list with its lines.

`yaml.safe_load` expands aliases lazily: a ten-line "billion laughs" file loads instantly and then
exhausts memory the first time anything walks it (a message quoting a value, run.json). This loader
refuses, with the line, a document that would expand beyond `MAX_NODES` nodes, nests deeper than
`MAX_DEPTH`, refers to an anchor from inside itself, or gives a mapping key twice (YAML keeps the
last silently, so the first would be lost without a word).
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import yaml

MAX_NODES = 200_000
"""Nodes of the document with every alias expanded (a county's project file has a few hundred)."""
MAX_DEPTH = 64
MAX_BYTES = 20_000_000
"""Largest project or scenario file read (bytes)."""
_MERGE_TAG = "tag:yaml.org,2002:merge"


class Map(dict):  # type: ignore[type-arg]
    """A YAML mapping that remembers its own line and the line of each key (1-based)."""

    line: int
    key_lines: dict[Any, int]


class Seq(list):  # type: ignore[type-arg]
    """A YAML sequence that remembers the line of each item (1-based)."""

    item_lines: list[int]


class LineLoader(yaml.SafeLoader):
    """SafeLoader with bounded alias expansion and depth, duplicate keys refused, and line numbers."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._sizes: dict[int, int] = {}
        self._depth = 0

    def compose_node(self, parent: yaml.Node | None, index: object) -> yaml.Node:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            target = self.anchors.get(event.anchor)
            if target is not None and id(target) not in self._sizes:
                raise yaml.composer.ComposerError(
                    None, None, f"alias *{event.anchor} refers to its own anchor (a recursive structure)",
                    event.start_mark)
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise yaml.composer.ComposerError(None, None, f"nested more than {MAX_DEPTH} levels deep",
                                              self.peek_event().start_mark)
        node = super().compose_node(parent, index)
        self._depth -= 1
        size = self._sizes.get(id(node))
        if size is None:
            size = 1
            if isinstance(node, yaml.SequenceNode):
                size += sum(self._sizes[id(item)] for item in node.value)
            elif isinstance(node, yaml.MappingNode):
                size += sum(self._sizes[id(k)] + self._sizes[id(v)] for k, v in node.value)
            self._sizes[id(node)] = size
        if size > MAX_NODES:
            raise yaml.composer.ComposerError(
                None, None, f"expands to more than {MAX_NODES:,} values once its aliases (*name) are "
                "resolved", node.start_mark)
        return node


def _construct_map(loader: LineLoader, node: yaml.MappingNode) -> Iterator[Map]:
    data = Map()
    data.line = node.start_mark.line + 1
    data.key_lines = {}
    yield data
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        if key_node.tag == _MERGE_TAG:
            continue  # keys merged in with `<<:` may be overridden, that is what merging is for
        key = _key(loader.construct_object(key_node, deep=True))
        line = key_node.start_mark.line + 1
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"key '{key}' is given twice (first on line {seen[key]}; expected each key once)",
                key_node.start_mark)
        seen[key] = line
    loader.flatten_mapping(node)
    for key_node, value_node in node.value:
        key = _key(loader.construct_object(key_node, deep=True))
        data.key_lines[key] = key_node.start_mark.line + 1
        data[key] = loader.construct_object(value_node, deep=True)


def _key(key: object) -> object:
    """A hashable key: lists or mappings used as keys become their text."""
    return key if key is None or isinstance(key, (str, int, float, bool)) else str(key)


def _construct_seq(loader: LineLoader, node: yaml.SequenceNode) -> Iterator[Seq]:
    data = Seq()
    data.item_lines = [item.start_mark.line + 1 for item in node.value]
    yield data
    data.extend(loader.construct_object(item, deep=True) for item in node.value)


LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_map)
LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_seq)


def load_yaml(text: str) -> Any:
    """The document in `text`; raises yaml.MarkedYAMLError (with the line) for the refusals above."""
    return yaml.load(text, Loader=LineLoader)  # noqa: S506 - a SafeLoader subclass


def error_line(exc: yaml.YAMLError) -> int | None:
    """1-based line of a YAML error, when it has one."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    return mark.line + 1 if mark is not None else None


def error_where(exc: yaml.YAMLError) -> str:
    """'line L, column C: ' of a YAML error ('' when it has no position)."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    return f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""


def is_refusal(exc: yaml.YAMLError) -> bool:
    """Whether the error is one of this loader's refusals rather than a syntax error."""
    return isinstance(exc, (yaml.composer.ComposerError, yaml.constructor.ConstructorError))


def error_text(exc: yaml.YAMLError) -> str:
    """What a YAML error says, without PyYAML's snippet of the file."""
    return str(getattr(exc, "problem", None) or exc)
