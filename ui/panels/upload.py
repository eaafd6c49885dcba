"""Upload area of the knowledge-base panel: the file drop, the accepted types, the per-file report."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gradio as gr

from kbqa.service.uploads import allowed_extensions
from kbqa.ui.core import Session, ingest_uploads
from kbqa.ui.i18n import t
from kbqa.ui.panels import Context

REPORT_COLS = ["col_file", "col_result", "col_detail"]


@dataclass
class UploadPanel:
    files: gr.File
    report: gr.Dataframe


def build(ctx: Context) -> UploadPanel:
    tr = ctx.tr
    extensions = ", ".join(sorted(allowed_extensions()))
    limit_mb = ctx.settings.ui.max_upload_mb
    files = tr(
        gr.File(file_count="multiple", type="filepath", elem_id="upload", height=130),
        label="upload",
    )
    tr(
        gr.Markdown(elem_id="upload-hint"),
        value=lambda lang: t(lang, "upload_types", types=extensions, mb=limit_mb),
    )
    report = tr(
        gr.Dataframe(
            headers=ctx.headers(ctx.start_lang, REPORT_COLS),
            interactive=False,
            wrap=True,
            elem_id="upload-report",
            column_widths=["40%", "22%", "38%"],
            max_height=220,
        ),
        label="upload_report",
    )
    return UploadPanel(files, report)


def empty_report(ctx: Context, lang: str) -> Any:
    # Dataframe headers are part of the value: an empty frame puts them in `lang`.
    return ctx.table([], lang, REPORT_COLS)


def progress_text(done: float, total: int, name: str, lang: str) -> tuple[float, str]:
    """The bar's share and its text while `done` of `total` files are read (`name`: the one at
    hand, "" when unknown). `done` counts fractions of a file while it is embedded: the bar
    shows a share, the text whole files ("file 2 of 3"), never "0.22199999999999998/11"."""
    number = min(int(done) + 1, total)
    key = "indexing" if name else "indexing_count"
    share = min(done / total, 1.0) if total else 0.0
    return share, t(lang, key, name=name, i=number, n=total)


def wire(
    ctx: Context,
    panel: UploadPanel,
    state: gr.State,
    kb_outputs: list[Any],
    kb_refresh: Callable[[Session], list[Any]],
) -> None:
    """Ingest what is dropped; `kb_refresh(session)` gives the values of `kb_outputs` after it."""

    def on_upload(
        files: list[str] | None,
        session: Session | None,
        progress=gr.Progress(),  # noqa: B008 (Gradio finds the tracker by this default)
    ) -> list[Any]:
        session = ctx.ensure(session)
        if not files:
            return [gr.skip(), None, *(gr.skip() for _ in kb_outputs), session]

        def report(done: float, total: int, name: str) -> None:
            share, desc = progress_text(done, total, name, session.lang)
            progress(share, desc=desc)

        try:
            rows = ingest_uploads(ctx.service, session, files, progress=report)
        except Exception as error:
            raise ctx.fail(error, session) from error
        table = ctx.table(rows, session.lang, REPORT_COLS)
        return [table, None, *kb_refresh(session), session]

    panel.files.upload(
        on_upload,
        inputs=[panel.files, state],
        outputs=[panel.report, panel.files, *kb_outputs, state],
        show_progress_on=[panel.report],
        concurrency_id="ingest",
        concurrency_limit=1,
    )
