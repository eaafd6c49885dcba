"""The app's panels: each module builds its components and wires its events; app.py assembles them.

Every panel receives the one `Context` of the app: the shared back end, the start language, and
the registry of translated attributes that the page's load and language events set.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import gradio as gr

from kbqa.ui.core import Session, new_session, user_message
from kbqa.ui.i18n import t

if TYPE_CHECKING:
    import pandas as pd

    from kbqa.service import Service
    from kbqa.settings import Settings

log = logging.getLogger("kbqa.ui.app")

Text = str | Callable[[str], str]  # a translation key, or a function of the language


class Context:
    """What every panel needs: the service, the languages, and the translation registry."""

    def __init__(self, settings: Settings, service: Service, lang: str | None) -> None:
        self.settings = settings
        self.service = service  # shared by every session: knowledge bases, models, uploads
        self.lang = lang  # fixed by the command line; None follows each browser
        self.start_lang = lang or "en"
        self.translated: list[tuple[Any, dict[str, Text]]] = []

    # -- translation ---------------------------------------------------------------------------
    def tr(self, block: Any, **attrs: Text) -> Any:
        """Register `block`'s attributes for translation; they are set from the keys on load."""
        self.translated.append((block, attrs))
        return block

    @staticmethod
    def text(value: Text, lang: str) -> str:
        return value(lang) if callable(value) else t(lang, value)

    def relabel(self, lang: str) -> list[Any]:
        """One update per registered block, in registration order (see `label_targets`)."""
        return [
            gr.update(**{attr: self.text(value, lang) for attr, value in attrs.items()})
            for _, attrs in self.translated
        ]

    @property
    def label_targets(self) -> list[Any]:
        return [block for block, _ in self.translated]

    # -- sessions and results ------------------------------------------------------------------
    def ensure(self, session: Session | None, lang: str | None = None) -> Session:
        if session is None:
            session = new_session(self.settings, lang or self.start_lang)
        return session

    @staticmethod
    def headers(lang: str, keys: list[str]) -> list[str]:
        return [t(lang, key) for key in keys]

    def table(self, rows: list[list[Any]], lang: str, keys: list[str]) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame(rows, columns=self.headers(lang, keys))

    @staticmethod
    def fail(error: BaseException, session: Session) -> gr.Error:
        """`error` as a message for the user (logged unless it already is one)."""
        if not isinstance(error, gr.Error):
            log.warning("ui action failed", exc_info=error)
        return gr.Error(user_message(error, session.lang))
