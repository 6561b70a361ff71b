"""Line numbers of keys in a YAML file, so config messages can say where to look."""

from __future__ import annotations

from typing import Any

import yaml

Path_ = tuple[Any, ...]


def key_lines(text: str) -> dict[Path_, int]:
    """{("datasets", 0, "path"): 17, ...}: the 1-based line of each key or list item."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return {}
    out: dict[Path_, int] = {}

    def walk(node: yaml.Node, path: Path_) -> None:
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                key = (path + (key_node.value,)) if isinstance(key_node, yaml.ScalarNode) else path
                out.setdefault(key, key_node.start_mark.line + 1)
                walk(value_node, key)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                out.setdefault(path + (i,), item.start_mark.line + 1)
                walk(item, path + (i,))

    if root is not None:
        walk(root, ())
    return out


def line_of(lines: dict[Path_, int], path: Path_) -> int:
    """The line of `path`, or of its nearest ancestor that is in the file (0: unknown)."""
    while path:
        if path in lines:
            return lines[path]
        path = path[:-1]
    return 0
