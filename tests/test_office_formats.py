"""Spreadsheets, delimited text and slides (issue 9, "More formats"): .xlsx, .csv/.tsv and .pptx.

Real files, written here by the tools users' files come from (openpyxl, python-pptx, the csv
module, msoffcrypto-tool for a password) or, where those cannot write what a spreadsheet
application saves (a formula's cached value, a million empty rows), by writing the sheet's XML.
The bad inputs each get a clear message or are read in bounded time and memory, and a batch with
one of them among good files ingests the good ones.
"""

from __future__ import annotations

import csv
import io
import re
import time
import tracemalloc
import zipfile
from pathlib import Path

import pytest

from kbqa import loaders
from kbqa.errors import LoaderError
from kbqa.knowledge_base import KnowledgeBase
from kbqa.loaders.xlsx import MAX_EMPTY_RUN
from kbqa.settings import EmbedderSettings, IngestSettings, Settings
from kbqa.splitter import ChineseAwareSplitter
from kbqa.text.table import MAX_CELL_CHARS
from kbqa.types import TABLE, TEXT, Section
from tests.kb.conftest import FAST_EMBEDDER


def _error(path: Path, limits: IngestSettings | None = None) -> str:
    with pytest.raises(LoaderError) as info:
        loaders.load(path, limits)
    return str(info.value)


def _write_xlsx(path: Path, sheets: dict[str, list[list[object]]]) -> Path:
    import openpyxl

    book = openpyxl.Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(row)
    book.save(path)
    return path


def _patch_sheet(path: Path, edit) -> Path:
    """Rewrite xl/worksheets/sheet1.xml of the package at `path` with `edit(xml) -> xml`."""
    source = zipfile.ZipFile(io.BytesIO(path.read_bytes()))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as package:
        for name in source.namelist():
            data = source.read(name)
            if name == "xl/worksheets/sheet1.xml":
                data = edit(data.decode("utf-8")).encode("utf-8")
            package.writestr(name, data)
    return path


def _write_pptx(path: Path, slides: list[dict]) -> Path:
    """Slides of {"title", "body": [lines], "table": [[cells]], "notes", "group": [texts]}."""
    from pptx import Presentation
    from pptx.util import Inches

    deck = Presentation()
    for spec in slides:
        layout = deck.slide_layouts[1 if "body" in spec else 5]  # title+content / title only
        slide = deck.slides.add_slide(layout)
        if "title" in spec:
            slide.shapes.title.text = spec["title"]
        if "body" in spec:
            slide.placeholders[1].text_frame.text = "\n".join(spec["body"])
        if "table" in spec:
            rows = spec["table"]
            frame = slide.shapes.add_table(
                len(rows), len(rows[0]), Inches(1), Inches(2), Inches(6), Inches(2)
            )
            for i, row in enumerate(rows):
                for j, value in enumerate(row):
                    frame.table.cell(i, j).text = value
        if "group" in spec:
            group = slide.shapes.add_group_shape()
            for n, text in enumerate(spec["group"]):
                box = group.shapes.add_textbox(Inches(1), Inches(5 + n), Inches(4), Inches(1))
                box.text_frame.text = text
        if "notes" in spec:
            slide.notes_slide.notes_text_frame.text = spec["notes"]
    deck.save(path)
    return path


# --- .xlsx --------------------------------------------------------------------------------------


def test_xlsx_every_sheet_is_a_table_under_its_first_non_empty_row(tmp_path: Path) -> None:
    import datetime as dt

    path = _write_xlsx(
        tmp_path / "手册.xlsx",
        {
            "参数": [
                [None, None],
                ["选项", "默认值", None, "说明"],
                ["-q", "关闭", None, "安静模式 | 不输出"],
                [],
                ["--retries", 3, None, 2.5],
            ],
            "Empty": [],
            "Dates": [["Day", "Done"], [dt.datetime(2024, 5, 1), True]],
        },
    )
    sections = loaders.load(path)
    assert [(s.kind, s.heading, s.table, s.page) for s in sections] == [
        (TABLE, "参数", "参数", None),
        (TABLE, "Dates", "Dates", None),
    ]
    assert sections[0].rows == (
        ("选项", "默认值", "", "说明"),
        ("-q", "关闭", "", "安静模式 \\| 不输出"),  # "|" escaped: the Markdown stays a table
        ("--retries", "3", "", "2.5"),
    )
    assert sections[0].text.splitlines()[:2] == [
        "| 选项 | 默认值 |  | 说明 |",
        "| --- | --- | --- | --- |",
    ]
    assert sections[1].rows == (("Day", "Done"), ("2024-05-01", "TRUE"))


def test_xlsx_formulas_give_their_cached_values(tmp_path: Path) -> None:
    path = _write_xlsx(
        tmp_path / "sums.xlsx", {"Sheet1": [["Item", "Price", "Total"], ["bolt", 21, "=B2*2"]]}
    )

    # openpyxl writes a formula with an empty value; a spreadsheet application saves the value
    # it computed beside it, as here.
    def cache(xml: str) -> str:
        patched = re.sub(r"<f>B2\*2</f><v\s*(?:/>|></v>)", "<f>B2*2</f><v>42</v>", xml)
        assert patched != xml
        return patched

    _patch_sheet(path, cache)
    (section,) = loaders.load(path)
    assert section.rows == (("Item", "Price", "Total"), ("bolt", "21", "42"))
    assert "B2" not in section.text


def test_long_sheet_chunks_repeat_the_header_and_never_cut_a_row(tmp_path: Path) -> None:
    header = ["编号", "Option", "Default"]
    body = [[f"R{n:04d}", f"--flag-{n}", f"默认值 {n}"] for n in range(400)]
    path = _write_xlsx(tmp_path / "options.xlsx", {"Options": [header, *body]})
    sections = loaders.load(path)
    chunks = ChineseAwareSplitter(chunk_size=128, chunk_overlap=16).split(
        sections, source=path.name, path=path.name
    )
    assert len(chunks) > 5
    seen: list[str] = []
    for chunk in chunks:
        lines = chunk.text.splitlines()
        assert lines[:2] == ["| 编号 | Option | Default |", "| --- | --- | --- |"]
        assert (chunk.kind, chunk.table, chunk.heading) == (TABLE, "Options", "Options")
        for line in lines[2:]:
            cells = line.strip("| ").split(" | ")
            assert len(cells) == 3 and cells[0].startswith("R")  # a whole row
            seen.append(cells[0])
    assert seen == [row[0] for row in body]  # every row once, in order


def test_password_protected_xlsx_says_so(tmp_path: Path) -> None:
    from msoffcrypto.format.ooxml import OOXMLFile

    plain = _write_xlsx(tmp_path / "plain.xlsx", {"Pay": [["Name", "Salary"], ["A", 1]]})
    locked = tmp_path / "locked.xlsx"
    with plain.open("rb") as source, locked.open("wb") as out:
        OOXMLFile(source).encrypt("secret", out)
    assert _error(locked) == "encrypted spreadsheet (password required)"
    # An old binary workbook under the new name is told apart from an encrypted one.
    old = tmp_path / "old.xlsx"
    old.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(4088))
    assert _error(old) == "not a .xlsx package (an OLE file: an old .xls file? save it as .xlsx)"


def _sheet_xml(rows) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        f'<dimension ref="A1:XFD1048576"/><sheetData>{rows}</sheetData></worksheet>'
    )


def _empty_rows_xlsx(path: Path, stored: bool) -> Path:
    """A sheet of a header, two rows and a million empty rows: stored as formatted empty cells
    (`stored`), or only declared by a bogus dimension with one cell at the sheet's last row."""
    path = _write_xlsx(path, {"Sheet1": [["Key", "Value"]]})
    data = (
        '<row r="2"><c r="A2" t="inlineStr"><is><t>alpha</t></is></c>'
        '<c r="B2" t="inlineStr"><is><t>1</t></is></c></row>'
        '<row r="3"><c r="A3" t="inlineStr"><is><t>beta</t></is></c></row>'
    )
    if stored:
        empty = "".join(f'<row r="{n}"><c r="A{n}" s="0"/></row>' for n in range(4, 1_000_004))
    else:
        empty = '<row r="1048576"><c r="A1048576" t="inlineStr"><is><t>far</t></is></c></row>'

    def rewrite(xml: str) -> str:
        header = re.search(r'<row r="1".*?</row>', xml).group(0)
        return _sheet_xml(header + data + empty)

    return _patch_sheet(path, rewrite)


@pytest.mark.parametrize("stored", [True, False], ids=["stored", "declared"])
def test_a_million_empty_rows_are_read_in_bounded_time(tmp_path: Path, stored: bool) -> None:
    path = _empty_rows_xlsx(tmp_path / "sparse.xlsx", stored)
    started = time.perf_counter()
    (section,) = loaders.load(path)
    assert time.perf_counter() - started < 10
    # Reading stops after MAX_EMPTY_RUN empty rows: a value a million rows down is not read.
    assert MAX_EMPTY_RUN < 1_000_000
    assert section.rows == (("Key", "Value"), ("alpha", "1"), ("beta", ""))


# --- ZIP bombs ----------------------------------------------------------------------------------


def _bomb(path: Path, part: str, inflated_mb: int) -> Path:
    """A package whose `part` inflates to `inflated_mb` MB of zeros (a few KB on disk)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as package:
        package.writestr("[Content_Types].xml", "<Types/>")
        with package.open(part, "w", force_zip64=True) as member:
            block = b"0" * (1 << 20)
            for _ in range(inflated_mb):
                member.write(block)
    return path


@pytest.mark.parametrize(
    ("name", "part"),
    [("bomb.xlsx", "xl/worksheets/sheet1.xml"), ("bomb.pptx", "ppt/slides/slide1.xml")],
)
def test_zip_bombs_are_refused_before_parsing(tmp_path: Path, name: str, part: str) -> None:
    # (.docx: tests/test_limits.py)
    path = _bomb(tmp_path / name, part, inflated_mb=24)
    assert path.stat().st_size < 200_000
    started = time.perf_counter()
    message = _error(path, IngestSettings(max_inflated_mb=16))
    assert time.perf_counter() - started < 2
    assert message == (
        "its ZIP members inflate to more than 16 MB, over the per-file limit "
        "(ingest.max_inflated_mb)"
    )


def test_spreadsheet_over_max_chars_names_the_limit(tmp_path: Path) -> None:
    path = _write_xlsx(tmp_path / "big.xlsx", {"A": [["word " * 50] for _ in range(100)]})
    assert _error(path, IngestSettings(max_chars=5_000)) == (
        "more than 5,000 characters of text, over the per-file limit (ingest.max_chars)"
    )


# --- .csv / .tsv --------------------------------------------------------------------------------


def test_gb18030_csv_with_chinese_is_one_table(tmp_path: Path) -> None:
    path = tmp_path / "报销标准.csv"
    with path.open("w", encoding="gb18030", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["城市", "住宿标准（元/晚）", "备注"])
        writer.writerow(["北京", "600", "含早餐,不含停车"])  # a quoted comma
        writer.writerow(["上海", "550", "第一行\n第二行"])  # a quoted line break
        writer.writerow([])
        writer.writerow(["𠀀市", "400", ""])  # a GB18030 four-byte character
    (section,) = loaders.load(path)
    assert (section.kind, section.heading, section.table) == (TABLE, "报销标准", "报销标准.csv")
    assert section.rows == (
        ("城市", "住宿标准（元/晚）", "备注"),
        ("北京", "600", "含早餐,不含停车"),
        ("上海", "550", "第一行 第二行"),
        ("𠀀市", "400", ""),
    )


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("semicolons.csv", "Name;Amount;Note\nbolt;3;a,b\nnut;4;c\n"),
        ("tabs.tsv", "Name\tAmount\tNote\nbolt\t3\ta,b\nnut\t4\tc\n"),
        ("tabs-in-a.csv", "Name\tAmount\tNote\nbolt\t3\ta,b\nnut\t4\tc\n"),
    ],
)
def test_delimiter_by_extension_or_sniffed(tmp_path: Path, name: str, text: str) -> None:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    (section,) = loaders.load(path)
    assert section.rows == (("Name", "Amount", "Note"), ("bolt", "3", "a,b"), ("nut", "4", "c"))


def test_csv_with_a_10_mb_field_is_read_with_the_cell_cut(tmp_path: Path) -> None:
    path = tmp_path / "huge-field.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "blob", "after"])
        writer.writerow(["1", "x" * (10 << 20), "kept"])
        writer.writerow(["2", "small", "also kept"])
    tracemalloc.start()
    started = time.perf_counter()
    try:
        (section,) = loaders.load(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - started < 10
    # The file is 10 MB: its text, the field's line and the csv module's buffer for the field
    # (4 bytes a character, grown by doubling) come to about 100 MB; linear, not a blow-up.
    assert peak < 160 << 20
    header, first, second = section.rows
    assert header == ("id", "blob", "after") and second == ("2", "small", "also kept")
    assert first[0] == "1" and first[2] == "kept"
    assert len(first[1]) <= MAX_CELL_CHARS and first[1].endswith("…")
    assert len(section.text) < 3 * MAX_CELL_CHARS


def test_empty_csv_says_so(tmp_path: Path) -> None:
    path = tmp_path / "blank.csv"
    path.write_text(",,\n,,\n", encoding="utf-8")
    assert _error(path) == "empty file"


# --- .pptx --------------------------------------------------------------------------------------


def test_pptx_one_section_per_slide_with_title_body_tables_and_notes(tmp_path: Path) -> None:
    path = _write_pptx(
        tmp_path / "培训.pptx",
        [
            {
                "title": "第一章 安全规范",
                "body": ["佩戴安全帽", "Keep exits clear"],
                "notes": "强调第二点",
            },
            {"title": "Default options", "table": [["Option", "Default"], ["-q", "off"]]},
            {"body": ["A slide without a title"], "group": ["grouped one", "grouped two"]},
            {"title": "Summary", "notes": "Ask for questions.\nThen close."},
        ],
    )
    sections = loaders.load(path)
    assert [(s.kind, s.page, s.heading, s.table) for s in sections] == [
        (TEXT, 1, "第一章 安全规范", None),
        (TABLE, 2, "Default options", "Table 1"),  # no title-only Section for slide 2
        (TEXT, 3, None, None),
        (TEXT, 4, "Summary", None),
    ]
    assert sections[0].text == "第一章 安全规范\n佩戴安全帽\nKeep exits clear\nNotes: 强调第二点"
    assert sections[1].rows == (("Option", "Default"), ("-q", "off"))
    assert sections[2].text == "A slide without a title\ngrouped one\ngrouped two"
    assert sections[3].text == "Summary\nNotes: Ask for questions.\nThen close."


def test_pptx_without_text_and_encrypted_pptx_say_so(tmp_path: Path) -> None:
    from msoffcrypto.format.ooxml import OOXMLFile

    blank = _write_pptx(tmp_path / "blank.pptx", [{}])
    assert _error(blank) == "no text found"
    plain = _write_pptx(tmp_path / "plain.pptx", [{"title": "Secret plan"}])
    locked = tmp_path / "locked.pptx"
    with plain.open("rb") as source, locked.open("wb") as out:
        OOXMLFile(source).encrypt("secret", out)
    assert _error(locked) == "encrypted presentation (password required)"


# --- a batch ------------------------------------------------------------------------------------


def test_batch_ingests_the_good_files_and_names_the_bad_ones(
    kbqa_home: Path, tmp_path: Path
) -> None:
    from msoffcrypto.format.ooxml import OOXMLFile

    folder = tmp_path / "docs"
    folder.mkdir()
    _write_xlsx(
        folder / "limits.xlsx",
        {
            "Quotas": [
                ["Resource", "Quota"],
                ["disk", "500 GB per team"],
                ["GPU hours", "120 a month"],
            ]
        },
    )
    (folder / "cities.csv").write_text("City,Allowance\nBeijing,600\nShanghai,550\n", "utf-8")
    _write_pptx(
        folder / "deck.pptx", [{"title": "Onboarding", "body": ["Badges are issued on day one."]}]
    )
    plain = _write_xlsx(tmp_path / "plain.xlsx", {"S": [["a", "b"], ["1", "2"]]})
    with plain.open("rb") as source, (folder / "payroll.xlsx").open("wb") as out:
        OOXMLFile(source).encrypt("secret", out)
    _bomb(folder / "bomb.pptx", "ppt/slides/slide1.xml", inflated_mb=24)

    settings = Settings(
        home=kbqa_home,
        embedder=EmbedderSettings(name=FAST_EMBEDDER),
        ingest=IngestSettings(max_inflated_mb=16),
    )
    kb = KnowledgeBase.create("office", settings)
    report = kb.add([folder])
    assert sorted(report.added) == ["cities.csv", "deck.pptx", "limits.xlsx"]
    reasons = dict(report.failed)
    assert set(reasons) == {"payroll.xlsx", "bomb.pptx"}
    assert reasons["payroll.xlsx"] == "encrypted spreadsheet (password required)"
    assert "ingest.max_inflated_mb" in reasons["bomb.pptx"]
    (hit,) = kb.search("GPU hours quota", k=1)
    assert (hit.source, hit.kind, hit.table) == ("limits.xlsx", TABLE, "Quotas")
    assert "| GPU hours | 120 a month |" in hit.text and hit.text.startswith("| Resource | Quota |")


def test_sections_round_trip_through_the_reader_process_form(tmp_path: Path) -> None:
    path = _write_xlsx(tmp_path / "t.xlsx", {"S": [["a", "b"], ["1", "2"]]})
    (section,) = loaders.load(path)
    assert Section.from_json(section.to_json()) == section


def test_an_encrypted_upload_reaches_the_loader_that_says_why(tmp_path: Path) -> None:
    from msoffcrypto.format.ooxml import OOXMLFile

    from kbqa.service.uploads import accept_uploads, allowed_extensions

    plain = _write_xlsx(tmp_path / "plain.xlsx", {"S": [["a", "b"], ["1", "2"]]})
    locked = tmp_path / "locked.xlsx"
    with plain.open("rb") as source, locked.open("wb") as out:
        OOXMLFile(source).encrypt("secret", out)
    assert {".xlsx", ".csv", ".tsv", ".pptx"} <= allowed_extensions()
    batch = accept_uploads(
        [locked, plain], tmp_path / "uploads", allowed=allowed_extensions(), max_bytes=1 << 20
    )
    assert not batch.rejected  # not "content is not a .xlsx file"
    assert _error(batch.accepted[0]) == "encrypted spreadsheet (password required)"


def test_running_out_of_memory_in_a_sheet_is_not_called_corrupt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def exhausted(sheet, collector) -> None:
        raise MemoryError

    monkeypatch.setattr("kbqa.loaders.xlsx._read_sheet", exhausted)
    path = _write_xlsx(tmp_path / "t.xlsx", {"S": [["a", "b"]]})
    assert _error(path) == "needs more than 2048 MB to read (ingest.max_memory_mb)"
