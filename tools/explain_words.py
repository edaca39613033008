"""The sentences of an explanation or a comparison, written for a patent searcher from the facts alone.

`tools.explain` gathers the facts of a hit (its breakdown, per modality raw score, rank, contribution and,
when the search computed one, calibrated relevance) or of a comparison; the functions here turn them into
plain sentences: no field names, no file paths, and every number taken from the facts as it stands there
(rounded to three decimals, four for reciprocal-rank contributions).
"""

from __future__ import annotations

from core.patnum import figure_place
from core.textnorm import normalise_label
from tools.explain_facts import Comparison, ComponentFact, Contribution, HitFacts
from tools.phrasing import (
    METHOD_WORDS,
    and_list,
    figure_words,
    filters_words,
    ordinal,
    plural,
    short_words,
    source_words,
    strength,
)

MAX_LISTED = 8
QUOTE_CHARS = 220
SIMILARITY_MODALITIES = ("visual", "clip_text", "text", "views")  # their raw score is a cosine similarity


def _num(x: float, method: str = "") -> str:
    """A number as explanations print it: three decimals, four for reciprocal-rank contributions."""
    return f"{x:.4f}" if method == "rrf" else f"{x:.3f}"


def quote(text: str, n: int = QUOTE_CHARS) -> str:
    """Document text on one line, cut to `n` characters, without a closing full stop, in quotation marks."""
    text = " ".join(str(text).split()).rstrip(".")
    return '"' + (text if len(text) <= n else text[: n - 1].rstrip() + "…") + '"'


def _raw_words(m: str, c: Contribution) -> str:
    """"similarity 0.367" (or "score 12.400" for a non-cosine list), with calibrated relevance when known."""
    raw = c["raw"] if c["raw"] is not None else 0.0
    if m == "verified":  # a count of local features matched in one arrangement (tools.verify)
        n = int(round(raw))
        words = f"{n} matching {'detail' if n == 1 else 'details'} in the same arrangement"
    elif m == "lines":  # the share of lines that coincide, laid over the query (tools.verify)
        words = f"{round(100 * raw)}% of the lines coincide with the query's"
    elif m == "exact":  # the pixels' agreement of the candidate that is the query's very picture (tools.verify)
        words = f"its pixels agree {100 * raw:.1f}% with the query's, more than any copy's: the picture it was cut from"
    else:
        what = "similarity" if m in SIMILARITY_MODALITIES else "share of your words found" if m == "words" else "score"
        words = f"{what} {_num(raw)}"
    cal = c["calibrated"]
    if cal is not None:
        words += f", calibrated relevance {_num(cal)}, a {strength(cal)} match"
    return words


def _standing(m: str, c: Contribution) -> str:
    """"the best text match (similarity 0.367)"."""
    rank = c["rank"] or 0
    best = "best" if rank == 1 else f"{ordinal(rank)} best"
    return f"the {best} {short_words(m)} match ({_raw_words(m, c)})"


def _words_clause(f: HitFacts) -> str:
    """How many of the query's words the figure's linked text has (or, for a keyword or part search, which
    words matched), or '' when no words were asked or matched."""
    asked, found = f["query_terms"], f["matched_terms"]
    if not asked:
        return f"it matches your {'word' if len(found) == 1 else 'words'} {and_list(found)}" if found else ""
    src = "the figure's own text"  # its description, the parts drawn in it, their sentences, the title
    if not found:
        return f"none of your words occurs in {src}"
    if len(asked) == 1:
        return f"{src} has your word {found[0]}"
    share = (f"all {len(asked)} of your words" if len(found) == len(asked)
             else f"{len(found)} of your {len(asked)} words")
    return f"{src} has {share} ({and_list(found)})"


def _why(f: HitFacts) -> str:
    """The first sentence: why the hit ranks where it does, its strongest evidence first."""
    mods = {m: c for m, c in f["modalities"].items() if c["present"]}
    order = sorted(mods, key=lambda m: -mods[m]["contribution"])
    clauses = [c for c in [_words_clause(f)] if c]
    if order:
        clauses.append("among the figures searched, it is " + and_list([_standing(m, mods[m]) for m in order]))
    clauses += [f"it is not in the {short_words(m)} list, so that counts 0"
                for m, c in f["modalities"].items() if not c["present"]]
    if not _has_drawing_query(f):
        clauses.append("there was no drawing to compare")
    lead = f"#{f['rank']} ranks {ordinal(f['rank'])} of {f['set_size']}"
    if not clauses:
        return lead + "."
    body = "; ".join(clauses[:-1]) + (", and " if len(clauses) > 1 else "") + clauses[-1]
    return f"{lead} because {body}."


def _has_drawing_query(f: HitFacts) -> bool:
    q = f["query"]
    return bool(q.get("image") or q.get("figure_id") or q.get("clip") or "visual" in f["modalities"])


def _score_sentence(f: HitFacts) -> str:
    """How the score is made: one kind of evidence, or the weighted parts of each."""
    method, mods = f["method"], f["modalities"]
    cal = [c["calibrated"] for c in mods.values() if c["calibrated"] is not None]
    overall = f", a {strength(f['score'])} match" if cal else ""
    if len(mods) <= 1 or method == "single":
        m, c = next(iter(mods.items()), ("", None))
        if c is not None and (method == "minmax" or not cal) and abs(c["norm"] - f["fused"]) < 0.0006:
            what = "similarity" if m in SIMILARITY_MODALITIES else "match score"
            return (f"Its score is {_num(f['fused'])}: its {what} rescaled between the weakest and the best "
                    "match of this search.")
        return f"Its score is {_num(f['fused'])}{overall}."
    if method in ("odds", "avg", "max") and len(cal) == len(mods):
        parts = [f"{short_words(m)} {_num(c['calibrated'] or 0.0)} (weight {c['weight']:.3f})" for m, c in mods.items()]
        how = {"odds": "the weighted mean of their log-odds, turned back into a relevance",
               "avg": "their weighted average", "max": "the best of them"}[method]
        comma = "," if overall else ""
        return (f"Its score {_num(f['fused'])}{overall}{comma} combines the calibrated relevance of each kind of "
                f"evidence, {and_list(parts)}, as {how}.")
    parts = []
    for m, c in mods.items():
        how = (f"weight {c['weight']:.3f} / (60 + rank {c['rank']})" if method == "rrf" and c["present"]
               else f"weight {c['weight']:.3f}")
        parts.append(f"{short_words(m)} {_num(c['contribution'], method)} ({how})")
    return (f"Its score {_num(f['fused'], method)}{overall + ',' if overall else ''} is "
            f"{METHOD_WORDS.get(method, method)} of the evidence: {and_list(parts)}.")


def _components(comps: list[ComponentFact]) -> str:
    return and_list([f"{c['numeral']} {c['label']}".strip() for c in comps], MAX_LISTED)


PASSAGE_WORDS = {"description": "its FIG description", "component": "the name of a part drawn in it",
                 "title": "the patent's title"}


def found_words(matched_in: dict[str, str]) -> str:
    """"'hydrogen' and 'tanks' in component 107 'hydrogen tanks', 'aircraft' in the title"."""
    by_place: dict[str, list[str]] = {}
    for word, place in matched_in.items():
        by_place.setdefault(place, []).append(word)
    return and_list([f"{and_list([repr(w) for w in words])} in {'the ' if ' ' not in place else ''}{place}"
                     for place, words in by_place.items()])


def query_sentence(q: dict[str, object]) -> str:
    """What was asked, in words: 'You searched for "gripping unit".' ('' when the breakdown does not say)."""
    text, mode = str(q.get("text") or ""), str(q.get("mode") or "")
    said = f"the words {quote(text, 120)}" if text else ""
    if q.get("figure_id"):
        pid, where = figure_place(str(q["figure_id"]))
        asked = f"You asked for figures like {where} of {pid}" if pid else "You asked for similar figures"
    elif q.get("image"):
        asked = "You searched with your drawing" + (" (a crop of it)" if q.get("crop") else "")
        asked += f" and {said}" if said else ""
    elif mode == "lexical":
        asked = f"You searched the documents' text for {quote(text, 120)}"
    elif mode == "component":
        asked = f"You searched for figures that label a part {quote(text, 120)}"
    elif text:
        asked = f"You searched for {quote(text, 120)}"
    else:
        return ""
    weight = q.get("text_weight")
    if isinstance(weight, int | float) and (q.get("image") or q.get("figure_id")):
        asked += f", with weight {float(weight):.3f} on the text"
    return asked + "."


def hit_text(f: HitFacts) -> str:
    """The explanation of one hit: why it ranks there, how its score is made, what the sheet shows."""
    lines = [_why(f), query_sentence(f["query"]), _score_sentence(f), _same_picture(f)]
    if abs(f["recomputed"] - f["fused"]) > 0.0015:
        lines.append(f"(The parts above add up to {_num(f['recomputed'])}, not to the recorded score "
                     f"{_num(f['fused'])}.)")
    head = f"#{f['rank']} is {figure_words(f['figs'], f['sheet_no'], f['patent_id'])}"
    kind = f", a {f['kind']}" if f["kind"] not in ("", "unknown") else ""
    view = f" ({f['view']} view)" if f["view"] not in ("", "unknown") else ""
    lines.append(head + kind + view + (f": {quote(f['title'], 120)}." if f["title"] else "."))
    if f["matched_in"]:
        lines.append(f"Your words were found in this figure: {found_words(f['matched_in'])}.")
    if f["passage"] and f["passage_kind"] != "linked text":
        lines.append(f"Its closest passage ({PASSAGE_WORDS.get(f['passage_kind'], f['passage_kind'])}): "
                     f"{quote(f['passage'])}.")
    if f["matched_components"]:
        lines.append(f"Parts on this sheet that match your words: {_components(f['matched_components'])}.")
    if f["filters"]:
        lines.append(f"The search was limited to {filters_words(f['filters'])}.")
    for fig, text in list(f["fig_descriptions"].items())[:3]:
        label = "The sheet is described as" if fig == "sheet" else f"The patent describes FIG. {fig} as"
        lines.append(f"{label} {quote(text)}.")
    if f["components"]:
        lines.append(f"Parts read on the sheet: {_components(f['components'])}.")
    if f["passages"]:
        lines.append(f"The passage that matched: {quote(f['passages'][0])}.")
    return "\n".join(x for x in lines if x)


def _alike(f: HitFacts) -> dict[str, float]:
    """The candidates whose pixels agreed alike with the query's, with their agreements (the query's record,
    `tools.verify.SAME_PICTURE`): one picture indexed more than once."""
    alike = f["query"].get("same_picture")
    return {str(i): float(a) for i, a in alike.items()} if isinstance(alike, dict) else {}


def _same_picture(f: HitFacts) -> str:
    """The sentence for a hit whose pixels agree with the query's as another's do, or ""."""
    alike = _alike(f)
    if f["figure_id"] not in alike:
        return ""
    others = ", ".join(f"{i}'s ({a:.1%})" for i, a in alike.items() if i != f["figure_id"])
    return (f"Its pixels agree {alike[f['figure_id']]:.1%} with the query's, as {others} do: one picture indexed "
            "more than once, which nothing in the query tells apart.")


# ---------------------------------------------------------------- a pair


def pair_text(fh: HitFacts, fl: HitFacts, asked: tuple[int, int], diffs: dict[str, float],
              decisive: str | None) -> str:
    """Why the higher of two hits ranks above the lower: the scores, the evidence that decided, the overlap."""
    hi, lo = fh["rank"], fl["rank"]
    lines = [f"#{asked[0]} is below #{asked[1]}, not above it." if asked[0] > asked[1] else ""]
    lines.append(f"#{hi} ({figure_words(fh['figs'], fh['sheet_no'], fh['patent_id'])}) scores "
                 f"{_num(fh['fused'])} and #{lo} ({figure_words(fl['figs'], fl['sheet_no'], fl['patent_id'])}) "
                 f"scores {_num(fl['fused'])}, {_num(fh['fused'] - fl['fused'])} less.")
    if fh["method"] != fl["method"]:
        lines.append(f"Their scores were combined differently: #{hi} by {METHOD_WORDS.get(fh['method'])}, "
                     f"#{lo} by {METHOD_WORDS.get(fl['method'])}.")
    alike = _alike(fh)
    if fh["figure_id"] in alike and fl["figure_id"] in alike:
        lines.append(f"Their pixels agree alike with the query's (#{hi} {alike[fh['figure_id']]:.1%}, #{lo} "
                     f"{alike[fl['figure_id']]:.1%}): one picture indexed twice, which nothing in the query tells "
                     "apart: the small differences below order them.")
    lines += _difference_lines(fh, fl, diffs, decisive)
    lines += _overlap_lines(fh, fl)
    return "\n".join(x for x in lines if x)


def _side(f: HitFacts, m: str) -> str:
    """"the 2nd best text match (similarity 0.891)" for one hit and modality, or its absence."""
    c = f["modalities"].get(m)
    if c is None or not c["present"]:
        return f"not in the {short_words(m)} list"
    return f"the {'best' if c['rank'] == 1 else ordinal(c['rank'] or 0) + ' best'} {short_words(m)} match " \
           f"({_raw_words(m, c)})"


def _contrib(f: HitFacts, m: str) -> float:
    """What one kind of evidence gave a hit: its calibrated relevance when it has one, else its contribution."""
    c = f["modalities"].get(m)
    if c is None:
        return 0.0
    return c["calibrated"] if c["calibrated"] is not None and f["method"] != "rrf" else c["contribution"]


def _difference_lines(fh: HitFacts, fl: HitFacts, diffs: dict[str, float], decisive: str | None) -> list[str]:
    """Which kind of evidence made the difference, and which favoured which hit, with the numbers."""
    hi, lo, method = fh["rank"], fl["rank"], fh["method"]
    path = next((c["path"] for f in (fh, fl) for mm, c in f["modalities"].items() if mm == decisive), "")
    if decisive is None or diffs[decisive] <= 0:
        return [f"No kind of evidence favours #{hi}; it is above #{lo} because of how the set was ordered."]
    what = source_words(decisive, path).replace(" its ", " the ").capitalize()
    lines = [f"{what} made the difference: #{hi} is {_side(fh, decisive)}, "
             f"#{lo} is {_side(fl, decisive)}."]
    if len(diffs) > 1:
        lines[0] = lines[0][:-1] + (f"; that gave #{hi} {_num(_contrib(fh, decisive), method)} and #{lo} "
                                    f"{_num(_contrib(fl, decisive), method)}.")
    if method == "max" and fh["top_modality"] and fl["top_modality"]:
        lines.append(f"With the best of the weighted scores, each figure counts only its strongest evidence: "
                     f"#{hi} its {short_words(fh['top_modality'])}, #{lo} its {short_words(fl['top_modality'])}.")
    for m, d in diffs.items():
        if m == decisive:
            continue
        a, b = _num(_contrib(fh, m), method), _num(_contrib(fl, m), method)
        if abs(d) < 0.0005:
            lines.append(f"The {short_words(m)} was even ({a} each).")
        else:
            lines.append(f"The {short_words(m)} favoured #{hi if d > 0 else lo} (#{hi} {a}, #{lo} {b}).")
    return lines


def _overlap_lines(fh: HitFacts, fl: HitFacts) -> list[str]:
    """What the two hits share and where they differ: your words, matching parts, parts both show."""
    hi, lo = fh["rank"], fl["rank"]
    th, tl = set(fh["matched_terms"]), set(fl["matched_terms"])
    parts = []
    if th & tl:
        parts.append(f"both have your {'word' if len(th & tl) == 1 else 'words'} {and_list(sorted(th & tl))}")
    for rank, only in ((hi, th - tl), (lo, tl - th)):
        if only:
            parts.append(f"only #{rank} has your {'word' if len(only) == 1 else 'words'} {and_list(sorted(only))}")
    lines = [(parts[0][0].upper() + "; ".join(parts)[1:] + ".") if parts else ""]
    ch = sorted({normalise_label(c["label"]) for c in fh["matched_components"]} - {""})
    cl = sorted({normalise_label(c["label"]) for c in fl["matched_components"]} - {""})
    if ch != cl:
        lines.append(f"Parts that match your words: on #{hi} {and_list(ch) or 'none'}; "
                     f"on #{lo} {and_list(cl) or 'none'}.")
    both = sorted({normalise_label(c["label"]) for c in fh["components"]}
                  & {normalise_label(c["label"]) for c in fl["components"]} - {""})
    if both:
        lines.append(f"Both sheets show {and_list(both)}.")
    if fh["patent_id"] == fl["patent_id"]:
        lines.append(f"Both are sheets of {fh['patent_id']}.")
    return lines


# ---------------------------------------------------------------- a comparison of patents


def comparison_text(c: Comparison) -> str:
    """The comparison for a person, quoting only its fields."""
    ids = c.patent_ids
    lines = ["Compared: " + and_list([f"{pid} ({quote(c.titles[pid], 90)})" for pid in ids], 10) + "."]
    lines.append(f"Parts named in all of them: {and_list(c.shared_components, 16)}." if c.shared_components
                 else "No part name occurs in all of them.")
    for lab, pids in list(c.partly_shared_components.items())[:MAX_LISTED]:
        lines.append(f"{lab.capitalize()} occurs in {and_list(pids)}.")
    for pid in ids:
        where = "on the compared figures" if c.component_source[pid] == "figures" else "in its text"
        only = c.distinct_components[pid]
        lines.append(f"Only {pid} names {and_list(only, 16)} {where}." if only
                     else f"{pid} names no part {where} that the others lack.")
    lines.append(_cpc_sentence(c))
    lines.append("Kinds of figure: " + "; ".join(
        f"{pid} has {and_list([plural(n, k) for k, n in c.kinds[pid].items()])}" for pid in ids) + ".")
    lines.append(f"Key terms of all of them (titles, abstracts, claims): {and_list(c.key_terms_shared, 10)}."
                 if c.key_terms_shared else "No key term of the titles, abstracts and claims is in all of them.")
    for pid in ids:
        if c.key_terms_distinct.get(pid):
            lines.append(f"Key terms only in {pid}: {and_list(c.key_terms_distinct[pid][:6])}.")
    return "\n".join(lines)


def _cpc_sentence(c: Comparison) -> str:
    noun = "subclass" if len(c.cpc_shared) == 1 else "subclasses"
    shared = (f"They share the CPC {noun} {and_list(c.cpc_shared)}" if c.cpc_shared
              else "They share no CPC subclass")
    only = [f"only {pid} has {and_list(v)}" for pid, v in c.cpc_distinct.items() if v]
    return shared + ("; " + "; ".join(only) if only else "") + "."
