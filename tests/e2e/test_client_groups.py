"""The SDK's groups and chat list against a real ``im-server serve`` over real HTTP."""

from __future__ import annotations

import pytest

from im_http.client import ApiError
from im_http.client.demo import LocalServer
from tests.e2e.client_harness import player, unique


def test_the_sdk_runs_a_guild_from_making_it_to_reading_its_chat_list(
    server: LocalServer,
) -> None:
    ann, bob, cid = (player(server, unique(n)) for n in ("ann", "bob", "cid"))
    guild = ann.create_group("Guild", [bob.uid])
    assert (guild.name, guild.owner, guild.members, guild.role) == ("Guild", ann.uid, 2, "owner")
    ann.add_members(guild.id, cid.uid)
    ann.set_role(guild.id, bob.uid, "admin")
    assert [(m.uid, m.role, m.online) for m in ann.group_members(guild.id)] == sorted(
        [(ann.uid, "owner", True), (bob.uid, "admin", True), (cid.uid, "member", True)])
    sent = [ann.send_to_group(guild.id, f"g{i}") for i in range(3)]
    assert all(m.group == guild.id and m.recipient is None for m in sent)
    assert bob.heartbeat().messages == sent
    assert list(cid.group_history(guild.id, page_size=2)) == sent[::-1]
    listed = bob.conversations()
    assert [(c.id, c.group, c.unread, c.last_message) for c in listed] == [
        (f"group:{guild.id}", guild.id, 3, sent[-1])]
    assert bob.mark_read(f"group:{guild.id}", sent[1].msgid) == 1
    cid.leave_group(guild.id)
    with pytest.raises(ApiError) as raised:
        cid.group(guild.id)
    assert (raised.value.status, raised.value.code) == (403, "not_a_member")
    ann.dissolve_group(guild.id)
    assert bob.conversations() == []
