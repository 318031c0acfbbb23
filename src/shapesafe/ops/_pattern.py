"""The reshape pattern language: ``"batch (h w) -> batch h w"``.

A pattern names every axis on both sides; parentheses group (merge) axes; ``...`` stands
for any number of axes. Both sides must name the same axes in the same order -- a
reshape can merge and split, never move, axes (moving them would mix items). Parsed
patterns are cached: the per-call cost of a pattern reshape is one dict lookup.
"""

from __future__ import annotations

import functools
import re

from shapesafe._format import error
from shapesafe.errors import AnnotationError

# one side of a pattern: groups of names, each (names, written in parentheses)
Side = tuple[tuple[tuple[str, ...], bool], ...]

ELLIPSIS = "..."


def _pattern_error(pattern: str, problem: str, hint: str | None = None) -> AnnotationError:
    return error(
        AnnotationError,
        problem,
        function="reshape",
        argument="pattern",
        got=repr(pattern),
        hint=hint,
    )


_TOKEN = re.compile(r"\s*(\.\.\.|\(|\)|[A-Za-z_][A-Za-z0-9_]*|\S+)")


def _tokenize_side(pattern: str, side: str) -> Side:
    """Parse one side of a pattern into (names, grouped) pairs."""
    groups: list[tuple[tuple[str, ...], bool]] = []
    current: list[str] | None = None
    pos = 0
    side = side.strip()
    while pos < len(side):
        m = _TOKEN.match(side, pos)
        if m is None:  # pragma: no cover - the regex matches any non-space run
            break
        tok = m.group(1)
        pos = m.end()
        if tok == "(":
            if current is not None:
                raise _pattern_error(pattern, "nested parentheses")
            current = []
        elif tok == ")":
            if current is None:
                raise _pattern_error(pattern, "unbalanced `)`")
            groups.append((tuple(current), True))
            current = None
        elif tok == ELLIPSIS or tok.isidentifier():
            if current is None:
                groups.append(((tok,), False))
            else:
                current.append(tok)
        else:
            raise _pattern_error(
                pattern,
                f"cannot read {tok!r}; axis names must be identifiers",
                hint="sizes go in keyword arguments, e.g. reshape(x, 'b (h w) -> b h w', h=4)",
            )
    if current is not None:
        raise _pattern_error(pattern, "unbalanced `(`")
    return tuple(groups)


@functools.lru_cache(maxsize=256)
def parse_pattern(
    pattern: str,
) -> tuple[Side, Side]:
    if pattern.count("->") != 1:
        raise _pattern_error(
            pattern,
            "must have the form 'left -> right'",
            hint="e.g. 'batch h w -> batch (h w)'",
        )
    left_text, right_text = pattern.split("->")
    left = _tokenize_side(pattern, left_text)
    right = _tokenize_side(pattern, right_text)
    for side_name, side in (("left", left), ("right", right)):
        names = [n for g, _ in side for n in g]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise _pattern_error(pattern, f"{side_name} side repeats {', '.join(sorted(dup))}")
    for g, grouped in left:
        if grouped and ELLIPSIS in g:
            raise _pattern_error(pattern, "`...` cannot be split on the left side")
    lnames = [n for g, _ in left for n in g]
    rnames = [n for g, _ in right for n in g]
    if set(lnames) != set(rnames):
        only_l = [n for n in lnames if n not in rnames]
        only_r = [n for n in rnames if n not in lnames]
        parts = []
        if only_l:
            parts.append(f"{', '.join(only_l)} only on the left")
        if only_r:
            parts.append(f"{', '.join(only_r)} only on the right")
        raise _pattern_error(pattern, f"both sides must name the same axes ({'; '.join(parts)})")
    if lnames != rnames:
        raise _pattern_error(
            pattern,
            f"reorders axes ({' '.join(lnames)} -> {' '.join(rnames)}); a reshape cannot "
            "move axes, it would mix them",
            hint="permute first (x.permute(...) / np.transpose), or use einops.rearrange, "
            "then reshape",
        )
    return left, right
