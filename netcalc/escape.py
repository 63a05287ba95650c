"""Input text on its way out: the one place that makes a spec's words safe for each medium.

Layer names, file names, symbol names and spec titles come from the user and end up in generated
Python (``export``, which ``check`` runs), in SVG (``draw``) and on the terminal. Each medium gets
one function here; nothing else writes user text into those media.

* :func:`py_str`: a Python string literal that is always one token, whatever the text.
* :func:`py_comment`: text for a ``#`` comment that can never end the comment's line.
* :func:`printable`: text for a terminal, CSV or Markdown cell with no control character
  (no ESC sequence reaches the terminal, no newline breaks a row).
* :func:`xml_text` / :func:`xml_attr`: SVG text and attribute values; characters XML 1.0 forbids
  are written as visible escapes, since an XML parser refuses them even as character references.
"""

from __future__ import annotations

from xml.sax.saxutils import escape as _xml_escape


def _escaped(c: str) -> str:
    code = ord(c)
    if c == "\n":
        return "\\n"
    if c == "\t":
        return "\\t"
    if c == "\r":
        return "\\r"
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def printable(text) -> str:
    """``text`` with every non-printable character (control characters, line and paragraph
    separators, unassigned code points) written as a Python-style escape such as ``\\x1b``."""
    text = str(text)
    if text.isprintable():  # the common case costs one C call
        return text
    return "".join(c if c.isprintable() else _escaped(c) for c in text)


def py_comment(text) -> str:
    """Text that stays inside one ``#`` comment: Python ends a comment only at a line break, and
    every line-breaking character (\\n, \\r, \\f, \\v, \\x1c-\\x1e, \\x85, \\u2028, \\u2029) is
    non-printable, so :func:`printable` escapes it; NUL, which Python refuses in source, too."""
    return printable(text)


def py_str(text) -> str:
    """A double-quoted Python string literal whose value is ``text``."""
    text = str(text)
    out = []
    for c in text:
        if c == "\\":
            out.append("\\\\")
        elif c == '"':
            out.append('\\"')
        elif not c.isprintable():
            out.append(_escaped(c))
        else:
            out.append(c)
    return '"' + "".join(out) + '"'


def py_docstring(text) -> str:
    """The body of a one-line triple-quoted docstring (without its quotes)."""
    return py_str(text)[1:-1]


def _xml_safe(c: str) -> bool:
    code = ord(c)
    return (code >= 0x20 or c in "\t\n\r") and not 0xD800 <= code <= 0xDFFF and code not in (0xFFFE, 0xFFFF)


def _xml_clean(text) -> str:
    text = str(text)
    if all(map(_xml_safe, text)):
        return text
    return "".join(c if _xml_safe(c) else _escaped(c) for c in text)


def xml_text(text) -> str:
    """Character data for SVG text: ``& < >`` escaped, and no character XML 1.0 forbids."""
    return _xml_escape(_xml_clean(text))


_ATTR_ENTITIES = {'"': "&quot;", "'": "&#39;", "\n": "&#10;", "\r": "&#13;", "\t": "&#9;"}


def xml_attr(text) -> str:
    """A value for a quoted SVG attribute: as :func:`xml_text`, and quotes (which would end the
    value and start an attribute such as ``onload``) and whitespace (which attribute
    normalisation would change) written as character references."""
    return _xml_escape(_xml_clean(text), _ATTR_ENTITIES)


def printable_lines(text: str) -> str:
    """Output for a terminal: lines kept, every other non-printable character escaped, so no
    escape sequence from a spec (a title, say) reaches the terminal."""
    if text.isprintable():
        return text
    return "\n".join(map(printable, text.split("\n")))
