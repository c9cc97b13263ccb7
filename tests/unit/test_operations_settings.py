"""The operational settings (logs, demo page) and how check-config masks secrets."""

from __future__ import annotations

import pytest

from im_core.errors import ConfigurationError
from im_http.observability.checks import effective_configuration, masked_url
from im_http.serving.settings import Settings


def test_log_settings_default_to_info_text_with_access_lines() -> None:
    settings = Settings.from_env({})
    assert (settings.log_level, settings.log_format, settings.access_log,
            settings.demo_ui) == ("INFO", "text", True, False)


def test_log_level_and_format_are_read_whatever_their_case() -> None:
    settings = Settings.from_env({"IM_LOG_LEVEL": "debug", "IM_LOG_FORMAT": "JSON",
                                  "IM_ACCESS_LOG": "off", "IM_DEMO_UI": "1"})
    assert (settings.log_level, settings.log_format, settings.access_log,
            settings.demo_ui) == ("DEBUG", "json", False, True)


def test_the_demo_ui_flag_replaces_its_variable() -> None:
    assert Settings.from_env({"IM_DEMO_UI": "maybe"}, demo_ui=True).demo_ui is True


@pytest.mark.parametrize(("env", "says"), [
    ({"IM_LOG_LEVEL": "loud"}, "IM_LOG_LEVEL"),
    ({"IM_DEMO_UI": "maybe"}, "IM_DEMO_UI='maybe' must be 1 or 0"),
])
def test_a_bad_operational_setting_says_which(env: dict[str, str], says: str) -> None:
    with pytest.raises(ConfigurationError, match=says):
        Settings.from_env(env)


@pytest.mark.parametrize(("url", "shown"), [
    ("redis://:pw@h:1/0", "redis://:***@h:1/0"),
    ("postgresql://u:pw@h/db?sslmode=require&password=pw",
     "postgresql://u:***@h/db?sslmode=require&password=***"),
    ("sqlite:///im.sqlite3", "sqlite:///im.sqlite3"),
])
def test_urls_are_shown_without_their_passwords(url: str, shown: str) -> None:
    assert masked_url(url) == shown


def test_the_effective_configuration_masks_the_jwt_secret_and_names_origins() -> None:
    env = {"IM_GAME_AUTH_JWT_SECRET": "x" * 40, "IM_PORT": "9000"}
    rows = {variable: (value, origin) for variable, value, origin
            in effective_configuration(Settings.from_env(env), env)}
    assert rows["IM_GAME_AUTH_JWT_SECRET"] == ("*** (set)", "environment")
    assert rows["IM_PORT"] == ("9000", "environment")
    assert rows["IM_HOST"] == ("127.0.0.1", "default")
    assert "x" * 40 not in str(rows)
