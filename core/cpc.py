"""CPC symbols: the scheme's format, its known classes and subclasses, and the repair of garbled symbols.

A CPC symbol is a section (A-H or Y), a class (two digits), a subclass (a capital letter) and, optionally,
main group / subgroup: "B64D27/353". The garbled text layers of some publication PDFs give symbols of the
right shape that name no subclass of the scheme: "B00R21/015" for B60R, "G00F11/0772" for G06F. Such a
symbol is repaired when changing one easily confused character (0/O/D/6/8, 1/I/L/7, 5/S, 8/B, 2/Z, 6/G),
or else two, makes its subclass a known one, and only one such subclass exists (one that the same document
names in another symbol wins a tie); otherwise it is dropped. Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from core.cpc_scheme import CPC_SUBCLASS_TABLE

SECTIONS = "ABCDEFGHY"
SYMBOL = re.compile(r"^([A-HY]\d\d[A-Z])(\d{1,4}/\d{1,6})?$")  # subclass, then optional group/subgroup
CONFUSABLE = {
    "0": "O D 6 8", "O": "0 D", "D": "0 O", "6": "0 G 8 5", "8": "0 B 6", "B": "8",
    "1": "I L 7", "I": "1 L", "L": "1 I", "7": "1", "5": "S 6", "S": "5", "2": "Z", "Z": "2", "G": "6",
}


def _subclasses(table: str) -> frozenset[str]:
    """The subclass symbols of the table: "A01 BCD · A21 B" → A01B, A01C, A01D, A21B."""
    out = set()
    for entry in table.replace("\n", " · ").split("·"):
        parts = entry.split()
        if len(parts) == 2:
            out.update(parts[0] + letter for letter in parts[1])
    return frozenset(out)


KNOWN_SUBCLASSES = _subclasses(CPC_SUBCLASS_TABLE)
KNOWN_CLASSES = frozenset(s[:3] for s in KNOWN_SUBCLASSES)


def normalise(code: str) -> str:
    """A symbol without spaces, in capitals: "b64d 27 / 353" → "B64D27/353"."""
    return re.sub(r"\s+", "", str(code)).upper()


def is_known(code: str) -> bool:
    """Whether a symbol has the CPC format and names a subclass of the scheme."""
    m = SYMBOL.match(normalise(code))
    return bool(m) and m.group(1) in KNOWN_SUBCLASSES


def is_known_prefix(prefix: str) -> bool:
    """Whether a facet prefix is a section, a known class, or a symbol of a known subclass ("B", "B64", "B64D")."""
    p = normalise(prefix)
    if len(p) == 1:
        return p in SECTIONS
    if len(p) == 3:
        return p in KNOWN_CLASSES
    return is_known(p)


def repair(code: str, context: Iterable[str] = ()) -> str | None:
    """The symbol itself when known, else its repair (one, else two characters) to a known subclass, else None.

    A group part that is not "main/sub" is dropped, leaving the subclass ("A61K 31416" → "A61K").

    `context` holds the document's other symbols: when several repairs are possible, the one whose
    subclass the document names elsewhere is taken; still ambiguous means None.
    """
    c = normalise(code)
    if is_known(c):
        return c
    head, rest = c[:4], c[4:]
    if not re.fullmatch(r"(\d{1,4}/\d{1,6})?", rest):
        rest = ""  # not a group/subgroup: the subclass alone is still a symbol
    if head in KNOWN_SUBCLASSES:
        return head
    near = _confused({head})
    found = sorted(near & KNOWN_SUBCLASSES) or sorted(_confused(near) & KNOWN_SUBCLASSES)
    if len(found) > 1:
        named = {normalise(x)[:4] for x in context if is_known(x)}
        found = [s for s in found if s in named]
    return found[0] + rest if len(found) == 1 else None


def _confused(heads: set[str]) -> set[str]:
    """Every string one confusable character away from one of `heads`."""
    return {h[:i] + alt + h[i + 1:] for h in heads for i, ch in enumerate(h) for alt in CONFUSABLE.get(ch, "").split()}


def clean_codes(codes: Iterable[str], context: Iterable[str] = ()) -> list[str]:
    """Known symbols kept, garbled ones repaired (see `repair`) or dropped; order kept, no duplicates."""
    ctx = list(context)
    out: list[str] = []
    for code in codes:
        fixed = repair(code, ctx)
        if fixed is not None and fixed not in out:
            out.append(fixed)
    return out
