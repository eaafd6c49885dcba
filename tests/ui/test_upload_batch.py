"""A batch of uploads with a dot-named file, from a server started in its temporary directory.

Gradio's upload folder then lies under the working directory, where Gradio used to refuse the
whole batch with `{"error": null}` because of one dot-named file (issue 11, item 11). Each file
must get its own row: the dot-named one saved under a visible name, the others ingested.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ui.conftest import Server, start_server, stop_server

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def in_temp_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    base = tmp_path_factory.mktemp("kbqa-cwd-tmp")
    temp = base / "tmp"  # the server's temporary directory, and where it is started
    temp.mkdir()
    home = base / "home"
    server = start_server(home, "dotfile", env={"TMPDIR": str(temp)}, cwd=temp)
    yield server
    stop_server(server)


def test_dot_named_upload_is_reported_alone_and_the_rest_ingested(
    browser, in_temp_dir: Server, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    hidden = tmp_path / ".notes.txt"
    hidden.write_text("The boiler room key hangs behind the blue door.\n")
    visible = tmp_path / "pumps.md"
    visible.write_text("# Pumps\n\nThe irrigation pump is serviced every 42 days.\n")
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")

    context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="en-US")
    page = context.new_page()
    page.goto(in_temp_dir.url)
    expect(page.locator("#kb-status")).to_contain_text("Knowledge base", timeout=30_000)
    page.locator("#upload input[type=file]").set_input_files(
        [str(hidden), str(visible), str(empty)]
    )

    report = page.locator("#upload-report")
    expect(report).to_contain_text("pumps.md", timeout=120_000)
    # Gradio's table is a grid of cells named by row and column.
    rows = {}
    for row in range(3):
        cells = [report.locator(f"[data-testid='cell-{row}-{c}']") for c in range(3)]
        name, result, detail = (cell.inner_text().strip() for cell in cells)
        rows[name] = [result, detail]
    assert rows[".notes.txt"][0] == "added", rows
    assert "saved as notes.txt" in rows[".notes.txt"][1], rows
    assert rows["pumps.md"][0] == "added", rows
    assert rows["empty.txt"] == ["rejected", "empty file"], rows
    files = page.locator("#files")
    expect(files).to_contain_text("notes.txt")
    expect(files).to_contain_text("pumps.md")
    assert "Traceback" not in in_temp_dir.log.read_text()
    context.close()
