"""YAML with line numbers: every mapping remembers the line it starts on, so a configuration or
scenario error can say "topics.yaml line 42, topics[3].retention_ms: …". One loader for every YAML
file the bus reads (topics.yaml, scenarios)."""

from __future__ import annotations

from typing import Any

import yaml


class LineDict(dict[str, Any]):
    """A YAML mapping that remembers its line (1-based; 0 when unknown)."""

    line: int = 0


class _LineLoader(yaml.SafeLoader):
    """A SafeLoader whose mappings are ``LineDict``s."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> LineDict:
    mapping = LineDict({str(k): v for k, v in loader.construct_mapping(node, deep=True).items()})
    mapping.line = node.start_mark.line + 1
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_with_lines(text: str) -> Any:
    """Parse ``text`` safely; raises ``yaml.YAMLError`` with the position when it is not YAML."""
    return yaml.load(text, Loader=_LineLoader)  # noqa: S506 - a SafeLoader subclass


def line_of(node: Any) -> int:
    return getattr(node, "line", 0)
