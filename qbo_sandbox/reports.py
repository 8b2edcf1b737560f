"""`GET /reports/{name}`: AgedReceivables, AgedReceivableDetail, InventoryValuationSummary.

The reports are computed from the company's own documents at the moment they are asked
for, in Intuit's report JSON: a Header (ReportName, Option, DateMacro, StartPeriod,
EndPeriod, Currency, Time, and the filters asked for), Columns.Column[] (ColTitle, ColType)
and Rows.Row[], each a `Data` row of ColData or a `Section` with a Header, Rows and a
Summary; the last row is the `GrandTotal` section. Amounts are strings with two decimals,
as QBO prints them. Intuit's report pages (ARAgingSummary, ARAgingDetail,
InventoryValuationSummary) give the shapes and parameters; where they leave a point open
the choice is marked [unconfirmed] and listed in the README.

Receivables are what customers owe on the report date: each invoice's open balance then,
less the credit not yet used (credit memos' remaining credit, payments' unapplied amount),
aged by days past due (an invoice's DueDate; a credit's own date). Inventory is each
inventory item's quantity on the report date, valued at its PurchaseCost (the sandbox
keeps no cost layers, so no FIFO).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from qbo_sandbox.accounting import STOCK_LINES, applications, stock_effect
from qbo_sandbox.books import Books, display_name
from qbo_sandbox.common import CENT, JSON, Fault, dec, invalid_value, money, qbo_time

ZERO = Decimal(0)
Params = dict[str, str]


def unknown_report(name: str) -> Fault:
    """QBO's answer to a report name it does not serve: a 400 ValidationFault 5020 naming
    ReportName (what `reports/Cashflow` is answered, intuit/oauth-jsclient #89)."""
    return Fault(
        "5020",
        "Permission Denied Error",
        f"Permission Denied Error : You do not have the access rights to use this feature. "
        f"(report {name})",
        element="ReportName",
    )


def run_report(bk: Books, name: str, params: Params) -> JSON:
    # Report names are matched as written: QBO answers `Cashflow` with 5020, not CashFlow.
    report = REPORTS.get(name)
    if report is None:
        raise unknown_report(name)
    return report(bk, params)


# ---------------------------------------------------------------- parameters


@dataclass(frozen=True)
class Period:
    end: date  # the report date
    start: date | None  # shown as StartPeriod when a date macro set the period
    macro: str | None  # Header.DateMacro


def _period(bk: Books, params: Params) -> Period:
    """report_date (default today) and date_macro, as Intuit's report pages describe them.

    A macro sets StartPeriod and EndPeriod and, without a report_date, the report date
    (its end). QBO prints the macro in lower case, with "fiscal" as "calendar" when the
    fiscal year starts in January, as the sandbox's does ("Last Fiscal Year" comes back as
    "last calendar year" in Intuit's AgedReceivables example).
    """
    today = bk.today()
    macro = params.get("date_macro")
    span = None
    if macro:
        span = _macro_span(macro.strip().lower(), today)
        if span is None:
            raise invalid_value("date_macro", macro)
    given = params.get("report_date")
    if given:
        try:
            end = date.fromisoformat(given.strip())
        except ValueError:
            raise invalid_value("report_date", given) from None
    else:
        end = span[1] if span else today
    if span is None and not given:
        span, macro = (today, today), "Today"
    if span is None:
        return Period(end, None, None)
    shown = (macro or "").strip().lower().replace("fiscal", "calendar")
    return Period(end, span[0], shown)


def _macro_span(macro: str, today: date) -> tuple[date, date] | None:
    week = today - timedelta(days=(today.weekday() + 1) % 7)  # QBO's weeks start on Sunday
    month = today.replace(day=1)
    quarter = date(today.year, 3 * ((today.month - 1) // 3) + 1, 1)
    year = date(today.year, 1, 1)  # the sandbox's fiscal year starts in January

    def months(first: date, count: int) -> date:
        index = first.month - 1 + count
        return date(first.year + index // 12, index % 12 + 1, 1)

    def ending(first: date, count: int) -> date:
        return months(first, count) - timedelta(days=1)

    last_month = months(month, -1)
    spans: dict[str, tuple[date, date]] = {
        "today": (today, today),
        "yesterday": (today - timedelta(days=1), today - timedelta(days=1)),
        "this week": (week, week + timedelta(days=6)),
        "last week": (week - timedelta(days=7), week - timedelta(days=1)),
        "this week-to-date": (week, today),
        "last week-to-date": (week - timedelta(days=7), today - timedelta(days=7)),
        "next week": (week + timedelta(days=7), week + timedelta(days=13)),
        "next 4 weeks": (week + timedelta(days=7), week + timedelta(days=34)),
        "this month": (month, ending(month, 1)),
        "last month": (last_month, month - timedelta(days=1)),
        "this month-to-date": (month, today),
        "last month-to-date": (last_month, _same_day(last_month, today.day)),
        "next month": (months(month, 1), ending(month, 2)),
        "this fiscal quarter": (quarter, ending(quarter, 3)),
        "last fiscal quarter": (months(quarter, -3), quarter - timedelta(days=1)),
        "this fiscal quarter-to-date": (quarter, today),
        "last fiscal quarter-to-date": (months(quarter, -3), _shift_months(today, -3)),
        "next fiscal quarter": (months(quarter, 3), ending(quarter, 6)),
        "this fiscal year": (year, date(today.year, 12, 31)),
        "last fiscal year": (date(today.year - 1, 1, 1), date(today.year - 1, 12, 31)),
        "this fiscal year-to-date": (year, today),
        "last fiscal year-to-date": (date(today.year - 1, 1, 1), _shift_months(today, -12)),
        "next fiscal year": (date(today.year + 1, 1, 1), date(today.year + 1, 12, 31)),
    }
    return spans.get(macro)


def _same_day(first: date, day: int) -> date:
    """`day` of the month that starts at `first`, or that month's last day."""
    following = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return min(first.replace(day=1) + timedelta(days=day - 1), following - timedelta(days=1))


def _shift_months(day: date, count: int) -> date:
    index = day.month - 1 + count
    first = date(day.year + index // 12, index % 12 + 1, 1)
    return _same_day(first, day.day)


def _positive_int(params: Params, key: str, default: int, *, least: int = 1) -> int:
    raw = params.get(key)
    if raw is None or raw == "":
        return default
    try:
        value = Decimal(raw.strip())
    except ArithmeticError:
        raise invalid_value(key, raw) from None
    # Intuit types aging_period as a Decimal; a fraction of a day ages nothing
    # differently, so only whole positive numbers are taken [unconfirmed].
    if not value.is_finite() or value != value.to_integral_value() or value < least:
        raise invalid_value(key, raw)
    return int(value)


def _ids(params: Params, key: str) -> list[str] | None:
    raw = params.get(key)
    if raw is None or raw.strip() == "":
        return None
    ids = [part.strip() for part in raw.split(",")]
    if not all(part.isdigit() and len(part) < 18 for part in ids):
        raise invalid_value(key, raw)
    return [str(int(part)) for part in ids]


def _choice(params: Params, key: str, choices: tuple[str, ...]) -> str:
    raw = params.get(key) or choices[0]
    for choice in choices:
        if raw.strip().lower() == choice.lower():
            return choice
    raise invalid_value(key, raw)


def _header(bk: Books, name: str, period: Period, *, empty: bool, **filters: str | None) -> JSON:
    header: JSON = {f: v for f, v in filters.items() if v}
    header["ReportName"] = name
    header["Option"] = [
        {"Name": "report_date", "Value": period.end.isoformat()},
        {"Name": "NoReportData", "Value": "true" if empty else "false"},
    ]
    if period.macro:
        header["DateMacro"] = period.macro
    if period.start:
        header["StartPeriod"] = period.start.isoformat()
    header["Currency"] = "USD"
    header["EndPeriod"] = period.end.isoformat()
    header["Time"] = qbo_time(bk.now)
    return header


# ---------------------------------------------------------------- formatting


def _amount(value: Decimal) -> str:
    return f"{money(value):.2f}"


def _quantity(value: Decimal) -> str:
    # Quantities print like amounts ("25.00", Intuit's example) unless they are finer.
    exponent = value.normalize().as_tuple().exponent
    return f"{value:.2f}" if isinstance(exponent, int) and exponent >= -2 else str(value)


def _cell(value: str, ref: str | None = None) -> JSON:
    return {"value": value} if ref is None else {"id": ref, "value": value}


def _grand_total(cells: list[JSON]) -> JSON:
    # Every total is a Summary of a section; the last is the GrandTotal [unconfirmed for
    # InventoryValuationSummary, whose example puts ColData straight on its total row].
    return {"Summary": {"ColData": cells}, "type": "Section", "group": "GrandTotal"}


@dataclass
class _Node:
    """One name (customer, item) of a nested report: its own row and its sub-names."""

    id: str
    name: str
    values: list[Decimal] | None = None  # the numeric columns of its own row
    texts: list[str] = field(default_factory=list)  # text columns between name and numbers
    children: list[_Node] = field(default_factory=list)

    def totals(self, width: int) -> list[Decimal]:
        sums = list(self.values or [ZERO] * width)
        for child in self.children:
            sums = [a + b for a, b in zip(sums, child.totals(width), strict=True)]
        return sums


def _nest(
    nodes: dict[str, _Node], parent_of: dict[str, str | None], names: dict[str, str]
) -> list[_Node]:
    """Hang every node that has a row under its parent (creating the parents it needs)."""
    top: list[_Node] = []
    for node_id in list(nodes):
        node = nodes[node_id]
        while True:
            parent_id = parent_of.get(node.id)
            if parent_id is None or parent_id not in names:
                if node not in top:
                    top.append(node)
                break
            parent = nodes.get(parent_id)
            if parent is None:
                parent = nodes[parent_id] = _Node(parent_id, names[parent_id])
            if node not in parent.children:
                parent.children.append(node)
            node = parent
    return top


def _rows(
    nodes: list[_Node],
    width: int,
    render: Callable[[list[Decimal]], list[JSON]],
    descending: bool,
    blanks: int,
) -> list[JSON]:
    """Data rows for names alone, Sections (Header, Rows, Summary) for names with sub-names."""
    rows: list[JSON] = []
    for node in sorted(nodes, key=lambda n: (n.name.casefold(), n.id), reverse=descending):
        own = None
        if node.values is not None:
            own = {
                "ColData": [_cell(node.name, node.id), *map(_cell, node.texts)]
                + render(node.values),
                "type": "Data",
            }
        if not node.children:
            assert own is not None  # a name without sub-names is only here for its own row
            rows.append(own)
            continue
        inner = ([own] if own else []) + _rows(node.children, width, render, descending, blanks)
        empty = [_cell("") for _ in range(blanks + width)]
        rows.append(
            {
                "Header": {"ColData": [_cell(node.name, node.id), *empty]},
                "Rows": {"Row": inner},
                "Summary": {
                    "ColData": [_cell(f"Total {node.name}"), *[_cell("")] * blanks]
                    + render(node.totals(width))
                },
                "type": "Section",
            }
        )
    return rows


# ---------------------------------------------------------------- receivables


@dataclass(frozen=True)
class _Open:
    """Something open on the customer's account on the report date."""

    kind: str  # as QBO's reports name it: "Invoice", "Credit Memo", "Payment"
    id: str
    customer: str
    txn_date: date
    due: date
    doc_number: str
    amount: Decimal  # the document's amount; credits are negative
    open: Decimal  # what is open of it on the report date; credits are negative
    memo: str
    term: str


@dataclass(frozen=True)
class _Aging:
    period: Period
    as_of: date  # the date days past due are counted to
    days: int  # aging_period
    count: int  # num_periods
    customers: list[str] | None

    def bucket(self, due: date) -> int:
        """0 for Current, 1..count for the periods past due (the last one open-ended)."""
        late = (self.as_of - due).days
        if late <= 0:
            return 0
        return min(-(-late // self.days), self.count)

    def titles(self) -> list[str]:
        titles = [f"{(n - 1) * self.days + 1} - {n * self.days}" for n in range(1, self.count)]
        return [*titles, f"{(self.count - 1) * self.days + 1} and over"]


def _aging(bk: Books, params: Params) -> _Aging:
    period = _period(bk, params)
    method = _choice(params, "aging_method", ("Report_Date", "Current"))
    return _Aging(
        period=period,
        as_of=bk.today() if method == "Current" else period.end,
        days=_positive_int(params, "aging_period", 30),
        count=_positive_int(params, "num_periods", 4),
        customers=_ids(params, "customer"),
    )


def _select(bk: Books, entity: str, where: list[str], params: list[Any]) -> list[JSON]:
    return bk.tx.select(bk.realm_id, entity, where, params, order=None)


def _open_items(bk: Books, aging: _Aging) -> list[_Open]:
    """Invoices, credit memos and payments open on the report date, of the customers asked."""
    day = aging.period.end.isoformat()
    scope: list[str] = []
    scope_params: list[Any] = []
    if aging.customers is not None:
        marks = ",".join("?" * len(aging.customers))
        scope = [f"json_extract(data, '$.CustomerRef.value') IN ({marks})"]
        scope_params = list(aging.customers)
    # Payments made after the report date had not yet paid anything on it.
    later = _select(bk, "Payment", ["txn_date > ?", *scope], [day, *scope_params])
    paid_later = {kind: _sum_applications(later, kind) for kind in ("Invoice", "CreditMemo")}
    terms = {t["Id"]: str(t.get("Name", "")) for t in bk.tx.select(bk.realm_id, "Term")}
    found: list[_Open] = []

    def add(kind: str, doc: JSON, due: date, amount: Decimal, open_: Decimal) -> None:
        if open_:
            found.append(
                _Open(
                    kind=kind,
                    id=doc["Id"],
                    customer=str(doc["CustomerRef"]["value"]),
                    txn_date=date.fromisoformat(doc["TxnDate"]),
                    due=due,
                    doc_number=str(doc.get("DocNumber", "")),
                    amount=amount,
                    open=open_,
                    memo=str(doc.get("PrivateNote", "")),
                    term=terms.get((doc.get("SalesTermRef") or {}).get("value"), ""),
                )
            )

    invoices = _select(
        bk,
        "Invoice",
        ["txn_date <= ?", "json_extract(data, '$.Balance') != 0", *scope],
        [day, *scope_params],
    )
    seen = {invoice["Id"] for invoice in invoices}
    missing = [i for i in paid_later["Invoice"] if i not in seen]
    for start in range(0, len(missing), 500):
        chunk = [int(i) for i in missing[start : start + 500]]
        invoices += _select(
            bk,
            "Invoice",
            ["txn_date <= ?", f"id IN ({','.join('?' * len(chunk))})"],
            [day, *chunk],
        )
    for invoice in invoices:
        open_ = dec(invoice.get("Balance", 0), "Balance") + paid_later["Invoice"].get(
            invoice["Id"], ZERO
        )
        due = date.fromisoformat(invoice.get("DueDate") or invoice["TxnDate"])
        add("Invoice", invoice, due, dec(invoice["TotalAmt"], "TotalAmt"), open_)
    for memo in _select(bk, "CreditMemo", ["txn_date <= ?", *scope], [day, *scope_params]):
        left = dec(memo.get("RemainingCredit", 0), "RemainingCredit")
        left += paid_later["CreditMemo"].get(memo["Id"], ZERO)
        when = date.fromisoformat(memo["TxnDate"])
        add("Credit Memo", memo, when, -dec(memo["TotalAmt"], "TotalAmt"), -left)
    unapplied = "json_extract(data, '$.UnappliedAmt') != 0"
    for payment in _select(
        bk, "Payment", ["txn_date <= ?", unapplied, *scope], [day, *scope_params]
    ):
        when = date.fromisoformat(payment["TxnDate"])
        left = dec(payment["UnappliedAmt"], "UnappliedAmt")
        add("Payment", payment, when, -dec(payment["TotalAmt"], "TotalAmt"), -left)
    return found


def _sum_applications(payments: Iterable[JSON], kind: str) -> dict[str, Decimal]:
    total: dict[str, Decimal] = {}
    for payment in payments:
        for doc_id, amount in applications(payment, kind).items():
            total[doc_id] = total.get(doc_id, ZERO) + amount
    return total


def _customers(bk: Books) -> tuple[dict[str, str], dict[str, str | None]]:
    names: dict[str, str] = {}
    parents: dict[str, str | None] = {}
    for customer in bk.tx.select(bk.realm_id, "Customer"):
        names[customer["Id"]] = str(customer.get("DisplayName") or display_name(customer))
        parents[customer["Id"]] = (customer.get("ParentRef") or {}).get("value")
    return names, parents


def aged_receivables(bk: Books, params: Params) -> JSON:
    aging = _aging(bk, params)
    descending = _choice(params, "sort_order", ("ascend", "descend")) == "descend"
    width = aging.count + 2  # Current, the periods, Total
    nodes: dict[str, _Node] = {}
    names, parents = _customers(bk)
    for item in _open_items(bk, aging):
        node = nodes.get(item.customer)
        if node is None:
            node = nodes[item.customer] = _Node(item.customer, names.get(item.customer, ""))
            node.values = [ZERO] * width
        assert node.values is not None
        node.values[aging.bucket(item.due)] += item.open
        node.values[-1] += item.open
    top = _nest(nodes, parents, names)

    def render(values: list[Decimal]) -> list[JSON]:
        # Intuit's example leaves a customer's empty periods blank.
        return [_cell(_amount(v) if v else "") for v in values]

    rows = _rows(top, width, render, descending, blanks=0)
    totals = [sum((n.totals(width)[i] for n in top), ZERO) for i in range(width)]
    rows.append(_grand_total([_cell("TOTAL"), *(_cell(_amount(t)) for t in totals)]))
    columns = [
        {"ColTitle": "", "ColType": "Customer"},
        {"ColTitle": "Current", "ColType": "Money"},
        *({"ColTitle": title, "ColType": "Money"} for title in aging.titles()),
        {"ColTitle": "Total", "ColType": "Money"},
    ]
    header = _header(
        bk, "AgedReceivables", aging.period, empty=not top, Customer=params.get("customer")
    )
    return {"Header": header, "Columns": {"Column": columns}, "Rows": {"Row": rows}}


# AgedReceivableDetail's columns: key (as `columns` names them) -> title, type, value.
_DETAIL_COLUMNS: dict[str, tuple[str, str, Callable[[_Open, _Aging, dict[str, str]], JSON]]] = {
    "tx_date": ("Date", "Date", lambda o, a, n: _cell(o.txn_date.isoformat())),
    "txn_type": ("Transaction Type", "String", lambda o, a, n: _cell(o.kind, o.id)),
    "doc_num": ("Num", "String", lambda o, a, n: _cell(o.doc_number)),
    "cust_name": ("Customer", "String", lambda o, a, n: _cell(n.get(o.customer, ""), o.customer)),
    "due_date": ("Due Date", "Date", lambda o, a, n: _cell(o.due.isoformat())),
    "past_due": ("Past Due", "Integer", lambda o, a, n: _cell(str((a.as_of - o.due).days))),
    "term_name": ("Terms", "String", lambda o, a, n: _cell(o.term)),
    "memo": ("Memo/Description", "String", lambda o, a, n: _cell(o.memo)),
    "subt_amount": ("Amount", "Money", lambda o, a, n: _cell(_amount(o.amount))),
    "subt_open_bal": ("Open Balance", "Money", lambda o, a, n: _cell(_amount(o.open))),
}
_DEFAULT_DETAIL = ("tx_date", "txn_type", "doc_num", "cust_name", "due_date", "subt_amount",
                   "subt_open_bal")  # fmt: skip
_SUMMED = {"subt_amount": "amount", "subt_open_bal": "open"}


def aged_receivable_detail(bk: Books, params: Params) -> JSON:
    aging = _aging(bk, params)
    descending = _choice(params, "sort_order", ("ascend", "descend")) == "descend"
    keys = list(_DEFAULT_DETAIL)
    if params.get("columns"):
        keys = [key.strip() for key in params["columns"].split(",") if key.strip()]
        if not keys or any(key not in _DETAIL_COLUMNS for key in keys):
            raise invalid_value("columns", params["columns"])
    minimum = _positive_int(params, "past_due", 0, least=0) if params.get("past_due") else None
    window = []
    for key in ("start_duedate", "end_duedate"):
        raw = params.get(key)
        try:
            window.append(date.fromisoformat(raw.strip()) if raw else None)
        except ValueError:
            raise invalid_value(key, raw) from None
    names, _ = _customers(bk)
    sections: dict[int, list[_Open]] = {}
    for item in _open_items(bk, aging):
        if minimum is not None and (aging.as_of - item.due).days < minimum:
            continue
        if (window[0] and item.due < window[0]) or (window[1] and item.due > window[1]):
            continue
        sections.setdefault(aging.bucket(item.due), []).append(item)
    titles = ["Current", *(f"{t} days past due" for t in aging.titles())]
    titles[-1] = titles[-1].replace(" and over days past due", " or more days past due")
    rows: list[JSON] = []
    grand = {"amount": ZERO, "open": ZERO}
    # Oldest first, Current last, as in Intuit's ARAgingDetail example [unconfirmed].
    for bucket in sorted(sections, reverse=True):
        items = sorted(sections[bucket], key=lambda o: (o.txn_date, int(o.id)))
        if descending:
            items.reverse()
        sums = {
            "amount": sum((o.amount for o in items), ZERO),
            "open": sum((o.open for o in items), ZERO),
        }
        grand = {k: grand[k] + sums[k] for k in grand}
        data = [
            {"ColData": [_DETAIL_COLUMNS[k][2](o, aging, names) for k in keys], "type": "Data"}
            for o in items
        ]
        rows.append(
            {
                "Header": {"ColData": [_cell(titles[bucket]), *[_cell("")] * (len(keys) - 1)]},
                "Rows": {"Row": data},
                "Summary": {"ColData": _summary(f"Total for {titles[bucket]}", keys, sums)},
                "type": "Section",
            }
        )
    rows.append(_grand_total(_summary("TOTAL", keys, grand)))
    columns = [
        {
            "ColTitle": _DETAIL_COLUMNS[key][0],
            "ColType": _DETAIL_COLUMNS[key][1],
            # The key `columns` takes, as QBO's report metadata names it [unconfirmed].
            "MetaData": [{"Name": "ColKey", "Value": key}],
        }
        for key in keys
    ]
    header = _header(
        bk, "AgedReceivableDetail", aging.period, empty=not sections,
        Customer=params.get("customer"),
    )  # fmt: skip
    return {"Header": header, "Columns": {"Column": columns}, "Rows": {"Row": rows}}


def _summary(label: str, keys: list[str], sums: dict[str, Decimal]) -> list[JSON]:
    """A total row: the label in the first column, sums under the money columns."""
    cells = [_cell(_amount(sums[_SUMMED[k]])) if k in _SUMMED else _cell("") for k in keys]
    if keys[0] in _SUMMED:
        return cells  # no text column to carry the label
    cells[0] = _cell(label)
    return cells


# ---------------------------------------------------------------- inventory


def inventory_valuation_summary(bk: Books, params: Params) -> JSON:
    period = _period(bk, params)
    descending = _choice(params, "sort_order", ("ascend", "descend")) == "descend"
    wanted = _ids(params, "item")
    day = period.end.isoformat()
    # The quantity on the report date: today's, less what was moved after it.
    moved_later: dict[int, Decimal] = {}
    for entity in STOCK_LINES:
        for txn in _select(bk, entity, ["txn_date > ?"], [day]):
            for item_id, qty in stock_effect(txn, entity).items():
                moved_later[item_id] = moved_later.get(item_id, ZERO) + qty
    items = bk.tx.select(bk.realm_id, "Item")
    names = {item["Id"]: str(item.get("Name", "")) for item in items}
    parents = {item["Id"]: (item.get("ParentRef") or {}).get("value") for item in items}
    nodes: dict[str, _Node] = {}
    for item in items:
        if item.get("Type") != "Inventory" or (wanted is not None and item["Id"] not in wanted):
            continue
        if str(item.get("InvStartDate") or "") > day:
            continue  # not yet tracked on the report date
        qty = dec(item.get("QtyOnHand", 0), "QtyOnHand") - moved_later.get(int(item["Id"]), ZERO)
        if item.get("Active") is False and not qty:
            continue
        cost = dec(item.get("PurchaseCost", 0), "PurchaseCost")
        value = (qty * cost).quantize(CENT, rounding=ROUND_HALF_UP)
        node = nodes[item["Id"]] = _Node(item["Id"], names[item["Id"]])
        node.texts = [str(item.get("Sku") or "")]
        node.values = [qty, value, cost]
    top = _nest(nodes, parents, names)

    def render(values: list[Decimal]) -> list[JSON]:
        qty, value, cost = values
        return [_cell(_quantity(qty)), _cell(_amount(value)), _cell(_amount(cost) if cost else "")]

    # Sums of Avg Cost mean nothing; sections and the total leave it blank.
    rows = _rows(top, 3, render, descending, blanks=1)
    for row in _sections(rows):
        row["Summary"]["ColData"][-1] = _cell("")
    qty = sum((n.totals(3)[0] for n in top), ZERO)
    value = sum((n.totals(3)[1] for n in top), ZERO)
    # The total row carries the quantity too [unconfirmed: Intuit's example leaves it blank].
    rows.append(
        _grand_total(
            [_cell("TOTAL"), _cell(""), _cell(_quantity(qty)), _cell(_amount(value)), _cell("")]
        )
    )
    columns = [
        {"ColTitle": "", "ColType": "ProductsAndService"},
        {"ColTitle": "SKU", "ColType": "Money"},  # sic: Intuit's example types it so
        {"ColTitle": "Qty", "ColType": "Money"},
        {"ColTitle": "Asset Value", "ColType": "Money"},
        {"ColTitle": "Avg Cost", "ColType": "Money"},
    ]
    header = _header(
        bk, "InventoryValuationSummary", period, empty=not top, Item=params.get("item")
    )
    return {"Header": header, "Columns": {"Column": columns}, "Rows": {"Row": rows}}


def _sections(rows: list[JSON]) -> Iterable[JSON]:
    for row in rows:
        if row.get("type") == "Section":
            yield row
            yield from _sections(row["Rows"]["Row"])


REPORTS: dict[str, Callable[[Books, Params], JSON]] = {
    "AgedReceivables": aged_receivables,
    "AgedReceivableDetail": aged_receivable_detail,
    "InventoryValuationSummary": inventory_valuation_summary,
}
