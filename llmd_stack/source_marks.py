"""Point at the place in a stack file a problem is about: `Pulumi.x.yaml:31:8: <problem>`, the line, a caret.

YAML syntax errors carry their own mark; a config problem (`models[0].replicas: ...`) is found by walking the
file's node tree along its key path, so the line shown is the one to edit.
"""

from __future__ import annotations

import functools
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
    plain = _plain_words(exc)
    if plain:
        return plain
    problem = exc.problem or "cannot be read"
    if "'\\t'" in problem:
        problem = "a tab character: YAML indents with spaces only"
    context = ""
    if exc.context and exc.context_mark is not None and exc.context_mark is not exc.problem_mark:
        context = f" ({exc.context} started at line {exc.context_mark.line + 1})"
    mark = exc.problem_mark or exc.context_mark
    return f"not valid YAML: {problem}{context}", Mark.of(mark) if mark else None


def _plain_words(exc: yaml.MarkedYAMLError) -> tuple[str, Mark] | None:
    """The common indentation mistakes PyYAML reports in parser terms (`expected <block end>, but found '?'`), said
    in the file's terms at the line to edit; PyYAML's own words stay at the end, to search for. None for others."""
    problem, context, at = exc.problem or "", exc.context or "", exc.problem_mark
    if at is None:
        return None
    start = f"line {exc.context_mark.line + 1}" if exc.context_mark is not None else "above"
    pyyaml = f" (PyYAML: {problem})"
    if problem.startswith("expected <block end>") and "block collection" in context:
        return (f"not valid YAML: this line is lined up with the list items (`- `) that start at {start} but is not "
                "one: indent it like the keys of the item above it, or start it with `- `" + pyyaml, Mark.of(at))
    if problem.startswith("expected <block end>") and problem.endswith("found '-'"):
        return (f"not valid YAML: a list item (`- `) among the keys of the mapping that starts at {start}: a list "
                "belongs under its key, indented deeper than the key" + pyyaml, Mark.of(at))
    if problem.startswith("expected <block end>"):
        return (f"not valid YAML: this line is indented differently from the keys above it (the mapping that starts "
                f"at {start}): the keys of one mapping, and the `- ` items of one list, must line up, with the same number "
                "of spaces" + pyyaml, Mark.of(at))
    if problem == "mapping values are not allowed here":
        line = (at.buffer or "").split("\n")[at.line] if getattr(at, "buffer", None) else ""
        if ": " in line[: at.column].strip():  # `key: value: more` on one line
            return ("not valid YAML: a second `: ` on this line: a value that holds `: ` must be quoted "
                    "(key: \"a: b\")" + pyyaml, Mark.of(at))
        return ("not valid YAML: this key is indented deeper than the key above it, which already has a value on its "
                "own line: line the two keys up (or, if the line above should hold a mapping, leave its value "
                "empty)" + pyyaml, Mark.of(at))
    if problem == "could not find expected ':'" and exc.context_mark is not None:
        # The key without its colon is where the scan started, not where it gave up.
        return ("not valid YAML: this line is not `key: value` (it has no `:`): add the colon, or indent it under its "
                "key if it continues the value above" + pyyaml, Mark.of(exc.context_mark))
    return None


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


@functools.lru_cache(maxsize=8)  # every problem's excerpt reads the same file
def secret_spans(text: str, secret_keys: tuple[str, ...]) -> tuple[tuple[int, int, int, int], ...]:
    """(line, column, end line, end column), 0-based, of every value under a secret key or a `secure:` key, however
    it is written (qualified or not, quoted or not, block or flow, over several lines). Read token by token, so a file
    with a syntax error is covered up to the error, and a secret value the error cuts short runs to the end."""
    names = {*secret_keys, "secure"}
    tokens: list = []
    try:
        for token in yaml.scan(text, Loader=yaml.SafeLoader):
            tokens.append(token)
    except yaml.YAMLError:
        pass
    end_of_text = (len(text.splitlines()) + 1, 0)
    spans = []
    for i, token in enumerate(tokens[:-2]):
        key = tokens[i + 1]
        if not (isinstance(token, yaml.KeyToken) and isinstance(key, yaml.ScalarToken)):
            continue
        if str(key.value).rsplit(":", 1)[-1] not in names:
            continue
        start = (key.end_mark.line, key.end_mark.column)
        following = next((t for t in tokens[i + 2:] if isinstance(t, (yaml.KeyToken, yaml.BlockEndToken,
                                                                          yaml.FlowMappingEndToken))), None)
        end = (following.start_mark.line, following.start_mark.column) if following else end_of_text
        spans.append((*start, *end))
    return tuple(spans)


def _masked(line: str, row: int, spans: tuple[tuple[int, int, int, int], ...], secret_keys: tuple[str, ...]) -> str:
    """The line with every character inside a secret span, and anything after a secret key's name (for what the
    tokens could not reach, e.g. a line the error is on), replaced by one `<redacted>` per run."""
    hidden = [False] * len(line)
    for line0, col0, line1, col1 in spans:
        if line0 <= row <= line1:
            first = col0 if row == line0 else 0
            last = col1 if row == line1 else len(line)
            for i in range(first, min(last, len(line))):
                hidden[i] = True
    for name in secret_keys:
        found = line.find(name)
        if found >= 0:
            colon = line.find(":", found + len(name))
            for i in range((colon + 1) if colon >= 0 else found + len(name), len(line)):
                hidden[i] = True
    out, i = [], 0
    while i < len(line):
        if hidden[i]:
            j = i
            while j < len(line) and hidden[j]:
                j += 1
            run = line[i:j]
            out.append(run if not run.strip() else run[: len(run) - len(run.lstrip())] + "<redacted>")
            i = j
        else:
            out.append(line[i])
            i += 1
    return "".join(out)


def excerpt(text: str, mark: Mark, secret_keys: tuple[str, ...] = ()) -> str:
    """The marked line and a caret under the column, numbered like a compiler's; no secret value is ever echoed
    (a plain token where a `secure:` one belongs, a ciphertext)."""
    lines = text.splitlines()
    if not 1 <= mark.line <= len(lines):
        return ""
    row = mark.line - 1
    source = _masked(lines[row], row, secret_spans(text, secret_keys), secret_keys).replace("\t", " ")
    gutter = f"{mark.line:5d} | "
    return f"{gutter}{source}\n{' ' * (len(gutter) - 2)}| {' ' * (mark.column - 1)}^"
