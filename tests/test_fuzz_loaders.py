"""Bounded fuzzing of every loader (issue 11): mutated PDFs, Word files, HTML, Markdown and text;
spreadsheets, CSV and slides (issue 9).

Each example is a real file on disk, made by mutating a valid seed document (bytes flipped,
cut, repeated or spliced in; for .docx also the XML inside a well-formed zip) or generated from
scratch. The property: `loaders.load` returns Sections of text, or raises a `LoaderError` whose
message is meant for a user; never another exception, never a hang (a per-example deadline).

The run is bounded: KBQA_FUZZ_EXAMPLES examples per format (default 30, about a minute in all on
2 cores); `KBQA_FUZZ_EXAMPLES=1000 pytest tests/test_fuzz_loaders.py` is the long run that
docs/reliability.md reports. Hypothesis keeps no database here, so every run is fresh.
"""

from __future__ import annotations

import io
import os
import tempfile
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kbqa import loaders
from kbqa.errors import LoaderError
from kbqa.types import Section
from tests import docgen

EXAMPLES = int(os.environ.get("KBQA_FUZZ_EXAMPLES", "30"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=timedelta(seconds=20),
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
TEXT = "第一章 总则\n本办法适用于全体员工。Annual leave is fifteen days per year.\n"


def _seeds() -> dict[str, bytes]:
    root = Path(tempfile.mkdtemp(prefix="kbqa-fuzz-seeds-"))
    pdf = docgen.write_text_pdf(
        root / "seed.pdf", [TEXT, "第二页 Second page."], bookmarks=["第一章", None]
    )
    docx = docgen.write_docx(
        root / "seed.docx",
        [("h1", "第一章 总则"), ("p", TEXT), ("table", [["选项", "默认"], ["-q", "off"]])],
    )
    html = docgen.write_html(
        root / "seed.html", f"<h1>总则</h1><p>{TEXT}</p><pre>  a   b  </pre>", title="手册"
    )
    return {
        ".xlsx": _seed_xlsx(root / "seed.xlsx"),
        ".pptx": _seed_pptx(root / "seed.pptx"),
        ".csv": '城市,标准\n北京,600\n"a,b","c\nd"\n'.encode("gb18030"),
        ".pdf": pdf.read_bytes(),
        ".docx": docx.read_bytes(),
        ".html": html.read_bytes(),
        ".md": f"# 第一章\n\n{TEXT}\n## 1.1 范围\n\n- 一\n- two\n".encode(),
        ".txt": TEXT.encode("utf-8"),
    }


def _seed_xlsx(path: Path) -> bytes:
    import openpyxl

    book = openpyxl.Workbook()
    book.active.title = "参数"
    for row in (["选项", "默认"], ["-q", "off"], [1.5, True]):
        book.active.append(row)
    book.save(path)
    return path.read_bytes()


def _seed_pptx(path: Path) -> bytes:
    from pptx import Presentation
    from pptx.util import Inches

    deck = Presentation()
    slide = deck.slides.add_slide(deck.slide_layouts[1])
    slide.shapes.title.text = "第一章 总则"
    slide.placeholders[1].text_frame.text = TEXT
    slide.notes_slide.notes_text_frame.text = "备注 notes"
    table = slide.shapes.add_table(2, 2, Inches(1), Inches(4), Inches(4), Inches(1)).table
    for i, row in enumerate([["选项", "默认"], ["-q", "off"]]):
        for j, value in enumerate(row):
            table.cell(i, j).text = value
    deck.save(path)
    return path.read_bytes()


SEEDS = _seeds()


@st.composite
def mutated(draw: st.DrawFn, seed: bytes) -> bytes:
    """`seed` after a few random edits: flips, cuts, repeats and splices of random bytes."""
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["flip", "cut", "repeat", "splice", "truncate"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "flip" and data:
            data[at] ^= draw(st.integers(1, 255))
        elif kind == "cut":
            del data[at : at + draw(st.integers(1, 512))]
        elif kind == "repeat":
            data[at:at] = data[at : at + draw(st.integers(1, 256))] * draw(st.integers(2, 50))
        elif kind == "splice":
            data[at:at] = draw(st.binary(min_size=1, max_size=256))
        else:
            del data[at:]
    return bytes(data)


def _assert_loads_or_refuses(data: bytes, extension: str) -> None:
    with tempfile.TemporaryDirectory(prefix="kbqa-fuzz-") as folder:
        path = Path(folder) / f"input{extension}"
        path.write_bytes(data)
        try:
            sections = loaders.load(path)
        except LoaderError as error:
            message = str(error)
            assert message and "Traceback" not in message
            return
    assert sections and all(isinstance(s, Section) and isinstance(s.text, str) for s in sections)


@pytest.mark.parametrize("extension", sorted(SEEDS))
def test_mutated_documents_load_or_are_refused_clearly(extension: str) -> None:
    @FUZZ
    @given(data=mutated(SEEDS[extension]))
    def run(data: bytes) -> None:
        _assert_loads_or_refuses(data, extension)

    run()


@st.composite
def docx_with_mutated_xml(draw: st.DrawFn) -> bytes:
    """A well-formed zip whose document.xml (or another part) is mutated: past the zip layer."""
    source = zipfile.ZipFile(io.BytesIO(SEEDS[".docx"]))
    names = source.namelist()
    target = draw(st.sampled_from([n for n in names if n.endswith(".xml")]))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zipped:
        for name in names:
            content = source.read(name)
            zipped.writestr(name, draw(mutated(content)) if name == target else content)
    return out.getvalue()


@FUZZ
@given(data=docx_with_mutated_xml())
def test_docx_with_damaged_xml_inside_a_good_zip(data: bytes) -> None:
    _assert_loads_or_refuses(data, ".docx")


_MARKUP = st.sampled_from(
    ["<h1>", "</h1>", "<p>", "</p>", "<pre>", "</pre>", "<table><tr><td>", "</td></tr></table>",
     "<script>", "</script>", "<!--", "-->", "<title>", "&nbsp;", "&#x3000;", "&#0;", "<br/>",
     "\u00a0", "\u3000", "\t", " " * 300, "\n", "# ", "====\n", "```\n", "\ufeff", "\x00"]
)  # fmt: skip


@FUZZ
@given(
    parts=st.lists(st.one_of(_MARKUP, st.text(max_size=40)), max_size=60),
    extension=st.sampled_from([".html", ".md", ".txt"]),
    encoding=st.sampled_from(["utf-8", "utf-16", "gb18030", "latin-1"]),
)
def test_generated_markup_and_text_in_any_encoding(
    parts: list[str], extension: str, encoding: str
) -> None:
    data = "".join(parts).encode(encoding, errors="replace")
    _assert_loads_or_refuses(data, extension)
