"""What the handlers share (`app.state.kbqa`): the service, the token, the upload jobs, the
configured embedder for /v1/embeddings."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kbqa.embedders import Embedder
    from kbqa.server.jobs import Jobs
    from kbqa.service import Service
    from kbqa.settings import Settings


@dataclass
class ServerState:
    """What the handlers share: the service, the token, the upload jobs."""

    service: Service
    token: str | None
    jobs: Jobs
    _embedder: Embedder | None = None
    _embedder_lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def settings(self) -> Settings:
        return self.service.settings

    def embedder(self) -> Embedder:
        """The configured embedder (for /v1/embeddings without a knowledge base), loaded once."""
        with self._embedder_lock:
            if self._embedder is None:
                from kbqa.embedders import load_embedder

                self._embedder = load_embedder(self.settings.embedder)
            return self._embedder
