"""``Settings``: read from the environment and the flags, checked in one place."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import im_adapters
from im_core.errors import ConfigurationError
from im_http.serving.bootstrap import load_or_create_dev_secret
from im_http.serving.settings import Settings


def test_the_settings_do_not_depend_on_the_adapters() -> None:
    probe = "import sys, im_http.serving.settings; print('im_adapters' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "False"


def test_the_adapters_still_export_the_one_configuration_error() -> None:
    assert im_adapters.ConfigurationError is ConfigurationError


def test_a_flag_out_of_range_is_refused_as_its_variable_would_be() -> None:
    with pytest.raises(ConfigurationError, match="--port 70000 must be between 0 and 65535"):
        Settings.from_env({}, port="70000")
    with pytest.raises(ConfigurationError, match="--workers x is not a number"):
        Settings.from_env({}, workers="x")


@pytest.mark.parametrize(("variable", "flag", "value"),
                         [("IM_PORT", "port", 9000), ("IM_POOL_SIZE", "pool_size", 4)])
def test_a_bad_variable_is_no_obstacle_when_its_flag_overrides_it(
    variable: str, flag: str, value: int
) -> None:
    with pytest.raises(ConfigurationError, match=variable):
        Settings.from_env({variable: "eighty"})
    settings = Settings.from_env({variable: "eighty"}, **{flag: str(value)})
    assert getattr(settings, flag) == value


def test_the_development_secret_is_kept_once_per_user_not_per_directory() -> None:
    assert Settings.from_env({"HOME": "/home/ann"}).dev_secret_file == (
        "/home/ann/.local/share/im-server/dev-secret")
    assert Settings.from_env({"HOME": "/home/ann", "XDG_DATA_HOME": "/data"}
                             ).dev_secret_file == "/data/im-server/dev-secret"
    # The XDG spec says a relative XDG_DATA_HOME is to be ignored.
    assert Settings.from_env({"HOME": "/home/ann", "XDG_DATA_HOME": "rel"}
                             ).dev_secret_file == "/home/ann/.local/share/im-server/dev-secret"
    assert Settings.from_env({"IM_DEV_SECRET_FILE": "/etc/im/s"}).dev_secret_file == "/etc/im/s"


def test_the_development_secret_file_is_made_once_private_and_then_reused(
    tmp_path: Path,
) -> None:
    path = tmp_path / "data" / "im-server" / "dev-secret"
    secret = load_or_create_dev_secret(str(path))
    assert len(secret) >= 32
    assert path.stat().st_mode & 0o777 == 0o600
    assert load_or_create_dev_secret(str(path)) == secret
    assert [p.name for p in path.parent.iterdir()] == ["dev-secret"]


def test_several_workers_are_refused_on_stores_that_live_in_one_process() -> None:
    with pytest.raises(ConfigurationError, match="memory:// keeps sessions"):
        Settings.from_env({}, workers="2")
    shared = {"IM_SESSION_STORE_URL": "redis://127.0.0.1:6379/0",
              "IM_DATABASE_URL": "postgresql://postgres@127.0.0.1/test"}
    assert Settings.from_env(shared, workers="2").workers == 2


def test_the_longest_wait_must_be_shorter_than_the_session_ttl() -> None:
    with pytest.raises(ConfigurationError, match="IM_MAX_WAIT must be shorter"):
        Settings.from_env({"IM_SESSION_TTL": "10", "IM_MAX_WAIT": "10"})
    assert Settings.from_env({"IM_SESSION_TTL": "10"}).max_wait_ms == 8_000
    assert Settings.from_env({"IM_MAX_WAIT": "25", "IM_SESSION_TTL": "30"}).max_wait_ms == 25_000


def test_the_retired_threads_setting_is_refused_with_what_replaces_it() -> None:
    with pytest.raises(ConfigurationError, match="IM_POOL_SIZE"):
        Settings.from_env({"IM_THREADS": "8"})


def test_the_retired_sql_executor_setting_is_refused_saying_to_unset_it() -> None:
    with pytest.raises(ConfigurationError, match=r"IM_SQL_EXECUTOR is gone.*unset it"):
        Settings.from_env({"IM_SQL_EXECUTOR": "direct"})
    assert not hasattr(Settings(), "sql_executor")


def test_the_abuse_limits_default_to_the_cores() -> None:
    from im_core import Limits

    settings = Settings.from_env({})
    assert settings.limits == Limits()
    assert settings.presence_scope == "all"
    assert [str(n) for n in settings.trusted_proxies] == ["127.0.0.1/32", "::1/128"]


def test_rate_limits_read_as_count_per_seconds_or_off() -> None:
    from im_core import RateLimit

    settings = Settings.from_env({"IM_RATE_SENDS": "5/1.5s", "IM_RATE_LOGINS": "off",
                                  "IM_RATE_LOGINS_PER_ADDRESS": "300/60",
                                  "IM_MAX_CONTACTS": "50", "IM_PRESENCE_SCOPE": "contacts",
                                  "IM_TRUSTED_PROXIES": "10.0.0.0/8, 192.168.1.7"})
    assert settings.limits.sends == RateLimit(5, 1500)
    assert settings.limits.logins is None
    assert settings.limits.logins_per_address == RateLimit(300, 60_000)
    assert settings.limits.max_contacts == 50
    assert settings.presence_scope == "contacts"
    assert [str(n) for n in settings.trusted_proxies] == ["10.0.0.0/8", "192.168.1.7/32"]
    assert Settings.from_env({"IM_TRUSTED_PROXIES": ""}).trusted_proxies == ()


@pytest.mark.parametrize(("variable", "value"), [
    ("IM_RATE_SENDS", "20"), ("IM_RATE_SENDS", "0/10s"), ("IM_RATE_LOGINS", "10/0s"),
    ("IM_PRESENCE_SCOPE", "friends"), ("IM_TRUSTED_PROXIES", "nginx"),
    ("IM_MAX_CONTACTS", "0"),
])
def test_a_malformed_abuse_setting_is_refused_naming_it(variable: str, value: str) -> None:
    with pytest.raises(ConfigurationError, match=variable):
        Settings.from_env({variable: value})


def test_the_session_cap_and_the_game_token_max_age_have_safe_defaults() -> None:
    settings = Settings.from_env({})

    assert settings.max_sessions_per_uid == 8
    assert settings.game_token_max_age == 3600


def test_the_session_cap_and_the_game_token_max_age_are_read_and_checked() -> None:
    settings = Settings.from_env({"IM_MAX_SESSIONS_PER_UID": "3",
                                  "IM_GAME_TOKEN_MAX_AGE": "600"})
    assert (settings.max_sessions_per_uid, settings.game_token_max_age) == (3, 600)
    with pytest.raises(ConfigurationError, match="IM_MAX_SESSIONS_PER_UID"):
        Settings.from_env({"IM_MAX_SESSIONS_PER_UID": "0"})
    with pytest.raises(ConfigurationError, match="IM_GAME_TOKEN_MAX_AGE"):
        Settings.from_env({"IM_GAME_TOKEN_MAX_AGE": "0"})


def test_the_built_service_and_verifier_use_the_cap_and_the_max_age(tmp_path: Path) -> None:
    from im_http.serving.bootstrap import build_game_auth, build_service

    settings = Settings.from_env({"IM_MAX_SESSIONS_PER_UID": "3", "IM_GAME_TOKEN_MAX_AGE": "600",
                                  "IM_GAME_AUTH_JWT_SECRET": "s" * 32,
                                  "IM_SESSION_STORE_URL": "memory://",
                                  "IM_DATABASE_URL": "memory://"})
    built = build_service(settings)
    try:
        assert built.service.max_sessions_per_uid == 3
    finally:
        built.close()
    auth, _ = build_game_auth(settings)
    assert auth._max_age_s == 600  # type: ignore[attr-defined]


def test_a_read_replica_is_a_postgresql_replica_of_a_postgresql_primary() -> None:
    primary, replica = "postgresql://im@a/chat", "postgresql://im@b/chat"
    assert Settings.from_env({"IM_DATABASE_URL": primary, "IM_DATABASE_READ_URL": replica}
                             ).database_read_url == replica
    assert Settings.from_env({"IM_DATABASE_URL": primary}).database_read_url is None
    for main, read in (("mysql://root@a/chat", replica), (primary, "mysql://root@b/chat"),
                       ("sqlite:///im.sqlite3", replica)):
        with pytest.raises(ConfigurationError, match="IM_DATABASE_READ_URL"):
            Settings.from_env({"IM_DATABASE_URL": main, "IM_DATABASE_READ_URL": read})
