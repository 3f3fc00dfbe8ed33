"""The colloquial lexicon (assistant/data/lexicon.yaml) applied to a user's text."""
from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from knowledge.loader import read_yaml

from .. import text as T

LEXICON_FILE = Path(__file__).resolve().parents[1] / "data" / "lexicon.yaml"


@dataclass(frozen=True)
class Lexicon:
    entries: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...]  # phrase, its pinyin, expansion terms
    exact_only: frozenset[str]

    @classmethod
    def load(cls, path: Path = LEXICON_FILE) -> "Lexicon":
        raw = read_yaml(path)
        entries = []
        for phrase, expansion in raw["expansions"].items():
            phrase = T.normalize(str(phrase))
            entries.append((phrase, T.fuzzy_pinyin(phrase), tuple(str(expansion).split())))
        return cls(tuple(entries), frozenset(T.normalize(p) for p in raw.get("exact_only", [])))

    def digest(self) -> str:
        """Changes with the phrases: the tokeniser learns them as words, so tables cut with it do too."""
        return hashlib.sha256("\x1f".join(p for p, _, _ in self.entries).encode()).hexdigest()[:12]

    def terms(self) -> list[str]:
        """Every expansion term, once, in a stable order."""
        return sorted({t for _, _, expansion in self.entries for t in expansion})

    def expand(self, text: str) -> list[str]:
        """Expansion terms for phrases found in the (normalised) text, by writing or by sound."""
        syllables = " " + " ".join(T.fuzzy_pinyin(text)) + " "
        out: list[str] = []
        for phrase, pinyin, expansion in self.entries:
            hit = _written_in(phrase, text)
            if not hit and len(pinyin) >= 2 and phrase not in self.exact_only:
                hit = f" {' '.join(pinyin)} " in syllables
            if hit:
                out.extend(t for t in expansion if t not in out)
        return out


# Latin-script phrases match whole words only ("tax" is not in "taxi", "dog" not in "hotdog"),
# with the common inflections (dogs, hired, enrollment, freelancer).
_INFLECTION = r"(?:s|es|d|ed|r|rs|er|ers|ing|ment|ments)?"


@functools.lru_cache(maxsize=None)
def _word_pattern(phrase: str) -> re.Pattern:
    return re.compile(rf"(?<![a-z0-9]){re.escape(phrase)}{_INFLECTION}(?![a-z0-9])")


def _written_in(phrase: str, text: str) -> bool:
    if phrase.isascii():  # the substring test first: most texts never need the pattern compiled
        return phrase in text and _word_pattern(phrase).search(text) is not None
    return phrase in text


@functools.lru_cache(maxsize=1)
def default_lexicon() -> Lexicon:
    return Lexicon.load()
