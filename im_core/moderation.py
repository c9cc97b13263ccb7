"""Message filters shipped in the core: one that allows everything, and a word list.

The word list matches the way players dodge filters: a word is found whatever its
case (``casefold``), its width or compatibility form (NFKC: fullwidth letters,
ligatures), and whatever spaces or punctuation were put between its letters
(``b a d``, ``b.a.d``). A match must begin and end at word edges, so ``class`` does
not hit ``ass``; a list entry ending in ``*`` also matches inside words.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

import attrs

from im_core.errors import ConfigurationError
from im_core.ports.moderation import ALLOW, MessageFilter, Verdict

__all__ = ["AllowAll", "FilterChain", "WordListFilter", "skeleton"]

WordAction = Literal["mask", "reject"]


class AllowAll:
    """The default filter: every body is allowed as it is."""

    def check(self, sender: str, target: str, body: str) -> Verdict:
        return ALLOW


@attrs.frozen
class FilterChain:
    """Several filters in turn: a replaced body goes on to the next; a reject stops."""

    filters: tuple[MessageFilter, ...]

    def check(self, sender: str, target: str, body: str) -> Verdict:
        current = body
        for each in self.filters:
            verdict = each.check(sender, target, current)
            if verdict.action == "reject":
                return verdict
            if verdict.action == "replace" and verdict.body:
                current = verdict.body
        return ALLOW if current == body else Verdict("replace", body=current)


def _fold(char: str) -> str:
    return unicodedata.normalize("NFKC", char).casefold()


def skeleton(text: str) -> tuple[str, list[int], list[bool], list[bool]]:
    """The letters and digits of ``text``, folded, with where each came from.

    Returns the folded letters, the index in ``text`` of each, and for each whether
    it starts a word and whether it ends one (a word: a run of letters and digits in
    ``text``).
    """
    letters: list[str] = []
    origin: list[int] = []
    starts: list[bool] = []
    ends: list[bool] = []
    previous_was_letter = False
    for index, char in enumerate(text):
        folded = [c for c in _fold(char) if c.isalnum()]
        if not folded:
            if previous_was_letter and ends:
                ends[-1] = True
            previous_was_letter = False
            continue
        for n, c in enumerate(folded):
            letters.append(c)
            origin.append(index)
            starts.append(not previous_was_letter and n == 0)
            ends.append(False)
        previous_was_letter = True
    if ends:
        ends[-1] = True
    return "".join(letters), origin, starts, ends


@attrs.frozen
class WordListFilter:
    """Masks (``*`` over the whole match) or rejects bodies holding a listed word.

    Args:
        words: the entries, folded as the bodies are; ``*`` at the end of one lets it
            match inside words too.
        action: ``mask`` replaces each match by asterisks; ``reject`` refuses the body.
    """

    words: tuple[tuple[str, bool], ...]
    action: WordAction = "mask"

    @classmethod
    def of(cls, entries: Iterable[str], action: WordAction = "mask") -> WordListFilter:
        words: list[tuple[str, bool]] = []
        for entry in entries:
            entry = entry.strip()
            if not entry or entry.startswith("#"):
                continue
            inside = entry.endswith("*")
            folded = skeleton(entry.rstrip("*"))[0]
            if folded:
                words.append((folded, inside))
        return cls(tuple(dict.fromkeys(words)), action)

    @classmethod
    def from_file(cls, path: str, action: WordAction = "mask") -> WordListFilter:
        """One word per line (UTF-8); blank lines and ``#`` comments are skipped.

        Raises:
            ConfigurationError: the file cannot be read.
        """
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise ConfigurationError(
                f"the word list {path} cannot be read: {type(error).__name__}"
            ) from None
        return cls.of(text.splitlines(), action)

    def matches(self, body: str) -> list[tuple[int, int]]:
        """The spans ``(first, last)`` (indices into ``body``, inclusive) of each match."""
        letters, origin, starts, ends = skeleton(body)
        spans: list[tuple[int, int]] = []
        for word, inside in self.words:
            at = letters.find(word)
            while at >= 0:
                last = at + len(word) - 1
                if inside or (starts[at] and ends[last]):
                    spans.append((origin[at], origin[last]))
                at = letters.find(word, at + 1)
        return spans

    def check(self, sender: str, target: str, body: str) -> Verdict:
        spans = self.matches(body)
        if not spans:
            return ALLOW
        if self.action == "reject":
            return Verdict("reject", reason="the message holds a word this game does not allow")
        masked = list(body)
        for first, last in spans:
            for i in range(first, last + 1):
                if not masked[i].isspace():
                    masked[i] = "*"
        return Verdict("replace", body="".join(masked))
