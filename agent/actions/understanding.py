"""Understanding results: why a hit ranks where it does, what patents share, what a reference sign is."""

from __future__ import annotations

import re
from collections.abc import Sequence

from agent.actions.base import ActionBase
from agent.events import Outcome, TurnEvent
from core.errors import ToolError
from core.patnum import figure_place
from core.types import Patent, Sheet
from prompts import load_prompt
from tools.explain import compare, explain_hit, explain_pair
from tools.overlay import render_overlay
from tools.refsigns import RefSignLookup, lookup_refsign
from tools.search import patent_of

COMPARE_MAX_PATENTS = 5


class UnderstandActions(ActionBase):
    """Actions that explain the current set without changing it."""

    def explain(self, rank: int, other_rank: int | None = None) -> Outcome:
        """Why #rank scored what it did, or why #rank is above/below #other_rank, from the score breakdowns."""
        rs = self.session.require_current()
        if other_rank is None:
            ex = explain_hit(self.services, rs.hits, int(rank))
            kind, subject = "hit", f"#{rank} of set {rs.set_id}"
            fid = ex.facts.get("figure_id")
            if isinstance(fid, str) and fid:
                self.session.focus = fid
        else:
            ex = explain_pair(self.services, rs.hits, int(rank), int(other_rank))
            kind, subject = "pair", f"#{rank} versus #{other_rank} of set {rs.set_id}"
        guide = load_prompt("explain", subject=subject)
        return Outcome(summary=f"Explanation of {subject}, from the score breakdown:", guide=guide,
                       data=ex.text.splitlines(), artifact={"explanation": ex.model_dump(mode="json")},
                       events=[TurnEvent("explanation", {"kind": kind, "text": ex.text, "facts": ex.facts})])

    def compare(self, ranks: Sequence[int] = (), patent_ids: Sequence[str] = ()) -> Outcome:
        """What the patents of some results (default: the current set's first patents) share and what differs."""
        if patent_ids:
            ids = [self.resolve_patent_id(p) for p in patent_ids]
            cmp = compare(self.services, patent_ids=ids)
            subject = ", ".join(ids)
        else:
            rs = self.session.require_current()
            if ranks:
                hits = [self.session.hit(int(r)) for r in ranks]
                subject = ", ".join(f"#{r}" for r in ranks) + f" of set {rs.set_id}"
            else:
                first = list(dict.fromkeys(h.patent_id for h in rs.hits))[:COMPARE_MAX_PATENTS]
                hits = [h for h in rs.hits if h.patent_id in first]
                subject = f"the first {len(first)} patents of set {rs.set_id}"
            cmp = compare(self.services, hits=hits)
        guide = load_prompt("compare", subject=subject)
        return Outcome(summary=f"Comparison of {subject} ({', '.join(cmp.patent_ids)}):", guide=guide,
                       data=cmp.text.splitlines(), artifact={"comparison": cmp.model_dump(mode="json")},
                       events=[TurnEvent("explanation", {"kind": "compare", "text": cmp.text,
                                                         "facts": cmp.model_dump(mode="json")})])

    def part(self, sign: str, rank: int | None = None, patent_id: str | None = None) -> Outcome:
        """What a reference sign (numeral or name) is in a figure: labels, sentences, sheets, an overlay."""
        sign = str(sign or "").strip()
        if not sign:
            raise ToolError("say which part: a numeral like 104 or a name like 'motor'")
        pid, focus = self._part_figure(rank, patent_id)
        try:
            found = lookup_refsign(self.services, pid, sign)
        except ToolError as e:
            others = self._sign_elsewhere(pid, sign)
            return Outcome(summary=f"Not found: {str(e).rstrip('.')}.",
                           text="The current set has it in other patents:" if others else "",
                           data=others)
        sheet_ids = [s.figure_id for s in found.sheets]
        target = focus if focus in sheet_ids else (sheet_ids[0] if sheet_ids else None)
        label = found.labels[0] if found.labels else "(no label in the text)"
        where = ", ".join(f"sheet {s.sheet_no} (FIG {','.join(s.figs) or '?'})" for s in found.sheets)
        text = [f"{found.numeral} was read on {where}." if where else
                f"{found.numeral} was not read on any sheet of {pid}."]
        if focus and target is not None and target != focus:
            text.append(f"It was not read on {figure_place(focus)[1]} itself.")
        if found.described_figs:
            text.append(f"The brief description mentions it for FIG {', '.join(found.described_figs)}.")
        events: list[TurnEvent] = []
        artifact: dict = {"refsign": found.model_dump(mode="json")}
        if target is not None:
            overlay = self._overlay(target, found, pid)
            events.append(TurnEvent("overlay", overlay))
            artifact["overlay"] = overlay
            sheet_no = next((s.sheet_no for s in found.sheets if s.figure_id == target), None)
            where = f"sheet {sheet_no}" if sheet_no is not None else "the sheet"
            text.append(f"The overlay shows {where} of {pid} with {found.numeral} boxed.")
        data = [f"{pid} reference sign {found.numeral}: {label}."]
        if len(found.labels) > 1:
            data.append("Also called: " + ", ".join(found.labels[1:4]) + ".")
        data += [f"Text: {s}" for s in found.sentences[:3]]
        return Outcome(summary=f"Reference sign {found.numeral} of {pid}:", text=" ".join(text), data=data,
                       artifact=artifact, events=events)

    def figure(self, rank: int | None = None, fig: str | None = None, patent_id: str | None = None) -> Outcome:
        """What one result (#rank) or one FIG of its patent shows: description, components, linked sentences.

        Read from the index; no search is made and the current set stays as it is.
        """
        pid, sheet, where = self._figure_sheet(rank, fig, patent_id)
        doc = patent_of(self.services, pid)
        figs = [fig.upper()] if fig else (sheet.figs if sheet else [])
        descs = [d for d in (doc.figures if doc else []) if d.fig.upper() in figs]
        what = f"FIG {fig.upper()} of {pid}" if fig else \
            f"{where or 'The figure being discussed'} ({pid}, FIG {', '.join(figs) or 'unnumbered'})"
        kinds = [(d.kind, d.view) for d in descs] or ([(sheet.kind, sheet.view)] if sheet else [])
        shown = "; ".join(f"a {k if k != 'unknown' else 'figure'}" + (f", {v} view" if v != "unknown" else "")
                          for k, v in dict.fromkeys(kinds)) or "a figure"
        text = []
        if sheet is not None:
            self.session.focus = sheet.figure_id
            text.append(f"It is drawn on sheet {sheet.sheet_no}" + (f" ({where})." if fig and where else "."))
            n = len(sheet.components)
            text.append(f"OCR linked {n} reference sign{'s' if n != 1 else ''} on that sheet." if n else
                        "OCR linked no reference sign on that sheet.")
        data = [f"Description: {d.text}" for d in descs] or ([f"Description: {sheet.description}"]
                                                              if sheet and sheet.description else [])
        if sheet is not None and sheet.components:
            data.append("Components: " + "; ".join(f"{c.numeral} {c.label}" for c in sheet.components[:12]))
        sentences = _fig_sentences(doc, figs) if doc else []
        data += [f"Text: {x}" for x in (sentences or (sheet.linked_sentences if sheet else []))[:4]]
        return Outcome(summary=f"{what} is {shown}.", text=" ".join(text), data=data or ["No description given."],
                       artifact={"figure": {"patent_id": pid, "figs": figs,
                                            "figure_id": sheet.figure_id if sheet else None}})

    def applicant(self, rank: int | None = None, patent_id: str | None = None) -> Outcome:
        """Who applied for the patent of one result (#rank, default #1) or of a patent id, as its document says."""
        pid = self.resolve_patent_id(patent_id) if patent_id else self.session.hit(int(rank or 1)).patent_id
        doc = patent_of(self.services, pid)
        names = list(dict.fromkeys(doc.applicants)) if doc else []
        ref = f"#{rank} ({pid})" if rank else pid
        if not names:
            return Outcome(summary=f"The data I have for {ref} names no applicant.",
                           text=f"I can keep only its figures ('just that patent, {ref.split()[0]}') or compare it "
                                "with the other results.")
        return Outcome(summary=f"The document of {ref} names {len(names)} applicant{'s' if len(names) > 1 else ''}:",
                       data=[f"Applicant: {n}" for n in names])

    def _figure_sheet(self, rank: int | None, fig: str | None, patent_id: str | None) -> tuple[str, Sheet | None, str]:
        """(patent id, the sheet meant, "#rank of set n" when that sheet is a hit of the current set)."""
        hit = self.session.hit(int(rank)) if rank is not None else None
        pid = hit.patent_id if hit else (self.resolve_patent_id(patent_id) if patent_id else None)
        focus = None
        if pid is None:  # the figure being discussed, else #1
            pid, focus = self._part_figure(None, None)
            hit = next((h for h in self.session.require_current().hits if h.figure_id == focus), None)
        sheets = self.services.store.sheets(pid)
        if fig:
            sheet = next((s for s in sheets if fig.upper() in (f.upper() for f in s.figs)), None)
            doc = patent_of(self.services, pid)
            if sheet is None and (doc is None or doc.figure(fig) is None):
                have = ", ".join([d.fig for d in doc.figures] if doc else [f for s in sheets for f in s.figs])
                raise ToolError(f"{pid} has no FIG {fig.upper()}; its figures are FIG {have or 'unnumbered'}")
        elif hit is not None or focus is not None:
            sheet = self.services.store.sheet(hit.figure_id if hit else str(focus))
        else:
            figs = ", ".join(f for s in sheets for f in s.figs) or "unnumbered"
            raise ToolError(f"which figure of {pid}? Name a FIG, for example FIG 1; its figures are FIG {figs}")
        here = hit is not None and sheet is not None and sheet.figure_id == hit.figure_id
        return pid, sheet, f"#{hit.rank} of set {self.session.require_current().set_id}" if here and hit else ""

    def _part_figure(self, rank: int | None, patent_id: str | None) -> tuple[str, str | None]:
        """(patent id, figure id or None) a part question is about: #rank, a patent, the focus, else #1."""
        if rank is not None:
            hit = self.session.hit(int(rank))
            return hit.patent_id, hit.figure_id
        if patent_id:
            return self.resolve_patent_id(patent_id), None
        if self.session.focus and self.services.store.sheet(self.session.focus) is not None:
            focus = self.session.focus
            return focus.rsplit("-S", 1)[0], focus
        if self.session.current and self.session.current.hits:
            hit = self.session.current.hits[0]
            return hit.patent_id, hit.figure_id
        raise ToolError("which figure? search first, or name a result (#2) or a patent id")

    def _sign_elsewhere(self, pid: str, sign: str) -> list[str]:
        """"US…: 104 motor" for the other patents of the current set that have the sign."""
        others = []
        for p in dict.fromkeys(h.patent_id for h in (self.session.current.hits if self.session.current else [])):
            doc = patent_of(self.services, p)
            if p != pid and doc is not None and sign in doc.refsigns:
                others.append(f"{p}: {sign} {doc.refsigns[sign].label}")
        return others

    def _overlay(self, target: str, found: RefSignLookup, pid: str) -> dict:
        """Draw the sign's boxes on a sheet; that sheet becomes the figure being discussed."""
        path = render_overlay(self.services, target, [found.numeral])
        self.session.focus = target
        return {"figure_id": target, "path": str(path), "numerals": [found.numeral], "patent_id": pid}


def _fig_sentences(doc: Patent, figs: Sequence[str]) -> list[str]:
    """Sentences of the description that name one of these FIGs ("FIG. 2 shows...", "FIGS. 2 and 3")."""
    if not figs:
        return []
    rx = re.compile(rf"\bFIGS?\.?\s*(?:\d+[A-Z]?\s*(?:,|and|to|-)\s*)*(?:{'|'.join(map(re.escape, figs))})\b",
                    re.IGNORECASE)
    out = []
    for para in doc.description:
        out += [s.strip() for s in re.split(r"(?<=[.;])\s+", para.text) if rx.search(s)]
    return out
