"""A small, deterministic troff (man macros) to plain-text converter for eval/real.

`man -l` would do, but its bytes depend on the installed groff version; this converter depends
on nothing but Python, so `fetch.py` rebuilds the same .txt everywhere. It lays a page out like
man does (section headings flush left, paragraphs indented, an option's tag on its own line and
its description indented below it) without filling or hyphenating: each paragraph is one line.
Only the man macro set (-man) is handled, which is what the pages used here are written in.
"""

from __future__ import annotations

import re

_FONT = re.compile(r"\\f(?:\[[^\]]*\]|\(..|.)")
_SIZE = re.compile(r"\\s[-+]?\d|\\s\[[^\]]*\]|\\s\(..")
_MOTION = re.compile(r"\\[hvmMwuUdD]'[^']*'|\\m\[[^\]]*\]|\\[ud]")
_NAMED = {
    "lq": "\u201c",
    "rq": "\u201d",
    "aq": "'",
    "dq": '"',
    "oq": "\u2018",
    "cq": "\u2019",
    "em": "\u2014",
    "en": "\u2013",
    "bu": "\u2022",
    "co": "\u00a9",
    "rg": "\u00ae",
    "tm": "\u2122",
    "hy": "-",
    "mi": "-",
    "pl": "+",
    "mu": "\u00d7",
    "->": "\u2192",
    "<-": "\u2190",
    "ga": "`",
    "ti": "~",
    "ha": "^",
    "rs": "\\",
    "sl": "/",
    "ba": "|",
    "de": "\u00b0",
    "+-": "\u00b1",
    "<=": "\u2264",
    ">=": "\u2265",
}
_STRINGS = {"lq": "\u201c", "rq": "\u201d", "Aq": "'", "R": "\u00ae", "Tm": "\u2122"}
_IGNORED = {
    "nh", "hy", "ad", "na", "ne", "ft", "ll", "so", "UC", "ds", "ie", "el", "ps", "vs", "ta",
    "tr", "cs", "ss", "lf", "PD", "pc", "nr", "rm", "am", "DT", "AT", "mso", "ev", "ig", "ti",
    "hw", "bp", "fl", "\\}", "}", "cu", "ul", "ce", "in", "OP", "ME", "MT", "UE", "UR", "ns",
}  # fmt: skip
_ALTERNATING = {"BR", "RB", "BI", "IB", "IR", "RI"}
_SINGLE_FONT = {"B", "I", "SM", "SB"}


def unescape(text: str) -> str:
    """Resolve troff escapes in running text; fonts and sizes are dropped."""
    text = text.replace("\\\\", "\x00")  # a literal backslash, restored at the end
    text = re.sub(r'\\".*$', "", text)
    text = _FONT.sub("", text)
    text = _SIZE.sub("", text)
    text = _MOTION.sub("", text)
    text = re.sub(
        r"\\\*(?:\[([^\]]*)\]|\((..)|(.))",
        lambda m: _STRINGS.get(m.group(1) or m.group(2) or m.group(3), ""),
        text,
    )
    text = re.sub(
        r"\\(?:\[([^\]]*)\]|\((..))",
        lambda m: _NAMED.get(m.group(1) or m.group(2), ""),
        text,
    )
    text = text.replace("\\-", "-").replace("\\e", "\\").replace("\\ ", " ").replace("\\~", " ")
    text = text.replace("\\0", " ").replace("\\t", "\t").replace("\\.", ".").replace("\\'", "'")
    text = text.replace("\\`", "`")
    text = re.sub(r"\\[&^|,/:%c)]", "", text)
    text = re.sub(r"\\n(?:\[[^\]]*\]|\(..|.)", "", text)  # number registers
    text = text.replace("\\{", "").replace("\\}", "")
    text = text.replace("\\", "")  # any escape left is a formatting one
    return text.replace("\x00", "\\")


def _arguments(rest: str) -> list[str]:
    """Macro arguments: space-separated, double quotes group ("" is a literal quote)."""
    args: list[str] = []
    for quoted, plain in re.findall(r'"((?:[^"]|"")*)"?|(\S+)', rest):
        args.append(quoted.replace('""', '"') if quoted or not plain else plain)
    return args


class _Page:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.paragraph: list[str] = []
        self.indent = 0  # .RS depth in steps, added to the section indent
        self.body = 4  # indent of running text under a section heading
        self.tagged = 0  # extra indent of a .TP/.IP body
        self.fill = True
        self.expect_tag = False

    def prefix(self) -> str:
        return " " * (self.body + self.indent * 4 + self.tagged)

    def flush(self) -> None:
        if self.paragraph:
            text = " ".join(part for part in self.paragraph if part)
            text = re.sub(r"[ \t]+", " ", text).strip()
            if text:
                self.lines.append(self.prefix() + text)
            self.paragraph = []

    def blank(self) -> None:
        self.flush()
        if self.lines and self.lines[-1] != "":
            self.lines.append("")

    def text(self, words: str) -> None:
        if self.expect_tag:  # the line after .TP is the tag, on a line of its own
            self.flush()
            self.tagged = 0
            self.lines.append(self.prefix() + words.strip())
            self.tagged = 4
            self.expect_tag = False
        elif self.fill:
            self.paragraph.append(words.strip())
        else:
            self.lines.append((self.prefix() + words).rstrip())


def man_to_text(source: str) -> str:
    """The page's text, laid out as described in the module docstring."""
    page = _Page()
    in_macro_definition = False
    in_table = False
    table_format = False
    for raw in source.splitlines():
        line = raw.rstrip()
        if in_macro_definition:
            in_macro_definition = line != ".."
            continue
        if line.startswith(".TS"):
            page.blank()
            in_table, table_format = True, True
            continue
        if in_table:
            if line.startswith(".TE"):
                in_table = False
                page.blank()
            elif table_format:
                table_format = not line.endswith(".")
            elif line.startswith(("T{", "T}")) or line.startswith("."):
                continue
            else:
                cells = [unescape(cell).strip() for cell in line.split("\t")]
                page.lines.append(page.prefix() + "  ".join(c for c in cells if c))
            continue
        if line.startswith(('.\\"', "'\\\"", '.\\"')) or line in (".", "'"):
            continue
        if line.startswith((".if n \\{\\", ".if n \\{")):
            line = line.split("\\{", 1)[1].lstrip("\\").strip()
            if not line:
                continue
        elif line.startswith(".if ") or line.startswith(".\\}"):
            continue
        if line.startswith((".", "'")) and len(line) > 1:
            name, _, rest = line[1:].strip().partition(" ")
            _macro(page, name, rest.strip())
            in_macro_definition = name in ("de", "de1", "am")
            continue
        if not line.strip():
            page.blank()
            continue
        page.text(unescape(line))
    page.flush()
    while page.lines and page.lines[-1] == "":
        page.lines.pop()
    return "\n".join(page.lines) + "\n"


def _macro(page: _Page, name: str, rest: str) -> None:
    args = _arguments(rest)
    if name == "TH":
        page.flush()
        title = f"{unescape(args[0])}({args[1]})" if len(args) > 1 else unescape(rest)
        page.lines.append(title)
        page.lines.append("")
    elif name in ("SH", "SS"):
        page.blank()
        page.indent, page.tagged, page.expect_tag = 0, 0, False
        heading = unescape(" ".join(args))
        page.lines.append(("" if name == "SH" else "  ") + heading)
        page.body = 4 if name == "SH" else 4
    elif name in ("PP", "LP", "P", "sp"):
        page.blank()
        if name != "sp":
            page.tagged = 0
    elif name == "br":
        page.flush()
    elif name == "TP":
        page.blank()
        page.expect_tag = True
    elif name in ("IP", "HP"):
        page.blank()
        tag = unescape(args[0]) if args else ""
        page.tagged = 0
        if tag:
            page.lines.append(page.prefix() + tag)
        page.tagged = 4
    elif name == "RS":
        page.flush()
        page.indent += 1
    elif name == "RE":
        page.flush()
        page.indent = max(0, page.indent - 1)
    elif name == "nf" or name == "EX":
        page.flush()
        page.fill = False
    elif name == "fi" or name == "EE":
        page.flush()
        page.fill = True
    elif name in _ALTERNATING:
        page.text("".join(unescape(a) for a in args))
    elif name in _SINGLE_FONT or name in ("UR", "MT"):
        page.text(unescape(" ".join(args)))
    # everything else (_IGNORED and unknown requests) only formats: dropped
