"""Hypothesis strategies for the domain's values, shared by every test module."""

from __future__ import annotations

from hypothesis import strategies as st

__all__ = ["bodies", "client_msg_ids", "client_types", "uids"]

UID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.:@-"

uids = st.text(UID_ALPHABET, min_size=1, max_size=64)
client_types = st.text("abcdefghijklmnopqrstuvwxyz0123456789_-", min_size=1, max_size=16)
# Any Unicode a body may hold, astral-plane characters (emoji) included; surrogates and
# NUL are refused by the API (no database stores them as text), so they are left out.
bodies = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"),
                 min_size=1, max_size=200)
client_msg_ids = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E),
                         min_size=1, max_size=64)
