"""Knowledge-base panel: choose or create a knowledge base, upload, list, delete and re-index files."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from kbqa.ui.core import Session, delete_file, file_rows, reindex
from kbqa.ui.i18n import t
from kbqa.ui.panels import Context, chat, upload
from kbqa.ui.panels.chat import ChatPanel
from kbqa.ui.panels.upload import UploadPanel

FILE_COLS = ["col_file", "col_chunks", "col_pages"]


@dataclass
class KBPanel:
    select: gr.Dropdown
    new: gr.Textbox
    create: gr.Button
    upload: UploadPanel
    files: gr.Dataframe
    delete_choice: gr.Dropdown
    delete: gr.Button
    reindex: gr.Button
    status: gr.Markdown

    @property
    def refreshed_outputs(self) -> list[Any]:
        """The components `refreshed()` sets, in its order."""
        return [self.files, self.delete_choice, self.status]


def build(ctx: Context) -> KBPanel:
    tr = ctx.tr
    name = ctx.settings.kb
    tr(gr.Markdown(), value="kb_panel")
    select = tr(
        gr.Dropdown(choices=[name], value=name, elem_id="kb-select"),
        label="kb_choose",
    )
    with gr.Row(equal_height=True):
        new = tr(
            gr.Textbox(elem_id="kb-new", scale=3, max_lines=1),
            label="kb_new",
            placeholder="kb_new_placeholder",
        )
        create = tr(gr.Button(elem_id="kb-create", scale=1), value="kb_create")
    uploads = upload.build(ctx)
    files = tr(
        gr.Dataframe(
            headers=ctx.headers(ctx.start_lang, FILE_COLS),
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
        delete = tr(gr.Button(variant="stop", elem_id="delete", scale=1), value="delete")
    reindex_button = tr(gr.Button(elem_id="reindex", size="sm"), value="reindex")
    status = gr.Markdown(elem_id="kb-status")
    return KBPanel(
        select, new, create, uploads, files, delete_choice, delete, reindex_button, status
    )


def file_outputs(ctx: Context, session: Session) -> tuple[Any, Any]:
    """The files table and the delete menu for the session's knowledge base."""
    rows = file_rows(ctx.service, session.kb_name)
    sources = [row[0] for row in rows]
    return ctx.table(rows, session.lang, FILE_COLS), gr.update(choices=sources, value=None)


def summary(ctx: Context, session: Session) -> str:
    rows = file_rows(ctx.service, session.kb_name)
    lang, name = session.lang, session.kb_name
    if not rows:
        return t(lang, "kb_summary", name=name, files=0, chunks=0) + " " + t(lang, "kb_empty")
    chunks = sum(int(row[1]) for row in rows)
    return t(lang, "kb_summary", name=name, files=len(rows), chunks=chunks)


def refreshed(ctx: Context, session: Session) -> list[Any]:
    """Values for `KBPanel.refreshed_outputs`."""
    return [*file_outputs(ctx, session), summary(ctx, session)]


def wire(ctx: Context, kb: KBPanel, chat_panel: ChatPanel, state: gr.State) -> None:
    upload.wire(ctx, kb.upload, state, kb.refreshed_outputs, lambda s: refreshed(ctx, s))

    def on_switch(name: str, session: Session | None) -> list[Any]:
        session = ctx.ensure(session)
        if name and name != session.kb_name:
            session.switch_kb(name)
        return [session, *chat.cleared(), *refreshed(ctx, session)]

    # Switching clears the chat: its history and sources belong to the other knowledge base.
    switch_outputs = [state, *chat_panel.cleared_outputs, *kb.refreshed_outputs]
    kb.select.input(on_switch, inputs=[kb.select, state], outputs=switch_outputs)

    def on_create(name: str, session: Session | None) -> list[Any]:
        session = ctx.ensure(session)
        name = (name or "").strip()
        if not name:
            raise gr.Error(t(session.lang, "kb_name_needed"))
        try:
            ctx.service.kbs.create(name)
        except Exception as error:
            raise ctx.fail(error, session) from error
        choices = gr.update(choices=ctx.service.kbs.names(), value=name)
        rest = on_switch(name, session)
        rest[-1] = t(session.lang, "kb_created", name=name) + " " + rest[-1]
        return [choices, ""] + rest

    gr.on(
        [kb.create.click, kb.new.submit],
        on_create,
        inputs=[kb.new, state],
        outputs=[kb.select, kb.new] + switch_outputs,
    )

    def on_delete(source: str | None, session: Session | None) -> list[Any]:
        session = ctx.ensure(session)
        if not source:
            raise gr.Error(t(session.lang, "delete_none"))
        try:
            removed = delete_file(ctx.service, session, source)
        except Exception as error:
            raise ctx.fail(error, session) from error
        files, deletable = file_outputs(ctx, session)
        message = t(session.lang, "deleted", name=source, n=removed)
        # The deleted file's sources go from the last answer's list.
        remaining = chat.source_choices(session.citations, session.lang)
        return [files, deletable, message, remaining, session]

    kb.delete.click(
        on_delete,
        inputs=[kb.delete_choice, state],
        outputs=[*kb.refreshed_outputs, chat_panel.citations, state],
        concurrency_id="ingest",
    )

    def on_reindex(session: Session | None) -> list[Any]:
        session = ctx.ensure(session)
        try:
            result = reindex(ctx.service, session)
        except Exception as error:
            raise ctx.fail(error, session) from error
        files, deletable = file_outputs(ctx, session)
        return [files, deletable, result]

    kb.reindex.click(
        on_reindex,
        inputs=[state],
        outputs=kb.refreshed_outputs,
        show_progress_on=[kb.status],
        concurrency_id="ingest",
    )
