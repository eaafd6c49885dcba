"""The Gradio app: assembles the panels (kbqa/ui/panels/) into one page and launches it.

Each panel builds its components and wires its own events: the knowledge-base panel (with the
upload area), the chat, retrieval and settings tabs. Per-user state (history, citations, settings,
language) lives in a `Session` held by `gr.State`, so every browser session has its own; what
they share (knowledge bases, the model cache, uploads) is one `kbqa.service.Service`. Model calls run through Gradio's queue under a
concurrency limit.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path
from typing import Any

import gradio as gr

from kbqa.service import Service
from kbqa.service.access import LoginThrottle, check_binding, current_client, throttled_login
from kbqa.settings import Settings
from kbqa.ui.core import Session
from kbqa.ui.i18n import LANGUAGES, pick_language, t
from kbqa.ui.panels import Context, chat, kb, search, upload
from kbqa.ui.panels import settings as settings_tab

log = logging.getLogger(__name__)

# CJK fonts after the theme's own, so Chinese renders with a real face on every OS.
FONTS = (
    "Source Sans Pro",
    "WenQuanYi Micro Hei",
    "Noto Sans CJK SC",
    "PingFang SC",
    "Microsoft YaHei",
    "ui-sans-serif",
    "sans-serif",
)
CSS = """
#page-image img { object-fit: contain; }
#passage blockquote { border-left: 4px solid #f0a000; background: #fff8db; padding: 0.4em 0.8em; }
footer { display: none !important; }
"""


def create_app(settings: Settings, *, lang: str | None = None, preload: bool = False) -> gr.Blocks:
    """Build the app for `settings`. `lang` fixes the language; None follows the browser.
    `preload` starts loading the configured model in the background."""
    service = Service(settings)
    if preload:
        service.preload(settings)
    ctx = Context(settings, service, lang)

    with gr.Blocks(title="kbqa", fill_width=True) as demo:
        state = gr.State(None)
        with gr.Row(equal_height=True):
            ctx.tr(
                gr.Markdown(elem_id="title"),
                value=lambda l_: f"{t(l_, 'title')}\n{t(l_, 'subtitle')}",
            )
            language = gr.Radio(
                choices=[(name, code) for code, name in LANGUAGES.items()],
                value=ctx.start_lang,
                elem_id="language",
                scale=0,
                min_width=220,
                container=False,
            )
            ctx.tr(language, label="language")

        with gr.Row():
            with gr.Column(scale=2, min_width=360):
                kb_panel = kb.build(ctx)
            with gr.Column(scale=5), gr.Tabs():
                with ctx.tr(gr.Tab(id="chat", elem_id="tab-chat"), label="tab_chat"):
                    chat_panel = chat.build(ctx)
                with ctx.tr(gr.Tab(id="search", elem_id="tab-search"), label="tab_search"):
                    search_panel = search.build(ctx)
                with ctx.tr(gr.Tab(id="settings", elem_id="tab-settings"), label="tab_settings"):
                    settings_panel = settings_tab.build(ctx)

        kb.wire(ctx, kb_panel, chat_panel, state)
        chat.wire(ctx, chat_panel, state, clear_buttons=[settings_panel.clear])
        search.wire(ctx, search_panel, state)
        settings_tab.wire(ctx, settings_panel, state)
        _wire_page(ctx, demo, state, language, kb_panel, search_panel, settings_panel)

    return demo


def _wire_page(
    ctx: Context,
    demo: gr.Blocks,
    state: gr.State,
    language: gr.Radio,
    kb_panel: kb.KBPanel,
    search_panel: search.SearchPanel,
    settings_panel: settings_tab.SettingsPanel,
) -> None:
    """The page's load and language events: they set every panel's text in the language."""
    label_targets = ctx.label_targets
    result_tables = [kb_panel.upload.report, search_panel.results]

    def texts(session: Session, lang: str) -> list[Any]:
        # The empty result tables carry their headers in `lang`; then every translated label.
        return [
            settings_tab.model_status(ctx, session),
            upload.empty_report(ctx, lang),
            search.empty_results(ctx, lang),
            *ctx.relabel(lang),
        ]

    def on_load(session: Session | None, request: gr.Request) -> list[Any]:
        lang = ctx.lang or pick_language(request.headers.get("accept-language"))
        session = ctx.ensure(session, lang)
        session.lang = lang
        names = ctx.service.kbs.names()
        if session.kb_name not in names:
            ctx.service.kbs.open(session.kb_name, create=True)
            names = ctx.service.kbs.names()
        files, deletable = kb.file_outputs(ctx, session)
        return [
            session,
            gr.update(value=lang),
            gr.update(choices=names, value=session.kb_name),
            files,
            deletable,
            # Set last of all by the page's load event: tests wait for it.
            kb.summary(ctx, session),
            *texts(session, lang),
        ]

    demo.load(
        on_load,
        inputs=[state],
        outputs=[state, language, kb_panel.select, *kb_panel.refreshed_outputs]
        + [settings_panel.status]
        + result_tables
        + label_targets,
        # No loading overlays on every label: the page is usable as it is.
        show_progress="hidden",
    )

    def on_language(lang: str, session: Session | None) -> list[Any]:
        session = ctx.ensure(session, lang)
        session.lang = lang
        files, _ = kb.file_outputs(ctx, session)
        return [session, files, kb.summary(ctx, session), *texts(session, lang)]

    language.input(
        on_language,
        inputs=[language, state],
        outputs=[state, kb_panel.files, kb_panel.status, settings_panel.status]
        + result_tables
        + label_targets,
        show_progress="hidden",
    )


def _upload_folder_outside(cwd: Path, home: Path) -> None:
    """Keep Gradio's upload folder out of the working directory `cwd`.

    Gradio refuses a whole batch of uploads, with no message, when one of them is dot-named
    (".notes.txt") and its upload folder lies under the working directory (the default
    /tmp/gradio, for a server started in /tmp). Such files are kbqa's to judge: it saves them
    under a sanitised name and says so on their row. (Making the folder an allowed path instead
    would serve uploaded HTML inline.) A folder the user chose (GRADIO_TEMP_DIR) is left alone.
    """
    from gradio.utils import get_upload_folder

    cwd = cwd.resolve()
    if os.environ.get("GRADIO_TEMP_DIR") or not _inside(Path(get_upload_folder()), cwd):
        return
    for folder in (home.expanduser() / "cache" / "gradio", Path(tempfile.gettempdir(), "gradio")):
        if not _inside(folder, cwd):
            os.environ["GRADIO_TEMP_DIR"] = str(folder.resolve())
            return
    log.warning("Gradio's upload folder is inside %s: dot-named uploads will be refused", cwd)


def _inside(path: Path, folder: Path) -> bool:
    return path.resolve().is_relative_to(folder)


def _login(credentials: tuple[str, str], settings: Settings) -> Any:
    """Gradio's login check: the credentials behind the settings' login throttle."""
    ui = settings.ui
    throttle = LoginThrottle(
        max_failures=ui.login_attempts,
        window=ui.login_window_s,
        base_delay=ui.login_backoff_s,
        max_delay=max(ui.login_backoff_max_s, ui.login_backoff_s),
    )
    return throttled_login(credentials, throttle)


class _ClientAddress:
    """ASGI middleware: the client's address in `current_client` while its request runs, so
    the login throttle counts failures per client as well as per user name. Behind a reverse
    proxy the client is the proxy (X-Forwarded-For is not trusted)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope.get("type") != "http":
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        token = current_client.set(str(client[0]) if client else None)
        try:
            await self.app(scope, receive, send)
        finally:
            current_client.reset(token)


def _client_middleware() -> Any:
    from starlette.middleware import Middleware

    return Middleware(_ClientAddress)


def launch(
    settings: Settings,
    *,
    lang: str | None = None,
    block: bool = True,
) -> gr.Blocks:
    """Start the app on settings.ui.host:port; refuses a public address without a login."""
    ui = settings.ui
    credentials = check_binding(ui.host, ui.auth)
    _upload_folder_outside(Path.cwd(), settings.home)
    # The configured model loads while the user opens the page and uploads: the first question
    # need not wait for it. Models chosen later in the settings load on demand.
    demo = create_app(settings, lang=lang, preload=True)
    # Light events (listing files, opening a page) need not wait for a running answer; model
    # calls carry their own, lower limit (concurrency_id "model").
    demo.queue(default_concurrency_limit=max(4, ui.concurrency_limit))
    demo.launch(
        server_name=ui.host,
        server_port=ui.port or None,
        auth=_login(credentials, settings) if credentials else None,
        auth_message="kbqa",
        app_kwargs={"middleware": [_client_middleware()]},
        max_file_size=f"{ui.max_upload_mb}mb",
        theme=gr.themes.Default(font=list(FONTS)),
        css=CSS,
        ssr_mode=False,
        footer_links=[],
        prevent_thread_lock=True,
        show_error=False,  # handlers raise gr.Error with a message meant for users
        quiet=True,  # Gradio's banner suggests share=True, which kbqa never uses
    )
    login = f", login required as {credentials[0]}" if credentials else ""
    print(f"kbqa ui: knowledge base {settings.kb!r} at {demo.local_url}{login}", flush=True)
    if block:
        print("kbqa ui: press Ctrl+C to stop", flush=True)
        demo.block_thread()
    return demo
