"""Measure the web app in a real browser: page load time, and the time from uploading a 50-page
PDF to the first answer (first streamed token and complete answer), with the default model.

    python -m tests.ui.bench_ui [--pages 50] [--loads 5]

Not a test (pytest does not collect it); figures go to stdout and test-artifacts/ui/bench.json.
docs/bench/ui.md records a run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import tempfile
import time
from pathlib import Path

from tests.docgen import write_text_pdf
from tests.ui.conftest import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, start_server, stop_server

FACT_PAGE = 37
FACT = (
    "The backup generator in building C must be tested every 19 days, and its fuel tank holds "
    "450 litres of diesel."
)
QUESTION = "How often must the backup generator in building C be tested?"
FOLLOW_UP = "How much fuel does its tank hold?"

_SUBJECTS = ["pump", "boiler", "conveyor", "chiller", "compressor", "valve", "sensor", "fan"]
_VERBS = ["inspected", "cleaned", "calibrated", "lubricated", "replaced", "logged", "checked"]
_PLACES = ["hall A", "hall B", "the north wing", "the roof", "the basement", "the loading dock"]


def manual_pages(count: int, seed: int = 7) -> list[str]:
    """`count` pages of plausible maintenance prose (about 1,700 characters each), one fact planted."""
    rng = random.Random(seed)
    pages = []
    for number in range(1, count + 1):
        sentences = [f"Section {number}. Maintenance notes for unit {number}."]
        while sum(len(s) for s in sentences) < 1700:
            sentences.append(
                f"The {rng.choice(_SUBJECTS)} in {rng.choice(_PLACES)} is "
                f"{rng.choice(_VERBS)} every {rng.randint(2, 90)} days by shift "
                f"{rng.randint(1, 4)}, and the result is recorded in log {rng.randint(100, 999)}."
            )
        if number == FACT_PAGE:
            sentences.insert(3, FACT)
        pages.append(" ".join(sentences))
    return pages


def _reply_text(page, index: int) -> str:
    replies = page.locator("#chatbot [data-testid='bot']")
    return replies.nth(index).inner_text().strip() if replies.count() > index else ""


def time_answer(page, question: str, index: int) -> tuple[float, float, str]:
    """(seconds to the first answer text, seconds to the complete answer, the answer)."""
    from playwright.sync_api import expect

    started = time.perf_counter()
    page.locator("#question textarea").fill(question)
    page.locator("#question textarea").press("Enter")
    # Until the model's first words arrive the reply shows a placeholder or a status line
    # ("Loading the model …", "Searching the knowledge base…"): all of them end with "…".
    while True:
        text = _reply_text(page, index)
        if text and not text.endswith("…"):
            first = time.perf_counter() - started
            break
        if time.perf_counter() - started > 600:
            raise TimeoutError("no answer in 10 minutes")
        time.sleep(0.05)
    expect(page.locator("#send")).to_be_enabled(timeout=600_000)
    total = time.perf_counter() - started
    return first, total, _reply_text(page, index)


def time_page_loads(browser, url: str, count: int) -> tuple[list[float], dict[str, float]]:
    """Seconds from navigation to a usable app (its load event done), for `count` fresh visits."""
    from playwright.sync_api import expect

    loads, timing = [], {}
    for _ in range(count):
        context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="en-US")
        page = context.new_page()
        started = time.perf_counter()
        page.goto(url)
        # Ready: the load event has filled in the knowledge-base summary.
        expect(page.locator("#kb-status")).to_contain_text("Knowledge base", timeout=60_000)
        loads.append(time.perf_counter() - started)
        timing = page.evaluate(
            "() => { const n = performance.getEntriesByType('navigation')[0];"
            " return {dom: n.domContentLoadedEventEnd, load: n.loadEventEnd}; }"
        )
        context.close()
    return loads, timing


def main() -> None:
    from playwright.sync_api import expect, sync_playwright

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=50)
    parser.add_argument("--loads", type=int, default=5, help="page loads to time, per phase")
    args = parser.parse_args()

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="kbqa-ui-bench-"))
    pdf = write_text_pdf(work / f"plant-manual-{args.pages}p.pdf", manual_pages(args.pages))
    home = work / "home"
    home.mkdir()
    started = time.perf_counter()
    server = start_server(home, "bench", "--lang", "en", env={"KBQA_LLM__MAX_NEW_TOKENS": "256"})
    server_start_s = time.perf_counter() - started
    results: dict[str, object] = {
        "pages": args.pages,
        "pdf_bytes": pdf.stat().st_size,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "load_average_at_start": round(os.getloadavg()[0], 2),
        "server_start_s": round(server_start_s, 2),
    }
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            loads, timing = time_page_loads(browser, server.url, args.loads + 1)
            # Right after start-up the model is still loading in the background.
            results["page_load_first_s"] = round(loads[0], 3)
            results["page_load_while_model_loads_median_s"] = round(statistics.median(loads[1:]), 3)
            results["page_dom_content_loaded_ms"] = round(timing["dom"])
            results["page_load_event_ms"] = round(timing["load"])

            context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="en-US")
            page = context.new_page()
            page.goto(server.url)
            expect(page.locator("#kb-status")).to_contain_text("Knowledge base")
            t0 = time.perf_counter()
            page.locator("#upload input[type=file]").set_input_files(str(pdf))
            saw_progress = False
            report = page.locator("#upload-report")
            bar = page.locator("#upload-report .progress-text, #upload-report .eta-bar")
            while "added" not in report.inner_text():
                if not saw_progress and bar.count() > 0:
                    saw_progress = True
                    page.screenshot(path=str(ARTIFACTS / "bench-progress.png"))
                if time.perf_counter() - t0 > 600:
                    raise TimeoutError("ingestion took over 10 minutes")
                time.sleep(0.1)
            ingest_s = time.perf_counter() - t0
            first_s, total_s, answer = time_answer(page, QUESTION, 0)
            results["upload_to_ingested_s"] = round(ingest_s, 2)
            results["progress_bar_seen"] = saw_progress
            results["question_to_first_token_cold_s"] = round(first_s, 2)
            results["question_to_answer_cold_s"] = round(total_s, 2)
            results["upload_to_first_token_s"] = round(ingest_s + first_s, 2)
            results["upload_to_complete_answer_s"] = round(ingest_s + total_s, 2)
            results["answer"] = answer
            results["cited_right_page"] = f"p. {FACT_PAGE}" in answer
            first_s, total_s, answer = time_answer(page, FOLLOW_UP, 1)
            results["follow_up_first_token_warm_s"] = round(first_s, 2)
            results["follow_up_answer_warm_s"] = round(total_s, 2)
            results["follow_up_answer"] = answer
            page.screenshot(path=str(ARTIFACTS / "bench-answer.png"), full_page=True)
            context.close()
            loads, _ = time_page_loads(browser, server.url, args.loads)
            results["page_load_idle_median_s"] = round(statistics.median(loads), 3)
            browser.close()
    finally:
        stop_server(server)
    results["load_average_at_end"] = round(os.getloadavg()[0], 2)
    (ARTIFACTS / "bench.json").write_text(json.dumps(results, indent=2, ensure_ascii=False))
    print(json.dumps(results, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
