"""A declarative-lite table for list pages: sorting, paging and URLs that keep the filters.

A page declares its table once, at module level::

    INVOICES = Table(
        [
            Column("number", "Invoice", sort="doc_number", link=lambda i: i.get_absolute_url()),
            Column("customer", "Customer", sort="customer__display_name",
                   attr="customer__display_name"),
            Column("due", "Due", sort="due_date", kind="date", attr="due_date"),
            Column("balance", "Balance", sort="balance", kind="money",
                   currency=lambda i: i.currency),
        ],
        default_sort="-due",
    )

and its view binds it to the request and the rows its (already filtered and partner-scoped)
queryset selects::

    table = INVOICES.bind(request, invoices)
    if table.is_csv:
        return csv_response(table, "open-invoices.csv")
    template = "billing/invoice_list.html"
    if wants_fragment(request):
        template += "#invoice-table"
    return render(request, template, {"form": form, "table": table})

Filters stay with the page (its Django form reads ``request.GET``); the table only reads
``sort``, ``page`` and ``format`` and carries every other query parameter through its URLs,
so sorting or paging never drops a filter.
"""

from __future__ import annotations

import copy
import csv
import functools
import io
import itertools
import operator
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import KW_ONLY, dataclass, field
from datetime import date, datetime, tzinfo
from decimal import Decimal, localcontext
from functools import cached_property
from typing import Any, Literal

from django.core.paginator import Page, Paginator
from django.db.models import F, QuerySet
from django.db.models.expressions import OrderBy
from django.http import HttpRequest, QueryDict, StreamingHttpResponse
from django.template.base import render_value_in_context
from django.template.context import Context
from django.template.defaultfilters import date as date_filter
from django.utils import timezone
from django.utils.html import conditional_escape
from django.utils.http import content_disposition_header
from django.utils.safestring import SafeString, mark_safe

from common.templatetags.ui import format_money, format_percent, format_qty

Kind = Literal["text", "number", "money", "qty", "date", "datetime", "percent"]
KINDS: frozenset[str] = frozenset(("text", "number", "money", "qty", "date", "datetime", "percent"))
# Kinds whose values are numbers: right-aligned on screen, and exempt from the CSV formula
# guard when the value really is a number (see csv_cell below).
NUMERIC_KINDS: frozenset[str] = frozenset(("number", "money", "qty", "percent"))

RowFunc = Callable[[Any], Any]


def resolve(row: Any, path: str) -> Any:
    """The value at ``path`` in a row: ``"customer__name"`` reads ``row.customer.name`` (or
    ``row["customer"]["name"]`` for dicts, or ``row["customer__name"]`` or
    ``row.customer__name`` for the rows of ``QuerySet.values()`` and
    ``values_list(..., named=True)``). A None on the way gives None, as in
    templates, so an invoice without a customer shows an empty cell instead of failing the
    page. A missing attribute on an object is a programming error and raises; a missing dict
    key is None, because selectors that build dicts often leave optional keys out.

    A callable on the way is called, as templates call it (``get_status_display``, which
    Django makes a ``functools.partial``, not a method), unless it says not to be
    (``do_not_call_in_templates``: related managers, choices classes) or changes data
    (``alters_data``: ``save``, ``delete``), which a cell must never run."""
    if isinstance(row, Mapping):
        if path in row:
            return row[path]
    elif path in getattr(row, "_fields", ()):
        return getattr(row, path)  # a named row of values_list(..., named=True)
    value = row
    for part in path.split("__"):
        if value is None:
            return None
        value = value.get(part) if isinstance(value, Mapping) else getattr(value, part)
        if callable(value) and not getattr(value, "do_not_call_in_templates", False):
            if getattr(value, "alters_data", False):
                raise TypeError(f"{path!r} names a method that changes data.")
            value = value()
    return value


@dataclass(frozen=True)
class Column:
    """One column of a table.

    ``sort`` is what ordering by this column means: a field path (``"customer__name"``), an
    ORM expression (``Lower("name")``, ``F("qty") - F("sold")``, or an ``OrderBy`` such as
    ``F("due").asc(nulls_first=True)``), a callable ``row -> key`` (lists only), or None for
    a column that cannot be sorted. ``csv`` turns a row into the exported value; by default
    the export carries the raw value shown in the cell.

    Beyond the brief's four: ``attr`` is where the value lives when it is not at ``key``;
    ``currency`` (money columns) is a code or ``row -> code``; ``link`` is ``row -> URL`` to
    make the cell a link; ``export=False`` keeps a column off the CSV (a picture such as a
    sparkline is not data), the mirror of ``Table.bind(hide=...)``, which keeps one off the
    page only.
    """

    key: str
    label: str
    _: KW_ONLY
    sort: Any = None
    kind: Kind = "text"
    csv: RowFunc | None = None
    attr: str | None = None
    currency: str | RowFunc | None = None
    link: RowFunc | None = None
    export: bool = True
    # Keep the cell on one line: codes such as SKUs break at their hyphens otherwise.
    nowrap: bool = False
    # ``row -> text`` shown small under the value on the page (never exported): what
    # places the row, such as a customer's partner, without a column of its own.
    note: RowFunc | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(
                f"Column {self.key!r}: kind must be one of {', '.join(sorted(KINDS))}, "
                f"not {self.kind!r}."
            )

    @property
    def numeric(self) -> bool:
        return self.kind in NUMERIC_KINDS

    @property
    def sortable(self) -> bool:
        return self.sort is not None

    def value(self, row: Any) -> Any:
        return resolve(row, self.attr or self.key)

    def export_value(self, row: Any) -> Any:
        return self.csv(row) if self.csv is not None else self.value(row)

    def currency_of(self, row: Any) -> str | None:
        if callable(self.currency):
            code = self.currency(row)
            return str(code) if code else None
        return self.currency

    def order_by(self, descending: bool) -> OrderBy:
        """The ORM ordering for this column. Empty values go last in both directions (an
        unknown quantity is neither the largest nor the smallest), unless the column gave
        its own ``OrderBy``, which is then used as given and reversed for descending."""
        sort = self.sort
        if isinstance(sort, OrderBy):
            # reverse_ordering() changes the object in place; never touch the shared column.
            ordering = copy.copy(sort)
            if descending:
                ordering.reverse_ordering()
            return ordering
        if isinstance(sort, str):
            sort = F(sort)
        if not hasattr(sort, "resolve_expression"):
            raise TypeError(
                f"Column {self.key!r} sorts with a Python callable, which only works on a "
                "list of rows; give it a field name or an ORM expression to sort a queryset."
            )
        result: OrderBy = sort.desc(nulls_last=True) if descending else sort.asc(nulls_last=True)
        return result

    def sort_key(self, row: Any) -> Any:
        """The Python sort key of a row, for tables over lists."""
        if isinstance(self.sort, str):
            return resolve(row, self.sort)
        if callable(self.sort) and not hasattr(self.sort, "resolve_expression"):
            return self.sort(row)
        # An ORM expression means nothing to a list: sort by the value shown.
        return self.value(row)


def _parse_sort(raw: str) -> tuple[str, bool]:
    raw = raw.strip()
    if raw.startswith("-"):
        return raw[1:], True
    return raw, False


@dataclass(frozen=True)
class Table:
    """The declaration of a list page's table; module-level and immutable, bound per request.

    ``default_sort`` is a column key, ``"-key"`` for descending. ``tie_break`` orders rows
    that the chosen column leaves equal, so a row never appears on two pages or on none:
    ``("pk",)`` suits model querysets; an aggregated ``.values(...).annotate(...)`` queryset
    must pass its grouping fields instead (ordering by pk would split its groups). ``prefix``
    namespaces the query parameters when a page shows two tables.
    """

    columns: Sequence[Column]
    _: KW_ONLY
    default_sort: str
    per_page: int = 50
    tie_break: tuple[str, ...] = ("pk",)
    prefix: str = ""
    by_key: dict[str, Column] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_key: dict[str, Column] = {}
        for column in self.columns:
            if column.key in by_key:
                raise ValueError(f"Two columns share the key {column.key!r}.")
            by_key[column.key] = column
        object.__setattr__(self, "by_key", by_key)
        key, _ = _parse_sort(self.default_sort)
        if key not in by_key or not by_key[key].sortable:
            raise ValueError(f"default_sort {self.default_sort!r} is not a sortable column.")
        if self.per_page < 1:
            raise ValueError("per_page must be at least 1.")

    @property
    def sort_param(self) -> str:
        return f"{self.prefix}sort"

    @property
    def page_param(self) -> str:
        return f"{self.prefix}page"

    @property
    def format_param(self) -> str:
        return f"{self.prefix}format"

    def wants_csv(self, request: HttpRequest) -> bool:
        """Whether ``request`` asks for the export rather than a page: a view that reads
        different rows for each (``values_list(..., named=True)`` of just the printed
        columns for the export) asks before it binds."""
        return request.GET.get(self.format_param, "") == "csv"

    def bind(
        self,
        request: HttpRequest,
        rows: QuerySet[Any] | Iterable[Any],
        *,
        hide: Iterable[str] = (),
        count: int | None = None,
    ) -> BoundTable:
        """``hide`` names columns left off the page for this request (a partner user has
        no use for a Partner column); the export keeps them, so a file has the same
        columns whoever downloads it. ``count`` is the number of rows when the view already
        has it (from the totals it shows above the table, say): the page then runs no
        COUNT query of its own, a second scan of the same rows."""
        return BoundTable(self, request, rows, hide=hide, count=count)


@dataclass(frozen=True)
class Cell:
    column: Column
    value: Any
    currency: str | None
    url: str | None
    note: str | None = None

    @property
    def kind(self) -> str:
        return self.column.kind

    @property
    def numeric(self) -> bool:
        return self.column.numeric

    @property
    def nowrap(self) -> bool:
        return self.column.nowrap


_MUTED_EMPTY = '<span class="muted">—</span>'


def cell_html(cell: Cell, *, cards: bool, context: Context) -> str:
    """One ``<td>`` of ``common/_table.html``'s generic rows, as that template's markup
    said it (the user's zone, the ``ui`` filters, escaping), written in Python: a page of
    200 rows has 2,000 cells or more, and the template language's if-chain per cell was
    most of such a page's time (0.1 s of the allowance payments page's 0.13 s)."""
    column = cell.column
    value = cell.value
    kind = column.kind
    attrs = f' data-label="{conditional_escape(column.label)}"' if cards else ""
    if column.numeric:
        attrs += ' class="num"'
    elif column.nowrap:
        attrs += ' class="nowrap"'
    if value is None:
        inner = _MUTED_EMPTY
    elif kind == "money":
        inner = conditional_escape(format_money(value, cell.currency))
    elif kind in ("qty", "number"):
        inner = conditional_escape(format_qty(value))
    elif kind == "percent":
        inner = conditional_escape(format_percent(value))
    elif kind in ("date", "datetime"):
        # As the template's date filter (expects_localtime): the user's zone first.
        # (django-stubs leave template_localtime out.)
        moment = timezone.template_localtime(value, use_tz=context.use_tz)  # type: ignore[attr-defined]
        machine, shown = ("Y-m-d", "M j, Y") if kind == "date" else ("c", "M j, Y H:i T")
        inner = (
            f'<time datetime="{conditional_escape(date_filter(moment, machine))}">'
            f"{conditional_escape(date_filter(moment, shown))}</time>"
        )
    else:
        inner = render_value_in_context(value, context)
    if cell.url:
        inner = f'<a href="{conditional_escape(cell.url)}">{inner}</a>'
    if cell.note:
        inner += f'<br><span class="cell-note">{render_value_in_context(cell.note, context)}</span>'
    return f"<td{attrs}>{inner}</td>"


class BoundRow:
    """One row of a page: the row object, and its cells, made when first asked for. A page
    that renders each row with its own template (``_table.html``'s ``row_template``) never
    asks, and skips a value, a currency and a link (a URL reversed) per cell."""

    def __init__(self, obj: Any, columns: Sequence[Column]) -> None:
        self.obj = obj
        self._columns = columns

    def html(self, context: Context, *, cards: bool) -> SafeString:
        """The row's cells as ``<td>`` markup (``{% table_cells %}`` in ``_table.html``)."""
        # One a line, as the template wrote them: text taken from the page keeps its cells
        # apart ("10130 Cave de Reims", not "10130Cave de Reims").
        cells = "\n".join(cell_html(cell, cards=cards, context=context) for cell in self.cells)
        # Every piece was escaped in cell_html.
        return mark_safe(cells)  # noqa: S308

    @cached_property
    def cells(self) -> list[Cell]:
        row = self.obj
        return [
            Cell(
                column=column,
                value=column.value(row),
                currency=column.currency_of(row) if column.kind == "money" else None,
                url=column.link(row) if column.link is not None else None,
                note=column.note(row) if column.note is not None else None,
            )
            for column in self._columns
        ]


@dataclass(frozen=True)
class PageLink:
    """One entry of the pagination nav: a page number, or None for an ellipsis."""

    number: int | None
    url: str | None
    current: bool


class BoundTable:
    """A table bound to one request and one set of rows (already filtered and scoped).

    Nothing touches the database until a page (``rows``, ``count``…) or the export
    (``all_rows()``) is asked for, so a CSV request never counts or pages. A page costs two
    queries (Django's Paginator): the count and the page itself, plus whatever the rows' own
    attributes need (use select_related in the selector).
    """

    def __init__(
        self,
        table: Table,
        request: HttpRequest,
        rows: QuerySet[Any] | Iterable[Any],
        *,
        hide: Iterable[str] = (),
        count: int | None = None,
    ) -> None:
        self.table = table
        self.request = request
        self._count = count
        hidden = frozenset(hide)
        if unknown := hidden - table.by_key.keys():
            raise ValueError(f"Cannot hide unknown column(s): {', '.join(sorted(unknown))}.")
        # What the page shows; the export writes every column that is data (export_columns).
        self.columns: Sequence[Column] = [c for c in table.columns if c.key not in hidden]
        self.export_columns: Sequence[Column] = [c for c in table.columns if c.export]
        self._source = rows
        params = request.GET
        key, descending = _parse_sort(params.get(table.sort_param, ""))
        column = table.by_key.get(key)
        if column is None or not column.sortable or key in hidden:
            # An unknown or unsortable key (an old bookmark, a hand-edited URL), or one for
            # a column this page does not show, falls back to the default rather than
            # failing the page or sorting by something invisible.
            key, descending = _parse_sort(table.default_sort)
        self.sort_key = key
        self.descending = descending
        self.is_csv = table.wants_csv(request)

    # -- sorting ------------------------------------------------------------------------

    @property
    def sort_column(self) -> Column:
        return self.table.by_key[self.sort_key]

    @property
    def sort_value(self) -> str:
        return f"-{self.sort_key}" if self.descending else self.sort_key

    @cached_property
    def _ordered(self) -> QuerySet[Any] | list[Any]:
        source = self._source
        column = self.sort_column
        if isinstance(source, QuerySet):
            sign = "-" if self.descending else ""
            tie = [f"{sign}{name}" for name in self.table.tie_break]
            return source.order_by(column.order_by(self.descending), *tie)
        return _sorted_list(list(source), column, self.descending)

    def all_rows(self) -> Iterator[Any]:
        """Every row the filters select, in the table's order: what an export holds."""
        ordered = self._ordered
        if isinstance(ordered, QuerySet):
            # A server-side cursor in chunks: an export of 100,000 rows never sits in memory.
            # (chunk_size also keeps prefetch_related working with iterator().)
            return ordered.iterator(chunk_size=2000)
        return iter(ordered)

    # -- paging -------------------------------------------------------------------------

    @cached_property
    def _page(self) -> Page[Any]:
        """Django's paginator over the ordered rows. A number that is not one (garbage, "1.5")
        or is below one shows the first page; one past the end (rows were deleted, or a
        stale link) shows the last: a hand-edited URL never fails the page."""
        raw = self.request.GET.get(self.table.page_param, "")
        try:
            number = max(int(raw), 1)
        except ValueError:
            number = 1
        paginator = Paginator(self._ordered, self.per_page)
        if self._count is not None:
            # Paginator.count is a cached property: a count given is the count used.
            paginator.__dict__["count"] = self._count
        return paginator.get_page(number)

    @property
    def count(self) -> int:
        return int(self._page.paginator.count)

    @property
    def per_page(self) -> int:
        return self.table.per_page

    @property
    def num_pages(self) -> int:
        # An empty table still has one (empty) page.
        return int(self._page.paginator.num_pages)

    @property
    def page_number(self) -> int:
        return int(self._page.number)

    @cached_property
    def rows(self) -> list[Any]:
        return list(self._page.object_list)

    @cached_property
    def body(self) -> list[BoundRow]:
        return [BoundRow(row, self.columns) for row in self.rows]

    @property
    def start_index(self) -> int:
        """1-based number of the first row on this page (0 when there are no rows)."""
        return int(self._page.start_index())

    @property
    def end_index(self) -> int:
        return int(self._page.end_index())

    @property
    def has_previous(self) -> bool:
        return bool(self._page.has_previous())

    @property
    def has_next(self) -> bool:
        return bool(self._page.has_next())

    @property
    def previous_url(self) -> str | None:
        return self.page_url(self.page_number - 1) if self.has_previous else None

    @property
    def next_url(self) -> str | None:
        return self.page_url(self.page_number + 1) if self.has_next else None

    @property
    def page_links(self) -> list[PageLink]:
        """The first and last pages and two either side of the current one; gaps as
        ellipses (Django's elided page range)."""
        current = self.page_number
        paginator = self._page.paginator
        return [
            PageLink(number, self.page_url(number), number == current)
            if isinstance(number, int)
            else PageLink(number=None, url=None, current=False)  # the ellipsis
            for number in paginator.get_elided_page_range(current, on_each_side=2, on_ends=1)
        ]

    # -- URLs ---------------------------------------------------------------------------

    def _url(self, **changes: str | None) -> str:
        """This page's URL with some of the table's parameters changed (None removes one);
        every other parameter, i.e. the page's filters, is kept as it came, repeated
        values included."""
        params: QueryDict = self.request.GET.copy()
        for name, value in changes.items():
            params.pop(name, None)
            if value is not None:
                params[name] = value
        query = params.urlencode()
        return f"{self.request.path}?{query}" if query else self.request.path

    def sort_url(self, key: str) -> str:
        """Sort by ``key``: ascending first, and the other way when it is already the sort.
        Back to page 1, since the old page number means nothing in a new order."""
        descending = key == self.sort_key and not self.descending
        table = self.table
        return self._url(
            **{
                table.sort_param: f"-{key}" if descending else key,
                table.page_param: None,
                table.format_param: None,
            }
        )

    def page_url(self, number: int) -> str:
        table = self.table
        return self._url(
            **{
                table.sort_param: self.sort_value,
                table.page_param: str(number),
                table.format_param: None,
            }
        )

    @property
    def export_url(self) -> str:
        table = self.table
        return self._url(
            **{
                table.sort_param: self.sort_value,
                table.page_param: None,
                table.format_param: "csv",
            }
        )

    def aria_sort(self, key: str) -> str | None:
        if key != self.sort_key:
            return None
        return "descending" if self.descending else "ascending"

    @property
    def headers(self) -> list[dict[str, Any]]:
        """What the template needs per header; templates cannot call methods with args."""
        return [
            {
                "column": column,
                "label": column.label,
                "numeric": column.numeric,
                "url": self.sort_url(column.key) if column.sortable else None,
                "aria_sort": self.aria_sort(column.key),
                "sorted": column.key == self.sort_key,
                "descending": self.descending,
            }
            for column in self.columns
        ]


def _sorted_list(rows: list[Any], column: Column, descending: bool) -> list[Any]:
    """Python's sort for tables over lists. None goes last in both directions, as with
    querysets; Python's sort is stable (reverse=True included), so rows the column leaves
    equal keep the order the selector gave them."""
    present = [(column.sort_key(row), row) for row in rows]
    empty = [row for key, row in present if key is None]
    keyed = [(key, row) for key, row in present if key is not None]
    try:
        keyed.sort(key=lambda pair: pair[0], reverse=descending)
    except TypeError:
        # Mixed types (a number and a string in one column) cannot be compared; order by
        # their text rather than failing the page.
        keyed.sort(key=lambda pair: str(pair[0]), reverse=descending)
    return [row for _, row in keyed] + empty


# --- CSV export ---------------------------------------------------------------------------

# What a spreadsheet reads as the start of a formula (OWASP "CSV injection"): a cell like
# =HYPERLINK(...) or @SUM(...) in a customer name would run when finance opens the export.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
# A plain number, optionally negative, with decimals or an exponent: nothing a spreadsheet
# could evaluate as a formula ("-2+3" or "-A1" do not match).
CENT = Decimal("0.01")
_PLAIN_NUMBER = re.compile(r"-?\d+(\.\d+)?([eE][-+]?\d+)?")


def csv_cell(value: Any, column: Column, tz: tzinfo | None = None) -> str:
    """One exported value: raw and machine-readable (Decimal as plain digits, never an
    exponent; dates and datetimes in ISO 8601, datetimes in ``tz``, the user's zone), with
    spreadsheet formulas neutralised by a leading apostrophe.

    Why negative numbers in numeric columns are exempt: finance sums these columns, and an
    apostrophe turns -12.50 into text that SUM() silently skips, so a credit would vanish
    from the totals. A value that is a plain number cannot be a formula: the exemption
    needs both a numeric column *and* text that is nothing but a number, so "-2+3" in a
    money column, or "-2" in a text column (a name, a memo), is still neutralised.
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        text = _plain_decimal(value, column.kind)
    elif isinstance(value, datetime):
        if timezone.is_aware(value):
            value = timezone.localtime(value, tz)
        text = value.date().isoformat() if column.kind == "date" else value.isoformat()
    elif isinstance(value, date):
        text = value.isoformat()
    else:
        text = str(value)
    if text.startswith(FORMULA_TRIGGERS):
        if column.numeric and _PLAIN_NUMBER.fullmatch(text):
            return text
        return "'" + text
    return text


def _plain_decimal(value: Decimal, kind: str) -> str:
    """Digits only, never an exponent, and without the database's padding when dropping it
    loses nothing: a money value stored as -12.5000 exports as -12.50 (cents kept, as in
    QuickBooks), a quantity of 1440.0000 as 1440; a unit price of 0.12345 stays whole."""
    if not value.is_finite():
        return str(value)
    with localcontext() as context:
        context.prec = 100  # normalize() and quantize() must not round a long value
        if kind == "money":
            cents = value.quantize(CENT)
            return format(cents if cents == value else value, "f")
        if kind in ("qty", "number", "percent"):
            return format(value.normalize(), "f")
    return format(value, "f")


# Rows written per chunk of a streamed export: enough that the per-chunk work disappears,
# few enough that a chunk stays a few hundred kilobytes.
CSV_ROWS_PER_CHUNK = 1000
# What makes csv.writer (the excel dialect, minimal quoting) quote a field.
_QUOTED = (",", '"', "\r", "\n")
_NONE = type(None)
_FIRST_CHAR = operator.itemgetter(slice(0, 1))
_THIRD_FROM_END = operator.itemgetter(slice(-3, -2))


def _csv_column(column: Column, first: Any, tz: tzinfo | None) -> Callable[[list[Any]], list[str]]:
    """Chunk of rows -> the column's exported cells, each exactly ``csv_cell`` of its value.

    An export of 100,000 rows has a million cells; formatting them one call each was most
    of what an export cost in Python. A chunk is read a column at a time instead, by C
    loops (``map``) wherever the column's values are of the plain kinds an export is made
    of: text (checked for formulas), money to the cent (its ``str()``, never an exponent),
    whole numbers, dates. A chunk holding anything else goes through ``csv_cell``.

    Rows of ``values_list(..., named=True)`` (what an export should read: Django builds no
    dict per row) and of ``values()`` carry the column's path as an attribute or key (seen
    on the first row), read in one C call instead of ``resolve``."""
    path = column.attr or column.key
    get: Callable[[Any], Any]
    keyed = False
    if column.csv is not None:
        get = column.csv
    elif path in getattr(first, "_fields", ()):
        get = operator.attrgetter(path)
    elif type(first) is dict and path in first:
        get, keyed = operator.itemgetter(path), True
    else:
        get = functools.partial(resolve, path=path)
    kind = column.kind

    def values_of(rows: list[Any]) -> list[Any]:
        try:
            return list(map(get, rows))
        except KeyError:
            if not keyed:
                raise
            # Dicts that leave the key out of some rows: None there, as resolve gives.
            return [resolve(row, path) for row in rows]

    def cells(rows: list[Any]) -> list[str]:
        values = values_of(rows)
        kinds = set(map(type, values))
        if kind == "money" and kinds == {Decimal}:
            texts = list(map(str, values))
            # str() of a Decimal with two places is what csv_cell makes of it, a plain
            # number with no exponent (so no formula guard either).
            if set(map(_THIRD_FROM_END, texts)) == {"."}:
                return texts
        elif column.numeric and kinds <= {int, _NONE}:
            if _NONE in kinds:
                return ["" if value is None else str(value) for value in values]
            return list(map(str, values))
        elif kind in ("date", "text") and kinds <= {date, _NONE}:
            # isoformat() is what str() of a date returns, without looking it up by name.
            if _NONE in kinds:
                iso = date.isoformat
                return ["" if value is None else iso(value) for value in values]
            return list(map(date.isoformat, values))
        elif kind == "text" and kinds <= {str, _NONE}:
            texts = (
                ["" if value is None else value for value in values] if _NONE in kinds else values
            )
            # Every trigger is one character: the column's first characters tell at once
            # whether any text needs the guard.
            starts = "".join(map(_FIRST_CHAR, texts))
            if any(trigger in starts for trigger in FORMULA_TRIGGERS):
                return ["'" + text if text.startswith(FORMULA_TRIGGERS) else text for text in texts]
            return texts
        return [csv_cell(value, column, tz) for value in values]

    return cells


def _csv_lines(columns: list[list[str]], count: int, writer: Any, buffer: io.StringIO) -> str:
    """The CSV lines of ``count`` rows given column by column: what ``csv.writer`` writes,
    joined directly when no field needs quoting (the writer itself costs more than all the
    formatting above), and by the writer when one does (or when a row is a single field,
    which the writer quotes when empty)."""
    rows = list(zip(*columns, strict=True)) if columns else [()] * count
    if len(columns) > 1 and not any(
        char in text for text in map("".join, columns) for char in _QUOTED
    ):
        return "\r\n".join(map(",".join, rows)) + "\r\n"
    writer.writerows(rows)
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text


def csv_response(table: BoundTable, filename: str) -> StreamingHttpResponse:
    """Every row the page's filters select (not just the shown page), in the table's order,
    as a streamed CSV download: header row = column labels, UTF-8 with a BOM so Excel shows
    "Côte Ouest" and "Crémant" rather than mojibake.

    Rows are written a chunk at a time (``CSV_ROWS_PER_CHUNK``): the response's memory stays
    that of one chunk however many rows there are. What the rows cost to read is the
    selector's: give an export ``.values_list(..., named=True)`` of just the columns it
    prints (no model instances, no JSON, no connection, no dict per row)."""
    if not filename.lower().endswith(".csv"):
        filename += ".csv"
    columns = list(table.export_columns)
    # The user's zone is read now: the rows are written after the view (and the timezone
    # middleware) have returned.
    tz = timezone.get_current_timezone()

    def chunks() -> Iterator[bytes]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        header = _csv_lines([[c.label] for c in columns], 1, writer, buffer)
        yield ("\ufeff" + header).encode()
        rows = table.all_rows()
        readers: list[Callable[[list[Any]], list[str]]] | None = None
        while chunk := list(itertools.islice(rows, CSV_ROWS_PER_CHUNK)):
            if readers is None:
                readers = [_csv_column(c, chunk[0], tz) for c in columns]
            cells = [read(chunk) for read in readers]
            yield _csv_lines(cells, len(chunk), writer, buffer).encode()

    response = StreamingHttpResponse(chunks(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = content_disposition_header(True, filename)
    return response
