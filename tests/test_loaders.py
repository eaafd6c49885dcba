"""Loaders on real files: generated PDFs, text in several encodings, HTML, Markdown, docx."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from kbqa import loaders
from kbqa.errors import LoaderError, UnsupportedFormat
from kbqa.loaders.pdf import normalize_pdf_text
from kbqa.settings import IngestSettings
from kbqa.text.cjk import has_han
from tests import docgen

CHINESE = "第一章 总则。本办法适用于全体员工。员工每年享有带薪年假十五天，需提前两周申请。"
ENGLISH = "Annual leave is fifteen days per year and must be requested two weeks ahead."


@pytest.fixture(scope="module")
def docs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Files shared by the tests of this module (generating PDFs costs about 0.5 s each)."""
    root = tmp_path_factory.mktemp("docs")
    docgen.write_text_pdf(
        root / "handbook.pdf",
        [CHINESE, ENGLISH, "第三页的内容。Third page.", "第四页。Fourth page."],
        bookmarks=["第一章 总则", None, "第二章 假期", None],
    )
    return root


def load_error(path: Path) -> str:
    with pytest.raises(LoaderError) as info:
        loaders.load(path)
    return str(info.value)


# --- registry ---------------------------------------------------------------------------------


def test_registry_lists_every_supported_extension() -> None:
    formats = {".pdf", ".txt", ".md", ".html", ".htm", ".docx", ".xlsx", ".csv", ".tsv", ".pptx"}
    assert formats <= loaders.SUPPORTED_EXTENSIONS
    assert loaders.is_supported("a/b/报告.PDF")
    assert loaders.is_supported(Path("notes.Md"))
    assert not loaders.is_supported("archive.zip")
    assert not loaders.is_supported("README")


def test_unsupported_extension_names_it_and_the_supported_ones(tmp_path: Path) -> None:
    path = tmp_path / "data.xyz"
    path.write_text("hello")
    with pytest.raises(UnsupportedFormat) as info:
        loaders.load(path)
    supported = ", ".join(sorted(loaders.SUPPORTED_EXTENSIONS))  # .csv, .docx, .htm, ...
    assert str(info.value) == f"unsupported file type '.xyz' (supported: {supported})"
    assert isinstance(info.value, LoaderError)  # callers can catch one type


def test_missing_file_and_directory_are_loader_errors(tmp_path: Path) -> None:
    assert load_error(tmp_path / "absent.txt") == "file not found"
    (tmp_path / "folder.md").mkdir()
    assert load_error(tmp_path / "folder.md") == "is a directory, not a file"


# --- PDF ----------------------------------------------------------------------------------------


def test_pdf_one_section_per_page_with_headings_from_bookmarks(docs: Path) -> None:
    sections = loaders.load(docs / "handbook.pdf")
    assert [s.page for s in sections] == [1, 2, 3, 4]
    assert sections[0].text == CHINESE
    assert sections[1].text == ENGLISH
    # The nearest bookmark at or before the page.
    assert [s.heading for s in sections] == [
        "第一章 总则",
        "第一章 总则",
        "第二章 假期",
        "第二章 假期",
    ]


def test_pdf_nested_bookmarks_give_a_heading_path(tmp_path: Path) -> None:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_font("cjk", "", str(docgen.cjk_font()))
    pdf.set_font("cjk", size=11)
    for title, level in [("第一部分", 0), ("第一章", 1), ("第二章", 1), ("第二部分", 0)]:
        pdf.add_page()
        pdf.start_section(title, level=level)
        pdf.multi_cell(0, 6, f"{title}的正文。")
    pdf.output(str(tmp_path / "nested.pdf"))
    headings = [s.heading for s in loaders.load(tmp_path / "nested.pdf")]
    assert headings == ["第一部分", "第一部分 > 第一章", "第一部分 > 第二章", "第二部分"]


def test_pdf_without_an_outline_takes_headings_from_its_numbered_heading_lines(
    tmp_path: Path,
) -> None:
    # FHS 3.0 has no bookmarks: its sections are known only by their numbered heading lines.
    pages = [
        "5.15. /var/tmp : Temporary files preserved\n"
        "between system reboots\n"
        "5.15.1. Purpose\n"
        "The /var/tmp directory is made available for programs that need temporary files.\n"
        "5.15.2. Requirements\n"
        "Files and directories located in /var/tmp must not be deleted at boot.",
        "Data in /var/tmp is kept longer than data in /tmp.\n"
        "5.16. /var/yp : Network Information Service\n"
        "5.16.1. Purpose\n"
        "Variable data for the Network Information Service is placed here.",
    ]
    sections = loaders.load(docgen.write_text_pdf(tmp_path / "fhs.pdf", pages))
    tmp = "/var/tmp : Temporary files preserved between system reboots"
    assert [(s.page, s.heading) for s in sections] == [
        (1, f"{tmp} > Purpose"),
        (1, f"{tmp} > Requirements"),
        (2, f"{tmp} > Requirements"),  # the page goes on with the section before
        (2, "/var/yp : Network Information Service > Purpose"),
    ]
    # a heading with nothing under it goes with the next part; the heading lines stay in the text
    assert sections[0].text.startswith("5.15. /var/tmp : Temporary files preserved\n")
    assert "5.15.1. Purpose" in sections[0].text
    assert sections[2].text == "Data in /var/tmp is kept longer than data in /tmp."
    # with an outline, its bookmarks stay the headings
    marked = docgen.write_text_pdf(tmp_path / "marked.pdf", pages, bookmarks=["The /var Hierarchy"])
    assert {s.heading for s in loaders.load(marked)} == {"The /var Hierarchy"}


def _manual_with_running_lines(path: Path) -> Path:
    """Eighteen pages as a typesetter lays a manual out: the title and release on top of every
    page, the page number and chapter (even pages) or section (odd pages) at the foot, a chapter
    opening every sixth page, and a blank last page that has only its header and footer."""
    from fpdf import FPDF

    class Manual(FPDF):
        def header(self) -> None:
            self.set_xy(self.l_margin, 8)
            self.cell(0, 6, "Example Manual, Release 2.1.0")

        def footer(self) -> None:
            self.set_xy(self.l_margin, -14)
            chapter = (self.page_no() - 1) // 6 + 1
            if self.page_no() % 2 == 0:
                title = ("Basics", "Use", "Maintenance")[chapter - 1]
                self.cell(0, 6, f"{self.page_no()} Chapter {chapter}. {title}")
            else:
                section = ("Setting up", "Running", "Stopping")[chapter - 1]
                self.cell(0, 6, f"{chapter}.1. {section} {self.page_no()}")

    pdf = Manual(format="A4")
    pdf.set_auto_page_break(auto=False)
    pdf.add_font("cjk", "", str(docgen.cjk_font()))
    pdf.set_font("cjk", size=11)
    for number in range(1, 18):
        pdf.add_page()
        pdf.set_xy(pdf.l_margin, 30)
        lines = [f"Chapter {(number - 1) // 6 + 1}"] if number % 6 == 1 else []
        lines.append(f"Page {number} says the port is {8000 + number}.")
        if number == 6:  # the title as text, mid-page, is text
            lines += ["This text quotes the title:", "Example Manual, Release 2.1.0", "The end."]
        pdf.multi_cell(0, 6, "\n".join(lines))
    pdf.add_page()  # blank but for the running lines
    pdf.output(str(path))
    return path


def test_pdf_running_headers_and_footers_are_not_text(tmp_path: Path) -> None:
    sections = loaders.load(_manual_with_running_lines(tmp_path / "manual.pdf"))
    texts = {section.page: section.text for section in sections}
    # The page's own text, without the title on top or the page number and chapter at the foot
    # (left in, "Example Manual, Release 2.1.0 Page 3 says …" would read as one sentence).
    assert texts[3] == "Page 3 says the port is 8003."
    assert texts[4] == "Page 4 says the port is 8004."
    # A chapter's opening line repeats only chapters apart: it is a heading, kept.
    assert texts[7] == "Chapter 2\nPage 7 says the port is 8007."
    # The same words in the middle of a page are text.
    assert texts[6].endswith("This text quotes the title: Example Manual, Release 2.1.0 The end.")
    # A page of nothing but running lines keeps them rather than going to OCR as blank.
    assert "Example Manual, Release 2.1.0" in texts[18]
    assert all(section.kind != "ocr" for section in sections)


def test_pdf_text_normalisation_joins_wrapped_lines() -> None:
    raw = (
        "第一章 总则\r\n"
        "本办法适用于全体员工，员工每年享有带薪年假十五天，需要提前两周向部门经理\r\n"
        "提出书面申请。\r\n"
        "This policy covers every employee of the company and describes how inter-\r\n"
        "national staff request annual leave from their managers in good time.\r\n"
        "• 第一项\r\n"
        "• 第二项"
    )
    assert normalize_pdf_text(raw) == (
        "第一章 总则\n"
        # A short last line ends its paragraph: the break stays.
        "本办法适用于全体员工，员工每年享有带薪年假十五天，需要提前两周向部门经理提出书面申请。\n"
        "This policy covers every employee of the company and describes how international "
        "staff request annual leave from their managers in good time.\n"
        "• 第一项\n"
        "• 第二项"
    )


def test_pdf_mixed_chinese_english_wrap() -> None:
    raw = (
        "我们使用 PyTorch 和 FAISS 构建了一个本地知识库问答系统，支持中文和英文文档的检索与\r\n"
        "English answers come from the retrieved passages of the local knowledge base files\r\n"
        "only."
    )
    text = normalize_pdf_text(raw)
    assert "检索与English answers" in text  # CJK on one side: no space added
    assert "knowledge base files only." in text  # Latin on both sides: one space


def test_encrypted_pdf_names_the_reason(tmp_path: Path) -> None:
    path = docgen.write_encrypted_pdf(tmp_path / "机密 文件.pdf", ["机密内容。"])
    assert load_error(path) == "encrypted PDF (password required)"


def test_permissions_only_encrypted_pdf_loads(tmp_path: Path) -> None:
    path = docgen.write_encrypted_pdf(
        tmp_path / "protected.pdf", ["受保护但可打开。"], user_password=""
    )
    assert [s.text for s in loaders.load(path)] == ["受保护但可打开。"]


def test_image_only_pdf_says_it_needs_ocr(tmp_path: Path) -> None:
    # With OCR off (ingest.ocr = false); with it on the pages are read: tests/test_ocr.py.
    path = docgen.write_image_only_pdf(tmp_path / "scan.pdf", pages=2)
    with pytest.raises(LoaderError) as info:
        loaders.load(path, IngestSettings(ocr=False))
    assert str(info.value) == "no extractable text (scanned? needs OCR)"


def test_truncated_pdf(docs: Path, tmp_path: Path) -> None:
    data = (docs / "handbook.pdf").read_bytes()
    for keep in (0.9, 0.5, 0.05):
        path = tmp_path / f"cut {keep}.pdf"
        path.write_bytes(data[: int(len(data) * keep)])
        assert load_error(path) == "corrupt or truncated PDF (file ends early: no %%EOF marker)"


def test_truncated_pdf_generator(tmp_path: Path) -> None:
    path = docgen.write_truncated_pdf(tmp_path / "t.pdf", ["半截文件。"], keep=0.6)
    assert load_error(path).startswith("corrupt or truncated PDF (")


def test_corrupt_pdf(tmp_path: Path) -> None:
    path = docgen.write_corrupt_pdf(tmp_path / "corrupt.pdf")
    assert load_error(path) == "corrupt or truncated PDF (unreadable structure)"


def test_not_a_pdf_at_all(tmp_path: Path) -> None:
    path = tmp_path / "fake.pdf"
    path.write_text("just some text saved with the wrong name")
    assert load_error(path) == "corrupt or truncated PDF (no %PDF header: not a PDF file)"


def test_empty_pdf(tmp_path: Path) -> None:
    (tmp_path / "empty.pdf").write_bytes(b"")
    assert load_error(tmp_path / "empty.pdf") == "empty file"


def test_cid_font_without_tounicode(tmp_path: Path) -> None:
    """pypdf returns glyph numbers for this font; kbqa returns the Chinese text.

    PDFium alone also returns glyph numbers here (the font's collection is Adobe-UCS, not GB1),
    so the loader rebuilds the map from the embedded font's cmap table and reads the page again.
    """
    from pypdf import PdfReader

    pages = [CHINESE + ENGLISH, "第二页：请假需提前申请。"]
    path = docgen.write_pdf_without_tounicode(tmp_path / "no-tounicode.pdf", pages)
    reader = PdfReader(path)
    assert all("/ToUnicode" not in font.get_object() for font in _fonts(reader))
    pypdf_text = "".join(page.extract_text() for page in reader.pages)
    assert not has_han(pypdf_text)

    sections = loaders.load(path)
    assert [s.text for s in sections] == pages
    assert path.read_bytes() == path.read_bytes()  # the file itself is untouched


def _fonts(reader: object) -> list[object]:
    return [
        font
        for page in reader.pages  # type: ignore[attr-defined]
        for font in page["/Resources"]["/Font"].values()
    ]


def test_pdfium_alone_reports_unmapped_glyphs(tmp_path: Path) -> None:
    """The honest baseline: without the repair, PDFium's text is glyph numbers, not Chinese."""
    import pypdfium2 as pdfium

    path = docgen.write_pdf_without_tounicode(tmp_path / "raw.pdf", [CHINESE])
    document = pdfium.PdfDocument(path)
    text = document[0].get_textpage().get_text_range()
    document.close()
    assert not has_han(text)


def test_500_page_pdf_loads_fast_with_right_pages(tmp_path: Path) -> None:
    count = 500
    path = docgen.write_text_pdf(
        tmp_path / "big.pdf",
        docgen.many_pages(count),
        bookmarks=[f"第{n // 100 + 1}部分" if n % 100 == 0 else None for n in range(count)],
    )
    started = time.perf_counter()
    sections = loaders.load(path)
    elapsed = time.perf_counter() - started
    print(f"\n500-page PDF: {elapsed:.2f} s, {count / elapsed:.0f} pages/s")
    assert elapsed < 20
    assert [s.page for s in sections] == list(range(1, count + 1))
    assert sections[250].text.startswith("第251页。")
    assert sections[250].heading == "第3部分"


def test_pdfs_load_in_parallel_threads(docs: Path) -> None:
    """PDFium is not thread-safe; the loader serialises it, so threads get correct results."""
    expected = loaders.load(docs / "handbook.pdf")
    results: list[object] = []

    def work() -> None:
        for _ in range(5):
            results.append(loaders.load(docs / "handbook.pdf"))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [expected] * 20


def test_names_with_spaces_and_chinese(docs: Path, tmp_path: Path) -> None:
    folder = tmp_path / "年度 报告 (2024)"
    folder.mkdir()
    pdf = folder / "员工 手册 v1.2.PDF"
    pdf.write_bytes((docs / "handbook.pdf").read_bytes())
    assert loaders.load(pdf)[0].text == CHINESE
    txt = docgen.write_text_file(folder / "会议 纪要.txt", "会议纪要：下周一开会。")
    assert loaders.load(txt)[0].text == "会议纪要：下周一开会。"


# --- text files --------------------------------------------------------------------------------

TEXT = "员工手册\n第一条：年假十五天。\nEmployees get 15 days of annual leave."


@pytest.mark.parametrize(
    ("encoding", "bom"),
    [
        ("utf-8", False),
        ("utf-8", True),
        ("utf-16", False),  # Python's utf-16 codec writes a BOM
        ("utf-16-le", True),
        ("utf-16-be", True),
        ("utf-16-le", False),  # no BOM: detected from where the NUL bytes fall
        ("utf-16-be", False),
        ("gbk", False),
        ("gb18030", False),
    ],
)
def test_txt_encodings(tmp_path: Path, encoding: str, bom: bool) -> None:
    path = docgen.write_text_file(tmp_path / "doc.txt", TEXT, encoding=encoding, bom=bom)
    assert [s.text for s in loaders.load(path)] == [TEXT]


def test_txt_gb18030_beyond_gbk_and_windows_line_ends(tmp_path: Path) -> None:
    text = "生僻字𠀀和䶮。\r\n第二行"  # 𠀀 (U+20000) needs GB18030's four-byte form
    path = docgen.write_text_file(tmp_path / "rare.txt", text, encoding="gb18030")
    assert loaders.load(path)[0].text == "生僻字𠀀和䶮。\n第二行"


def test_binary_junk_named_txt(tmp_path: Path) -> None:
    path = docgen.write_binary_junk(tmp_path / "junk.txt")
    assert load_error(path) == "binary file, not text"
    png = tmp_path / "image.txt"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(32, 127)) * 10)
    assert load_error(png) == "binary file, not text"


@pytest.mark.parametrize("content", [b"", b"   \n\t\r\n  ", "\ufeff".encode("utf-8-sig")])
def test_empty_text_files(tmp_path: Path, content: bytes) -> None:
    for name in ("empty.txt", "empty.md"):
        (tmp_path / name).write_bytes(content)
        assert load_error(tmp_path / name) == "empty file"


def test_empty_docx_and_html(tmp_path: Path) -> None:
    (tmp_path / "zero.docx").write_bytes(b"")
    assert load_error(tmp_path / "zero.docx") == "empty file"
    (tmp_path / "zero.html").write_bytes(b"")
    assert load_error(tmp_path / "zero.html") == "empty file"


# --- Markdown ----------------------------------------------------------------------------------


def test_markdown_sections_follow_heading_paths(tmp_path: Path) -> None:
    text = (
        "---\ntitle: 员工手册\n---\n"
        "前言：欢迎加入。\n\n"
        "# 第一章 总则\n"
        "## 1.1 适用范围\n本办法适用于全体员工。\n\n"
        "```python\n# 这不是标题\nprint('hi')\n```\n"
        "### 1.1.1 细则\n细则内容。\n\n"
        "附录\n====\n附录内容。\n"
        "# 第二章 假期 #\n年假十五天。\n"
    )
    path = docgen.write_text_file(tmp_path / "handbook.md", text)
    sections = loaders.load(path)
    assert [(s.heading, s.text) for s in sections] == [
        (None, "前言：欢迎加入。"),
        (
            "第一章 总则 > 1.1 适用范围",
            "1.1 适用范围\n本办法适用于全体员工。\n\n```python\n# 这不是标题\nprint('hi')\n```",
        ),
        ("第一章 总则 > 1.1 适用范围 > 1.1.1 细则", "1.1.1 细则\n细则内容。"),
        ("附录", "附录\n附录内容。"),
        ("第二章 假期", "第二章 假期\n年假十五天。"),
    ]


# --- HTML --------------------------------------------------------------------------------------


def test_html_visible_text_and_headings(tmp_path: Path) -> None:
    body = (
        "<nav>首页 | 关于</nav>"
        "<h1>员工手册</h1><p>欢迎&nbsp;加入<b>我们</b>。</p>"
        "<h2>假期</h2><p>年假\n   十五天。</p>"
        "<table><tr><th>类型</th><th>天数</th></tr><tr><td>年假</td><td>15</td></tr></table>"
        "<!-- a comment --><h2>报销</h2><ul><li>交通费</li><li>餐费</li></ul>"
    )
    path = docgen.write_html(tmp_path / "page.html", body, title="手册")
    sections = loaders.load(path)
    joined = "\n".join(s.text for s in sections)
    assert "hiddenScriptText" not in joined and "color: red" not in joined
    assert "a comment" not in joined
    assert [(s.heading, s.text) for s in sections] == [
        ("手册", "首页 | 关于"),
        ("员工手册", "员工手册\n欢迎 加入我们。"),
        ("员工手册 > 假期", "假期\n年假 十五天。"),
        ("员工手册 > 假期 > 年假 十五天。", "| 类型 | 天数 |\n| --- | --- |\n| 年假 | 15 |"),
        ("员工手册 > 报销", "报销\n交通费\n餐费"),
    ]


def test_html_declared_gbk(tmp_path: Path) -> None:
    path = docgen.write_html(tmp_path / "gbk.htm", "<h1>通知</h1><p>明天放假。</p>", encoding="gbk")
    assert [s.text for s in loaders.load(path)] == ["通知\n明天放假。"]


def test_html_with_only_scripts(tmp_path: Path) -> None:
    path = docgen.write_html(tmp_path / "app.html", "<div id='root'></div>")
    assert load_error(path) == "no text found (only markup or scripts)"


# --- docx --------------------------------------------------------------------------------------


def test_docx_headings_paragraphs_and_tables(tmp_path: Path) -> None:
    path = docgen.write_docx(
        tmp_path / "手册.docx",
        [
            ("title", "员工手册"),
            ("p", "前言。"),
            ("h1", "第一章 假期"),
            ("p", "年假规定如下。"),
            ("table", [["类型", "天数"], ["年假", "15"], ["病假", "10"]]),
            ("h2", "1.1 申请"),
            ("p", "提前两周申请。"),
            ("h1", "第二章 报销"),
            ("p", "凭发票报销。"),
        ],
    )
    sections = loaders.load(path)
    assert [(s.heading, s.text) for s in sections] == [
        ("员工手册", "员工手册\n前言。"),
        ("员工手册 > 第一章 假期", "第一章 假期\n年假规定如下。"),
        (
            "员工手册 > 第一章 假期 > 年假规定如下。",
            "| 类型 | 天数 |\n| --- | --- |\n| 年假 | 15 |\n| 病假 | 10 |",
        ),
        ("员工手册 > 第一章 假期 > 1.1 申请", "1.1 申请\n提前两周申请。"),
        ("员工手册 > 第二章 报销", "第二章 报销\n凭发票报销。"),
    ]


def test_docx_merged_cells_once(tmp_path: Path) -> None:
    import docx

    document = docx.Document()
    table = document.add_table(rows=2, cols=3)
    table.cell(0, 0).merge(table.cell(0, 2)).text = "合并标题"
    for column, value in enumerate(["a", "b", "c"]):
        table.cell(1, column).text = value
    document.save(str(tmp_path / "merged.docx"))
    assert loaders.load(tmp_path / "merged.docx")[0].text == "合并标题\na | b | c"


def test_corrupt_and_legacy_docx(tmp_path: Path) -> None:
    docgen.write_binary_junk(tmp_path / "junk.docx")
    assert load_error(tmp_path / "junk.docx") == "corrupt .docx (not a ZIP package)"
    (tmp_path / "old.docx").write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504))
    assert load_error(tmp_path / "old.docx").startswith("not a .docx package (an OLE file")
    import zipfile

    with zipfile.ZipFile(tmp_path / "zip.docx", "w") as archive:
        archive.writestr("hello.txt", "not a word document")
    assert load_error(tmp_path / "zip.docx").startswith("corrupt .docx (")


def test_docx_without_text(tmp_path: Path) -> None:
    path = docgen.write_docx(tmp_path / "blank.docx", [("p", "   ")])
    assert load_error(path) == "no text found"


def test_pdf_with_junk_before_the_header(docs: Path, tmp_path: Path) -> None:
    """Mail/HTTP headers saved in front of a PDF: past PDFium's 1 KiB header search."""
    path = tmp_path / "download.pdf"
    path.write_bytes(
        b"Content-Type: application/pdf\r\n" * 100 + (docs / "handbook.pdf").read_bytes()
    )
    sections = loaders.load(path)
    assert sections[0].text == CHINESE
    assert sections[2].heading == "第二章 假期"


def test_pypdf_fallback_reads_what_pdfium_refuses(tmp_path: Path) -> None:
    import pypdfium2 as pdfium

    path = docgen.write_pdf_without_root(tmp_path / "no-root.pdf", [CHINESE, ENGLISH])
    with pytest.raises(pdfium.PdfiumError):
        pdfium.PdfDocument(path)
    assert [s.text for s in loaders.load(path)] == [CHINESE, ENGLISH]
    assert [s.page for s in loaders.load(path)] == [1, 2]


@pytest.mark.parametrize("encoding", ["GBK-EUC-H", "UniGB-UCS2-H"])
def test_predefined_chinese_cmaps_without_tounicode(tmp_path: Path, encoding: str) -> None:
    """Official-document and OFD-converted PDFs: non-embedded SimSun, no ToUnicode map."""
    pages = ["关于召开年度工作会议的通知\n各部门：定于下周一召开会议，请准时参加。", "第二页。"]
    path = docgen.write_predefined_cmap_pdf(tmp_path / "notice.pdf", pages, encoding=encoding)
    assert [s.text for s in loaders.load(path)] == pages


def test_pdf_bookmarks_pointing_through_goto_actions(docs: Path, tmp_path: Path) -> None:
    path = docgen.bookmarks_as_actions(docs / "handbook.pdf", tmp_path / "actions.pdf")
    assert b"/GoTo" in path.read_bytes() and b"/Dest" not in path.read_bytes()
    headings = [s.heading for s in loaders.load(path)]
    assert headings == ["第一章 总则", "第一章 总则", "第二章 假期", "第二章 假期"]


def test_utf8_with_a_damaged_byte_stays_utf8(tmp_path: Path) -> None:
    """One bad byte must not send a UTF-8 file to GB18030 (which would garble every character)."""
    data = (TEXT * 20).encode("utf-8")
    path = tmp_path / "cut.txt"
    damaged = data[:200] + b"\xff" + data[200:] + "年".encode()[:2]  # stray byte, cut mid-character
    path.write_bytes(damaged)
    text = loaders.load(path)[0].text
    assert text.startswith(TEXT) and 2 <= text.count("\ufffd") <= 5
    assert text.replace("\ufffd", "").count("年假十五天") >= 19


def test_short_gbk_text(tmp_path: Path) -> None:
    path = docgen.write_text_file(tmp_path / "hi.txt", "你好", encoding="gbk")
    assert loaders.load(path)[0].text == "你好"


def test_big5_traditional_chinese(tmp_path: Path) -> None:
    """Big5 bytes also decode as GB18030, into nonsense: the loader must not accept that."""
    text = "員工手冊：每年享有帶薪年假十五天，需要提前兩週申請。繁體中文文件的編碼通常是Big5。"
    path = docgen.write_text_file(tmp_path / "big5.txt", text, encoding="big5")
    assert loaders.load(path)[0].text == text


@pytest.mark.parametrize(
    ("text", "encoding"),
    [
        ("員工手冊：每年享有帶薪年假十五天，需要提前兩週申請。繁體中文文件。", "gbk"),
        ("社員は毎年十五日の有給休暇を取得できます。申請は二週間前までに。", "shift_jis"),
        ("Café au lait, crème brûlée et déjà vu. Résumé naïve façade.", "latin-1"),
        ("“Smart quotes” – and a dash… naïve", "cp1252"),
    ],
)
def test_other_legacy_encodings(tmp_path: Path, text: str, encoding: str) -> None:
    path = docgen.write_text_file(tmp_path / "legacy.txt", text, encoding=encoding)
    assert loaders.load(path)[0].text == text


def test_pdf_hyphenated_words_and_wrapped_chinese(tmp_path: Path) -> None:
    text = (
        "The knowledge base answers questions about the company handbook using inter-\n"
        "national standards and well-known practices for retrieval augmented genera-\n"
        "tion with local models only.\n"
        "本系统支持中文文档的检索与问答，并且能够正确处理跨行的中文句子，不会在\n"
        "句子中间插入多余的空格。"
    )
    path = docgen.write_text_pdf(tmp_path / "hyphen.pdf", [text])
    assert loaders.load(path)[0].text == (
        "The knowledge base answers questions about the company handbook using international "
        "standards and well-known practices for retrieval augmented generation with local "
        "models only.\n"
        "本系统支持中文文档的检索与问答，并且能够正确处理跨行的中文句子，不会在句子中间插入多余的空格。"
    )


# --- Linear text clean-up (issue 11: 1 MB of spaces not at a line end took minutes) ------------

# 1 MiB of spaces, tabs, no-break and ideographic spaces, between two words on one line.
_SPACE_RUN = " \t\u00a0\u3000" * (1 << 18)
_TIME_LIMIT = 5.0  # seconds; the quadratic clean-up took 8 s for 20 KB of such a run
# python-docx parses each tab and each stretch between tabs as an element of its own (524,288 here):
# about 10 s on two busy cores, all of it linear; the quadratic XPath took 3 s for 64 KB.
_DOCX_TIME_LIMIT = 30.0


def _timed_load(path: Path) -> tuple[list, float]:
    started = time.perf_counter()
    sections = loaders.load(path)
    return sections, time.perf_counter() - started


def _joined(sections: list) -> str:
    return "\n".join(section.text for section in sections)


def test_txt_with_a_long_space_run_loads_in_linear_time(tmp_path: Path) -> None:
    path = docgen.write_text_file(tmp_path / "run.txt", f"前 {_SPACE_RUN}后\nend   \n")
    sections, seconds = _timed_load(path)
    assert seconds < _TIME_LIMIT
    # The run is inside the line, so it stays; trailing spaces of the next line go.
    assert _joined(sections) == f"前 {_SPACE_RUN}后\nend"


def test_markdown_heading_with_a_long_space_run_loads_in_linear_time(tmp_path: Path) -> None:
    text = f"# Title{_SPACE_RUN}x ##\nbody{_SPACE_RUN}text\n## C#\nmore\n"
    path = docgen.write_text_file(tmp_path / "run.md", text)
    sections, seconds = _timed_load(path)
    assert seconds < _TIME_LIMIT
    assert [s.heading for s in sections] == [f"Title{_SPACE_RUN}x", f"Title{_SPACE_RUN}x > C#"]
    assert sections[0].text.endswith(f"body{_SPACE_RUN}text")


def test_docx_with_a_long_space_run_loads_in_linear_time(tmp_path: Path) -> None:
    path = docgen.write_docx(tmp_path / "run.docx", [("p", f"前{_SPACE_RUN}后")])
    sections, seconds = _timed_load(path)
    assert seconds < _DOCX_TIME_LIMIT
    assert _joined(sections).startswith("前") and _joined(sections).endswith("后")


def test_html_pre_with_a_long_space_run_loads_in_linear_time(tmp_path: Path) -> None:
    body = f"<p>para{_SPACE_RUN}end</p><pre>code{_SPACE_RUN}tail\nline2</pre>"
    path = docgen.write_html(tmp_path / "run.html", body)
    sections, seconds = _timed_load(path)
    assert seconds < _TIME_LIMIT
    text = _joined(sections)
    assert "para end" in text  # collapsed outside <pre>
    assert f"code{_SPACE_RUN}tail\nline2" in text  # kept inside it


def test_pdf_page_text_with_a_long_space_run_normalises_in_linear_time() -> None:
    # PDFium's page text goes through the same clean-up; a real PDF with such a run would take
    # a page per few hundred spaces, so the page text is given directly.
    started = time.perf_counter()
    text = normalize_pdf_text(f"前{_SPACE_RUN}后\r\nsecond line{_SPACE_RUN}\r\n")
    assert time.perf_counter() - started < _TIME_LIMIT
    assert text.startswith("前") and "后" in text and text.endswith("second line")
