"""CPC symbols: the format and known subclasses, the repair of garbled symbols, on the real sample documents."""

from __future__ import annotations

import zipfile
from xml.etree import ElementTree as ET

import pytest

from core.cpc import KNOWN_CLASSES, KNOWN_SUBCLASSES, clean_codes, is_known, is_known_prefix, repair
from core.errors import ToolError
from ingest.read import read_document
from tests.conftest import sample
from tools.cpc_topics import CPC_TITLES
from tools.filtering import facet_values, make_filters

# PDFs whose text layer reads a 6 of the class as 0: "B00R" for B60R, "G00F" for G06F, "G00N" for G06N
GARBLED = {
    "pdf/US20190003876A1.pdf": ("B00R2021/01088", "B60R2021/01088"),
    "pdf/US20190168710A1.pdf": ("B00R22/48", "B60R22/48"),
    "pdf/US20190155678A1.pdf": ("G00F11/0772", "G06F11/0772"),
    "pdf/US20190026250A1.pdf": ("G00N99/00", "G06N99/00"),
}


def _patent(path):
    with read_document(path) as doc:
        return doc.patent


def test_the_scheme_table():
    assert len(KNOWN_SUBCLASSES) > 600 and {s[0] for s in KNOWN_SUBCLASSES} == set("ABCDEFGHY")
    assert {"B60R", "G06F", "B64U", "H10K", "F05D", "Y02E"} <= KNOWN_SUBCLASSES
    assert not {"B00R", "G00F", "G00N"} & KNOWN_SUBCLASSES
    assert set(CPC_TITLES) <= KNOWN_SUBCLASSES  # the legend of titles names only real subclasses
    assert is_known_prefix("B") and is_known_prefix("B60") and is_known_prefix("B60R")
    assert not is_known_prefix("B00") and not is_known_prefix("B00R") and not is_known_prefix("X")
    assert "B60" in KNOWN_CLASSES and "G00" not in KNOWN_CLASSES


def test_format_and_repair():
    assert is_known("B64D27/353") and is_known("b64d 27 / 353") and is_known("G06F")
    assert not is_known("B64D27") and not is_known("B00R21/015") and not is_known("Z01B1/00")
    assert repair("B00R21/015") == "B60R21/015"
    assert repair("GOIR33/48") == "G01R33/48"  # two letters read for digits
    assert repair("A61K 31416") == "A61K"  # a group part that is none: the subclass alone
    assert repair("X01B1/00") is None  # no section X, and no one-or-two-character repair
    # A81K is one character from both A01K and A61K: only the document's other symbols can decide
    assert repair("A81K67/00") is None
    assert repair("A81K67/00", context=["A61K31/416"]) == "A61K67/00"
    assert clean_codes(["B00R22/48", "B60R22/48", "G00X1/00", "H02J7/00"]) == ["B60R22/48", "H02J7/00"]


@pytest.mark.parametrize("rel", sorted(GARBLED))
def test_garbled_codes_of_the_sample_pdfs_are_repaired(rel):
    patent = _patent(sample(rel))
    garbled, real = GARBLED[rel]
    codes = patent.cpc + patent.ipc
    assert codes and all(is_known(c) for c in codes), codes
    assert garbled not in codes and real in codes
    assert not any(c.startswith(("B00", "G00")) for c in codes)


def test_real_codes_stay():
    ep = _patent(sample("pdf/EP3358703A1.pdf"))
    assert ep.cpc == ["H02J7/00", "B60L11/18", "H02J7/04"]  # as printed on the front page, field (51)
    path = sample("uspto/US12448135-20251021.ZIP")
    us = _patent(path)
    with zipfile.ZipFile(path) as z:
        xml = next(n for n in z.namelist() if n.endswith(".XML"))
        root = ET.fromstring(z.read(xml))
    in_xml = ["".join((c.findtext(t) or "").strip() for t in ("section", "class", "subclass", "main-group"))
              + "/" + (c.findtext("subgroup") or "").strip() for c in root.iter("classification-cpc")]
    assert us.cpc == list(dict.fromkeys(in_xml)) and len(us.cpc) > 5


def test_facets_offer_only_known_prefixes(fake_index):
    fv = facet_values(fake_index)
    assert fv["cpc"] and all(is_known_prefix(p) for p in fv["cpc"])
    assert set(fv["cpc_counts"]) == set(fv["cpc"])
    with pytest.raises(ToolError, match="no patent in the index has CPC 'B00R'"):
        make_filters(fake_index, cpc=["B00R"])
