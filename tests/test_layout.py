"""Plain text laid out as a man page: a Section per heading and per option entry."""

from __future__ import annotations

import time
from pathlib import Path

from kbqa import loaders
from kbqa.loaders.layout import split_layout

# As man(1) and eval/real/mantext.py lay a page out: headings flush left, each option's tag
# indented, its description deeper; values of one option nested one level further.
MANUAL = """ORRERY(1)

NAME
    orrery - 天象仪控制程序

选项 OPTIONS

    下面的选项可以组合使用。

    -c, --count
        只打印匹配的节点总数。

    --mode=MODE
        选择运行模式，可以是以下之一：

        safe
            只读运行，不改动任何节点。

        fast
            跳过校验，速度最快。

    The options below need a running daemon. Its syntax is

        orrery --attach PID

    -q, --quiet
        Suppress all normal output. The exit status is 0 on success.

EXIT STATUS
    0 on success, 2 on error.
"""


def test_each_option_and_each_nested_value_is_a_section_under_its_heading():
    sections = split_layout(MANUAL)
    assert sections is not None
    by_heading = {s.heading: s.text for s in sections}
    assert by_heading["选项 OPTIONS > -c, --count"] == (
        "    -c, --count\n        只打印匹配的节点总数。"
    )
    assert "跳过校验" in by_heading["选项 OPTIONS > --mode=MODE > fast"]
    assert "跳过校验" not in by_heading["选项 OPTIONS > --mode=MODE"]
    assert by_heading["选项 OPTIONS > -q, --quiet"].startswith("    -q, --quiet\n")
    # A heading's own line opens its first Section; the lines above the first heading too.
    assert by_heading["NAME"].startswith("ORRERY(1)\nNAME\n")
    assert by_heading["EXIT STATUS"] == "EXIT STATUS\n    0 on success, 2 on error."
    # A sentence that introduces an indented example is prose, not an option's tag.
    assert not any(h.endswith("Its syntax is") for h in by_heading if h)


def test_no_line_is_lost_or_repeated_and_the_order_holds():
    sections = split_layout(MANUAL)
    kept = [line for s in sections for line in s.text.split("\n") if line.strip()]
    assert kept == [line for line in MANUAL.split("\n") if line.strip()]


def test_text_without_the_layout_stays_one_section(tmp_path: Path):
    prose = "第一段。没有标题。\n\n第二段，也没有缩进。\n    只是一行缩进的文字。\n"
    assert split_layout(prose) is None
    path = tmp_path / "notes.txt"
    path.write_text(prose, encoding="utf-8")
    assert [(s.heading, s.text.strip()) for s in loaders.load(path)] == [(None, prose.strip())]


def test_a_txt_man_page_loads_as_its_entries(tmp_path: Path):
    path = tmp_path / "orrery.1.txt"
    path.write_text(MANUAL, encoding="utf-8")
    headings = [s.heading for s in loaders.load(path)]
    assert "选项 OPTIONS > --mode=MODE > safe" in headings
    assert headings.count("EXIT STATUS") == 1


def test_linear_on_hostile_layouts():
    # 40,000 alternating tag/description pairs and a staircase of ever deeper lines.
    pairs = "HEAD\n  intro\nOPTIONS\n" + "".join(f"    t{i}\n        d{i}\n" for i in range(40_000))
    stairs = "A\n  x\nB\n" + "".join(" " * (i % 500) + "x\n" for i in range(40_000))
    for text in (pairs, stairs):
        started = time.perf_counter()
        sections = split_layout(text)
        assert time.perf_counter() - started < 5
        assert sections is not None
        kept = sum(1 for s in sections for line in s.text.split("\n") if line.strip())
        assert kept == sum(1 for line in text.split("\n") if line.strip())
