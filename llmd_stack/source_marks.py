"""Point at the place in a stack file a problem is about: `Pulumi.x.yaml:31:8: <problem>`, the line, a caret.

YAML syntax errors carry their own mark; a config problem (`models[0].replicas: ...`) is found by walking the
file's node tree along its key path, so the line shown is the one to edit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import yaml

_SEGMENT = re.compile(r"\[(\d+)\]|\.?([^.\[\]]+)")


@dataclass(frozen=True)
class Mark:
    line: int  # 1-based
    column: int  # 1-based

    @classmethod
    def of(cls, mark: yaml.Mark) -> "Mark":
        return cls(mark.line + 1, mark.column + 1)


def yaml_error_text(exc: yaml.YAMLError) -> tuple[str, Mark | None]:
    """A YAML error as one sentence and where it is: the problem first, then what was being read."""
    if not isinstance(exc, yaml.MarkedYAMLError):
        return f"not valid YAML: {exc}", None
    problem = exc.problem or "cannot be read"
    if "'\\t'" in problem:
        problem = "a tab character: YAML indents with spaces only"
    context = ""
    if exc.context and exc.context_mark is not None and exc.context_mark is not exc.problem_mark:
        context = f" ({exc.context} started at line {exc.context_mark.line + 1})"
    mark = exc.problem_mark or exc.context_mark
    return f"not valid YAML: {problem}{context}", Mark.of(mark) if mark else None


def _segments(path: str) -> list[str | int]:
    return [int(index) if index else key for index, key in _SEGMENT.findall(path)]


def _config_node(root: yaml.Node, key: str, project: str) -> tuple[yaml.Node, yaml.Node] | None:
    """(key node, value node) of a stack file's config key, written qualified or not."""
    if not isinstance(root, yaml.MappingNode):
        return None
    for top_key, top_value in root.value:
        if top_key.value == "config" and isinstance(top_value, yaml.MappingNode):
            for key_node, value_node in top_value.value:
                if key_node.value in (key, f"{project}:{key}"):
                    return key_node, value_node
    return None


def locate(text: str, path: str, project: str) -> Mark | None:
    """Where a problem's key path is in the file: the deepest key of it that exists (a missing key points at its
    parent), or None when the file does not hold it (a default, or a key set on the command line)."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return None
    if root is None or not path:
        return None
    whole = _config_node(root, path, project)  # a raw key that holds dots or colons
    if whole:
        return Mark.of(whole[0].start_mark)
    segments = _segments(path)
    if not segments or not isinstance(segments[0], str):
        return None
    found = _config_node(root, segments[0], project)
    if not found:
        return None
    here, node = found
    for segment in segments[1:]:
        if isinstance(segment, int) and isinstance(node, yaml.SequenceNode) and segment < len(node.value):
            here = node = node.value[segment]
        elif isinstance(segment, str) and isinstance(node, yaml.MappingNode):
            match = next(((k, v) for k, v in node.value if k.value == segment), None)
            if match is None:
                break
            here, node = match
        else:
            break
    return Mark.of(here.start_mark)


def excerpt(text: str, mark: Mark, secret_keys: tuple[str, ...] = ()) -> str:
    """The marked line and a caret under the column, numbered like a compiler's; the value of a secret key (a
    plain token where a `secure:` one belongs) is never echoed."""
    lines = text.splitlines()
    if not 1 <= mark.line <= len(lines):
        return ""
    source = lines[mark.line - 1].replace("\t", " ")
    if secret_keys:
        names = "|".join(re.escape(k) for k in secret_keys)
        source = re.sub(rf"^(\s*(?:[\w.-]+:)?(?:{names})\s*:).*$", r"\1 <redacted>", source)
    source = re.sub(r"(\bsecure\s*:).*$", r"\1 <redacted>", source)
    gutter = f"{mark.line:5d} | "
    return f"{gutter}{source}\n{' ' * (len(gutter) - 2)}| {' ' * (mark.column - 1)}^"
