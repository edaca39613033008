"""Facet metadata of a sheet and the filters over it: one definition for the index and for result sets.

The index stores `sheet_metadata()` next to every vector. A `Filters` object is turned into a Chroma
`where` clause by the store, and `Filters.match()` evaluates the same filter in Python on an existing
result set, so "only flowcharts" means the same thing in both places.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, Field, field_validator

from core.types import Patent, Sheet
from core.vocab import KINDS, VIEWS

CPC_PREFIX = re.compile(r"^[A-HY](\d\d([A-Z](\d{1,4}(/\d{1,6})?)?)?)?$")


def cpc_prefixes(codes: list[str]) -> set[str]:
    """Section, class and subclass prefixes of CPC codes: "B64D27/353" → {"B", "B64", "B64D"}."""
    out: set[str] = set()
    for code in codes:
        c = code.replace(" ", "").upper()
        for n in (1, 3, 4):
            if len(c) >= n:
                out.add(c[:n])
    return out


def sheet_metadata(patent: Patent, sheet: Sheet) -> dict[str, str | int | float | bool]:
    """Flat facet metadata for one sheet, as stored in every Chroma collection."""
    meta: dict[str, str | int | float | bool] = {
        "patent_id": patent.patent_id,
        "figure_id": sheet.figure_id,
        "sheet_no": sheet.sheet_no,
        "office": patent.office,
        "kind_code": patent.kind or "",
        "doc_type": patent.doc_type,
        "locarno": patent.locarno,
        "pub_date": patent.pub_date or 0,
        "figs": ",".join(sheet.figs),
        "view": sheet.view,
        "kind": sheet.kind,
        "n_components": len(sheet.components),
        "has_components": bool(sheet.components),
        "cpc": ";".join(patent.cpc[:40]),
    }
    for p in cpc_prefixes(patent.cpc):
        meta[f"cpc_{p}"] = True
    return meta


class Filters(BaseModel):
    """Restrictions on a search or a result set. Empty lists mean "any"."""

    kinds: list[str] = Field(default_factory=list, description=f"figure kinds, of {list(KINDS)}")
    views: list[str] = Field(default_factory=list, description=f"views, of {list(VIEWS)}")
    cpc: list[str] = Field(default_factory=list, description="CPC prefixes: section 'B', class 'B64', subclass 'B64D'")
    offices: list[str] = Field(default_factory=list, description="'US', 'EP', 'WO'")
    kind_codes: list[str] = Field(default_factory=list, description="'A1', 'B2', ...")
    date_from: int | None = Field(None, description="earliest publication date, yyyymmdd")
    date_to: int | None = Field(None, description="latest publication date, yyyymmdd")
    include_ids: list[str] = Field(default_factory=list, description="only these patent ids")
    exclude_ids: list[str] = Field(default_factory=list, description="drop these patent ids")
    has_components: bool | None = Field(
        None, description="only sheets with (True) / without (False) OCR-linked components"
    )

    @field_validator("kinds")
    @classmethod
    def _kinds(cls, v: list[str]) -> list[str]:
        v = [x.strip().lower() for x in v]
        bad = [x for x in v if x not in KINDS]
        if bad:
            raise ValueError(f"unknown figure kind {bad[0]!r}; valid kinds: {', '.join(KINDS)}")
        return v

    @field_validator("views")
    @classmethod
    def _views(cls, v: list[str]) -> list[str]:
        v = [x.strip().lower() for x in v]
        bad = [x for x in v if x not in VIEWS]
        if bad:
            raise ValueError(f"unknown view {bad[0]!r}; valid views: {', '.join(VIEWS)}")
        return v

    @field_validator("cpc")
    @classmethod
    def _cpc(cls, v: list[str]) -> list[str]:
        out = []
        for x in v:
            c = x.replace(" ", "").upper()
            if not CPC_PREFIX.match(c):
                raise ValueError(f"{x!r} is not a CPC prefix like 'B', 'B64' or 'B64D'")
            out.append(c[:4])
        return out

    @field_validator("offices", "kind_codes", "include_ids", "exclude_ids")
    @classmethod
    def _upper(cls, v: list[str]) -> list[str]:
        return [x.strip().upper().replace(" ", "") for x in v if x.strip()]

    @field_validator("date_from", "date_to", mode="before")
    @classmethod
    def _date(cls, v: object) -> int | None:
        if v is None or v == "":
            return None
        s = str(v).replace("-", "").strip()
        if len(s) == 4 and s.isdigit():  # a bare year
            s += "0101"
        if not (len(s) == 8 and s.isdigit()):
            raise ValueError(f"{v!r} is not a date like 2018, 2018-05-01 or 20180501")
        return int(s)

    def is_empty(self) -> bool:
        return self == Filters()

    def merged(self, other: Filters) -> Filters:
        """This filter narrowed further by `other` (lists: other's non-empty lists replace)."""
        data = self.model_dump()
        for key, val in other.model_dump().items():
            if val not in (None, [], ""):
                data[key] = val
        return Filters(**data)

    def describe(self) -> dict[str, object]:
        return {k: v for k, v in self.model_dump().items() if v not in (None, [], "")}

    def match(self, meta: dict[str, object]) -> bool:
        """Whether a sheet with this metadata (see `sheet_metadata`) passes the filter."""
        if self.kinds and meta.get("kind") not in self.kinds:
            return False
        if self.views and meta.get("view") not in self.views:
            return False
        if self.cpc and not any(meta.get(f"cpc_{p}") for p in self.cpc):
            return False
        if self.offices and meta.get("office") not in self.offices:
            return False
        if self.kind_codes and meta.get("kind_code") not in self.kind_codes:
            return False
        date = int(meta.get("pub_date") or 0)
        if self.date_from and date < self.date_from:
            return False
        if self.date_to and (not date or date > self.date_to):
            return False
        if self.include_ids and meta.get("patent_id") not in self.include_ids:
            return False
        if self.exclude_ids and meta.get("patent_id") in self.exclude_ids:
            return False
        if self.has_components is not None and bool(meta.get("has_components")) != self.has_components:
            return False
        return True
