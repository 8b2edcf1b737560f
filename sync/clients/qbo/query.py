"""Query text: the one way a name or a value gets into a QBO query (docs/qbo-api.md §2)."""

from __future__ import annotations

import re
from collections.abc import Sequence

_IDENTIFIER = re.compile(r"^[A-Za-z][A-Za-z0-9]*(\.[A-Za-z][A-Za-z0-9]*)*$")
_OPERATORS = frozenset({"=", "<", ">", "<=", ">=", "IN", "LIKE"})
QueryValue = str | bool | int | Sequence[str | bool | int]


def quote(value: str) -> str:
    """A QBO query string literal: the one way a value gets into query text.

    QBO escapes with a backslash (docs/qbo-api.md §2): ``\\`` for a backslash, ``\\'`` for
    a quote. So ``Château d'Yquem 2015`` becomes ``'Château d\\'Yquem 2015'``; accents and
    colons need nothing, and the statement travels as the UTF-8 body of a POST.
    """
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _literal(value: str | bool | int) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        # Ids are compared as strings in QBO's own examples; quoting keeps them text.
        return quote(str(value))
    return quote(value)


def identifier(name: str) -> str:
    """``name`` if it is a plain entity or property name; ``ValueError`` otherwise."""
    if not _IDENTIFIER.match(name):
        raise ValueError(f"not a QBO entity or property name: {name!r}")
    return name


def statement(
    entity: str,
    *,
    where: Sequence[tuple[str, str, QueryValue]] = (),
    order_by: str | None = None,
    max_results: int | None = None,
    count: bool = False,
    extra_fields: Sequence[str] = (),
) -> str:
    """Build a query. Names must be plain identifiers; every value goes through ``quote``."""
    fields = "COUNT(*)" if count else ", ".join(["*", *map(identifier, extra_fields)])
    text = f"SELECT {fields} FROM {identifier(entity)}"
    clauses = []
    for name, operator, value in where:
        if operator not in _OPERATORS:
            raise ValueError(f"not a QBO query operator: {operator!r}")
        if operator == "IN":
            assert not isinstance(value, str | bool | int), "IN takes a sequence"
            rendered = "(" + ", ".join(_literal(v) for v in value) + ")"
        else:
            assert isinstance(value, str | bool | int), f"{operator} takes one value"
            rendered = _literal(value)
        clauses.append(f"{identifier(name)} {operator} {rendered}")
    if clauses:
        text += " WHERE " + " AND ".join(clauses)
    if order_by:
        text += f" ORDERBY {identifier(order_by)}"
    if max_results:
        text += f" MAXRESULTS {int(max_results)}"
    return text


# Name lists hide inactive rows unless asked (docs/qbo-api.md §2); transactions have no
# Active.
HAS_ACTIVE = frozenset(
    {"Customer", "CustomerType", "Item", "Vendor", "Account", "PaymentMethod", "Term"}
)
# Sku is not part of SELECT * for items (python-quickbooks PR #379); name it.
EXTRA_FIELDS = {"Item": ("Sku",)}


def including_inactive(entity: str) -> list[tuple[str, str, QueryValue]]:
    """The condition that makes a query on ``entity`` return inactive rows too, if any."""
    return [("Active", "IN", (True, False))] if entity in HAS_ACTIVE else []
