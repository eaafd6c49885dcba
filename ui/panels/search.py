"""Retrieval tab: search the knowledge base without the model, with scores."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from kbqa.ui.core import Session, search_rows
from kbqa.ui.i18n import t
from kbqa.ui.panels import Context

# The score is the cosine; the relevance is the calibrated chance that the passage answers
# (kbqa/chain/calibration.py), empty where it was not measured for the embedder and mode.
SEARCH_COLS = ["col_rank", "col_score", "col_relevance", "col_file", "col_page", "col_text"]


@dataclass
class SearchPanel:
    query: gr.Textbox
    mode: gr.Radio
    button: gr.Button
    results: gr.Dataframe


def build(ctx: Context) -> SearchPanel:
    tr = ctx.tr
    with gr.Row(equal_height=True):
        query = tr(gr.Textbox(elem_id="search-query", scale=5, max_lines=2), label="search_query")
        mode = tr(
            gr.Radio(
                ["hybrid", "dense", "bm25"],
                value=ctx.settings.retrieval.mode,
                elem_id="search-mode",
                scale=2,
            ),
            label="search_mode",
        )
        button = tr(
            gr.Button(variant="primary", elem_id="search-button", scale=1),
            value="search_button",
        )
    results = tr(
        gr.Dataframe(
            headers=ctx.headers(ctx.start_lang, SEARCH_COLS),
            interactive=False,
            wrap=True,
            elem_id="search-results",
            column_widths=["5%", "7%", "8%", "16%", "6%", "58%"],
        ),
        label="search_results",
    )
    return SearchPanel(query, mode, button, results)


def empty_results(ctx: Context, lang: str) -> Any:
    # Dataframe headers are part of the value: an empty frame puts them in `lang`.
    return ctx.table([], lang, SEARCH_COLS)


def wire(ctx: Context, panel: SearchPanel, state: gr.State) -> None:
    def on_search(query: str, mode: str, session: Session | None) -> Any:
        session = ctx.ensure(session)
        if not (query or "").strip():
            raise gr.Error(t(session.lang, "empty_question"))
        try:
            rows = search_rows(ctx.service, session, query.strip(), mode)
        except Exception as error:
            raise ctx.fail(error, session) from error
        return ctx.table(rows, session.lang, SEARCH_COLS)

    gr.on(
        [panel.button.click, panel.query.submit],
        on_search,
        inputs=[panel.query, panel.mode, state],
        outputs=[panel.results],
        # Retrieval needs no model: it does not wait behind answers being written.
        concurrency_id="search",
        concurrency_limit=2,
    )
