"""The app in a real browser: upload a PDF, ask, follow up, open the cited page, search, delete,
and two sessions that must not see each other's history.

One server serves the whole module and the tests run in file order: the upload test fills the
knowledge base the later ones use. Screenshots go to test-artifacts/ui/.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.docgen import write_text_pdf
from tests.ui.conftest import ARTIFACTS, Server

pytestmark = pytest.mark.browser

MANUAL = "greenhouse-manual.pdf"
PAGES = [
    "Aurora greenhouse: overview. The Aurora greenhouse has three zones: seedlings, vegetables "
    "and herbs. It was built in 2019 by the Lindqvist family and covers 1,200 square metres.",
    "Climate control. The heating system keeps the vegetable zone between 18 and 24 degrees "
    "Celsius. The roof vents open automatically when the air is warmer than 27 degrees.",
    "Pump maintenance. The irrigation pump must be serviced every 42 days by the maintenance "
    "team. The service includes replacing the intake filter and checking the pressure valve. "
    "A serviced pump delivers 900 litres per hour.",
    "Lighting. The grow lights run for 14 hours a day in winter and switch off in summer. "
    "Each lamp is replaced after 20,000 hours of use.",
    "灌溉系统说明。温室的滴灌系统每天早上六点自动启动，持续二十分钟。滴灌用水来自屋顶收集的雨水，"
    "储存在地下的水箱中。水箱容量为八千升。",
    "Safety. Staff must wear gloves when handling fertiliser. The first-aid kit hangs next to "
    "the north door, and the emergency phone number is posted above it.",
]
ANSWER_TIMEOUT_MS = 240_000  # generous: the 2 cores may be shared with other work


@pytest.fixture(scope="module")
def manual(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("docs")
    return write_text_pdf(folder / MANUAL, PAGES)


def open_app(browser, server: Server, locale: str = "en-US"):
    """A new browser session (own cookies, own Gradio session) with the app loaded."""
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale=locale)
    page = context.new_page()
    page.goto(server.url)
    # The page's load event has run once the knowledge-base summary is there.
    summary = "Knowledge base" if locale.startswith("en") else "知识库"
    expect(page.locator("#kb-status")).to_contain_text(summary, timeout=30_000)
    return page


def ask(page, question: str) -> str:
    """Send `question`; returns the finished reply's text."""
    from playwright.sync_api import expect

    replies = page.locator("#chatbot [data-testid='bot']")
    before = replies.count()
    box = page.locator("#question textarea")
    box.fill(question)
    box.press("Enter")
    expect(replies).to_have_count(before + 1, timeout=30_000)
    # The send button is locked while the answer streams and unlocked when it is complete.
    expect(page.locator("#send")).to_be_enabled(timeout=ANSWER_TIMEOUT_MS)
    return replies.nth(before).inner_text()


def citation_labels(page) -> list[str]:
    return [label.strip() for label in page.locator("#citations label").all_inner_texts()]


def record(name: str, value: float) -> None:
    path = ARTIFACTS / "timings.json"
    data = json.loads(path.read_text()) if path.exists() else {}
    data[name] = round(value, 3)
    path.write_text(json.dumps(data, indent=2))


def test_page_loads_and_renders_chinese(browser, ui_server: Server, artifacts: Path) -> None:
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="en-US")
    page = context.new_page()
    started = time.perf_counter()
    page.goto(ui_server.url)
    expect(page.locator("#kb-status")).to_contain_text("Knowledge base", timeout=30_000)
    load_s = time.perf_counter() - started
    record("page_load_s", load_s)
    assert load_s < 20

    page.get_by_text("中文", exact=True).click()
    expect(page.get_by_role("tab", name="对话")).to_be_visible()
    expect(page.locator("#send")).to_have_text("发送")
    expect(page.locator("#files")).to_contain_text("片段数")
    # Two different characters must draw differently in the page's font: missing glyphs
    # ("tofu") would all be the same box.
    glyphs = page.evaluate(
        """() => {
            const font = getComputedStyle(document.body).fontFamily;
            const canvas = document.createElement('canvas');
            canvas.width = canvas.height = 64;
            const g = canvas.getContext('2d');
            const draw = (text) => {
                g.clearRect(0, 0, 64, 64);
                g.font = `48px ${font}`;
                g.fillText(text, 4, 52);
                return Array.from(g.getImageData(0, 0, 64, 64).data).join(',');
            };
            const a = draw('对'), b = draw('话'), blank = draw(' ');
            return {distinct: a !== b, inked: a !== blank};
        }"""
    )
    assert glyphs == {"distinct": True, "inked": True}
    page.screenshot(path=str(artifacts / "01-chinese-interface.png"))
    page.get_by_text("English", exact=True).click()
    expect(page.locator("#send")).to_have_text("Send")
    context.close()


def test_upload_ask_follow_up_and_open_the_cited_page(
    browser, ui_server: Server, manual: Path, artifacts: Path, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    page = open_app(browser, ui_server)
    disguised = tmp_path / "not-really.pdf"
    disguised.write_bytes(b"MZ\x90\x00 a program, renamed")
    started = time.perf_counter()
    page.locator("#upload input[type=file]").set_input_files([str(manual), str(disguised)])
    report = page.locator("#upload-report")
    expect(report).to_contain_text("added", timeout=120_000)
    upload_s = time.perf_counter() - started
    expect(report).to_contain_text(MANUAL)
    expect(report).to_contain_text("content is not a .pdf file")  # rejected, with its reason
    expect(page.locator("#files")).to_contain_text(MANUAL)
    page.screenshot(path=str(artifacts / "02-uploaded.png"))

    reply = ask(page, "How often must the irrigation pump be serviced?")
    first_answer_s = time.perf_counter() - started
    record("small_pdf_upload_s", upload_s)
    record("small_pdf_upload_to_answer_s", first_answer_s)
    labels = citation_labels(page)
    assert labels, reply
    assert labels[0] == f"[1] {MANUAL} · p. 3", labels
    assert f"{MANUAL} · p. 3" in reply  # the reply lists its sources with file and page

    follow_up = ask(page, "What does the service include?")
    assert follow_up.strip()
    assert page.locator("#chatbot [data-testid='user']").count() == 2
    assert any("p. 3" in label for label in citation_labels(page)), citation_labels(page)

    page.locator("#citations label", has_text="p. 3").first.click()
    image = page.locator("#page-image img")
    expect(image).to_be_visible(timeout=30_000)
    width = image.evaluate("img => img.complete ? img.naturalWidth : 0")
    assert width >= 600
    expect(page.locator("#page-note")).to_contain_text("page 3 of 6")
    expect(page.locator("#page-note")).to_contain_text("marked on the page")
    expect(page.locator("#passage")).to_contain_text("irrigation pump")
    # Tall enough to show the answer, its sources and the marked page together.
    page.set_viewport_size({"width": 1400, "height": 1500})
    page.screenshot(path=str(artifacts / "03-answer-with-cited-page.png"))
    page.context.close()


def test_two_sessions_keep_their_own_history(browser, ui_server: Server, artifacts: Path) -> None:
    from playwright.sync_api import expect

    english = open_app(browser, ui_server)
    chinese = open_app(browser, ui_server, locale="zh-CN")
    question_en = "What temperature does the heating keep in the vegetable zone?"
    question_zh = "滴灌系统每天什么时候启动？"
    # Both questions are in the queue at once; the model answers them one after the other.
    for page, question in ((english, question_en), (chinese, question_zh)):
        page.locator("#question textarea").fill(question)
        page.locator("#question textarea").press("Enter")
    for page in (english, chinese):
        expect(page.locator("#chatbot [data-testid='bot']")).to_have_count(1, timeout=30_000)
        expect(page.locator("#send")).to_be_enabled(timeout=ANSWER_TIMEOUT_MS)

    english_chat = english.locator("#chatbot").inner_text()
    chinese_chat = chinese.locator("#chatbot").inner_text()
    assert question_en in english_chat and question_zh not in english_chat
    assert question_zh in chinese_chat and question_en not in chinese_chat
    assert citation_labels(english)[0] == f"[1] {MANUAL} · p. 2"
    assert citation_labels(chinese)[0] == f"[1] {MANUAL} · 第 5 页"

    chinese.screenshot(path=str(artifacts / "04-second-session-chinese.png"), full_page=True)

    # Clearing one conversation leaves the other alone.
    english.locator("#clear").click()
    expect(english.locator("#chatbot [data-testid='user']")).to_have_count(0)
    expect(english.locator("#citations label")).to_have_count(0)
    assert chinese.locator("#chatbot [data-testid='user']").count() == 1
    assert citation_labels(chinese)[0] == f"[1] {MANUAL} · 第 5 页"
    english.context.close()
    chinese.context.close()


def test_retrieval_tab_shows_scored_chunks(browser, ui_server: Server, artifacts: Path) -> None:
    from playwright.sync_api import expect

    page = open_app(browser, ui_server)
    page.get_by_role("tab", name="Retrieval").click()
    box = page.locator("#search-query textarea")
    box.fill("grow lights winter hours")
    box.press("Enter")
    results = page.locator("#search-results")
    expect(results).to_contain_text("Lighting", timeout=30_000)
    # Gradio's table is a grid of cells named by row and column.
    cells = [results.locator(f"[data-testid='cell-0-{c}']").inner_text().strip() for c in range(6)]
    assert cells[0] == "1" and cells[3] == MANUAL and cells[4] == "4", cells
    assert 0.0 < float(cells[1]) <= 1.0
    assert 0.0 <= float(cells[2]) <= 1.0  # the calibrated relevance
    page.screenshot(path=str(artifacts / "05-retrieval.png"))
    page.context.close()


def test_settings_apply_to_this_session(browser, ui_server: Server) -> None:
    from playwright.sync_api import expect

    page = open_app(browser, ui_server)
    page.get_by_role("tab", name="Settings").click()
    top_k = page.locator("#top-k input[type=number]")
    top_k.fill("2")
    top_k.press("Enter")
    expect(page.locator("#model-status")).to_contain_text("smollm2", ignore_case=True)
    page.get_by_role("tab", name="Retrieval").click()
    box = page.locator("#search-query textarea")
    box.fill("greenhouse")
    box.press("Enter")
    results = page.locator("#search-results")
    expect(results.locator("[data-testid='cell-1-0']")).to_have_text("2", timeout=30_000)
    expect(results.locator("[data-testid='cell-2-0']")).to_have_count(0)
    page.context.close()


def test_create_switch_and_delete(browser, ui_server: Server, artifacts: Path) -> None:
    from playwright.sync_api import expect

    page = open_app(browser, ui_server)
    new_name = page.locator("#kb-new input, #kb-new textarea").first
    new_name.fill("second")
    page.locator("#kb-create").click()
    expect(page.locator("#kb-status")).to_contain_text("Knowledge base second · files: 0")
    expect(page.locator("#files")).not_to_contain_text(MANUAL)

    page.locator("#kb-select input").click()
    page.get_by_role("option", name="default").click()
    expect(page.locator("#files")).to_contain_text(MANUAL)

    page.locator("#reindex").click()
    expect(page.locator("#kb-status")).to_contain_text("Re-indexed", timeout=60_000)
    expect(page.locator("#kb-status")).to_contain_text("0 failed")

    page.locator("#delete-select input").click()
    page.get_by_role("option", name=MANUAL).click()
    page.locator("#delete").click()
    expect(page.locator("#kb-status")).to_contain_text(f"Deleted {MANUAL}")
    expect(page.locator("#files")).not_to_contain_text(MANUAL)
    # The kept upload went with it: nothing is left to render pages from.
    assert not (ui_server.home / "uploads" / "default" / MANUAL).exists()
    page.screenshot(path=str(artifacts / "06-deleted.png"))
    page.context.close()


def test_a_table_source_is_shown_as_a_table(
    browser, ui_server: Server, artifacts: Path, tmp_path: Path
) -> None:
    """A spreadsheet-like upload: the answer cites the table, and its passage renders as one."""
    from playwright.sync_api import expect

    sheet = tmp_path / "pump-settings.csv"
    rows = [("Setting", "Default", "Meaning")]
    rows += [(f"zone{n}.flow", f"{100 + n} l/h", f"water flow of zone {n}") for n in range(12)]
    rows[5] = ("pump.service.interval", "42 days", "time between two pump services")
    sheet.write_text("\n".join(",".join(row) for row in rows), "utf-8")
    page = open_app(browser, ui_server)
    page.locator("#upload input[type=file]").set_input_files([str(sheet)])
    expect(page.locator("#upload-report")).to_contain_text("added", timeout=120_000)

    ask(page, "What is the default of pump.service.interval?")
    labels = citation_labels(page)
    assert labels and labels[0] == "[1] pump-settings.csv · pump-settings.csv", labels
    page.locator("#citations label").first.click()
    table = page.locator("#passage table")
    expect(table).to_be_visible(timeout=30_000)
    expect(table.locator("th").first).to_have_text("Setting")
    expect(table).to_contain_text("pump.service.interval")
    expect(page.locator("#page-note")).to_contain_text("not a PDF")
    page.screenshot(path=str(artifacts / "07-table-source.png"))
    page.context.close()
