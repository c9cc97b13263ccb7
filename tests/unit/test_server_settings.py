"""The server API's, moderation's, pacing's and retention's settings."""

from __future__ import annotations

import pytest

from im_core.errors import ConfigurationError
from im_http.observability.checks import effective_configuration
from im_http.serving.bootstrap import build_message_filter, build_pacing
from im_http.serving.settings import Settings

KEY_A = "a" * 32
KEY_B = "0123456789abcdef" * 3


def test_several_api_keys_are_read_for_a_rotation_and_kept_out_of_the_repr() -> None:
    settings = Settings.from_env({"IM_SERVER_API_KEYS": f" {KEY_A}, {KEY_B} ,"})
    assert settings.server_api_keys == (KEY_A, KEY_B)
    assert KEY_A not in repr(settings)
    shown = dict((v, s) for v, s, _ in effective_configuration(settings, {}))
    assert shown["IM_SERVER_API_KEYS"] == "*** (2 keys, set)"


@pytest.mark.parametrize("raw", ["short-key", f"{KEY_A},tiny", "a" * 31 + " b"])
def test_a_short_or_spaced_key_is_refused_without_showing_it(raw: str) -> None:
    with pytest.raises(ConfigurationError, match="IM_SERVER_API_KEYS: key") as raised:
        Settings.from_env({"IM_SERVER_API_KEYS": raw})
    for part in raw.split(","):
        assert part not in str(raised.value)


def test_no_keys_means_no_server_api() -> None:
    assert Settings.from_env({}).server_api_keys == ()


@pytest.mark.parametrize("policy", ["many", "one-per-client-type", "single"])
def test_each_login_policy_is_accepted(policy: str) -> None:
    assert Settings.from_env({"IM_LOGIN_POLICY": policy}).login_policy == policy


def test_an_unknown_login_policy_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="IM_LOGIN_POLICY"):
        Settings.from_env({"IM_LOGIN_POLICY": "two"})


@pytest.mark.parametrize(("raw", "seconds"), [("90", 90), ("90s", 90), ("15m", 900),
                                              ("12h", 43200), ("30d", 2592000)])
def test_retentions_are_durations(raw: str, seconds: float) -> None:
    settings = Settings.from_env({"IM_INBOX_RETENTION": raw, "IM_HISTORY_RETENTION": raw})
    assert settings.inbox_retention == settings.history_retention == seconds


def test_the_inbox_retention_defaults_to_30_days_and_history_to_forever() -> None:
    settings = Settings.from_env({})
    assert (settings.inbox_retention, settings.history_retention) == (30 * 86400, None)


@pytest.mark.parametrize("raw", ["soon", "-1d", "10s", "3w"])
def test_a_bad_retention_is_refused(raw: str) -> None:
    with pytest.raises(ConfigurationError, match="IM_INBOX_RETENTION"):
        Settings.from_env({"IM_INBOX_RETENTION": raw})


def test_the_idle_heartbeat_may_not_outlast_half_the_session() -> None:
    assert build_pacing(Settings.from_env({})).idle_ms == 5_000
    settings = Settings.from_env({"IM_HEARTBEAT_IDLE_INTERVAL": "4"})
    assert (build_pacing(settings).active_ms, build_pacing(settings).idle_ms) == (2000, 4000)
    for raw in ("6", "1"):  # beyond half the TTL, or below the active interval
        with pytest.raises(ConfigurationError, match="IM_HEARTBEAT_IDLE_INTERVAL"):
            Settings.from_env({"IM_HEARTBEAT_IDLE_INTERVAL": raw})


def test_moderation_settings_build_the_filter_they_name(tmp_path: object) -> None:
    from pathlib import Path

    words = Path(str(tmp_path)) / "words.txt"
    words.write_text("darn\n", encoding="utf-8")
    masking = build_message_filter(Settings.from_env({"IM_MODERATION_WORDS": str(words)}))
    assert masking.check("a", "b", "darn").body == "****"
    strict = build_message_filter(Settings.from_env({
        "IM_MODERATION_WORDS": str(words), "IM_MODERATION_WORDS_ACTION": "reject"}))
    assert strict.check("a", "b", "darn").action == "reject"
    with pytest.raises(ConfigurationError, match="IM_MODERATION_FAIL"):
        Settings.from_env({"IM_MODERATION_FAIL": "maybe"})


def test_the_webhook_needs_a_long_secret_which_stays_masked() -> None:
    with pytest.raises(ConfigurationError, match="IM_WEBHOOK_SECRET"):
        Settings.from_env({"IM_WEBHOOK_URL": "http://game/events"})
    settings = Settings.from_env({"IM_WEBHOOK_URL": "http://game/events",
                                  "IM_WEBHOOK_SECRET": KEY_B})
    assert KEY_B not in repr(settings)
    shown = dict((v, s) for v, s, _ in effective_configuration(settings, {}))
    assert shown["IM_WEBHOOK_SECRET"] == "*** (set)"
