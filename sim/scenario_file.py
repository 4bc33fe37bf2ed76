"""Reading a scenario file: YAML as a person means it, and never more than a scenario can need.

YAML 1.1 (what PyYAML speaks) has traps for a settings file. ``13:30`` is the base-60 integer 810, so
``start_time_of_day: 13:30`` silently meant ten past midnight and thirteen minutes; a key written twice keeps
the last value without a word (a duplicated variant name dropped the first definition); and a few anchors
and aliases can describe a structure of billions of nodes in a few hundred bytes (the "billion laughs").

:class:`ScenarioLoader` is PyYAML's safe loader with those traps closed: base-60 numbers are not numbers
(``13:30`` stays the text ``"13:30"``, which the schema reads as a clock time where a time of day is meant and
rejects where a duration is meant), ``1e9`` is a number as in YAML 1.2, a duplicate key is an error naming both lines, and a document may not
nest deeper than :data:`MAX_DEPTH`, use more than :data:`MAX_ALIASES` aliases, or expand to more than
:data:`MAX_NODES` nodes. :func:`read_yaml_file` also refuses files over :data:`MAX_FILE_BYTES` (the shipped
scenarios are a few kilobytes) and turns operating-system errors into one-line :class:`ScenarioError` s.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from yaml.composer import ComposerError
from yaml.constructor import ConstructorError

from sim.errors import ScenarioError

MAX_FILE_BYTES = 1 << 20
"""Largest scenario file read (1 MiB; the shipped ones are under 5 KB)."""
MAX_DEPTH = 50
"""Deepest nesting of mappings and lists (the schema itself is 6 deep)."""
MAX_ALIASES = 100
"""Most ``*alias`` references in one file."""
MAX_NODES = 200_000
"""Most nodes once every alias is expanded (a shipped scenario has a few hundred)."""

_INT_TAG = "tag:yaml.org,2002:int"
_FLOAT_TAG = "tag:yaml.org,2002:float"
# YAML 1.1's int and float patterns without their base-60 alternatives ([-+]?[1-9][0-9_]*(:[0-5]?[0-9])+),
# and with YAML 1.2's exponent forms (1e9, 1.5e-3), which YAML 1.1 reads as text.
_INT = re.compile(r"""^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+)$""")
_FLOAT = re.compile(r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
                    |[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+
                    |\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?
                    |[-+]?\.(?:inf|Inf|INF)
                    |\.(?:nan|NaN|NAN))$""", re.X)


def _resolvers_without_base_60() -> dict:
    table = {}
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items():
        kept = [(tag, regexp) for tag, regexp in resolvers if tag not in (_INT_TAG, _FLOAT_TAG)]
        if any(tag == _INT_TAG for tag, _ in resolvers):
            kept.append((_INT_TAG, _INT))
        if any(tag == _FLOAT_TAG for tag, _ in resolvers):
            kept.append((_FLOAT_TAG, _FLOAT))
        table[first] = kept
    return table


class ScenarioLoader(yaml.SafeLoader):
    """PyYAML's safe loader without base-60 numbers or duplicate keys, with bounded depth and expansion."""

    yaml_implicit_resolvers = _resolvers_without_base_60()

    def __init__(self, stream):
        super().__init__(stream)
        self._depth = 0
        self._aliases = 0

    def compose_node(self, parent, index):
        mark = self.peek_event().start_mark
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise ComposerError(None, None, f"more than {MAX_ALIASES} aliases (*name); write the "
                                    "values out", mark)
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise ComposerError(None, None, f"nested more than {MAX_DEPTH} levels deep", mark)
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_document(self, node):
        _check_expanded_size(node)
        return super().construct_document(node)

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            _check_unique_keys(self, node)
        return super().construct_mapping(node, deep=deep)


def _check_unique_keys(loader: ScenarioLoader, node: yaml.MappingNode) -> None:
    first_line: dict[Any, int] = {}
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge" or not isinstance(key_node, yaml.ScalarNode):
            continue
        key = loader.construct_object(key_node)
        line = key_node.start_mark.line + 1
        if key in first_line:
            raise ConstructorError(None, None, f"duplicate key {key!r} (first at line {first_line[key]}); "
                                   "a key may appear once in a mapping", key_node.start_mark)
        first_line[key] = line


def _check_expanded_size(root: yaml.Node) -> None:
    """Count the nodes of the document as if every alias were copied out, without copying anything."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()

    def size(node: yaml.Node) -> int:
        if id(node) in sizes:
            return sizes[id(node)]
        if id(node) in open_nodes:
            raise ComposerError(None, None, "an alias refers to a node that contains it", node.start_mark)
        open_nodes.add(id(node))
        if isinstance(node, yaml.MappingNode):
            total = 1 + sum(size(k) + size(v) for k, v in node.value)
        elif isinstance(node, yaml.SequenceNode):
            total = 1 + sum(size(v) for v in node.value)
        else:
            total = 1
        open_nodes.discard(id(node))
        if total > MAX_NODES:
            raise ComposerError(None, None, f"expands to more than {MAX_NODES:,} values (aliases "
                                "multiply what they refer to)", node.start_mark)
        sizes[id(node)] = total
        return total

    size(root)


def load_yaml_text(text: str) -> Any:
    """Parse scenario YAML text with :class:`ScenarioLoader` (raises ``yaml.YAMLError`` on bad input)."""
    loader = ScenarioLoader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def read_yaml_file(path: str | Path) -> Any:
    """The parsed content of a scenario file; every way reading it can fail is one ScenarioError line."""
    path = Path(path)
    try:
        if path.is_dir():
            raise ScenarioError(f"{path}: is a folder, not a scenario file")
        if not path.exists():
            raise ScenarioError(f"{path}: scenario file not found")
        if not path.is_file():
            raise ScenarioError(f"{path}: not a regular file (a scenario is a YAML file)")
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise ScenarioError(f"{path}: {size:,} bytes; a scenario file may have at most "
                                f"{MAX_FILE_BYTES:,} (1 MiB)")
        text = path.read_text()
    except OSError as err:
        raise ScenarioError(f"{path}: cannot read: {err.strerror or err}") from None
    except UnicodeDecodeError:
        raise ScenarioError(f"{path}: not a text file") from None
    try:
        return load_yaml_text(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise ScenarioError(f"{path}: not valid YAML{where}: {getattr(err, 'problem', err)}") from None
    except RecursionError:
        raise ScenarioError(f"{path}: nested too deeply to read") from None
