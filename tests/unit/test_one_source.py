"""Facts stated once: each test checks that the places using a fact agree with its source."""

from __future__ import annotations

from pathlib import Path

import pytest

from im_adapters.urls import redacted
from im_core import (
    ChatService,
    InMemoryGameAuth,
    InMemoryMailbox,
    InMemorySessionStore,
    ManualClock,
)
from im_http.api.client_address import DEFAULT_TRUSTED_PROXIES, parse_networks
from im_http.serving.settings import Settings

DOCS = Path(__file__).resolve().parents[2] / "docs"


@pytest.mark.parametrize(("url", "shown"), [
    ("redis://:pw@h:1/0", "redis://:***@h:1/0"),
    ("postgresql://me:pw@h/db?sslmode=require&password=pw",
     "postgresql://me:***@h/db?sslmode=require&password=***"),
    ("https://login.example.com/verify?token=abc", "https://login.example.com/verify?token=***"),
    ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
    ("postgresql://me:pw@[::1/db", "postgresql://..."),
    ("no url at all", "no url at all"),
])
def test_a_redacted_url_shows_no_password(url: str, shown: str) -> None:
    assert redacted(url) == shown


def test_the_trusted_proxies_default_is_one_value_for_settings_app_and_docs() -> None:
    default = parse_networks(DEFAULT_TRUSTED_PROXIES)
    assert default
    assert Settings().trusted_proxies == Settings.from_env({}).trusted_proxies == default
    row = next(line for line in (DOCS / "configuration.md").read_text().splitlines()
               if line.startswith("| `IM_TRUSTED_PROXIES`"))
    assert f"`{DEFAULT_TRUSTED_PROXIES}`" in row
    assert f"default `{DEFAULT_TRUSTED_PROXIES}`" in (DOCS / "api.md").read_text()


@pytest.mark.parametrize("ttl_s", [10, 30, 3.5])
def test_the_default_longest_wait_is_the_same_for_settings_and_the_service(
    ttl_s: float,
) -> None:
    settings = Settings.from_env({"IM_SESSION_TTL": str(ttl_s), "IM_HEARTBEAT_INTERVAL": "1"})
    service = ChatService(InMemorySessionStore(), InMemoryMailbox(), InMemoryGameAuth(),
                          ManualClock(), session_ttl_ms=round(ttl_s * 1000))
    assert settings.max_wait_ms == service.max_wait_ms < round(ttl_s * 1000)
