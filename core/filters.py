"""Facet metadata of a sheet and the filters over it: one table, read by the index and by result sets.

The index stores `sheet_metadata()` next to every sheet vector and `patent_metadata()` next to every
passage. Each filter field is one row of `FIELDS`: the `Filters` attribute, the metadata key it tests and
the test. `Filters.where()` turns the rows into a Chroma `where` clause, and `Filters.match()` evaluates
that same clause in Python on the metadata of a result set (`holds`, with Chroma's meaning of each
operator), so "only flowcharts" cannot mean two things. tests/test_filters.py checks that Chroma and
`match` agree on many random filters.

Unknown values pass no test that asks for a value: a sheet whose publication date is unknown (stored as 0)
passes neither a `date_from` nor a `date_to` bound, and one of a patent without CPC codes passes no `cpc`
filter. The exclusion fields (`exclude_kinds`, `exclude_offices`, ...) drop what they name and keep the
rest, unknown values included: "anything except EP" keeps a sheet whose office is not recorded.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeAlias, TypedDict, cast

from pydantic import BaseModel, Field, field_validator

from core.types import Patent, Sheet
from core.vocab import KINDS, VIEWS, views_within

Scalar: TypeAlias = str | int | float | bool
Metadata: TypeAlias = dict[str, Scalar]
"""Flat facet metadata as Chroma stores it: str, int, float or bool values."""
Operand: TypeAlias = Scalar | list[Scalar] | dict[str, "Scalar | list[Scalar]"]
Where: TypeAlias = dict[str, "Operand | list[Where]"]
"""A Chroma `where` clause: {"kind": {"$in": [...]}}, {"$and": [...]}, {"$or": [...]}."""


class Facets(TypedDict):
    """The filter values that occur in an index (`FigureStore.facets`)."""

    kinds: list[str]
    views: list[str]
    offices: list[str]
    kind_codes: list[str]
    cpc: list[str]  # every CPC prefix present: sections, classes and subclasses
    cpc_counts: dict[str, int]  # sheets per CPC prefix
    date_range: list[int]  # [earliest, latest] known publication date, or [] when none is known
    patent_ids: list[str]


CPC_PREFIX = re.compile(r"^[A-HY](\d\d([A-Z](\d{1,4}(/\d{1,6})?)?)?)?$")
CPC_FLAG = "cpc_"  # a sheet of a patent in CPC subclass B64D carries cpc_B, cpc_B64 and cpc_B64D = True
UNKNOWN_DATE = 0  # pub_date stored for a patent whose publication date is unknown


# ---------------------------------------------------------------- what the index stores


def cpc_prefixes(codes: list[str]) -> set[str]:
    """Section, class and subclass prefixes of CPC codes: "B64D27/353" → {"B", "B64", "B64D"}."""
    out: set[str] = set()
    for code in codes:
        c = code.replace(" ", "").upper()
        for n in (1, 3, 4):
            if len(c) >= n:
                out.add(c[:n])
    return out


def patent_metadata(patent: Patent) -> Metadata:
    """The patent-level facets, as stored with every passage of its text."""
    meta: Metadata = {
        "patent_id": patent.patent_id,
        "office": patent.office,
        "kind_code": patent.kind or "",
        "pub_date": patent.pub_date or UNKNOWN_DATE,
    }
    meta |= {f"{CPC_FLAG}{p}": True for p in cpc_prefixes(patent.cpc)}
    return meta


def sheet_metadata(patent: Patent, sheet: Sheet) -> Metadata:
    """Flat facet metadata for one sheet, as stored in the sheet collections."""
    meta: Metadata = {
        "patent_id": patent.patent_id,
        "figure_id": sheet.figure_id,
        "sheet_no": sheet.sheet_no,
        "office": patent.office,
        "kind_code": patent.kind or "",
        "doc_type": patent.doc_type,
        "locarno": patent.locarno,
        "pub_date": patent.pub_date or UNKNOWN_DATE,
        "figs": ",".join(sheet.figs),
        "view": sheet.view,
        "kind": sheet.kind,
        "n_components": len(sheet.components),
        "has_components": bool(sheet.components),
        "cpc": ";".join(patent.cpc[:40]),
    }
    meta |= {f"{CPC_FLAG}{p}": True for p in cpc_prefixes(patent.cpc)}
    return meta


# ---------------------------------------------------------------- the tests a filter field can make


def _scalars(value: object) -> list[Scalar]:
    items = value if isinstance(value, list | tuple) else [value]
    return [v for v in items if isinstance(v, str | int | float | bool)]


def _scalar(value: object) -> Scalar:
    if not isinstance(value, str | int | float | bool):
        raise TypeError(f"a filter value must be a str, int, float or bool, not {value!r}")
    return value


def _one_of(key: str, value: object) -> list[Where]:
    return [{key: {"$in": _scalars(value)}}]


def _none_of(key: str, value: object) -> list[Where]:
    return [{key: {"$nin": _scalars(value)}}]


def _no_flag(prefix: str, value: object) -> list[Where]:
    return [{f"{prefix}{name}": {"$ne": True}} for name in _scalars(value)]


def _equals(key: str, value: object) -> list[Where]:
    return [{key: {"$eq": _scalar(value)}}]


def _any_flag(prefix: str, value: object) -> list[Where]:
    ors: list[Where] = [{f"{prefix}{name}": {"$eq": True}} for name in _scalars(value)]
    return [ors[0] if len(ors) == 1 else {"$or": ors}]


def _known_from(key: str, value: object) -> list[Where]:
    return [{key: {"$gt": UNKNOWN_DATE}}, {key: {"$gte": _scalar(value)}}]


def _known_to(key: str, value: object) -> list[Where]:
    return [{key: {"$gt": UNKNOWN_DATE}}, {key: {"$lte": _scalar(value)}}]


@dataclass(frozen=True)
class FilterField:
    """One row of the filter table: a `Filters` attribute, the metadata key it tests, and the test."""

    name: str
    key: str  # the metadata key; for cpc the prefix of the flag keys
    test: Callable[[str, object], list[Where]]  # (key, the attribute's value) → clauses that must all hold
    patent_level: bool  # passages carry the key too (their metadata is `patent_metadata`)


FIELDS: tuple[FilterField, ...] = (
    FilterField("kinds", "kind", _one_of, patent_level=False),
    FilterField("views", "view", _one_of, patent_level=False),
    FilterField("cpc", CPC_FLAG, _any_flag, patent_level=True),
    FilterField("offices", "office", _one_of, patent_level=True),
    FilterField("kind_codes", "kind_code", _one_of, patent_level=True),
    FilterField("date_from", "pub_date", _known_from, patent_level=True),
    FilterField("date_to", "pub_date", _known_to, patent_level=True),
    FilterField("include_ids", "patent_id", _one_of, patent_level=True),
    FilterField("exclude_ids", "patent_id", _none_of, patent_level=True),
    FilterField("has_components", "has_components", _equals, patent_level=False),
    FilterField("figure_ids", "figure_id", _one_of, patent_level=False),
    FilterField("exclude_figures", "figure_id", _none_of, patent_level=False),
    FilterField("exclude_kinds", "kind", _none_of, patent_level=False),
    FilterField("exclude_views", "view", _none_of, patent_level=False),
    FilterField("exclude_cpc", CPC_FLAG, _no_flag, patent_level=True),
    FilterField("exclude_offices", "office", _none_of, patent_level=True),
    FilterField("exclude_kind_codes", "kind_code", _none_of, patent_level=True),
)


# ---------------------------------------------------------------- a where clause, evaluated in Python


def holds(where: Where, meta: Mapping[str, Scalar]) -> bool:
    """Whether metadata passes a `where` clause, with Chroma's meaning of each operator.

    As in Chroma, a key the metadata lacks fails every positive test ($eq, $in, $gt, $gte, $lt, $lte)
    and passes every negative one ($ne, $nin); values of different types are never equal.
    """
    for key, operand in where.items():
        if key in ("$and", "$or"):
            parts = [holds(w, meta) for w in cast("list[Where]", operand)]
            ok = all(parts) if key == "$and" else any(parts)
        else:
            tests = operand if isinstance(operand, dict) else {"$eq": cast(Scalar, operand)}
            ok = all(_compare(op, meta.get(key), arg) for op, arg in tests.items())
        if not ok:
            return False
    return True


def _same(a: Scalar, b: Scalar) -> bool:
    return isinstance(a, bool) == isinstance(b, bool) and isinstance(a, str) == isinstance(b, str) and a == b


def _compare(op: str, value: Scalar | None, arg: Scalar | list[Scalar]) -> bool:
    if op == "$ne":
        return not _compare("$eq", value, arg)
    if op == "$nin":
        return not _compare("$in", value, arg)
    if op not in ("$eq", "$in", "$gt", "$gte", "$lt", "$lte"):
        raise ValueError(f"unknown where operator {op!r}")
    if value is None:
        return False
    if op == "$in":
        return isinstance(arg, list) and any(_same(value, a) for a in arg)
    if isinstance(arg, list):
        raise ValueError(f"{op} takes one value, not a list: {arg!r}")
    if op == "$eq":
        return _same(value, arg)
    numbers = [x for x in (value, arg) if isinstance(x, int | float) and not isinstance(x, bool)]
    if len(numbers) < 2:
        return False
    a, b = numbers
    return {"$gt": a > b, "$gte": a >= b, "$lt": a < b, "$lte": a <= b}[op]


# ---------------------------------------------------------------- the filters


class Filters(BaseModel):
    """Restrictions on a search or a result set. Empty lists mean "any"."""

    kinds: list[str] = Field(default_factory=list, description=f"figure kinds, of {list(KINDS)}")
    views: list[str] = Field(default_factory=list, description=f"views, of {list(VIEWS)}")
    cpc: list[str] = Field(default_factory=list, description="CPC prefixes: section 'B', class 'B64', subclass 'B64D'")
    offices: list[str] = Field(default_factory=list, description="'US', 'EP', 'WO'")
    kind_codes: list[str] = Field(default_factory=list, description="'A1', 'B2', ...")
    date_from: int | None = Field(default=None, description="earliest publication date, yyyymmdd")
    date_to: int | None = Field(default=None, description="latest publication date, yyyymmdd")
    include_ids: list[str] = Field(default_factory=list, description="only these patent ids")
    exclude_ids: list[str] = Field(default_factory=list, description="drop these patent ids")
    has_components: bool | None = Field(
        default=None, description="only sheets with (True) / without (False) OCR-linked components"
    )
    figure_ids: list[str] = Field(default_factory=list, description="only these figures (a topic's members)")
    exclude_figures: list[str] = Field(default_factory=list, description="drop these figures")
    exclude_kinds: list[str] = Field(default_factory=list, description="drop these figure kinds")
    exclude_views: list[str] = Field(default_factory=list, description="drop these views (and those refining them)")
    exclude_cpc: list[str] = Field(default_factory=list, description="drop patents in these CPC prefixes")
    exclude_offices: list[str] = Field(default_factory=list, description="drop these offices")
    exclude_kind_codes: list[str] = Field(default_factory=list, description="drop these kind codes")

    @field_validator("kinds", "exclude_kinds")
    @classmethod
    def _kinds(cls, v: list[str]) -> list[str]:
        v = [x.strip().lower() for x in v]
        bad = [x for x in v if x not in KINDS]
        if bad:
            raise ValueError(f"unknown figure kind {bad[0]!r}; valid kinds: {', '.join(KINDS)}")
        return v

    @field_validator("views", "exclude_views")
    @classmethod
    def _views(cls, v: list[str]) -> list[str]:
        v = [x.strip().lower() for x in v]
        bad = [x for x in v if x not in VIEWS]
        if bad:
            raise ValueError(f"unknown view {bad[0]!r}; valid views: {', '.join(VIEWS)}")
        # a broad view takes in the views that refine it: "plan" also finds top views, "side" left and right
        return list(dict.fromkeys(w for x in v for w in views_within(x)))

    @field_validator("cpc", "exclude_cpc")
    @classmethod
    def _cpc(cls, v: list[str]) -> list[str]:
        out = []
        for x in v:
            c = x.replace(" ", "").upper()
            if not CPC_PREFIX.match(c):
                raise ValueError(f"{x!r} is not a CPC prefix like 'B', 'B64' or 'B64D'")
            out.append(c[:4])
        return out

    @field_validator("offices", "kind_codes", "include_ids", "exclude_ids", "exclude_offices", "exclude_kind_codes")
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
        """This filter narrowed further by `other`: other's non-empty lists replace, except the exclusions
        (exclude_*), which add up: "no EP", then "no WO" leaves out both."""
        data = self.model_dump()
        for key, val in other.model_dump().items():
            if val not in (None, [], ""):
                data[key] = list(dict.fromkeys([*data[key], *val])) if key.startswith("exclude_") else val
        return Filters(**data)

    def describe(self) -> dict[str, object]:
        """The restrictions set, for a breakdown (a topic's member list is summed up as its size)."""
        out = {k: v for k, v in self.model_dump().items() if v not in (None, [], "")}
        if self.figure_ids:
            out["figure_ids"] = f"{len(self.figure_ids)} figures"
        return out

    def patent_level(self) -> Filters:
        """These filters without their sheet-level fields (kinds, views, has_components), for passages."""
        return self.model_copy(update={f.name: Filters.model_fields[f.name].get_default(call_default_factory=True)
                                       for f in FIELDS if not f.patent_level})

    def where(self) -> Where | None:
        """The Chroma `where` clause of these filters, or None when they restrict nothing."""
        clauses: list[Where] = []
        for f in FIELDS:
            value = getattr(self, f.name)
            if value is not None and value != []:
                clauses += f.test(f.key, value)
        if not clauses:
            return None
        return clauses[0] if len(clauses) == 1 else {"$and": clauses}

    def match(self, meta: Mapping[str, Scalar]) -> bool:
        """Whether a sheet with this metadata (see `sheet_metadata`) passes: the `where` clause, evaluated here."""
        where = self.where()
        return where is None or holds(where, meta)
