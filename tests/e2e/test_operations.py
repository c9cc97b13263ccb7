"""Operating a real ``im-server``: check-config, JSON logs, metrics across workers."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.real_server import call, im_server, isolated_env, serving

SECRET = "s" * 40


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "xdg").mkdir()
    return tmp_path


def _env(workdir: Path, **extra: str) -> dict[str, str]:
    return isolated_env(XDG_DATA_HOME=str(workdir / "xdg"), **extra)


def test_check_config_on_the_defaults_says_every_backend_answers_and_creates_nothing(
    workdir: Path,
) -> None:
    result = im_server("check-config", cwd=workdir, env=_env(workdir))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "IM_DATABASE_URL = sqlite:///im.sqlite3  (default)" in result.stdout
    assert "IM_GAME_AUTH_JWT_SECRET = (not set)" in result.stdout
    assert "NO GAME LOGIN IS CONFIGURED" in result.stdout
    assert "FAILED" not in result.stdout
    assert not (workdir / "im.sqlite3").exists()
    assert not (workdir / "xdg" / "im-server" / "dev-secret").exists()


def test_check_config_masks_secrets_and_fails_when_a_backend_does_not_answer(
    workdir: Path,
) -> None:
    result = im_server("check-config", cwd=workdir, env=_env(
        workdir, IM_GAME_AUTH_JWT_SECRET="hunter2-" * 5,
        IM_SESSION_STORE_URL="redis://:hunter22@127.0.0.1:1/0",
        IM_DATABASE_URL="postgresql://me:hunter222@127.0.0.1:1/chat?password=hunter2222",
        IM_STORAGE_TIMEOUT="0.5"))
    assert result.returncode == 1
    out = result.stdout
    assert "hunter2" not in out + result.stderr
    assert "IM_GAME_AUTH_JWT_SECRET = *** (set)  (environment)" in out
    assert "IM_SESSION_STORE_URL = redis://:***@127.0.0.1:1/0  (environment)" in out
    assert "session store: FAILED: redis://:***@127.0.0.1:1/0 does not answer" in out
    assert "database: FAILED: postgresql://me:***@127.0.0.1:1/chat?password=***" in out
    assert "game login: ok: JWT shared secret" in out


def test_check_config_on_redis_and_an_unmigrated_postgres_says_to_migrate(
    workdir: Path, redis_url: str, postgres_url: str
) -> None:
    env = _env(workdir, IM_SESSION_STORE_URL=redis_url, IM_DATABASE_URL=postgres_url,
               IM_GAME_AUTH_JWT_SECRET=SECRET)
    before = im_server("check-config", cwd=workdir, env=env)
    assert before.returncode == 1
    assert "session store: ok" in before.stdout and "signals: ok" in before.stdout
    assert "im-server migrate" in before.stdout
    assert im_server("migrate", cwd=workdir, env=env).returncode == 0
    after = im_server("check-config", cwd=workdir, env=env)
    assert after.returncode == 0, after.stdout
    assert "at the latest schema" in after.stdout


def test_a_bad_log_setting_stops_the_command_in_one_line(workdir: Path) -> None:
    result = im_server("check-config", cwd=workdir, env=_env(workdir, IM_LOG_FORMAT="xml"))
    assert result.returncode == 2
    assert result.stderr.strip().startswith("im-server: IM_LOG_FORMAT='xml' must be one of")


def test_serve_writes_json_access_lines_with_the_request_id_and_no_token(
    workdir: Path,
) -> None:
    log = workdir / "serve.log"
    env = _env(workdir, IM_LOG_FORMAT="json", IM_GAME_AUTH_JWT_SECRET=SECRET)
    with serving(cwd=workdir, env=env, log=log) as port:
        game = im_server("token", "alice", cwd=workdir, env=env).stdout.strip()
        status, answer, headers = call(port, "POST", "/v1/login", {
            "uid": "alice", "game_token": game, "client_type": "pc"},
            headers={"X-Request-Id": "login-1"})
        assert status == 200 and headers["X-Request-Id"] == "login-1"
        call(port, "POST", "/v1/heartbeat", {}, token=answer["token"])
    lines = [json.loads(line) for line in log.read_text().splitlines()
             if line.startswith("{")]
    access = [line for line in lines if line["logger"] == "im_http.access"]
    login = next(line for line in access if line["route"] == "/v1/login")
    assert (login["method"], login["status"], login["request_id"]) == ("POST", 200, "login-1")
    assert any(line["route"] == "/v1/heartbeat" for line in access)
    assert any("im-server on http://" in line["message"] for line in lines)
    text = log.read_text()
    assert answer["token"] not in text and game not in text


def test_log_level_warning_silences_the_access_log(workdir: Path) -> None:
    log = workdir / "serve.log"
    env = _env(workdir, IM_LOG_LEVEL="warning", IM_GAME_AUTH_JWT_SECRET=SECRET)
    with serving(cwd=workdir, env=env, log=log) as port:
        call(port, "GET", "/healthz")
    assert "im_http.access" not in log.read_text()


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_metrics_with_two_workers_sum_what_both_workers_counted(
    workdir: Path, redis_url: str, postgres_url: str
) -> None:
    shared = workdir / "metrics"
    shared.mkdir()
    env = _env(workdir, IM_SESSION_STORE_URL=redis_url, IM_DATABASE_URL=postgres_url,
               IM_GAME_AUTH_JWT_SECRET=SECRET, IM_ACCESS_LOG="0",
               PROMETHEUS_MULTIPROC_DIR=str(shared))
    assert im_server("migrate", cwd=workdir, env=env).returncode == 0
    with serving("--workers", "2", cwd=workdir, env=env) as port:
        game = im_server("token", "alice", cwd=workdir, env=env).stdout.strip()
        token = call(port, "POST", "/v1/login", {"uid": "alice", "game_token": game,
                                                  "client_type": "pc"})[1]["token"]
        heartbeats = 0
        # Concurrent connections, so that both workers accept some; batches until the
        # directory shows that two processes counted.
        for _ in range(10):
            batch = [threading.Thread(target=call, args=(port, "POST", "/v1/heartbeat", {},
                                                         token)) for _ in range(30)]
            for thread in batch:
                thread.start()
            for thread in batch:
                thread.join(timeout=30)
            heartbeats += len(batch)
            pids = {p.stem.rpartition("_")[2] for p in shared.glob("counter_*.db")}
            if len(pids) >= 2:
                break
        assert len(pids) >= 2, "one worker answered every request"
        for _ in range(6):  # whichever worker answers the scrape, it sums both
            status, text, _ = call(port, "GET", "/metrics")
            assert status == 200
            samples = _samples(text)
            assert samples[("im_http_requests_total", (
                ("method", "POST"), ("route", "/v1/heartbeat"), ("status", "200")))] == (
                heartbeats)
            assert samples[("im_logins_total", ())] == 1


def test_serve_on_the_defaults_serves_metrics_and_removes_its_directory_after(
    workdir: Path,
) -> None:
    tmp = workdir / "tmp"
    tmp.mkdir()
    env = _env(workdir, TMPDIR=str(tmp))
    with serving(cwd=workdir, env=env) as port:
        call(port, "GET", "/healthz")
        assert [p.name for p in tmp.iterdir() if p.name.startswith("im-server-metrics-")]
        samples = _samples(call(port, "GET", "/metrics")[1])
        assert samples[("im_http_requests_total", (
            ("method", "GET"), ("route", "/healthz"), ("status", "200")))] >= 2
    assert not [p for p in tmp.iterdir() if p.name.startswith("im-server-metrics-")]
