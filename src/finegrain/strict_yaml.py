"""yaml.safe_load that refuses duplicate keys (PyYAML keeps the last one silently; DVC's ruamel refuses them)."""

from __future__ import annotations

from typing import Any

import yaml


class _UniqueKeyLoader(yaml.SafeLoader):
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


def safe_load_unique(text: str) -> Any:
    """Like yaml.safe_load (no Python tags are ever constructed), but a repeated key in a mapping is an error."""
    loader = _UniqueKeyLoader(text)  # what yaml.safe_load does, with this SafeLoader subclass
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()
