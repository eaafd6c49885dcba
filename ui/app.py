"""The Gradio app: knowledge-base panel, chat with citations and page images, retrieval, settings.

Per-user state (history, citations, settings, language) lives in a `Session` held by `gr.State`,
so every browser session has its own; shared objects (knowledge bases, the model) live in one
`Resources` behind locks. Model calls run through Gradio's queue under a concurrency limit.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import gradio as gr

from kbqa.settings import Settings
from kbqa.ui.access import check_binding
from kbqa.ui.core import (
    Resources,
    Session,
    ask,
    citation_label,
    delete_file,
    file_rows,
    format_answer,
    ingest_uploads,
    model_choices,
    new_session,
    open_citation,
    reindex,
    search_rows,
    user_message,
)
from kbqa.ui.i18n import LANGUAGES, pick_language, t
from kbqa.ui.uploads import allowed_extensions

if TYPE_CHECKING:
    import pandas as pd

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

Text = str | Callable[[str], str]  # a translation key, or a function of the language


def create_app(settings: Settings, *, lang: str | None = None, preload: bool = False) -> gr.Blocks:
    """Build the app for `settings`. `lang` fixes the language; None follows the browser.
    `preload` starts loading the configured model in the background."""
    resources = Resources(settings)
    if preload:
        resources.preload(settings.llm)
    start_lang = lang or "en"
    translated: list[tuple[Any, dict[str, Text]]] = []

    def tr(block: Any, **attrs: Text) -> Any:
        """Register `block`'s attributes for translation; they are set from the keys on load."""
        translated.append((block, attrs))
        return block

    def text(value: Text, lang_: str) -> str:
        return value(lang_) if callable(value) else t(lang_, value)

    def relabel(lang_: str) -> list[Any]:
        return [
            gr.update(**{attr: text(value, lang_) for attr, value in attrs.items()})
            for _, attrs in translated
        ]

    def ensure(session: Session | None, lang_: str | None = None) -> Session:
        if session is None:
            session = new_session(settings, lang_ or start_lang)
        return session

    extensions = ", ".join(sorted(allowed_extensions()))
    retrieval, llm = settings.retrieval, settings.llm

    def headers(lang_: str, keys: list[str]) -> list[str]:
        return [t(lang_, key) for key in keys]

    file_cols = ["col_file", "col_chunks", "col_pages"]
    report_cols = ["col_file", "col_result", "col_detail"]
    search_cols = ["col_rank", "col_score", "col_file", "col_page", "col_text"]

    def table(rows: list[list[Any]], lang_: str, keys: list[str]) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame(rows, columns=headers(lang_, keys))

    with gr.Blocks(title="kbqa", fill_width=True) as demo:
        state = gr.State(None)
        with gr.Row(equal_height=True):
            tr(
                gr.Markdown(elem_id="title"),
                value=lambda l_: f"{t(l_, 'title')}\n{t(l_, 'subtitle')}",
            )
            language = gr.Radio(
                choices=[(name, code) for code, name in LANGUAGES.items()],
                value=start_lang,
                elem_id="language",
                scale=0,
                min_width=220,
                container=False,
            )
            tr(language, label="language")

        with gr.Row():
            # -- knowledge-base panel ----------------------------------------------------
            with gr.Column(scale=2, min_width=360):
                tr(gr.Markdown(), value="kb_panel")
                kb_select = tr(
                    gr.Dropdown(choices=[settings.kb], value=settings.kb, elem_id="kb-select"),
                    label="kb_choose",
                )
                with gr.Row(equal_height=True):
                    kb_new = tr(
                        gr.Textbox(elem_id="kb-new", scale=3, max_lines=1),
                        label="kb_new",
                        placeholder="kb_new_placeholder",
                    )
                    kb_create = tr(gr.Button(elem_id="kb-create", scale=1), value="kb_create")
                upload = tr(
                    gr.File(file_count="multiple", type="filepath", elem_id="upload", height=130),
                    label="upload",
                )
                tr(
                    gr.Markdown(elem_id="upload-hint"),
                    value=lambda l_: t(
                        l_, "upload_types", types=extensions, mb=settings.ui.max_upload_mb
                    ),
                )
                upload_report = tr(
                    gr.Dataframe(
                        headers=headers(start_lang, report_cols),
                        interactive=False,
                        wrap=True,
                        elem_id="upload-report",
                        column_widths=["40%", "22%", "38%"],
                        max_height=220,
                    ),
                    label="upload_report",
                )
                files_table = tr(
                    gr.Dataframe(
                        headers=headers(start_lang, file_cols),
                        interactive=False,
                        elem_id="files",
                        max_height=300,
                    ),
                    label="files",
                )
                with gr.Row(equal_height=True):
                    delete_choice = tr(
                        gr.Dropdown(choices=[], elem_id="delete-select", scale=3),
                        label="delete_choose",
                    )
                    delete_button = tr(
                        gr.Button(variant="stop", elem_id="delete", scale=1), value="delete"
                    )
                reindex_button = tr(gr.Button(elem_id="reindex", size="sm"), value="reindex")
                kb_status = gr.Markdown(elem_id="kb-status")

            # -- chat, retrieval, settings -----------------------------------------------
            with gr.Column(scale=5), gr.Tabs():
                with tr(gr.Tab(id="chat", elem_id="tab-chat"), label="tab_chat"):
                    chatbot = tr(
                        gr.Chatbot(
                            elem_id="chatbot",
                            height=460,
                            feedback_options=None,
                            buttons=["copy", "copy_all"],
                        ),
                        label="chatbot",
                    )
                    with gr.Row(equal_height=True):
                        question = tr(
                            gr.Textbox(elem_id="question", scale=6, max_lines=4),
                            label="question",
                            placeholder="question_placeholder",
                        )
                        send = tr(
                            gr.Button(variant="primary", elem_id="send", scale=1),
                            value="send",
                        )
                        clear = tr(gr.Button(elem_id="clear", scale=1), value="clear")
                    citations = tr(
                        gr.Radio(choices=[], elem_id="citations", interactive=True),
                        label="citations",
                    )
                    # The cited passage, then its page at full width so its text stays legible.
                    passage = gr.Markdown(elem_id="passage")
                    page_note = gr.Markdown(elem_id="page-note")
                    page_image = tr(
                        gr.Image(
                            type="pil",
                            format="png",
                            interactive=False,
                            elem_id="page-image",
                            buttons=["fullscreen", "download"],
                            visible=False,  # shown with the first opened citation
                        ),
                        label="page_image",
                    )

                with tr(gr.Tab(id="search", elem_id="tab-search"), label="tab_search"):
                    with gr.Row(equal_height=True):
                        search_query = tr(
                            gr.Textbox(elem_id="search-query", scale=5, max_lines=2),
                            label="search_query",
                        )
                        search_mode = tr(
                            gr.Radio(
                                ["hybrid", "dense", "bm25"],
                                value=retrieval.mode,
                                elem_id="search-mode",
                                scale=2,
                            ),
                            label="search_mode",
                        )
                        search_button = tr(
                            gr.Button(variant="primary", elem_id="search-button", scale=1),
                            value="search_button",
                        )
                    search_table = tr(
                        gr.Dataframe(
                            headers=headers(start_lang, search_cols),
                            interactive=False,
                            wrap=True,
                            elem_id="search-results",
                            column_widths=["5%", "8%", "17%", "7%", "63%"],
                        ),
                        label="search_results",
                    )

                with tr(gr.Tab(id="settings", elem_id="tab-settings"), label="tab_settings"):
                    model = tr(
                        gr.Dropdown(
                            choices=model_choices(llm.model),
                            value=llm.model,
                            allow_custom_value=True,
                            elem_id="model",
                        ),
                        label="model",
                        info="model_info",
                    )
                    quantize = tr(
                        gr.Radio(["none", "int8", "int4"], value=llm.quantize, elem_id="quantize"),
                        label="quantize",
                    )
                    top_k = tr(
                        gr.Slider(1, 20, value=retrieval.k, step=1, elem_id="top-k"),
                        label="top_k",
                    )
                    threshold = tr(
                        gr.Slider(0, 1, value=retrieval.threshold, step=0.05, elem_id="threshold"),
                        label="threshold",
                        info="threshold_info",
                    )
                    temperature = tr(
                        gr.Slider(0, 2, value=llm.temperature, step=0.1, elem_id="temperature"),
                        label="temperature",
                        info="temperature_info",
                    )
                    model_status = gr.Markdown(elem_id="model-status")
                    clear_too = tr(gr.Button(elem_id="clear-settings"), value="clear")

        label_targets = [block for block, _ in translated]

        # -- helpers shared by the handlers ----------------------------------------------
        def kb_outputs(session: Session) -> tuple[Any, Any]:
            rows = file_rows(resources, session.kb_name)
            sources = [row[0] for row in rows]
            return (
                table(rows, session.lang, file_cols),
                gr.update(choices=sources, value=None),
            )

        def kb_summary(session: Session) -> str:
            rows = file_rows(resources, session.kb_name)
            if not rows:
                return t(session.lang, "kb_summary", name=session.kb_name, files=0, chunks=0) + (
                    " " + t(session.lang, "kb_empty")
                )
            chunks = sum(int(row[1]) for row in rows)
            return t(
                session.lang, "kb_summary", name=session.kb_name, files=len(rows), chunks=chunks
            )

        def model_status_text(session: Session) -> str:
            wanted = session.settings.llm
            values = {"model": wanted.model, "quantize": wanted.quantize}
            loaded = resources.loaded_models()
            if wanted.model in loaded:
                return t(session.lang, "model_status_loaded", **values)
            if resources.loading_model() == wanted.model:
                return t(session.lang, "model_status_loading", **values)
            if not loaded:
                return t(session.lang, "model_status_none", **values)
            return t(session.lang, "model_status_pending", **values)

        def cleared_chat() -> tuple[Any, ...]:
            # chatbot, citations, passage, page note, page image
            no_image = gr.update(value=None, visible=False)
            return [], gr.update(choices=[], value=None), "", "", no_image

        def fail(error: BaseException, session: Session) -> gr.Error:
            if not isinstance(error, gr.Error):
                log.warning("ui action failed", exc_info=error)
            return gr.Error(user_message(error, session.lang))

        # -- load and language -----------------------------------------------------------
        def on_load(session: Session | None, request: gr.Request) -> list[Any]:
            lang_ = lang or pick_language(request.headers.get("accept-language"))
            session = ensure(session, lang_)
            session.lang = lang_
            names = resources.kb_names()
            if session.kb_name not in names:
                resources.kb(session.kb_name, create=True)
                names = resources.kb_names()
            files, deletable = kb_outputs(session)
            return [
                session,
                gr.update(value=lang_),
                gr.update(choices=names, value=session.kb_name),
                files,
                deletable,
                # Set last of all by the page's load event: tests wait for it.
                kb_summary(session),
                model_status_text(session),
                *empty_tables(lang_),
                *relabel(lang_),
            ]

        def empty_tables(lang_: str) -> tuple[Any, Any]:
            # Dataframe headers are part of the value: an empty frame puts them in `lang_`.
            return table([], lang_, report_cols), table([], lang_, search_cols)

        result_tables = [upload_report, search_table]
        demo.load(
            on_load,
            inputs=[state],
            outputs=[state, language, kb_select, files_table, delete_choice, kb_status]
            + [model_status]
            + result_tables
            + label_targets,
            # No loading overlays on every label: the page is usable as it is.
            show_progress="hidden",
        )

        def on_language(lang_: str, session: Session | None) -> list[Any]:
            session = ensure(session, lang_)
            session.lang = lang_
            files, _ = kb_outputs(session)
            return [
                session,
                files,
                kb_summary(session),
                model_status_text(session),
                *empty_tables(lang_),
                *relabel(lang_),
            ]

        language.input(
            on_language,
            inputs=[language, state],
            outputs=[state, files_table, kb_status, model_status] + result_tables + label_targets,
            show_progress="hidden",
        )

        # -- knowledge-base panel --------------------------------------------------------
        def on_switch_kb(name: str, session: Session | None) -> list[Any]:
            session = ensure(session)
            if name and name != session.kb_name:
                session.settings.kb = name
                session.conversation = None
                session.citations = []
            files, deletable = kb_outputs(session)
            return [session, *cleared_chat(), files, deletable, kb_summary(session)]

        switch_outputs = [state, chatbot, citations, passage, page_note, page_image]
        switch_outputs += [files_table, delete_choice, kb_status]
        kb_select.input(on_switch_kb, inputs=[kb_select, state], outputs=switch_outputs)

        def on_create_kb(name: str, session: Session | None) -> list[Any]:
            session = ensure(session)
            name = (name or "").strip()
            if not name:
                raise gr.Error(t(session.lang, "kb_name_needed"))
            try:
                resources.create_kb(name)
            except Exception as error:
                raise fail(error, session) from error
            choices = gr.update(choices=resources.kb_names(), value=name)
            rest = on_switch_kb(name, session)
            rest[-1] = t(session.lang, "kb_created", name=name) + " " + rest[-1]
            return [choices, ""] + rest

        gr.on(
            [kb_create.click, kb_new.submit],
            on_create_kb,
            inputs=[kb_new, state],
            outputs=[kb_select, kb_new] + switch_outputs,
        )

        def on_upload(
            files: list[str] | None,
            session: Session | None,
            progress=gr.Progress(),  # noqa: B008 (Gradio finds the tracker by this default)
        ) -> list[Any]:
            session = ensure(session)
            if not files:
                return [gr.skip(), None, gr.skip(), gr.skip(), gr.skip(), session]

            def report(done: int, total: int, name: str) -> None:
                number = min(done + 1, total)
                desc = t(session.lang, "indexing", name=name, i=number, n=total)
                progress((done, total), desc=desc, unit="files")

            try:
                rows = ingest_uploads(resources, session, files, progress=report)
            except Exception as error:
                raise fail(error, session) from error
            files_df, deletable = kb_outputs(session)
            report = table(rows, session.lang, report_cols)
            return [report, None, files_df, deletable, kb_summary(session), session]

        upload.upload(
            on_upload,
            inputs=[upload, state],
            outputs=[upload_report, upload, files_table, delete_choice, kb_status, state],
            show_progress_on=[upload_report],
            concurrency_id="ingest",
            concurrency_limit=1,
        )

        def on_delete(source: str | None, session: Session | None) -> list[Any]:
            session = ensure(session)
            if not source:
                raise gr.Error(t(session.lang, "delete_none"))
            try:
                removed = delete_file(resources, session, source)
            except Exception as error:
                raise fail(error, session) from error
            files_df, deletable = kb_outputs(session)
            remaining = [(citation_label(c, session.lang), c.number) for c in session.citations]
            return [
                files_df,
                deletable,
                t(session.lang, "deleted", name=source, n=removed),
                gr.update(choices=remaining, value=None),
                session,
            ]

        delete_button.click(
            on_delete,
            inputs=[delete_choice, state],
            outputs=[files_table, delete_choice, kb_status, citations, state],
            concurrency_id="ingest",
        )

        def on_reindex(session: Session | None) -> list[Any]:
            session = ensure(session)
            try:
                summary = reindex(resources, session)
            except Exception as error:
                raise fail(error, session) from error
            files_df, deletable = kb_outputs(session)
            return [files_df, deletable, t(session.lang, "reindexed", summary=summary)]

        reindex_button.click(
            on_reindex,
            inputs=[state],
            outputs=[files_table, delete_choice, kb_status],
            show_progress_on=[kb_status],
            concurrency_id="ingest",
        )

        # -- chat ------------------------------------------------------------------------
        def on_ask(
            message: str, history: list[dict[str, Any]] | None, session: Session | None
        ) -> Iterator[list[Any]]:
            # Outputs: chatbot, question, send, citations, state. While an answer streams the
            # question box and the button are locked: a second question sent meanwhile would
            # carry a chat history without the answer still being written.
            session = ensure(session)
            lang_ = session.lang
            message = (message or "").strip()
            if not message:
                gr.Warning(t(lang_, "empty_question"))
                yield [gr.skip(), gr.skip(), gr.skip(), gr.skip(), session]
                return
            history = [*(history or []), {"role": "user", "content": message}]
            history.append({"role": "assistant", "content": "…"})
            locked = gr.update(value="", interactive=False)
            yield [history, locked, gr.update(interactive=False), no_sources(), session]
            streamed, sources = "", no_sources()
            try:
                for kind, value in ask(resources, session, message):
                    if kind == "status" and not streamed:
                        history[-1] = {"role": "assistant", "content": f"*{value}*"}
                    elif kind == "token":
                        streamed += value
                        history[-1] = {"role": "assistant", "content": streamed}
                    elif kind == "done":
                        history[-1] = {"role": "assistant", "content": format_answer(value, lang_)}
                        choices = [(citation_label(c, lang_), c.number) for c in value.citations]
                        sources = gr.update(choices=choices, value=None)
                        break
                    else:
                        continue
                    yield [history, gr.skip(), gr.skip(), gr.skip(), session]
            except Exception as error:
                if not isinstance(error, gr.Error):
                    log.warning("answering failed", exc_info=error)
                history[-1] = {"role": "assistant", "content": user_message(error, lang_)}
            unlocked = gr.update(interactive=True)
            yield [history, unlocked, gr.update(interactive=True), sources, session]

        def no_sources() -> Any:
            return gr.update(choices=[], value=None)

        gr.on(
            [question.submit, send.click],
            on_ask,
            inputs=[question, chatbot, state],
            outputs=[chatbot, question, send, citations, state],
            concurrency_id="model",
            concurrency_limit=settings.ui.concurrency_limit,
            show_progress="minimal",
        )

        def on_clear(session: Session | None) -> list[Any]:
            session = ensure(session)
            session.reset()
            return [*cleared_chat(), session]

        def on_chatbot_cleared(session: Session | None) -> list[Any]:
            return on_clear(session)[1:]

        # The chatbot's own trash button clears its display: the history must go with it.
        chatbot.clear(
            on_chatbot_cleared,
            inputs=[state],
            outputs=[citations, passage, page_note, page_image, state],
        )
        gr.on(
            [clear.click, clear_too.click],
            on_clear,
            inputs=[state],
            outputs=[chatbot, citations, passage, page_note, page_image, state],
        )

        def on_citation(number: int | None, session: Session | None) -> list[Any]:
            session = ensure(session)
            if number is None:
                return ["", "", gr.skip()]
            try:
                view = open_citation(resources, session, int(number))
            except Exception as error:
                raise fail(error, session) from error
            if view is None:
                return ["", "", gr.update(value=None, visible=False)]
            if view.page is None:
                return [view.passage_md, view.note, gr.update(value=None, visible=False)]
            return [view.passage_md, view.note, gr.update(value=view.page.image, visible=True)]

        citations.input(
            on_citation,
            inputs=[citations, state],
            outputs=[passage, page_note, page_image],
            concurrency_id="pages",
            concurrency_limit=2,
        )

        # -- retrieval tab ---------------------------------------------------------------
        def on_search(query: str, mode: str, session: Session | None) -> Any:
            session = ensure(session)
            if not (query or "").strip():
                raise gr.Error(t(session.lang, "empty_question"))
            try:
                rows = search_rows(resources, session, query.strip(), mode)
            except Exception as error:
                raise fail(error, session) from error
            return table(rows, session.lang, search_cols)

        gr.on(
            [search_button.click, search_query.submit],
            on_search,
            inputs=[search_query, search_mode, state],
            outputs=[search_table],
            # Retrieval needs no model: it does not wait behind answers being written.
            concurrency_id="search",
            concurrency_limit=2,
        )

        # -- settings --------------------------------------------------------------------
        def on_settings(
            model_name: str,
            quant: str,
            k: float,
            min_score: float,
            temp: float,
            session: Session | None,
        ) -> list[Any]:
            session = ensure(session)
            mine = session.settings
            try:
                if model_name and model_name != mine.llm.model:
                    mine.llm.model = model_name
                mine.llm.quantize = quant
                mine.llm.temperature = float(temp)
                mine.retrieval.k = int(k)
                mine.retrieval.threshold = float(min_score)
            except Exception as error:
                raise fail(error, session) from error
            return [session, model_status_text(session)]

        gr.on(
            [model.input, quantize.input, top_k.change, threshold.change, temperature.change],
            on_settings,
            inputs=[model, quantize, top_k, threshold, temperature, state],
            outputs=[state, model_status],
            show_progress="hidden",
        )

    return demo


def launch(
    settings: Settings,
    *,
    lang: str | None = None,
    block: bool = True,
) -> gr.Blocks:
    """Start the app on settings.ui.host:port; refuses a public address without a login."""
    ui = settings.ui
    credentials = check_binding(ui.host, ui.auth)
    # The configured model loads while the user opens the page and uploads: the first question
    # need not wait for it. Models chosen later in the settings load on demand.
    demo = create_app(settings, lang=lang, preload=True)
    # Light events (listing files, opening a page) need not wait for a running answer; model
    # calls carry their own, lower limit (concurrency_id "model").
    demo.queue(default_concurrency_limit=max(4, ui.concurrency_limit))
    demo.launch(
        server_name=ui.host,
        server_port=ui.port or None,
        auth=[credentials] if credentials else None,
        auth_message="kbqa",
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
