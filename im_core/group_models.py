"""The values of group chat: groups, their members and roles, and conversations.

A group (a guild, a team, a party) has a known list of members, each with a role;
a conversation is what a player's chat list shows: a private peer or a group, with
its last message and how many messages the player has not read yet.
"""

from __future__ import annotations

import re
from typing import Literal

import attrs

from im_core.errors import InvalidInput
from im_core.models import Message, check_uid

__all__ = [
    "GROUP_NAME_MAX",
    "ROLES",
    "Conversation",
    "Group",
    "Member",
    "Role",
    "check_gid",
    "check_group_name",
    "check_role",
    "conversation_id",
    "may_remove",
    "parse_conversation_id",
]

GROUP_NAME_MAX = 64

Role = Literal["owner", "admin", "member"]
ROLES: tuple[Role, ...] = ("owner", "admin", "member")
_RANK = {"owner": 2, "admin": 1, "member": 0}

_GID = re.compile(r"[A-Za-z0-9_-]{1,32}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")
_VISIBLE = re.compile("[^\t\n\v\f\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]")
"""Anything but what JSON Schema's ``\\s`` (ECMA-262) calls a space, so that the OpenAPI
pattern and this check agree on "not only spaces"."""


def check_gid(value: object, field: str = "group") -> str:
    """Return ``value`` if it can be a group id (the server makes them: 16 URL-safe
    characters; up to 32 are accepted)."""
    if isinstance(value, str) and _GID.fullmatch(value):
        return value
    raise InvalidInput(field, "must be a group id: 1 to 32 characters of A-Z a-z 0-9 _ -")


def check_group_name(value: object) -> str:
    """Return ``value`` if it is a group name: 1 to 64 characters, no control characters,
    not only spaces."""
    if not isinstance(value, str) or not _VISIBLE.search(value):
        raise InvalidInput("name", "must be a non-empty string, not only spaces")
    if len(value) > GROUP_NAME_MAX:
        raise InvalidInput("name", f"is {len(value)} characters; at most {GROUP_NAME_MAX}")
    if _CONTROL.search(value):
        raise InvalidInput("name", "must not contain control or unpaired surrogate characters")
    return value


def check_role(value: object) -> Role:
    """Return ``value`` if it names a role."""
    for role in ROLES:
        if value == role:
            return role
    raise InvalidInput("role", "must be one of owner, admin, member")


def may_remove(actor: Role, target: Role) -> bool:
    """Whether a player with role ``actor`` may remove one with role ``target``.

    The owner removes anyone else; an admin removes plain members only; a member
    removes nobody (but may leave).
    """
    return actor != "member" and _RANK[actor] > _RANK[target]


@attrs.frozen
class Group:
    """A group as its members see it; ``members`` is how many it has now."""

    gid: str
    name: str
    owner: str
    created_at: int
    members: int


@attrs.frozen
class Member:
    """One member of a group, with its role and when it joined (ms since the epoch)."""

    uid: str
    role: Role
    joined_at: int


@attrs.frozen
class Conversation:
    """One line of a player's chat list: a private peer or a group.

    ``unread`` is the conversation's sequence (how many messages it holds) minus the
    player's read position, so it costs no count of history; one's own messages are
    read. ``last_message`` is ``None`` for a group nobody wrote in yet.
    """

    peer: str | None
    group: str | None
    name: str | None
    last_message: Message | None
    unread: int

    @property
    def id(self) -> str:
        return conversation_id(self.peer, self.group)


def conversation_id(peer: str | None, group: str | None) -> str:
    """The API's name of a conversation: ``peer:<uid>`` or ``group:<gid>``."""
    return f"peer:{peer}" if peer is not None else f"group:{group}"


def parse_conversation_id(value: object) -> tuple[str | None, str | None]:
    """``(peer, None)`` or ``(None, group)`` for a conversation id, else ``InvalidInput``."""
    if isinstance(value, str):
        kind, _, rest = value.partition(":")
        if kind == "peer":
            return check_uid(rest, "conversation"), None
        if kind == "group":
            return None, check_gid(rest, "conversation")
    raise InvalidInput("conversation", "must be peer:<uid> or group:<group id>")
