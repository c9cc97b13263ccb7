"""The shipped message filters: a word list that sees through players' tricks."""

from __future__ import annotations

from pathlib import Path

import pytest

from im_core import (
    ChatService,
    ContentRejected,
    InMemoryGameAuth,
    InMemoryMailbox,
    InMemorySessionStore,
    ManualClock,
)
from im_core.errors import ConfigurationError
from im_core.moderation import AllowAll, FilterChain, WordListFilter
from im_core.ports import ALLOW, Verdict

WORDS = WordListFilter.of(["darn", "heck", "# a comment", "", "gold*"])


def masked(body: str) -> str:
    verdict = WORDS.check("alice", "bob", body)
    return body if verdict.action == "allow" else str(verdict.body)


@pytest.mark.parametrize(("body", "expected"), [
    ("well darn it", "well **** it"),
    ("DARN", "****"),
    ("\uff24\uff41\uff52\uff4e!", "****!"),                 # fullwidth letters (NFKC)
    ("d a r n", "* * * *"),                 # spaces between the letters
    ("d.a-r_n you", "******* you"),         # punctuation between the letters
    ("what the heck, darn", "what the ****, ****"),
    ("buy g o l d cheap", "buy * * * * cheap"),
    ("goldfarm here", "****farm here"),     # an entry with * matches inside words
])
def test_a_listed_word_is_masked_however_it_is_spelled(body: str, expected: str) -> None:
    assert masked(body) == expected


@pytest.mark.parametrize("body", ["darnell is here", "checkout", "hello",
                                  "\uff48\uff45\uff4c\uff4c\uff4f", "🎮 gg"])
def test_words_that_only_contain_a_listed_word_are_left_alone(body: str) -> None:
    assert WORDS.check("alice", "bob", body) == ALLOW


def test_the_reject_action_refuses_instead_of_masking() -> None:
    strict = WordListFilter.of(["darn"], action="reject")
    verdict = strict.check("alice", "bob", "D A R N")
    assert verdict.action == "reject" and verdict.reason
    assert "darn" not in (verdict.reason or "").lower()


def test_the_word_list_is_read_from_a_file(tmp_path: Path) -> None:
    words = tmp_path / "words.txt"
    words.write_text("# one per line\nheck\n\n", encoding="utf-8")
    assert WordListFilter.from_file(str(words)).check("a", "b", "heck").action == "replace"
    with pytest.raises(ConfigurationError, match="cannot be read"):
        WordListFilter.from_file(str(tmp_path / "missing.txt"))


def test_a_chain_passes_the_masked_body_on_and_stops_at_a_reject() -> None:
    chain = FilterChain((WORDS, WordListFilter.of(["farm"], action="reject")))
    assert chain.check("a", "b", "darn").body == "****"
    assert chain.check("a", "b", "darn farm").action == "reject"
    assert FilterChain((AllowAll(),)).check("a", "b", "hello") == ALLOW


class Rejecting:
    def check(self, sender: str, target: str, body: str) -> Verdict:
        return Verdict("reject", reason="no links")


def service(message_filter: object) -> tuple[ChatService, InMemoryMailbox, InMemoryGameAuth]:
    mailbox, auth = InMemoryMailbox(), InMemoryGameAuth()
    chat = ChatService(InMemorySessionStore(), mailbox, auth, ManualClock(),
                       message_filter=message_filter)  # type: ignore[arg-type]
    return chat, mailbox, auth


def test_a_send_stores_the_masked_body_and_a_rejected_one_stores_nothing() -> None:
    chat, mailbox, auth = service(WORDS)
    alice = chat.login("alice", auth.grant("alice"), "pc")
    chat.login("bob", auth.grant("bob"), "pc")
    message, _ = chat.send(alice, "bob", "darn lag")
    assert message.body == "**** lag"
    chat, mailbox, auth = service(Rejecting())
    alice = chat.login("alice", auth.grant("alice"), "pc")
    chat.login("bob", auth.grant("bob"), "pc")
    with pytest.raises(ContentRejected, match="no links"):
        chat.send(alice, "bob", "http://spam")
    assert mailbox.waiting("bob") == []


def test_system_messages_are_not_filtered() -> None:
    chat, _, auth = service(Rejecting())
    chat.login("bob", auth.grant("bob"), "pc")
    sent = chat.system_send(["bob"], "see http://game/news", "news-1")
    assert [d.to for d in sent.delivered] == ["bob"]
