"""How the command line prints: virsh's table layout, its cell widths and escapes.

virsh (``vsh-table.c``) escapes each cell before it measures it: ASCII control
characters and a backslash followed by ``x`` become ``\\xNN``; a character that
the C library's ``iswprint`` calls unprintable becomes ``\\xff`` per UTF-8
byte (virsh formats a signed char, so every byte above 0x7f prints as ff).
Widths are glib's: 0 for ``g_unichar_iszerowidth``, 2 for
``g_unichar_iswide``, else 1. The same escape is applied to every name this
program prints for a person (tree, info, current, parent, the rich table).
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at start-up
if TYPE_CHECKING:
    from typing import Callable, Dict, Optional, Sequence, TextIO, Tuple

    from rich.console import Console

    from virtsnap.cli.schema import Document

__all__ = ["ClosedStream", "Output", "OutputError", "Stdout", "escape", "escape_message",
           "virsh_table", "width"]


# Caches in plain dicts: functools (lru_cache) would cost more to import than
# a short command takes to run.
_LIBC: "Dict[str, Callable[[int], int]]" = {}
_WIDE_CHARS: Dict[str, Tuple[str, int]] = {}


def _iswprint() -> "Callable[[int], int]":
    if not _LIBC:
        import ctypes
        import ctypes.util

        libc = ctypes.CDLL(ctypes.util.find_library("c"))
        libc.iswprint.argtypes = [ctypes.c_uint32]
        _LIBC["iswprint"] = libc.iswprint
    return _LIBC["iswprint"]


def _wide_char(char: str) -> Tuple[str, int]:
    """The escaped form and width of one non-ASCII character, as virsh has them."""
    known = _WIDE_CHARS.get(char)
    if known is None:
        if len(_WIDE_CHARS) >= 4096:
            _WIDE_CHARS.clear()
        known = _WIDE_CHARS[char] = _measure_wide_char(char)
    return known


def _measure_wide_char(char: str) -> Tuple[str, int]:
    import unicodedata

    code = ord(char)
    if not _iswprint()(code):
        encoded = char.encode("utf-8", "surrogatepass")
        return "\\xff" * len(encoded), 4 * len(encoded)
    if code == 0x00AD:  # soft hyphen: glib gives it a column
        return char, 1
    if (unicodedata.category(char) in ("Mn", "Me", "Cf") or 0x1160 <= code < 0x1200
            or 0xD7B0 <= code < 0xD800 or code == 0x200B):
        return char, 0
    if unicodedata.category(char) != "Cn" and unicodedata.east_asian_width(char) in "WF":
        return char, 2
    return char, 1


def _encode(text: str) -> Tuple[str, int]:
    """``text`` escaped, and its width: virsh's per-character rules (_encode_chars)."""
    if text.isascii() and text.isprintable() and "\\x" not in text:  # nothing to escape
        return text, len(text)
    return _encode_chars(text)


def _encode_chars(text: str) -> Tuple[str, int]:
    out = []
    columns = 0
    for index, char in enumerate(text):
        code = ord(char)
        if code < 0x20 or code == 0x7F or (char == "\\" and text.startswith("x", index + 1)):
            out.append(f"\\x{code:02x}")
            columns += 4
        elif code < 0x80:
            out.append(char)
            columns += 1
        else:
            shown, cells = _wide_char(char)
            out.append(shown)
            columns += cells
    return "".join(out), columns


def escape(text: str) -> str:
    """``text`` with control and unprintable characters shown as virsh's table shows them."""
    if text.isascii() and text.isprintable() and "\\x" not in text:
        return text
    return _encode(text)[0]


def width(text: str) -> int:
    """Terminal columns of ``escape(text)``, measured as virsh measures them."""
    return _encode(text)[1]


def virsh_table(headers: Sequence[str], rows: Sequence[Sequence[str]], header: bool = True) -> str:
    """A table laid out as virsh's vshTable does (the plain-text output).

    Cells start with one space; columns are padded to their widest cell plus
    two spaces (the last column is not padded); the header is underlined
    with dashes.
    """
    table = ([headers] if header else []) + list(rows)
    cells = [[_encode(cell) for cell in row] for row in table]
    widths = [max((row[i][1] for row in cells), default=0) for i in range(len(headers))]
    lines = []
    for number, row in enumerate(cells):
        padded = [text + " " * (widths[i] - columns + 2)
                  for i, (text, columns) in enumerate(row[:-1])]
        lines.append("".join(f" {cell}" for cell in padded + [row[-1][0]]) + "\n")
        if header and number == 0:
            lines.append("-" * sum(column + 3 for column in widths) + "\n")
    return "".join(lines)


def escape_message(text: str) -> str:
    """An error message with its control characters as ``\\xNN`` (the terminal shows them,
    it does not obey them); a line feed stays, as virsh prints libvirt's messages of
    several lines."""
    if text.isprintable():
        return text
    return "".join(f"\\x{ord(char):02x}" if (ord(char) < 0x20 and char != "\n") or ord(char) == 0x7F
                   else char for char in text)


class OutputError(Exception):
    """Writing to stdout failed (closed, or a broken pipe)."""

    def __init__(self, error: OSError) -> None:
        super().__init__(str(error))
        self.error = error


class Stdout:
    """sys.stdout whose write errors are told apart from a command's file errors."""

    def __init__(self, stream: "Optional[TextIO]") -> None:
        self._stream = stream

    def write(self, text: str) -> None:
        try:
            self._stream.write(text)  # type: ignore[union-attr]
        except OSError as exc:
            raise OutputError(exc) from None

    def flush(self) -> None:
        try:
            self._stream.flush()  # type: ignore[union-attr]
        except OSError as exc:
            raise OutputError(exc) from None

    def isatty(self) -> bool:
        return bool(self._stream is not None and self._stream.isatty())

    def fileno(self) -> int:
        return int(self._stream.fileno())  # type: ignore[union-attr]


class ClosedStream(Stdout):
    """Standing in for a closed stdout: every write fails with EBADF."""

    def __init__(self) -> None:
        super().__init__(None)

    def write(self, text: str) -> None:
        import errno
        import os

        raise OutputError(OSError(errno.EBADF, os.strerror(errno.EBADF)))

    def flush(self) -> None:
        pass


class Output:
    """Where and how a command prints: text or JSON, quiet or not."""

    def __init__(self, json_output: bool = False, quiet: bool = False,
                 stream: Optional[Stdout] = None) -> None:
        self.json = json_output
        self.quiet = quiet
        self.stream = stream if stream is not None else Stdout(sys.stdout)

    def write(self, text: str) -> None:
        self.stream.write(text)

    def line(self, text: str) -> None:
        self.write(text + "\n")

    def say(self, text: str) -> None:
        """A confirmation message, silenced by --quiet (and by --json)."""
        if not self.quiet and not self.json:
            self.line(text)

    def note(self, text: str) -> None:
        """A remark for the user on stderr, silenced by --quiet (not by --json)."""
        if not self.quiet:
            sys.stderr.write(text + "\n")

    def end(self) -> None:
        """The blank line virsh prints after a listing unless quiet."""
        if not self.quiet:
            self.write("\n")

    def document(self, value: "Document") -> None:
        import json

        self.write(json.dumps(value, indent=2, ensure_ascii=False) + "\n")

    def error(self, message: str) -> None:
        """One ``error:`` line on stderr, control characters escaped."""
        sys.stderr.write(f"error: {escape_message(message)}\n")
        sys.stderr.flush()

    def warning(self, message: str) -> None:
        """A warning line on stderr (the progress display prints it above itself)."""
        sys.stderr.write(escape_message(message) + "\n")
        sys.stderr.flush()

    @property
    def progress(self) -> bool:
        return not self.quiet and sys.stderr.isatty()

    def table(self, headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
        console = _rich_console() if not self.quiet and self.stream.isatty() else None
        if console is None:
            self.write(virsh_table(headers, rows, header=not self.quiet))
            self.end()
            return
        from rich import box
        from rich.table import Table
        from rich.text import Text

        table = Table(box=box.SIMPLE_HEAD, show_edge=False, header_style="bold")
        for title in headers:
            table.add_column(title, overflow="fold")
        for row in rows:
            table.add_row(*(Text(escape(cell)) for cell in row))  # Text: no markup in names
        console.print(table)


def _rich_console() -> "Optional[Console]":
    try:
        from rich.console import Console
    except ImportError:
        return None
    return Console()
