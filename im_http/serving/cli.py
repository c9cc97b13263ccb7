"""The ``im-server`` command: ``serve``, ``migrate``, ``purge``, ``token``,
``check-config``, ``chat`` and ``demo``.

Bad configuration ends the command with one line on stderr and exit status 2; a
store that does not answer, or a port that cannot be bound, with one line and exit
status 1; never a traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from im_core.errors import ConfigurationError
from im_http.observability.logs import configure_logging
from im_http.serving.server import CannotListen
from im_http.serving.settings import DEFAULT_DATABASE_URL, Settings

__all__ = ["main"]

log = logging.getLogger("im_http")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="im-server", description="Mailbox-model instant messaging for games."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the HTTP API (gunicorn, gevent workers)")
    serve.add_argument("--host", help="address to listen on (IM_HOST, default 127.0.0.1)")
    # Flags are read as text and checked by Settings, exactly as their variables are.
    serve.add_argument("--port", help="port to listen on (IM_PORT, default 8080)")
    serve.add_argument("--workers", help="worker processes on the port (IM_WORKERS, default 1)")
    serve.add_argument("--max-connections",
                       help="open connections per worker (IM_MAX_CONNECTIONS, default 10000)")
    serve.add_argument("--pool-size",
                       help="database connections per worker (IM_POOL_SIZE, default 16)")
    serve.add_argument("--demo-ui", action="store_true", default=None,
                       help="also serve the browser demo page at /ui/ (IM_DEMO_UI)")
    commands.add_parser("migrate", help="upgrade the database named by IM_DATABASE_URL")
    purge = commands.add_parser(
        "purge", help="delete inbox rows older than IM_INBOX_RETENTION, history older than "
                      "IM_HISTORY_RETENTION (if set) and lapsed mutes, in small batches")
    purge.add_argument("--batch", type=int, default=1000,
                       help="rows per batch, each its own short transaction (default 1000)")
    token = commands.add_parser(
        "token", help="print a game token for UID, signed with the configured or dev secret"
    )
    token.add_argument("uid")
    token.add_argument("--ttl", type=int, default=None,
                       help="seconds the token is valid (default and most: "
                            "IM_GAME_TOKEN_MAX_AGE, 3600)")
    commands.add_parser(
        "check-config",
        help="print the effective configuration (secrets masked) and whether every "
             "backend answers; exit 1 if one does not",
    )
    chat = commands.add_parser("chat", help="chat in the terminal as UID (a client of a server)")
    chat.add_argument("--as", dest="uid", required=True, help="the player to log in as")
    chat.add_argument("--server", default="http://127.0.0.1:8080", help="the server's URL")
    chat.add_argument("--game-token", help="the game token to log in with (default: minted "
                      "with the configured or dev secret, as `token` does)")
    chat.add_argument("--peer", help="open the conversation with this player at once")
    chat.add_argument("--group", help="open this group's conversation at once (its id)")
    chat.add_argument("--client-type", default="pc", help="the device type told the server")
    commands.add_parser("demo", help="start a throwaway server and narrate two players' chat")
    return parser


def _serve(settings: Settings) -> int:
    from im_http.api.app import create_app
    from im_http.serving.bootstrap import build_service, redacted
    from im_http.serving.server import Served, raise_open_file_limit, serve

    # Checked here, in the master, before any worker starts: a store that does not
    # answer (or an old schema) stops the command with one line; the embedded SQLite
    # file is migrated once, not by every worker at the same time.
    checked = build_service(settings)
    checked.close()
    if checked.dev_secret:
        log.warning(
            "NO IM_GAME_AUTH_JWT_SECRET IS SET: using a development secret kept in %s. "
            "Anyone who can read that file can log in as any player. For a trial only; "
            "get tokens with `im-server token UID`.",
            settings.dev_secret_file,
        )
    # Each connection is a file; keep some for the stores, logs and the listener.
    wanted = settings.workers * settings.max_connections + 256
    before, after = raise_open_file_limit(wanted)
    if after < wanted:
        log.warning("open-file limit is %d (was %d): fewer than the %d that %d connections "
                    "per worker need; raise the hard limit (ulimit -Hn)", after, before,
                    wanted, settings.max_connections)

    demo_ui = None
    if settings.demo_ui:
        from im_http.api.demo_ui import DemoUi
        from im_http.serving.bootstrap import load_or_create_dev_secret

        # Tokens are minted for the page only on the development secret, never with
        # a real game login.
        demo_ui = DemoUi(load_or_create_dev_secret(settings.dev_secret_file)
                         if checked.dev_secret else None)

    def load() -> Served:
        built = build_service(settings)
        app = create_app(built.service, heartbeat_interval=settings.heartbeat_interval,
                         access_log=settings.access_log, demo_ui=demo_ui,
                         trusted_proxies=settings.trusted_proxies,
                         server_api_keys=settings.server_api_keys)
        return Served(app, stop=built.service.signals.close, close=built.close)

    def listening(host: str, port: int) -> None:
        log.info(
            "im-server on http://%s:%d (workers=%d, up to %d connections each, open-file "
            "limit %d; sessions %s and database %s both answered at start)", host, port,
            settings.workers, settings.max_connections, after,
            redacted(settings.session_store_url), redacted(settings.database_url),
        )
        if demo_ui is not None:
            log.info("demo page on http://%s:%d/ui/ (%s)", host, port,
                     "log in with a uid alone: it asks for development tokens"
                     if demo_ui.dev_secret else
                     "paste a game token: a real game login mints none here")

    serve(load, host=settings.host, port=settings.port, workers=settings.workers,
          connections=settings.max_connections, on_listening=listening)
    log.info("im-server stopped")
    return 0


def _migrate(settings: Settings) -> int:
    from im_adapters.sql import create_engine_from_url, upgrade_to_head
    from im_core.errors import StorageUnavailable
    from im_http.serving.bootstrap import driver_reason, redacted

    url = settings.database_url
    if url == "memory://":
        raise ConfigurationError("IM_DATABASE_URL is memory://: there is nothing to migrate")
    # Migrations may rewrite big tables: give them more time than a request gets.
    engine = create_engine_from_url(url, pool_size=1, timeout=600)
    try:
        upgrade_to_head(engine)
    except StorageUnavailable as error:
        # The driver's words (no such database, access denied...), never the password.
        raise _MigrationFailed(
            f"cannot migrate {redacted(url)}: {driver_reason(error, url)}"
        ) from error
    finally:
        engine.dispose()
    # Named in full (password hidden): migrating the wrong database must not go unseen.
    note = " (the default: IM_DATABASE_URL is not set)" if url == DEFAULT_DATABASE_URL else ""
    print(f"database {redacted(url)} is at the latest schema{note}")
    return 0


def _purge(settings: Settings, batch: int) -> int:
    import time

    from im_adapters.sql import create_engine_from_url, ensure_schema_current
    from im_adapters.sql.mutes import SqlMuteStore
    from im_adapters.sql.retention import purge
    from im_core.errors import StorageUnavailable
    from im_http.serving.bootstrap import driver_reason, redacted

    url = settings.database_url
    if url == "memory://":
        raise ConfigurationError("IM_DATABASE_URL is memory://: there is nothing to purge")
    if batch < 1:
        raise ConfigurationError(f"--batch must be at least 1, not {batch}")
    engine = create_engine_from_url(url, pool_size=1, timeout=max(settings.storage_timeout, 30))
    now = int(time.time() * 1000)
    history = settings.history_retention
    try:
        ensure_schema_current(engine)
        done = purge(engine, now, round(settings.inbox_retention * 1000),
                     None if history is None else round(history * 1000), batch)
        mutes = SqlMuteStore(engine)
        lapsed = 0
        while (count := mutes.purge(now, batch)) > 0:
            lapsed += count
    except StorageUnavailable as error:
        raise _MigrationFailed(
            f"cannot purge {redacted(url)}: {driver_reason(error, url)}") from error
    finally:
        engine.dispose()
    print(f"purged {redacted(url)}: {done.inbox_rows} inbox rows, {done.history_rows} "
          f"history messages, {lapsed} lapsed mutes, in {done.batches} batches")
    return 0


class _MigrationFailed(Exception):
    """``migrate`` or ``purge`` could not reach or change the database; the message says why."""


def _game_token(settings: Settings, uid: str, ttl: int | None) -> str:
    from im_adapters.game_auth import mint_game_token
    from im_core.models import check_uid
    from im_http.serving.bootstrap import load_or_create_dev_secret

    if settings.game_auth_url or settings.game_auth_jwt_public_key:
        raise ConfigurationError(
            "the configured game login is not a shared secret: this server cannot mint tokens"
        )
    check_uid(uid)
    longest = int(settings.game_token_max_age)
    if ttl is None:
        ttl = longest
    elif ttl > longest:
        raise ConfigurationError(
            f"--ttl {ttl} is longer than IM_GAME_TOKEN_MAX_AGE ({longest} s): "
            "the server would refuse the token"
        )
    secret = settings.game_auth_jwt_secret or load_or_create_dev_secret(
        settings.dev_secret_file
    )
    return mint_game_token(secret, uid, ttl_s=ttl)


def _token(settings: Settings, uid: str, ttl: int | None) -> int:
    print(_game_token(settings, uid, ttl))
    return 0


def _check_config(settings: Settings) -> int:
    from im_http.observability.checks import check_backends, effective_configuration

    print("configuration (flags > environment > defaults; secrets masked):")
    for variable, value, origin in effective_configuration(settings):
        print(f"  {variable} = {value}  ({origin})")
    print("backends:")
    results = check_backends(settings)
    for result in results:
        print(f"  {result.name}: {'ok' if result.ok else 'FAILED'}: {result.detail}")
    return 0 if all(result.ok for result in results) else 1


def _chat(settings: Settings, args: argparse.Namespace) -> int:
    from im_http.client import Client, chat

    given = args.game_token

    def credentials() -> str:  # asked again when the session expires
        return given or _game_token(settings, args.uid, None)

    client = Client(args.server, credentials=credentials)
    return chat.run(client, uid=args.uid, game_token=credentials(), server=args.server,
                    peer=f"#{args.group}" if args.group else args.peer,
                    client_type=args.client_type)


def _one_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``im-server``; returns the exit status."""
    arguments = sys.argv[1:] if argv is None else list(argv)
    if arguments[:1] == ["serve"]:
        # Before anything imports ssl, sockets or threads (the start-up check below
        # builds the stores in this process): the gevent workers forked from it then
        # inherit a consistently patched standard library, TLS included.
        from gevent import monkey

        monkey.patch_all()
    configure_logging()
    args = _parser().parse_args(argv)
    # Alembic narrates every step ("setup plugin ...", "Will assume transactional
    # DDL"): noise for `serve` and `migrate` alike, which say the outcome themselves.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    try:
        if args.command == "serve":
            settings = Settings.from_env(
                host=args.host, port=args.port, workers=args.workers,
                max_connections=args.max_connections, pool_size=args.pool_size,
                demo_ui=args.demo_ui,
            )
            configure_logging(settings.log_level, settings.log_format)
            return _serve(settings)
        if args.command == "demo":
            from im_http.client import demo

            return demo.run()
        settings = Settings.from_env()
        configure_logging(settings.log_level, settings.log_format)
        if args.command == "check-config":
            return _check_config(settings)
        if args.command == "chat":
            return _chat(settings, args)
        if args.command == "migrate":
            return _migrate(settings)
        if args.command == "purge":
            return _purge(settings, args.batch)
        return _token(settings, args.uid, args.ttl)
    except (ConfigurationError, ValueError) as error:
        print(f"im-server: {_one_line(error)}", file=sys.stderr)
        return 2
    except (ConnectionError, CannotListen) as error:  # a store or the port, at start-up
        print(f"im-server: cannot start: {_one_line(error)}", file=sys.stderr)
        return 1
    except _MigrationFailed as error:
        print(f"im-server: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
