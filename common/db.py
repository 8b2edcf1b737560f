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
    columns: list[sql.Composable] = []
    for name in fields:
        field = meta.get_field(name)
        assert isinstance(field, models.Field) and field.column, name
        columns.append(sql.Identifier(field.column))
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(meta.db_table), sql.SQL(", ").join(columns)
    )
    with connection.cursor() as cursor, cursor.cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row(row)
