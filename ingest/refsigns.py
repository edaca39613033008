"""Reference signs: the numerals of a document's drawings, what the text calls them, and where.

USPTO XML tags every numeral of the description (``motors <b>104</b>``), so :func:`from_tagged_xml` only
has to read the noun phrase in front of each tag. PDF text has no tags: :func:`from_plain_text` finds
"noun 104" patterns and keeps only numerals used consistently, because a wrong sign (a year, a
temperature, a claim number) is worse than a missing one.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from xml.etree.ElementTree import Element

from core.textnorm import LABEL_BOUNDARY_WORDS, singular
from core.types import Paragraph, RefSign

MAX_SENTENCES = 8
MAX_LABEL_WORDS = 5

NUMERAL = re.compile(r"^\d{1,5}[a-zA-Z]?['′’]*$")  # "104", "12a", "110'"

# Nouns after which a number is not a reference sign
_NOT_SIGN_WORDS = set(
    """
    fig figs figure figures claim claims paragraph paragraphs page pages line lines col column columns
    table tables example examples formula formulas formulae equation equations eq eqs section sections
    chapter no nos number numbers embodiment embodiments item items group groups sample samples test tests
    run runs step-no version type types mode grade grades steel steels alloy alloys comparative invention
    day days week weeks month months year years hour hours minute minutes second seconds time times
    about approximately approx least most than up only exceeds equals is was be are by between in at on for
    with from into via after before to of and or within over under around nearly roughly substantially
    ratio ratios rate rates percent degree degrees level temperature temperatures pressure thickness
    content contents amount amounts value values mass weight width length height depth diameter size
    range ranges total average mean maximum minimum max min sheet sheets rule article art section
    pct wo ep us jp de kr cn prior publication patent application applications provisional serial
    ptl npl document documents literature reference references inventive comparative conventional
    publication publications kokai tokkai laid-open hei sho heisei showa
    """.split()
)
# Words that cannot be the head noun of a sign's label: "the best 12 features", "approximately negative 25"
_NOT_HEAD = set(
    """
    best first second third fourth fifth last next negative positive common determined estimated measured
    calculated additional different same other new old more less least most many several various such only
    also further respective corresponding given certain particular specific general whole entire full high
    low higher lower large small larger smaller byte bytes bit bits index indices iteration row rows
    """.split()
)
_LY_NOUNS = {"assembly", "supply", "family", "anomaly", "reply", "poly", "belly", "jelly", "rally", "ally", "fly"}

_UNIT = re.compile(
    r"\s?(?:%|‰|°|º|℃|mm\b|cm\b|m\b|µm|μm|um\b|nm\b|km\b|kg\b|mg\b|g\b|t\b|mol|mmol|ml\b|mL\b|l\b|L\b|µl|µL|μl"
    r"|hz|khz|mhz|ghz|Hz|kHz|MHz|GHz|v\b|V\b|kV\b|mV\b|A\b|mA\b|W\b|kW\b|MW\b|Wh|kWh|mAh|Ah|J\b|kJ\b|N\b|kN\b"
    r"|Pa\b|kPa|MPa|GPa|bar\b|psi\b|atm\b|rpm\b|s\b|sec\b|ms\b|µs|ns\b|min\b|h\b|hr\b|hrs\b|days?\b|weeks?\b"
    r"|months?\b|years?\b|hours?\b|minutes?\b|seconds?\b|times\b|fold\b|ppm\b|ppb\b|wt|vol|at\.?%|dB\b|K\b"
    r"|bits?\b|bytes?\b|[KMGT]B\b|fps\b|px\b|pixels?\b|inch(?:es)?\b|in\.|feet\b|ft\b|lbs?\b|oz\b|x\b|×|:\d"
    r"|st\b|nd\b|rd\b|th\b|Ω|ohm|µΩ|T\b|mT\b|Oe\b|dpi\b|gauge\b|mesh\b|cc\b|mPa|cP\b|N/|µ|μ|/)",
)
_YEAR = re.compile(r"^(?:19|20)\d\d$")


@dataclass
class _Acc:
    """Occurrences of one numeral while reading."""

    labels: Counter = field(default_factory=Counter)  # label -> count
    clear: int = 0  # occurrences in an unambiguous "a/the noun 104" pattern
    borrowed: Counter = field(default_factory=Counter)  # labels of list neighbours: "tanks 107, 108"
    sentences: list[str] = field(default_factory=list)
    paragraphs: list[str] = field(default_factory=list)
    hits: int = 0

    def add(self, label: str, sentence: str, pid: str) -> None:
        self.hits += 1
        if label:
            self.labels[label] += 1
        if sentence and sentence not in self.sentences and len(self.sentences) < MAX_SENTENCES:
            self.sentences.append(sentence)
        if pid and pid not in self.paragraphs:
            self.paragraphs.append(pid)


# ------------------------------------------------------------------ labels


def _words(text: str) -> list[str]:
    return re.findall(r"[^\W\d_][\w\-/'’—–]*|\d+[\w\-]*", text)


def label_before(text: str) -> str:
    """The noun phrase that ends ``text`` (the words right in front of a numeral), trimmed.

    "connects to the front permanent magnet synchronous motors" -> "front permanent magnet synchronous motors".
    """
    text = re.sub(r"\s*\((?:[^()]{0,40})\)\s*$", "", text.rstrip())  # 'vehicle ("UAV")' -> 'vehicle'
    text = re.split(r"[.;:,!?()\[\]{}“”\"=<>]", text)[-1]
    words = _words(text)[-MAX_LABEL_WORDS - 3 :]
    out: list[str] = []
    for w in reversed(words):
        lw = w.lower().strip("'’")
        if lw in LABEL_BOUNDARY_WORDS or w[0].isdigit() or (lw.endswith("ly") and lw not in _LY_NOUNS):
            break
        out.append(w)
    out.reverse()
    if not out:
        return ""
    out = out[-MAX_LABEL_WORDS:]
    out[-1] = re.sub(r"['’]s$", "", out[-1])  # "UAV's" -> "UAV"
    label = " ".join(out).strip("-/'’ ")
    return label if len(label) >= 2 else ""


def _norm_key(label: str) -> str:
    """Case- and number-insensitive key: 'Motors' and 'motor' share one key."""
    words = label.lower().split()
    return " ".join([*words[:-1], singular(words[-1])])


def merge_labels(counts: Counter) -> list[str]:
    """Labels most frequent first, variants merged (case, singular/plural); the commonest spelling stands."""
    groups: dict[str, Counter] = defaultdict(Counter)
    for label, n in counts.items():
        groups[_norm_key(label)][label] += n
    totals = {k: sum(c.values()) for k, c in groups.items()}
    # a multi-word label also counts the longer labels that end with it: "motors" <- "front ... motors"
    score = {
        k: n + (sum(v for k2, v in totals.items() if k2.endswith(" " + k)) if " " in k else 0)
        for k, n in totals.items()
    }
    ranked = sorted(groups, key=lambda k: (-score[k], -totals[k], len(k)))
    return [groups[k].most_common(1)[0][0] for k in ranked]


def _finish(accs: dict[str, _Acc], keep: Iterable[str]) -> dict[str, RefSign]:
    out: dict[str, RefSign] = {}
    for num in keep:
        a = accs[num]
        out[num] = RefSign(
            numeral=num,
            labels=merge_labels(a.labels or a.borrowed),
            sentences=a.sentences,
            paragraphs=a.paragraphs,
        )
    return dict(sorted(out.items(), key=lambda kv: _numeral_order(kv[0])))


def _numeral_order(num: str) -> tuple[int, str]:
    m = re.match(r"\d+", num)
    return (int(m.group(0)) if m else 0, num)


# ------------------------------------------------------------------ sentences

_ABBREV = re.compile(
    r"(?:\b(?:FIGS?|Figs?|e\.g|i\.e|No|Nos|approx|ca|cf|vs|etc|al|Ref|Refs|Eq|Eqs|U\.S|Mr|Dr|St|Inc|Co|Ltd|Corp"
    r"|resp|incl|max|min|Ser|Pat|Appl|vol|pp|p|ch|sec|para)|\b[A-Z])\.$"
)


def split_sentences(text: str) -> list[tuple[int, int]]:
    """(start, end) spans of the sentences of a paragraph; "FIG. 1", "e.g." and the like do not end one."""
    spans: list[tuple[int, int]] = []
    start = 0
    for m in re.finditer(r"[.!?](?=\s+[\"“(\[]?[A-Z0-9])", text):
        if _ABBREV.search(text[max(start, m.start() - 6) : m.end()]):
            continue
        spans.append((start, m.end()))
        start = m.end()
        while start < len(text) and text[start].isspace():
            start += 1
    if start < len(text):
        spans.append((start, len(text)))
    return spans


def _sentence_at(text: str, spans: list[tuple[int, int]], pos: int) -> str:
    for a, b in spans:
        if a <= pos < b:
            return text[a:b].strip()
    return ""


# ------------------------------------------------------------------ USPTO XML


_SKIP_TAGS = {"tables", "table", "maths", "math", "chemistry", "img", "chem", "us-math", "us-chemistry"}


def tagged_text(elem: Element) -> tuple[str, list[tuple[str, int]]]:
    """Plain text of a description paragraph and the (numeral, offset) of each tagged reference sign.

    A ``<b>`` holding a numeral outside ``<figref>`` is a sign; ``FIG. <b>1</b>A`` is not. Tables, maths
    and chemistry are left out of the text.
    """
    parts: list[str] = []
    signs: list[tuple[str, int]] = []
    length = 0

    def emit(s: str | None) -> None:
        nonlocal length
        if s:
            parts.append(s)
            length += len(s)

    def walk(e: Element, in_figref: bool) -> None:
        tag = e.tag if isinstance(e.tag, str) else ""
        if tag in _SKIP_TAGS:
            emit(" ")
            emit(e.tail)
            return
        if tag == "b" and not in_figref and not len(e):
            content = (e.text or "").strip()
            if NUMERAL.match(content):
                prime = re.match(r"['′’]+", e.tail or "")  # "<b>2</b>′" is sign 2'
                numeral = content + (prime.group(0) if prime else "")
                signs.append((numeral.replace("′", "'").replace("’", "'"), length))
        emit(e.text)
        for child in e:
            walk(child, in_figref or tag == "figref")
            emit(child.tail)

    emit(elem.text)
    for child in elem:
        walk(child, elem.tag == "figref")
        emit(child.tail)
    raw = "".join(parts)
    # collapse whitespace while keeping offsets: map via a compacted copy
    text, offsets = _compact(raw)
    return text, [(num, offsets[pos] if pos < len(offsets) else len(text)) for num, pos in signs]


def _compact(raw: str) -> tuple[str, list[int]]:
    """Collapse runs of whitespace to one space; return the new text and old->new offset map."""
    out: list[str] = []
    mapping: list[int] = []
    prev_space = True
    for ch in raw:
        mapping.append(len(out))
        if ch.isspace():
            if not prev_space:
                out.append(" ")
            prev_space = True
        else:
            out.append(ch)
            prev_space = False
    text = "".join(out)
    stripped = text.rstrip()
    return stripped, [min(m, len(stripped)) for m in mapping]


def from_tagged_xml(paragraphs: Sequence[tuple[str, Element]]) -> dict[str, RefSign]:
    """Reference signs from USPTO description paragraphs given as (pid, <p> element) pairs."""
    accs: dict[str, _Acc] = defaultdict(_Acc)
    for pid, elem in paragraphs:
        text, signs = tagged_text(elem)
        if not signs:
            continue
        spans = split_sentences(text)
        prev_end, prev_label = -1, ""
        for num, pos in signs:
            before = text[prev_end:pos] if 0 <= prev_end <= pos else None
            prev_end = pos + len(num)
            acc = accs[num]
            if before is not None and re.fullmatch(r"[′'’]*\s*(?:,|/|-|–|&)?\s*(?:and|or)?\s*", before):
                # "tanks 107, 108": a list neighbour lends its label, used only if 108 has none of its own
                if prev_label:
                    acc.borrowed[prev_label] += 1
                acc.add("", _sentence_at(text, spans, pos), pid)
                continue
            label = label_before(text[max(0, pos - 200) : pos])
            if re.search(
                r"(?:^|\s)(?:claims?|fig|figs|figures?|examples?|tables?|formula|paragraphs?|equation)$",
                text[max(0, pos - 12) : pos].rstrip(". "),
                re.I,
            ):
                continue  # "claim <b>1</b>" is a reference, not a sign
            prev_label = label
            acc.add(label, _sentence_at(text, spans, pos), pid)
    return _finish(accs, [n for n, a in accs.items() if a.hits])


# ------------------------------------------------------------------ plain text (PDF)

# a numeral after a space: "tower 104", "blades (22)"; the words before it are read separately
_NUMERAL_TOKEN = re.compile(r"(?<=[ \t])(?P<open>\(?)(?P<num>\d{1,4}[a-z]?['′’]*)(?P<close>\)?)(?=[\s,.;:)]|$)")
_PRE_WORDS = re.compile(r"(?:[^\W\d_][\w\-'’]*[ \t]+){1,7}$")
_ARTICLE = re.compile(r"\b(?:a|an|the|said|each|this|its|their)\s+$", re.I)
_SIGN_LIST_HEADING = re.compile(
    r"reference (?:signs?|numerals?|numbers?|characters?)(?: list)?|list of reference|"
    r"(?:description|explanation) of (?:the )?(?:reference|symbols|signs|numerals)|перечень (?:позиций|обозначений)",
    re.I,
)


def _text_of(p: Paragraph | str | tuple[str, str]) -> tuple[str, str]:
    if isinstance(p, Paragraph):
        return p.pid, p.text
    if isinstance(p, tuple):
        return p[0], p[1]
    return "", p


def _plausible(text: str, m: re.Match[str], pre: str) -> bool:
    """Reject numbers that are years, quantities, ranges, decimals, or claim/FIG/paragraph numbers."""
    num = m.group("num")
    start, end = m.start("num"), m.end("num")
    if m.group("open") and not m.group("close") or m.group("close") and not m.group("open"):
        return False
    digits = re.match(r"\d+", num).group(0)  # type: ignore[union-attr]
    if _YEAR.match(digits) and not m.group("open"):
        return False
    if digits.startswith("0"):
        return False
    after = text[m.end() : m.end() + 12]
    if _UNIT.match(after) or re.match(r"\)?\s*(?:[-–~]|to|and|or|through)\s*\(?\d", after):
        return False
    if re.match(r"[.,]\d", text[end : end + 2]):  # decimals, "1,000"
        return False
    before = text[max(0, start - 3) : start]
    if re.search(r"[\d.,/\-–+±=<>≤≥~×x*^]\s?$", before) and not m.group("open"):
        return False
    words = _words(pre)
    last = words[-1].lower().strip(".'’") if words else ""
    if last in _NOT_SIGN_WORDS or last in LABEL_BOUNDARY_WORDS or last in _NOT_HEAD or not re.search(r"[a-z]", last):
        return False
    return not (len(last) <= 2 and not last.isupper())


def _drop_truncated(keep: list[str], accs: dict[str, _Acc]) -> list[str]:
    """OCR drops leading digits ('network 18' for 'network 118'): drop a numeral that is the tail of another
    kept numeral with the same label."""
    heads = {n: _norm_key(merge_labels(accs[n].labels)[0]) for n in keep if accs[n].labels}
    out = []
    for n in keep:
        if any(m != n and m.endswith(n) and heads.get(m) == heads.get(n) for m in keep):
            continue
        out.append(n)
    return out


def sign_list(paragraphs: Sequence[Paragraph | str | tuple[str, str]]) -> dict[str, str]:
    """A "Reference signs list" section ('10 gripping unit' lines), numeral -> label, when the text has one."""
    found: dict[str, str] = {}
    active = False
    for p in paragraphs:
        pid, text = _text_of(p)
        heading = p.heading if isinstance(p, Paragraph) else ""
        if _SIGN_LIST_HEADING.search(heading) or _SIGN_LIST_HEADING.match(text.strip()):
            active = True
        elif active and heading and not _SIGN_LIST_HEADING.search(heading):
            break
        if not active:
            continue
        for m in re.finditer(r"(?:^|(?<=[\s;,]))(\d{1,4}[a-z]?['′’]*)\s*[-–:=]?\s+([^\W\d_][^\d;,\n]{1,60})", text):
            label = re.sub(r"\s+", " ", m.group(2)).strip(" .")
            words = label.split()
            if 0 < len(words) <= 6 and m.group(1) not in found:
                found[m.group(1)] = label
    return found


def _is_sign(num: str, acc: _Acc, line_numbers: bool) -> bool:
    """Whether a numeral read in plain text is a reference sign: introduced clearly, named consistently."""
    if not acc.labels:
        return False
    groups: Counter = Counter()
    for label, n in acc.labels.items():
        groups[_norm_key(label).split()[-1]] += n  # head noun
    head, top = groups.most_common(1)[0]
    share = top / sum(groups.values())
    # a sign is introduced at least once as "a/the noun 104" and mostly called by one head noun
    if acc.clear < 1 or share < 0.5 or head in _NOT_HEAD:
        return False
    value = int(re.match(r"\d+", num).group(0))  # type: ignore[union-attr]
    label = merge_labels(acc.labels)[0]
    if line_numbers and value % 5 == 0 and value <= 65 and top < 2:
        return False  # scanned US grants print line numbers 5..65 into the text: need two sightings
    # "Hardware 2", "Model 3": names, not signs
    return not (value < 10 and " " not in label and label[:1].isupper() and not label.isupper())


def from_plain_text(
    paragraphs: Sequence[Paragraph | str | tuple[str, str]], *, line_numbers: bool = False
) -> dict[str, RefSign]:
    """Reference signs from untagged description text (PDFs): "a tower 104", "the rotor blades (22)".

    A numeral is kept when the text introduces it at least once in a clear "a/the noun 104" pattern and
    one head noun dominates what the text calls it; a "Reference signs list" section, when present, is
    trusted as is. ``line_numbers``: the text comes from pages with printed line numbers (5, 10 ... 65) that
    OCR may have mixed into the text, so those values need two sightings.
    """
    accs: dict[str, _Acc] = defaultdict(_Acc)
    listed = sign_list(paragraphs)
    for p in paragraphs:
        pid, text = _text_of(p)
        heading = p.heading if isinstance(p, Paragraph) else ""
        if not text or _SIGN_LIST_HEADING.match(text.strip()) or _SIGN_LIST_HEADING.search(heading):
            continue  # the list itself was read by sign_list
        spans = split_sentences(text)
        for m in _NUMERAL_TOKEN.finditer(text):
            words_before = _PRE_WORDS.search(text, max(0, m.start() - 120), m.start())
            if not words_before or not _plausible(text, m, words_before.group(0)):
                continue
            num = m.group("num").replace("′", "'").replace("’", "'")
            label = label_before(text[max(0, m.start("num") - 200) : m.start("open") or m.start("num")])
            if not label:
                continue
            acc = accs[num]
            pre_start = m.start("num") - len(m.group("open")) - 1 - len(label)
            if _ARTICLE.search(text[max(0, pre_start - 8) : max(0, pre_start)]):
                acc.clear += 1
            acc.add(label, _sentence_at(text, spans, m.start("num")), pid)
    keep: list[str] = []
    for num, acc in accs.items():
        if num in listed:
            acc.labels[listed[num]] += 2
            keep.append(num)
            continue
        if _is_sign(num, acc, line_numbers):
            keep.append(num)
    keep = _drop_truncated(keep, accs)
    for num, label in listed.items():
        if num not in accs:
            accs[num].labels[label] += 1
            keep.append(num)
    return _finish(accs, keep)
