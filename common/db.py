"""Database helpers that Django's ORM does not have."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from django.db import connection, models
from psycopg import sql


def copy_rows(
    model: type[models.Model], fields: Sequence[str], rows: Iterable[Sequence[Any]]
) -> None:
    """Insert ``rows`` (values in the order of ``fields``) with PostgreSQL's COPY.

    For tens of thousands of rows at once: COPY streams them in one statement, without a
    model instance or a placeholder per value, several times faster than bulk_create.
    Runs in the caller's transaction; no signals, no defaults: give every NOT NULL column.
    """
    meta = model._meta
    columns: list[str] = []
    for name in fields:
        field = meta.get_field(name)
        assert isinstance(field, models.Field) and field.column, name
        columns.append(field.column)
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(_copy_statement(meta.db_table, columns)) as copy,
    ):
        for row in rows:
            copy.write_row(row)


def copy_text(
    table: str, columns: Sequence[str], text: str, csv_nulls: Sequence[str] | None = None
) -> None:
    """COPY rows already formatted (``text``) into ``table``'s ``columns``: COPY's text
    format, or CSV when ``csv_nulls`` is given (the columns where CSV's quoted empty value,
    the csv module's None, means NULL). For rows formatted away from the thread that
    writes them (common.mirror); runs in the caller's transaction."""
    statement = _copy_statement(table, columns)
    if csv_nulls is not None:
        nulls = sql.SQL(", ").join(map(sql.Identifier, csv_nulls))
        options = sql.SQL(" WITH (FORMAT csv{})").format(
            sql.SQL(", FORCE_NULL ({})").format(nulls) if csv_nulls else sql.SQL("")
        )
        statement = sql.Composed([statement, options])
    with connection.cursor() as cursor, cursor.cursor.copy(statement) as copy:
        copy.write(text.encode())


def _copy_statement(table: str, columns: Sequence[str]) -> sql.Composed:
    return sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns))
    )
