"""A server started with a login: nothing is reachable without it, and uploads are capped."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.ui.conftest import Server, start_server, stop_server

pytestmark = pytest.mark.browser

USER, PASSWORD = "alice", "open-sesame"


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    home = tmp_path_factory.mktemp("kbqa-guarded-home")
    server = start_server(
        home,
        "guarded",
        "--auth",
        f"{USER}:{PASSWORD}",
        env={"KBQA_UI__MAX_UPLOAD_MB": "1"},
    )
    yield server
    stop_server(server)


def test_nothing_answers_without_the_login(guarded: Server) -> None:
    import httpx

    assert httpx.get(guarded.url + "/config").status_code == 401
    upload = httpx.post(
        guarded.url + "/gradio_api/upload", files={"files": ("a.pdf", b"%PDF-1.4\n")}
    )
    assert upload.status_code == 401
    bad = httpx.post(guarded.url + "/login", data={"username": USER, "password": "guess"})
    assert bad.status_code == 400


def test_uploads_over_the_cap_are_refused(guarded: Server) -> None:
    import httpx

    with httpx.Client(base_url=guarded.url) as client:
        login = client.post("/login", data={"username": USER, "password": PASSWORD})
        assert login.status_code == 200
        small = client.post("/gradio_api/upload", files={"files": ("ok.md", b"# fine\n")})
        assert small.status_code == 200
        big = b"# big\n" + b"x" * (1024 * 1024 + 10)
        refused = client.post("/gradio_api/upload", files={"files": ("big.md", big)})
        assert refused.status_code == 413


def test_browser_login(browser, guarded: Server, artifacts) -> None:
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 1200, "height": 800})
    page = context.new_page()
    page.goto(guarded.url)
    expect(page.get_by_role("button", name="Login")).to_be_visible(timeout=30_000)
    assert page.locator("#question").count() == 0
    page.screenshot(path=str(artifacts / "07-login.png"))
    page.locator("input[type=text]").fill(USER)
    page.locator("input[type=password]").fill(PASSWORD)
    page.get_by_role("button", name="Login").click()
    expect(page.locator("#question textarea")).to_be_visible(timeout=30_000)
    context.close()
