"""Example requests drawn from what the index holds, for a newcomer's first click.

The examples name real parts: the reference-sign labels of the indexed patents, counted by the sheets that
show them (OCR-linked components) or, where OCR linked none, by the sentences that mention them. A label
becomes a request as a person would type it ("show me drawings of an MR scanner bore", "figures with
hydrogen tanks"): acronyms keep their capitals, other words are lower-case, and "a"/"an" go before a
singular noun. Labels that are no part ("more fuel supply lines", "process", "first material") or that
look garbled (digits, odd characters, mentioned once) are left out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from core.textnorm import normalise_label
from core.types import Sheet
from runtime.services import Services
from tools.search import patent_of

GENERIC_LABEL_WORDS = frozenset(
    "detail view portion part section side end surface upper lower outer inner front rear top bottom mixture "
    "embodiment region area layer member element unit device apparatus system first second".split()
)
LEADING_JUNK = frozenset("more first second third plurality said each one other further respective such "
                         "several additional another same".split())
NOT_A_PART = frozenset(  # last words of labels that name no drawn part: steps, data, substances
    "process step method signal signals data information value values mode color colour hand material "
    "materials example state air water fuel oil gas coating electricity hydrogen oxygen power light heat "
    "fluid steam energy current voltage flow liquid vapor vapour mixture".split())
FALLBACK_REQUESTS = ("show me drawings of a gripping unit", "flowcharts of a control method")
TEMPLATES = ("show me drawings of {}", "figures with {}")
MAX_SHEETS = 5000  # sheets looked at; enough for a representative count on a large index
MAX_PATENTS = 300  # patents whose reference signs are counted when OCR linked no component
MIN_MENTIONS = 2  # a label seen once may be an OCR slip of the text layer ("AIN layer")
MAX_WORDS = 4
LABEL_CHARS = re.compile(r"^[A-Za-z][A-Za-z' \-]*$")
AN_LETTERS = "AEFHILMNORSX"  # capitals spoken with a vowel first: "an MR scanner", "an X-ray tube"
A_BEFORE_VOWEL = ("uni", "use", "usu", "eu", "one", "ure")  # "a unit", "a user interface"


def example_requests(services: Services, n: int = 2) -> list[str]:
    """Up to `n` example requests about parts of `n` different patents, the most often drawn first.

    Returns requests like "show me drawings of a hydrogen tank", or `FALLBACK_REQUESTS` for an index
    without usable reference-sign labels.
    """
    drawn = _label_counts(services.store.sheets()[:MAX_SHEETS])
    counts = {label: v for label, v in drawn.items() if v[0] >= MIN_MENTIONS} or _text_label_counts(services)
    picked: list[tuple[str, str]] = []
    seen: set[str] = set()
    # most often first; among equals, two-word names ("hydrogen tank") before longer and shorter ones
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1][0], abs(len(kv[0].split()) - 2), kv[0].lower()))
    for label, (_count, owner) in ranked:
        key = normalise_label(label)
        if key in seen or any(owner == p for _, p in picked):
            continue
        seen.add(key)
        picked.append((label, owner))
        if len(picked) == n:
            break
    return [request(label, i) for i, (label, _) in enumerate(picked)] or list(FALLBACK_REQUESTS[:n])


def request(label: str, i: int = 0) -> str:
    """A label as a request, with the i-th template: "show me drawings of an MR scanner bore"."""
    return TEMPLATES[i % len(TEMPLATES)].format(noun_phrase(label))


def noun_phrase(label: str) -> str:
    """"MR scanner bore" → "an MR scanner bore"; "Hydrogen Tanks" → "hydrogen tanks" (no article for plurals)."""
    words = [w if _is_acronym(w) else w.lower() for w in label.split()]
    phrase = " ".join(words)
    last = words[-1].lower()
    if last.endswith("s") and not last.endswith(("ss", "us", "is")):
        return phrase  # plurals and -ics words ("avionics") take no article
    first = words[0]
    if _is_acronym(first.split("-")[0]):
        article = "an" if first[0] in AN_LETTERS else "a"
    else:
        article = "an" if first[0] in "aeiou" and not first.startswith(A_BEFORE_VOWEL) else "a"
    return f"{article} {phrase}"


def usable_label(label: str) -> bool:
    """Whether a reference-sign label names a part well enough to be an example."""
    if not LABEL_CHARS.match(label) or not 4 <= len(label) <= 40:
        return False
    words = label.lower().split()
    if len(words) > MAX_WORDS or words[0] in LEADING_JUNK or words[-1] in NOT_A_PART:
        return False
    if any(len(w) < 3 and not _is_acronym(o) for w, o in zip(words, label.split(), strict=True)):
        return False
    return not set(words) <= GENERIC_LABEL_WORDS


def _is_acronym(word: str) -> bool:
    """"MR", "UAV", "PEM", "V": capitals only, at most 4 letters."""
    return word.isalpha() and word.isupper() and len(word) <= 4


def _label_counts(sheets: Iterable[Sheet]) -> dict[str, tuple[int, str]]:
    """Per usable component label: the sheets that show it and the first patent that labels it."""
    counts: dict[str, tuple[int, str]] = {}
    for sheet in sheets:
        for label in {c.label.strip() for c in sheet.components if c.label}:
            if usable_label(label):
                n, owner = counts.get(label, (0, sheet.patent_id))
                counts[label] = (n + 1, owner)
    return counts


def _text_label_counts(services: Services) -> dict[str, tuple[int, str]]:
    """Per usable reference-sign label of the indexed patents: the sentences that mention it, and its patent."""
    counts: dict[str, tuple[int, str]] = {}
    for pid in sorted(services.store.complete_ids())[:MAX_PATENTS]:
        patent = patent_of(services, pid)
        for sign in patent.refsigns.values() if patent else []:
            label = sign.label.strip()
            if usable_label(label) and len(sign.sentences) >= MIN_MENTIONS:
                n, owner = counts.get(label, (0, pid))
                counts[label] = (max(n, len(sign.sentences)), owner)
    return counts
