"""Chat tab: the conversation, the question box, the last answer's sources and the cited page."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import gradio as gr

from kbqa.ui.core import Session, ask, citation_label, format_answer, open_citation, user_message
from kbqa.ui.i18n import t
from kbqa.ui.panels import Context, log

if TYPE_CHECKING:
    from kbqa.chain.types import Citation


@dataclass
class ChatPanel:
    chatbot: gr.Chatbot
    question: gr.Textbox
    send: gr.Button
    clear: gr.Button
    citations: gr.Radio
    passage: gr.Markdown
    page_note: gr.Markdown
    page_image: gr.Image

    @property
    def cleared_outputs(self) -> list[Any]:
        """The components `cleared()` sets, in its order."""
        return [self.chatbot, self.citations, self.passage, self.page_note, self.page_image]


def build(ctx: Context) -> ChatPanel:
    tr = ctx.tr
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
        send = tr(gr.Button(variant="primary", elem_id="send", scale=1), value="send")
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
    return ChatPanel(chatbot, question, send, clear, citations, passage, page_note, page_image)


def cleared() -> tuple[Any, ...]:
    """Values for `ChatPanel.cleared_outputs`: no history, no sources, no page."""
    no_image = gr.update(value=None, visible=False)
    return [], no_sources(), "", "", no_image


def no_sources() -> Any:
    return gr.update(choices=[], value=None)


def source_choices(citations: list[Citation], lang: str) -> Any:
    """The citations radio for an answer's `citations`, nothing selected."""
    choices = [(citation_label(c, lang), c.number) for c in citations]
    return gr.update(choices=choices, value=None)


def wire(ctx: Context, chat: ChatPanel, state: gr.State, clear_buttons: list[gr.Button]) -> None:
    """Events of the chat tab; `clear_buttons` (besides the tab's own) clear the conversation."""

    def on_ask(
        message: str, history: list[dict[str, Any]] | None, session: Session | None
    ) -> Iterator[list[Any]]:
        # Outputs: chatbot, question, send, citations, state. While an answer streams the
        # question box and the button are locked: a second question sent meanwhile would
        # carry a chat history without the answer still being written.
        session = ctx.ensure(session)
        lang = session.lang
        message = (message or "").strip()
        if not message:
            gr.Warning(t(lang, "empty_question"))
            yield [gr.skip(), gr.skip(), gr.skip(), gr.skip(), session]
            return
        history = [*(history or []), {"role": "user", "content": message}]
        history.append({"role": "assistant", "content": "…"})
        locked = gr.update(value="", interactive=False)
        yield [history, locked, gr.update(interactive=False), no_sources(), session]
        streamed, sources = "", no_sources()
        try:
            for kind, value in ask(ctx.service, session, message):
                if kind == "status" and not streamed:
                    history[-1] = {"role": "assistant", "content": f"*{value}*"}
                elif kind == "token":
                    streamed += value
                    history[-1] = {"role": "assistant", "content": streamed}
                elif kind == "done":
                    history[-1] = {"role": "assistant", "content": format_answer(value, lang)}
                    sources = source_choices(value.citations, lang)
                    break
                else:
                    continue
                yield [history, gr.skip(), gr.skip(), gr.skip(), session]
        except Exception as error:
            if not isinstance(error, gr.Error):
                log.warning("answering failed", exc_info=error)
            history[-1] = {"role": "assistant", "content": user_message(error, lang)}
        unlocked = gr.update(interactive=True)
        yield [history, unlocked, gr.update(interactive=True), sources, session]

    gr.on(
        [chat.question.submit, chat.send.click],
        on_ask,
        inputs=[chat.question, chat.chatbot, state],
        outputs=[chat.chatbot, chat.question, chat.send, chat.citations, state],
        concurrency_id="model",
        concurrency_limit=ctx.settings.ui.concurrency_limit,
        show_progress="minimal",
    )

    def on_clear(session: Session | None) -> list[Any]:
        session = ctx.ensure(session)
        session.reset()
        return [*cleared(), session]

    def on_chatbot_cleared(session: Session | None) -> list[Any]:
        return on_clear(session)[1:]

    # The chatbot's own trash button clears its display: the history must go with it.
    chat.chatbot.clear(
        on_chatbot_cleared,
        inputs=[state],
        outputs=chat.cleared_outputs[1:] + [state],
    )
    gr.on(
        [chat.clear.click, *(button.click for button in clear_buttons)],
        on_clear,
        inputs=[state],
        outputs=chat.cleared_outputs + [state],
    )

    def on_citation(number: int | None, session: Session | None) -> list[Any]:
        session = ctx.ensure(session)
        if number is None:
            return ["", "", gr.skip()]
        try:
            view = open_citation(ctx.service, session, int(number))
        except Exception as error:
            raise ctx.fail(error, session) from error
        if view is None:
            return ["", "", gr.update(value=None, visible=False)]
        if view.page is None:
            return [view.passage_md, view.note, gr.update(value=None, visible=False)]
        return [view.passage_md, view.note, gr.update(value=view.page.image, visible=True)]

    chat.citations.input(
        on_citation,
        inputs=[chat.citations, state],
        outputs=[chat.passage, chat.page_note, chat.page_image],
        concurrency_id="pages",
        concurrency_limit=2,
    )
