"""Turning generated tokens into text pieces: whole characters only, stop strings honoured.

Both helpers are backend-neutral, so every backend streams the same way.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

_REPLACEMENT = "\ufffd"


class IncrementalDecoder:
    """Decode token ids as they arrive, emitting only text that can no longer change.

    A byte-level tokenizer spreads one CJK character over several tokens; decoding each token alone
    gives U+FFFD halves (peers' users saw garbled streamed citations). The window technique of
    text-generation-inference: decode the recent ids with and without the newest ones and emit the
    difference once it no longer ends in an incomplete character. The window starts on a few
    prompt ids so SentencePiece's leading spaces decode as they will in the whole text.
    """

    def __init__(self, tokenizer: Any, context_ids: Iterable[int] = (), skip_special: bool = True):
        self.tokenizer = tokenizer
        self.skip_special = skip_special
        self.ids: list[int] = list(context_ids)[-5:]
        self.prefix_offset = 0
        self.read_offset = len(self.ids)

    def _decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=self.skip_special)

    def push(self, new_ids: Iterable[int]) -> str:
        self.ids.extend(int(i) for i in new_ids)
        prefix = self._decode(self.ids[self.prefix_offset : self.read_offset])
        text = self._decode(self.ids[self.prefix_offset :])
        if len(text) > len(prefix) and not text.endswith(_REPLACEMENT):
            self.prefix_offset, self.read_offset = self.read_offset, len(self.ids)
            return text[len(prefix) :]
        return ""

    def flush(self) -> str:
        """What is left at the end; a dangling incomplete character is dropped."""
        prefix = self._decode(self.ids[self.prefix_offset : self.read_offset])
        text = self._decode(self.ids[self.prefix_offset :])
        self.prefix_offset = self.read_offset = len(self.ids)
        return text[len(prefix) :].rstrip(_REPLACEMENT) if len(text) > len(prefix) else ""


class StopFilter:
    """Cut the stream at the first stop string, never emitting the stop string or a part of it.

    Text that could be the start of a stop string is held back until it is known not to be.
    """

    def __init__(self, stops: Iterable[str] = ()):
        self.stops = tuple(s for s in dict.fromkeys(stops) if s)
        self.buffer = ""
        self.stopped = False

    def push(self, text: str) -> str:
        if self.stopped or not text:
            return ""
        if not self.stops:
            return text
        self.buffer += text
        hits = [i for i in (self.buffer.find(s) for s in self.stops) if i >= 0]
        if hits:
            out = self.buffer[: min(hits)]
            self.buffer = ""
            self.stopped = True
            return out
        hold = 0
        for stop in self.stops:
            for k in range(min(len(stop) - 1, len(self.buffer)), hold, -1):
                if self.buffer.endswith(stop[:k]):
                    hold = k
                    break
        out = self.buffer[: len(self.buffer) - hold]
        self.buffer = self.buffer[len(self.buffer) - hold :]
        return out

    def flush(self) -> str:
        out = "" if self.stopped else self.buffer
        self.buffer = ""
        return out
