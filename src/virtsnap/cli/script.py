"""virsh's command strings: ``'snapshot-info d s1 ; snapshot-info d s2'`` as word lists.

The rules of virsh's string parser: words end at blanks; ``;`` or a newline
ends a command; a word starting with ``#`` comments out the rest of its line;
``'...'`` quotes literally, ``"..."`` quotes with ``\\`` escaping, a bare
``\\`` escapes the next character.
"""

from __future__ import annotations

from virtsnap.cli.grammar import GrammarError

__all__ = ["split_commands"]


def split_commands(text: str) -> "list[list[str]]":
    """The commands in ``text``, each as its words; empty commands are left out."""
    commands: "list[list[str]]" = []
    words: "list[str]" = []
    index = 0
    end = len(text)
    while True:
        while index < end and (text[index] in " \t" or text.startswith("\\\n", index)):
            index += 2 if text[index] == "\\" else 1
        if index >= end:
            break
        if text[index] in ";\n" or text[index] == "#":
            if text[index] == "#":
                newline = text.find("\n", index)
                index = end if newline < 0 else newline
            index += 1
            if words:
                commands.append(words)
            words = []
            continue
        word: "list[str]" = []
        single = double = False
        while index < end:
            char = text[index]
            if not single and not double and char in " \t;\n":
                break
            if not double and char == "'":
                single = not single
                index += 1
                continue
            if not single and char == "\\":
                index += 1
                if index >= end:
                    raise GrammarError("dangling \\")
                char = text[index]
            elif not single and char == '"':
                double = not double
                index += 1
                continue
            word.append(char)
            index += 1
        if double:
            raise GrammarError('missing "')
        words.append("".join(word))
    if words:
        commands.append(words)
    return commands
