"""Settings tab: this session's model, quantisation, top-k, threshold and temperature."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from kbqa.service.access import allowed_models, check_model_choice
from kbqa.ui import core
from kbqa.ui.core import Session, model_choices
from kbqa.ui.panels import Context


@dataclass
class SettingsPanel:
    model: gr.Dropdown
    quantize: gr.Radio
    top_k: gr.Slider
    threshold: gr.Slider
    temperature: gr.Slider
    status: gr.Markdown
    clear: gr.Button  # clears the conversation (wired by the chat panel)


def build(ctx: Context) -> SettingsPanel:
    tr = ctx.tr
    retrieval, llm = ctx.settings.retrieval, ctx.settings.llm
    allowed = allowed_models(ctx.settings)
    model = tr(
        gr.Dropdown(
            choices=model_choices(llm.model, [name for name in allowed if name != "*"]),
            value=llm.model,
            # A typed name only where the operator allows any ("*" in ui.allowed_models).
            allow_custom_value="*" in allowed,
            elem_id="model",
        ),
        label="model",
        info="model_info",
    )
    quantize = tr(
        gr.Radio(["none", "int8", "int4"], value=llm.quantize, elem_id="quantize"),
        label="quantize",
    )
    top_k = tr(gr.Slider(1, 20, value=retrieval.k, step=1, elem_id="top-k"), label="top_k")
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
    status = gr.Markdown(elem_id="model-status")
    clear = tr(gr.Button(elem_id="clear-settings"), value="clear")
    return SettingsPanel(model, quantize, top_k, threshold, temperature, status, clear)


def model_status(ctx: Context, session: Session) -> str:
    return core.model_status(ctx.service, session)


def wire(ctx: Context, panel: SettingsPanel, state: gr.State) -> None:
    def on_settings(
        model_name: str,
        quant: str,
        k: float,
        min_score: float,
        temp: float,
        session: Session | None,
    ) -> list[Any]:
        session = ctx.ensure(session)
        mine = session.settings
        try:
            if model_name and model_name != mine.llm.model:
                mine.llm.model = check_model_choice(model_name, ctx.settings)
            mine.llm.quantize = quant
            mine.llm.temperature = float(temp)
            mine.retrieval.k = int(k)
            mine.retrieval.threshold = float(min_score)
        except Exception as error:
            raise ctx.fail(error, session) from error
        return [session, model_status(ctx, session)]

    gr.on(
        [
            panel.model.input,
            panel.quantize.input,
            panel.top_k.change,
            panel.threshold.change,
            panel.temperature.change,
        ],
        on_settings,
        inputs=[
            panel.model,
            panel.quantize,
            panel.top_k,
            panel.threshold,
            panel.temperature,
            state,
        ],
        outputs=[state, panel.status],
        show_progress="hidden",
    )
