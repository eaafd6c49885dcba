"""Tables kept as tables: PDF (ruled and unruled), DOCX and HTML tables become table Sections
with their header, the splitter repeats the header in every chunk and never cuts a row, and a
question about a cell retrieves the row, cited as a table."""

from __future__ import annotations

from pathlib import Path

import pytest

from kbqa import loaders
from kbqa.splitter import ChineseAwareSplitter
from kbqa.text.table import MAX_CELL_CHARS, lead_line, markdown_table, normalise_rows
from kbqa.types import TABLE, TEXT, Section
from tests import docgen
from tests.kb.conftest import FAST_EMBEDDER, make_kb
from tests.tablegen import write_contents_pdf, write_table_pdf, write_two_column_pdf

OPTIONS = [
    ["Option", "Default", "Meaning"],
    ["--level", "6", "compression level"],
    [
        "--threads",
        "1",
        "worker threads used while compressing large inputs, which may be many; "
        "set it to 0 to use one thread per core",
    ],
    ["-k", "off", "keep the input files"],
]


def tables(sections: list[Section]) -> list[Section]:
    return [s for s in sections if s.kind == TABLE]


@pytest.mark.parametrize("ruled", [True, False], ids=["ruled", "unruled"])
def test_pdf_table_rows_keep_their_header_and_wrapped_cells(tmp_path: Path, ruled: bool) -> None:
    path = write_table_pdf(
        tmp_path / "options.pdf",
        OPTIONS,
        ruled=ruled,
        before="The options are listed below.",
        after="Options can be combined.",
        pages_before=1,
    )
    sections = loaders.load(path)
    assert [(s.kind, s.page) for s in sections] == [
        (TEXT, 1),
        (TEXT, 2),
        (TABLE, 2),
        (TEXT, 2),
    ]
    table = sections[2]
    assert table.rows == tuple(tuple(row) for row in OPTIONS)  # the wrapped cell joined
    assert table.table == "Table 1"
    assert table.heading == "The options are listed below."
    assert table.text == markdown_table(table.rows)
    assert sections[1].text == "The options are listed below."
    assert sections[3].text == "Options can be combined."


def test_the_sentence_above_a_table_is_its_lead() -> None:
    assert lead_line("Intro.\nSome prose. The following files must be in /etc:") == (
        "The following files must be in /etc:"
    )
    assert lead_line("前言。下表列出参数。") == "下表列出参数。"
    assert lead_line("x" * 300) is None and lead_line("") is None
    assert lead_line("| a | b |") is None


def test_pdf_chinese_table(tmp_path: Path) -> None:
    rows = [
        ["参数", "默认值", "说明"],
        ["压缩级别", "6", "从 1 到 9"],
        ["线程数", "1", "压缩时使用的线程"],
        ["保留输入", "否", "保留输入文件"],
    ]
    path = write_table_pdf(tmp_path / "参数.pdf", rows, ruled=False, before="下表列出参数。")
    (table,) = tables(loaders.load(path))
    assert table.rows == tuple(tuple(row) for row in rows)


def test_prose_columns_and_contents_pages_are_not_tables(tmp_path: Path) -> None:
    two = write_two_column_pdf(
        tmp_path / "paper.pdf",
        "The left column discusses compression in some depth. " * 25,
        "The right column discusses archives and their formats. " * 25,
    )
    contents = write_contents_pdf(
        tmp_path / "contents.pdf", [(f"{n} Chapter number {n}", 7 * n) for n in range(1, 15)]
    )
    for path in (two, contents):
        sections = loaders.load(path)
        assert sections and tables(sections) == [], path.name


def test_docx_and_html_tables(tmp_path: Path) -> None:
    import docx

    document = docx.Document()
    document.add_heading("配置", level=1)
    document.add_paragraph("下表列出默认值。")
    table = document.add_table(rows=3, cols=2)
    for r, row in enumerate([["项目", "默认值"], ["端口", "8080"], ["超时", "30 秒"]]):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    document.save(str(tmp_path / "config.docx"))
    sections = loaders.load(tmp_path / "config.docx")
    (found,) = tables(sections)
    assert found.rows == (("项目", "默认值"), ("端口", "8080"), ("超时", "30 秒"))
    # The sentence above says what the table lists: it heads the table (embedded, and BM25).
    assert (found.heading, found.table) == ("配置 > 下表列出默认值。", "Table 1")

    html = docgen.write_html(
        tmp_path / "page.html",
        "<h1>Limits</h1><table><caption>Upload limits</caption>"
        "<tr><th>Item</th><th>Limit</th></tr><tr><td>file | size</td><td>50 MB</td></tr>"
        "<tr><td>files</td><td>20</td></tr></table>"
        # One column: laid out as a table, read as text.
        "<table><tr><td>Contact the office.</td></tr><tr><td>Thank you.</td></tr></table>",
    )
    sections = loaders.load(html)
    (found,) = tables(sections)
    assert found.rows == (("Item", "Limit"), ("file \\| size", "50 MB"), ("files", "20"))
    assert found.table == "Table 1: Upload limits"
    assert found.heading == "Limits > Upload limits"
    assert "Contact the office.\nThank you." in sections[-1].text


def test_table_chunks_repeat_the_header_and_never_cut_a_row(minilm_tokenizer) -> None:
    header = ["Option", "Default", "Meaning"]
    body = [
        [f"--option-{n}", str(n), f"what option {n} changes, in a few words"] for n in range(60)
    ]
    body[7][2] = "x" * (3 * MAX_CELL_CHARS)  # one giant cell: cut, and its row stays whole
    rows = tuple(normalise_rows([header, *body]))
    assert rows[8][2].endswith("…") and len(rows[8][2]) == MAX_CELL_CHARS

    def count(text: str) -> int:
        return len(minilm_tokenizer.encode(text, add_special_tokens=False))

    splitter = ChineseAwareSplitter(128, 16, count)
    section = Section(markdown_table(rows), page=3, kind=TABLE, rows=rows, table="Table 4")
    chunks = splitter.split([section], source="opts.pdf", path="opts.pdf")
    assert len(chunks) > 5
    seen: list[str] = []
    for chunk in chunks:
        lines = chunk.text.split("\n")
        assert lines[:2] == ["| Option | Default | Meaning |", "| --- | --- | --- |"]
        assert (chunk.kind, chunk.table, chunk.page) == (TABLE, "Table 4", 3)
        assert chunk.metadata()["kind"] == TABLE and chunk.metadata()["table"] == "Table 4"
        seen.extend(lines[2:])
        if len(lines) > 3:  # only a row that alone is over size makes a chunk over size
            assert count(chunk.text) <= 128
    assert seen == [f"| {' | '.join(row)} |" for row in rows[1:]]  # each row once, whole


def test_a_cell_question_retrieves_the_row_and_cites_the_table(kbqa_home: Path) -> None:
    docs = kbqa_home / "docs"
    docs.mkdir()
    rows = [["Setting", "Default", "Meaning"]]
    rows += [
        [f"cache.tier{n}.ttl", f"{n * 15} s", f"lifetime of tier {n} entries"] for n in range(40)
    ]
    rows[23][0] = "retry.backoff.max"
    rows[23][1:] = ["90 s", "the longest wait between two retries"]
    write_table_pdf(docs / "settings.pdf", rows, before="All settings and their defaults.")
    kb = make_kb(kbqa_home, embedder=FAST_EMBEDDER)
    report = kb.add([docs])
    assert report.failed == []
    hits = kb.search("What is the default of retry.backoff.max?", k=3)
    top = hits[0]
    assert top.kind == TABLE and top.table == "Table 1"
    assert "| retry.backoff.max | 90 s |" in top.text
    assert top.text.startswith("| Setting | Default | Meaning |")

    from kbqa.chain.citations import make_citations

    (citation,) = make_citations([top])
    assert citation.label() == f"[1] settings.pdf, p. {top.page}, Table 1"


def test_tables_off_reads_cells_as_text(tmp_path: Path) -> None:
    from kbqa.settings import IngestSettings

    off = IngestSettings(tables=False, worker=False)
    pdf = write_table_pdf(tmp_path / "options.pdf", OPTIONS, before="The options.")
    html = docgen.write_html(
        tmp_path / "t.html",
        "<table><tr><th>Item</th><th>Limit</th></tr><tr><td>files</td><td>20</td></tr></table>",
    )
    for path in (pdf, html):
        assert tables(loaders.load(path)), path.name  # on by default
        sections = loaders.load(path, off)
        assert sections and tables(sections) == []
    assert "Item | Limit\nfiles | 20" in loaders.load(html, off)[0].text
    assert "--threads" in "\n".join(s.text for s in loaders.load(pdf, off))
