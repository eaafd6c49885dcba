"""Documents built to attack the reader (issue 11, what held in the attack run, kept as tests):
entity expansion and external entities in a .docx, JavaScript in a PDF."""

from __future__ import annotations

import io
import time
import zipfile
from pathlib import Path

import pytest
from pypdf import PdfReader, PdfWriter
from pypdf.generic import DictionaryObject, NameObject, TextStringObject

from kbqa import loaders
from kbqa.errors import LoaderError
from tests import docgen

_W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"


def _docx_with_document_xml(path: Path, xml: str) -> Path:
    seed = docgen.write_docx(path.with_suffix(".seed.docx"), [("p", "seed")])
    out = io.BytesIO()
    with zipfile.ZipFile(seed) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name in source.namelist():
            data = xml.encode() if name == "word/document.xml" else source.read(name)
            z.writestr(name, data)
    path.write_bytes(out.getvalue())
    return path


def _load_or_refuse(path: Path) -> str:
    """The document's text, or the refusal's message; in bounded time."""
    started = time.perf_counter()
    try:
        text = "\n".join(section.text for section in loaders.load(path))
    except LoaderError as error:
        text = f"refused: {error}"
    assert time.perf_counter() - started < 10
    return text


def test_billion_laughs_in_a_docx_is_not_expanded(tmp_path: Path) -> None:
    entities = '<!ENTITY lol "lol">' + "".join(
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'
        for i in range(1, 10)
    )
    xml = (
        f'<?xml version="1.0"?><!DOCTYPE w:document [{entities}]>'
        f'<w:document xmlns:w="{_W}"><w:body><w:p><w:r><w:t>before &lol9; after</w:t></w:r></w:p>'
        "</w:body></w:document>"
    )
    text = _load_or_refuse(_docx_with_document_xml(tmp_path / "laughs.docx", xml))
    assert "lollol" not in text  # 10^9 "lol"s would be 3 GB


def test_external_entities_in_a_docx_are_never_read(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-9241", "utf-8")
    xml = (
        f'<?xml version="1.0"?><!DOCTYPE w:document [<!ENTITY xxe SYSTEM "{secret.as_uri()}">]>'
        f'<w:document xmlns:w="{_W}"><w:body><w:p><w:r><w:t>leak: &xxe;</w:t></w:r></w:p>'
        "</w:body></w:document>"
    )
    text = _load_or_refuse(_docx_with_document_xml(tmp_path / "xxe.docx", xml))
    assert "TOP-SECRET-9241" not in text


@pytest.mark.parametrize("where", ["document", "page"])
def test_javascript_in_a_pdf_is_not_run_and_not_read_as_text(tmp_path: Path, where: str) -> None:
    plain = docgen.write_text_pdf(tmp_path / "plain.pdf", ["The relay restarts every 40 minutes."])
    writer = PdfWriter(clone_from=PdfReader(plain))
    marker = tmp_path / "ran.txt"
    script = f"this.exportDataObject({{cName: '{marker}'}}); app.alert('SCRIPT-RAN-5521');"
    action = DictionaryObject(
        {NameObject("/S"): NameObject("/JavaScript"), NameObject("/JS"): TextStringObject(script)}
    )
    if where == "document":  # run on opening the document
        writer._root_object[NameObject("/OpenAction")] = action
    else:  # run on opening the page
        writer.pages[0][NameObject("/AA")] = DictionaryObject({NameObject("/O"): action})
    target = tmp_path / f"js-{where}.pdf"
    with target.open("wb") as handle:
        writer.write(handle)
    text = _load_or_refuse(target)
    assert "relay restarts every 40 minutes" in text
    assert "SCRIPT-RAN" not in text and not marker.exists()
