"""yaml.safe_load that refuses duplicate keys (PyYAML keeps the last one silently; DVC's ruamel refuses them).

Parsed by libyaml where PyYAML has it (~10x faster than the pure-Python parser on params.yaml, which every stage
reads); a document it rejects is parsed again by the pure-Python parser, so an error's message and position are
always PyYAML's own.
"""

from __future__ import annotations

from typing import Any

import yaml

FAST_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""yaml.safe_load's loader with libyaml's parser (the same constructor and resolver: the same values)."""


class _UniqueKeys:
    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: set = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"duplicate key {key!r} (a second value would silently replace the first)",
                    key_node.start_mark,
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


class _UniqueKeyLoader(_UniqueKeys, yaml.SafeLoader):
    pass


class _FastUniqueKeyLoader(_UniqueKeys, FAST_SAFE_LOADER):
    pass


def _load(loader_class: type, text: str) -> Any:
    loader = loader_class(text)  # what yaml.safe_load does, with this SafeLoader subclass
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def safe_load_unique(text: str) -> Any:
    """Like yaml.safe_load (no Python tags are ever constructed), but a repeated key in a mapping is an error."""
    try:
        return _load(_FastUniqueKeyLoader, text)
    except yaml.YAMLError:
        return _load(_UniqueKeyLoader, text)  # raises it again, with PyYAML's message and position
