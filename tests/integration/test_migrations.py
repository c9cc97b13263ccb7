"""The shipped migrations build exactly the schema that ``tables.py`` describes."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from im_adapters.sql import (
    SchemaOutOfDate,
    create_engine_from_url,
    ensure_schema_current,
    upgrade_to_head,
)
from im_adapters.sql.schema import alembic_config
from im_adapters.sql.tables import metadata

DATABASES = [
    pytest.param("sqlite"),
    pytest.param("postgres", marks=pytest.mark.postgres),
    pytest.param("mysql", marks=pytest.mark.mysql),
]


@pytest.fixture(params=DATABASES)
def engine(request: pytest.FixtureRequest) -> sa.Engine:
    url = request.getfixturevalue(f"{request.param}_url")
    engine = create_engine_from_url(url)
    request.addfinalizer(engine.dispose)
    return engine


def test_an_empty_database_is_out_of_date(engine: sa.Engine) -> None:
    with pytest.raises(SchemaOutOfDate, match="im-server migrate") as raised:
        ensure_schema_current(engine)
    assert "\n" not in str(raised.value)


def test_upgrading_an_empty_database_makes_it_current(engine: sa.Engine) -> None:
    upgrade_to_head(engine)
    ensure_schema_current(engine)


def test_upgrading_twice_changes_nothing(engine: sa.Engine) -> None:
    upgrade_to_head(engine)
    upgrade_to_head(engine)
    ensure_schema_current(engine)
    assert set(sa.inspect(engine).get_table_names()) == {
        "alembic_version",
        "users",
        "contacts",
        "blocks",
        "messages",
        "offline",
        "mutes",
        "chat_groups",
        "group_members",
        "dialogs",
    }


def test_the_migrated_schema_matches_the_tables_module(engine: sa.Engine) -> None:
    upgrade_to_head(engine)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, metadata) == []


def test_the_history_index_and_the_retry_key_exist(engine: sa.Engine) -> None:
    upgrade_to_head(engine)
    inspector = sa.inspect(engine)
    indexes = {i["name"]: i["column_names"] for i in inspector.get_indexes("messages")}
    assert indexes["ix_messages_conversation_msgid"] == ["conversation", "msgid"]
    uniques: list[list[str | None]] = [
        list(u["column_names"]) for u in inspector.get_unique_constraints("messages")
    ]
    if not uniques:  # MySQL reports a unique constraint as a unique index
        uniques = [i["column_names"] for i in inspector.get_indexes("messages") if i["unique"]]
    assert ["sender", "client_msg_id"] in uniques
    assert inspector.get_pk_constraint("offline")["constrained_columns"] == [
        "recipient",
        "msgid",
    ]


def test_upgrading_from_0001_keeps_the_users_and_gives_each_a_mark_of_zero(
    engine: sa.Engine,
) -> None:
    with engine.begin() as connection:
        command.upgrade(alembic_config(connection), "0001")
        connection.execute(
            sa.text("INSERT INTO users (uid, first_seen, last_login, client_type)"
                    " VALUES ('old', 1, 2, 'pc')")
        )
    upgrade_to_head(engine)
    with engine.connect() as connection:
        rows = connection.execute(sa.text("SELECT uid, pulled_through FROM users")).all()
    assert [tuple(row) for row in rows] == [("old", 0)]
    with engine.begin() as connection:
        command.downgrade(alembic_config(connection), "0001")
    assert "pulled_through" not in {c["name"] for c in sa.inspect(engine).get_columns("users")}


def test_the_purge_indexes_exist_and_0006_goes_down_to_0005_cleanly(engine: sa.Engine) -> None:
    upgrade_to_head(engine)
    inspector = sa.inspect(engine)
    assert {"ix_offline_msgid": ["msgid"]}.items() <= {
        i["name"]: i["column_names"] for i in inspector.get_indexes("offline")}.items()
    assert {"ix_messages_sent_at": ["sent_at"]}.items() <= {
        i["name"]: i["column_names"] for i in inspector.get_indexes("messages")}.items()
    with engine.begin() as connection:
        command.downgrade(alembic_config(connection), "0005")
    inspector = sa.inspect(engine)
    assert "mutes" not in inspector.get_table_names()
    assert "ix_offline_msgid" not in {i["name"] for i in inspector.get_indexes("offline")}


@pytest.mark.mysql
def test_on_mysql_every_text_column_compares_bytes_and_holds_emoji(mysql_url: str) -> None:
    engine = create_engine_from_url(mysql_url)
    try:
        upgrade_to_head(engine)
        with engine.connect() as connection:
            rows = connection.execute(
                sa.text(
                    "SELECT table_name, column_name, data_type, character_set_name,"
                    " collation_name FROM information_schema.columns"
                    " WHERE table_schema = DATABASE() AND table_name <> 'alembic_version'"
                )
            ).all()
            engines = connection.execute(
                sa.text(
                    "SELECT DISTINCT engine FROM information_schema.tables"
                    " WHERE table_schema = DATABASE()"
                )
            ).scalars()
            assert set(engines) == {"InnoDB"}
    finally:
        engine.dispose()
    for table, column, data_type, charset, collation in rows:
        if data_type in ("varchar", "text"):
            assert (charset, collation) == ("utf8mb4", "utf8mb4_bin"), (table, column)
    types = {(t, c): d for t, c, d, _, _ in rows}
    assert types["messages", "client_msg_id"] == "varbinary"
