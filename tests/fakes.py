"""The fakes every test uses, in one place (habit 12: fake models, real vector store).

Deterministic encoders (`HashEncoder`, `WordBagEncoder`, `BagEncoder`, `FixedVisual`), a stand-in for the
OCR reader (`NoOcr`), scripted LangChain chat models (`ScriptedChat`, `UnreachableChat`) and small builders
of domain objects.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Callable, Iterator

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, AIMessageChunk
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import Field

from core.textnorm import PATENT_BOILERPLATE, QUERY_STOPWORDS, stem
from core.types import Box, Component, FigureDesc, Patent, RefSign, Sheet, SheetSource


class HashEncoder:
    """Unit vectors from a hash of the input: equal inputs give equal vectors, nothing more."""

    def __init__(self, name: str = "fake:sha16", dim: int = 16) -> None:
        self.name, self.dim, self.cross_modal = name, dim, False

    def _vec(self, data: bytes) -> list[float]:
        raw = hashlib.sha256(data).digest()[: self.dim]
        v = [b / 255 - 0.5 for b in raw]
        n = sum(x * x for x in v) ** 0.5
        return [x / n for x in v]

    def embed_texts(self, texts):
        return [self._vec(t.encode()) for t in texts]

    def embed_images(self, images):
        return [self._vec(i.tobytes()) for i in images]


def make_patent(pid: str, office: str = "US", date: int = 20200101, cpc=("B66C1/42",), kind: str = "fig") -> Patent:
    return Patent(
        patent_id=pid, office=office, number=pid[2:], kind="A1", pub_date=date, title=f"Title of {pid}",
        abstract="A gripping unit for an overhead hoist.", claims=["1. A hoist with a gripping unit."],
        cpc=list(cpc), figures=[FigureDesc(fig="1", text="FIG. 1 is a perspective view.", view="perspective",
                                           kind="drawing")],
        refsigns={"10": RefSign(numeral="10", labels=["gripping unit"], sentences=["The gripping unit 10 holds."])},
        sheets=[SheetSource(sheet_no=1, member="D00001.TIF")],
    )


def make_sheet(pid: str, n: int = 1, kind: str = "drawing", view: str = "perspective") -> Sheet:
    return Sheet(
        figure_id=f"{pid}-S{n}", patent_id=pid, sheet_no=n, image_path=f"sheets/{pid}-S{n}.png", figs=[str(n)],
        view=view, kind=kind, description="FIG. 1 is a perspective view of the gripping unit.",
        components=[Component(numeral="10", label="gripping unit", boxes=[Box(x0=1, y0=2, x1=30, y1=20)])],
    )


class WordBagEncoder:
    """Text fake that ranks by shared words: stemmed content words hashed into signed buckets, L2-normalised.

    Query filler words and figure boilerplate ("fig", "view", "shows") are left out, so texts sharing
    words that name things get a cosine similarity near the share of their words in common, and text
    search over a real index still ranks first the sheets that use the query's words. Enough buckets
    that two words rarely share one. Deterministic (md5, not Python's salted hash). Not an image encoder.
    """

    def __init__(self, name: str = "fake:wordbag4096", dim: int = 4096) -> None:
        self.name, self.dim, self.cross_modal = name, dim, False

    def _vec(self, text: str) -> list[float]:
        v = [0.0] * self.dim
        for w in re.findall(r"[a-z][a-z\-]*[a-z]", text.lower()):
            if w in QUERY_STOPWORDS or w in PATENT_BOILERPLATE:
                continue
            h = int.from_bytes(hashlib.md5(stem(w).encode()).digest()[:8], "big")
            v[h % self.dim] += 1.0 if (h >> 32) & 1 else -1.0
        n = math.sqrt(sum(x * x for x in v))
        return [x / n for x in v] if n else [1.0] + [0.0] * (self.dim - 1)

    def embed_texts(self, texts):
        return [self._vec(t) for t in texts]

    def embed_images(self, images):
        raise AssertionError("WordBagEncoder is a text encoder")


class BagEncoder:
    """Bag of words hashed into 256 buckets, L2-normalised: texts sharing words are similar."""

    def __init__(self, name: str = "fake:bag256", dim: int = 256) -> None:
        self.name, self.dim, self.cross_modal = name, dim, False

    def embed_texts(self, texts):
        out = []
        for t in texts:
            v = [0.0] * self.dim
            for w in re.findall(r"[a-z]+", t.lower()):
                v[int(hashlib.md5(w.encode()).hexdigest(), 16) % self.dim] += 1.0
            n = math.sqrt(sum(x * x for x in v)) or 1.0
            out.append([x / n for x in v] if any(v) else [1.0] + [0.0] * (self.dim - 1))
        return out

    def embed_images(self, images):
        raise AssertionError("not an image encoder")


class FixedVisual:
    """Stands in for the visual encoder of an index whose visual vectors are hand-made: every image → one vector."""

    name, dim, cross_modal = "fake:fixed8", 8, False

    def embed_images(self, images):
        return [[1.0 / math.sqrt(self.dim)] * self.dim for _ in images]

    def embed_texts(self, texts):
        raise AssertionError("no text side")


class NoOcr:
    """Stands in for the OCR reader where a test must not OCR: any use is a test bug."""

    name = "fake:no-ocr"

    def read(self, *args, **kwargs):
        raise AssertionError("this test runs without OCR (fast fixture); mark it slow and use sample_index")


def fake_models(settings):
    """Fake encoders for an ingest worker process (a top-level function, so a process pool can pickle it).

    OCR is not faked: it is the real default engine, built on first use (a run with OCR off never builds it).
    """
    from models.ocr import NumeralReader
    from runtime.services import ModelSet

    return ModelSet(settings=settings, make_visual=lambda: HashEncoder("fake:img16"), make_text=HashEncoder,
                    make_ocr=lambda: NumeralReader(settings.ocr))


# ---------------------------------------------------------------- chat models

Script = AIMessage | str | Callable[[list], AIMessage]  # one answer: a message, its text, or made from what was sent


class ScriptedChat(GenericFakeChatModel):
    """A chat model that plays a script; bind_tools returns itself; `seen` holds what it was sent.

    Each call takes the next item of `messages`: an AIMessage (with tool calls or not), a string, or a
    function of the messages sent (so a reply can quote a tool result). Streaming splits the text at
    whitespace and sends the tool calls as one last chunk, as a real model does.
    """

    seen: list = Field(default_factory=list)
    bound: list = Field(default_factory=list)

    def bind_tools(self, tools, **kwargs):
        self.bound = [t.name for t in tools]
        return self

    def _next(self, messages) -> AIMessage:
        self.seen.append(list(messages))
        item = next(self.messages)
        if callable(item):
            item = item(list(messages))
        return AIMessage(content=item) if isinstance(item, str) else item

    def _generate(self, messages, stop=None, run_manager=None, **kwargs) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=self._next(messages))])

    def _stream(self, messages, stop=None, run_manager=None, **kwargs) -> Iterator[ChatGenerationChunk]:
        msg = self._next(messages)
        for piece in re.split(r"(\s)", msg.content or ""):
            if piece:
                yield ChatGenerationChunk(message=AIMessageChunk(content=piece, id=msg.id))
        if msg.tool_calls:
            chunks = [{"name": c["name"], "args": json.dumps(c["args"]), "id": c["id"], "index": i}
                      for i, c in enumerate(msg.tool_calls)]
            yield ChatGenerationChunk(message=AIMessageChunk(content="", tool_call_chunks=chunks, id=msg.id))


class UnreachableChat(ScriptedChat):
    """A chat model whose server refuses the connection when it is asked for an answer."""

    def _stream(self, messages, stop=None, run_manager=None, **kwargs):
        raise ConnectionError("[Errno 111] Connection refused at 127.0.0.1:11434")
