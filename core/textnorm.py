"""Text normalisation, in one place: words, stems, singulars and the stopword lists, each named by its use.

- `stem()` is the Snowball (Porter 2) English stemmer, for matching words whatever their inflection
  ("drivers", "driving" → "driver", "drive"); stems are never shown to a person.
- `singular()` turns a plural into its singular and keeps the word readable, for labels that are shown
  ("gripping units" → "gripping unit").
- The stopword lists differ because their jobs differ: a query's filler words, the words that end a
  reference-sign label, patent boilerplate that says nothing about a drawing, and the generic words of CPC
  titles.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from functools import lru_cache

import snowballstemmer

# Filler words of a search request: "show me drawings of the ..." says nothing about the drawing.
QUERY_STOPWORDS = frozenset(
    "a an the of and or in on with without for to from by at as is are be this that these those its it "
    "show shows showing me find like figure figures fig drawing drawings view image images some any all "
    "which what where has have having into onto about".split()
)

# Words that end a reference-sign label when it is read right to left from its numeral ("the said tower 104"):
# articles, determiners, prepositions, conjunctions, verbs.
LABEL_BOUNDARY_WORDS = frozenset(
    """
    a an the this that these those its their his her our your my some any each every all both either neither
    no not nor one two three four five six seven eight nine ten first-mentioned said such same other another
    of to and or but in on at by for from with within without into onto upon over under via as than
    between among through across along about around behind beyond near after before during while until
    is are was were be been being has have had having do does did can could may might must shall should will
    would include includes included including comprise comprises comprised comprising contain contains
    containing consist consists consisting form forms forming define defines defining provide provides
    provided providing use uses used using show shows shown showing see seen which where wherein whereby
    when whose who what how then thus also further respectively e.g i.e namely like e g i e plurality
    connects connected connecting couples coupled coupling attaches attached mounted mounts arranged
    located positioned disposed extends extending extend passes passing allows allowing via per
    """.split()
)

# Words that say nothing about what a drawing shows: figure boilerplate of patent texts.
PATENT_BOILERPLATE = frozenset(
    """fig figs figure figures drawing drawings view views shows show shown showing illustrates illustrated
    illustrating depicts depicted depicting according embodiment embodiments example exemplary invention
    present disclosure various certain accordance herein thereof therein wherein said first second third
    fourth one two three portion part side accordance respectively schematic diagram diagrams
    another also like used using use may can include includes including comprising comprises
    perspective exploded sectional section cross plan front rear top bottom detail detailed isometric
    elevation enlarged partial""".split()
)

# Claim language: common to every claim set, so it never tells two patents apart.
CLAIM_BOILERPLATE = frozenset(
    """claim claims comprising comprises comprise compris wherein whereby said least plurality configured
    having include includes including respective respectively thereof therein thereto via based provide
    provided providing associated adapted arranged relative method system device apparatus unit characterized
    characterised""".split()
)

# Generic words of CPC class titles ("devices", "arrangements"): matching a topic on them means nothing.
CPC_TITLE_STOPWORDS = frozenset(
    "a an and or of the in on for to with by from as at its their other not otherwise provided general "
    "devices device apparatus systems system methods method means arrangements elements drawings drawing "
    "figures figure ones those these about related only just machine machines process processes assembly unit "
    "units part parts member members equipment element component components structure structures".split()
)

# scikit-learn's English stopwords (sklearn.feature_extraction.text.ENGLISH_STOP_WORDS, BSD licence), copied:
# importing scikit-learn costs seconds (scipy, pandas) that a one-shot query should not pay. A test keeps them equal.
ENGLISH_STOP_WORDS = frozenset(
    """
    a about above across after afterwards again against all almost alone along already also although always am among
    amongst amoungst amount an and another any anyhow anyone anything anyway anywhere are around as at back be
    became because become becomes becoming been before beforehand behind being below beside besides between beyond
    bill both bottom but by call can cannot cant co con could couldnt cry de describe detail do done down due during
    each eg eight either eleven else elsewhere empty enough etc even ever every everyone everything everywhere
    except few fifteen fifty fill find fire first five for former formerly forty found four from front full further
    get give go had has hasnt have he hence her here hereafter hereby herein hereupon hers herself him himself his
    how however hundred i ie if in inc indeed interest into is it its itself keep last latter latterly least less
    ltd made many may me meanwhile might mill mine more moreover most mostly move much must my myself name namely
    neither never nevertheless next nine no nobody none noone nor not nothing now nowhere of off often on once one
    only onto or other others otherwise our ours ourselves out over own part per perhaps please put rather re same
    see seem seemed seeming seems serious several she should show side since sincere six sixty so some somehow
    someone something sometime sometimes somewhere still such system take ten than that the their them themselves
    then thence there thereafter thereby therefore therein thereupon these they thick thin third this those though
    three through throughout thru thus to together too top toward towards twelve twenty two un under until up upon
    us very via was we well were what whatever when whence whenever where whereafter whereas whereby wherein
    whereupon wherever whether which while whither who whoever whole whom whose why will with within without would
    yet you your yours yourself yourselves
    """.split()
)

# English stopwords (scikit-learn's list) and patent-figure boilerplate: what is left names things.
CONTENT_STOPWORDS = ENGLISH_STOP_WORDS | PATENT_BOILERPLATE

# A Snowball stemmer keeps the word it works on in itself: one per thread, or concurrent UI sessions corrupt
# each other's stems (and it raises IndexError).
_STEMMERS = threading.local()
_WORD = re.compile(r"[a-z][a-z\-]*[a-z]")


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """The Snowball English stem of one lower-case word ("vehicles" → "vehicl")."""
    stemmer = getattr(_STEMMERS, "english", None)
    if stemmer is None:
        stemmer = _STEMMERS.english = snowballstemmer.stemmer("english")
    return stemmer.stemWord(word.lower())


def stems(words: Iterable[str]) -> set[str]:
    """The stems of several words."""
    return {stem(w) for w in words}


def singular(word: str) -> str:
    """A plural made singular, still readable: "assemblies" → "assembly", "boxes" → "box", "gas" → "gas"."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 4 and word.endswith(("sses", "ches", "shes", "xes")):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def content_words(text: str) -> list[str]:
    """Lower-case words of 3+ letters without stopwords, plurals made singular, in order (repeats kept)."""
    out = []
    for w in _WORD.findall(text.lower()):
        w = singular(w)
        if len(w) >= 3 and w not in CONTENT_STOPWORDS:
            out.append(w)
    return out


def normalise_label(label: str) -> str:
    """A component label in comparable form: "The Gripping Units" → "gripping unit"."""
    words = re.findall(r"[a-z][a-z\-]*|\d+", label.lower())
    while words and words[0] in ("the", "a", "an", "said", "each"):
        words = words[1:]
    return " ".join(singular(w) for w in words)
