"""The two ways netcalc refuses input: a wrong spec (exit 1) or wrong usage (exit 2)."""

from __future__ import annotations

import difflib

Pos = tuple[int, int]  # 1-based (line, column)


class SpecError(Exception):
    """Something in the spec is wrong; ``pos`` points at the layer entry or key."""

    def __init__(self, message: str, pos: Pos | None = None):
        super().__init__(message)
        self.message = message
        self.pos = pos

    def render(self, filename: str) -> str:
        from .escape import printable

        line, col = self.pos or (1, 1)  # one line whatever the file name or message holds (no ESC, no newline)
        return printable(f"{filename}:{line}:{col}: error: {self.message}")


class UsageError(Exception):
    """The command line is wrong."""


def did_you_mean(word: str, choices, n: int = 1) -> str:
    """`` (did you mean 'X'?)`` for the closest choice, or an empty string."""
    lowered = {c.lower(): c for c in choices}
    close = difflib.get_close_matches(word.lower(), list(lowered), n=n, cutoff=0.6)
    if not close:
        return ""
    return " (did you mean " + " or ".join(repr(lowered[c]) for c in close) + "?)"


def show(value) -> str:
    """A spec value for an error message; containers by size only (a YAML alias bomb must
    never be printed)."""
    if isinstance(value, (list, dict)):
        return f"a {'list' if isinstance(value, list) else 'mapping'} of {len(value)} items"
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 80 else text[:77] + "..."
