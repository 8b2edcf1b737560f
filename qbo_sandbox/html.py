"""Read-only HTML views, so a person can see what "QuickBooks" holds."""

from __future__ import annotations

from collections.abc import Callable
from html import escape
from typing import Any
from urllib.parse import quote

from qbo_sandbox.common import JSON
from qbo_sandbox.store import Store
from qbo_sandbox.web import Request, Response, html_response

PAGE_SIZE = 50
_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2rem;color:#222}"
    "table{border-collapse:collapse;width:100%}th,td{border-bottom:1px solid #ddd;"
    "padding:.3rem .6rem;text-align:left}td.n{text-align:right}tr.off{color:#999}"
    "nav a{margin-right:1rem}"
)


def _money(value: Any) -> str:
    return f"{float(value or 0):,.2f}"


def _invoice_status(invoice: JSON) -> str:
    if str(invoice.get("PrivateNote", "")).startswith("Voided"):
        return "Voided"
    balance, total = float(invoice.get("Balance", 0)), float(invoice.get("TotalAmt", 0))
    if balance == 0:
        return "Paid"
    return "Open" if balance == total else "Partially paid"


Column = tuple[str, Callable[[JSON], Any], bool]  # heading, value, numeric

VIEWS: dict[str, tuple[str, str, bool, list[Column]]] = {
    # path: (entity, title, newest first, columns)
    "items": (
        "Item",
        "Products and services",
        False,
        [
            ("Id", lambda o: o["Id"], False),
            ("Name", lambda o: o.get("FullyQualifiedName", o.get("Name")), False),
            ("SKU", lambda o: o.get("Sku", ""), False),
            ("Type", lambda o: o.get("Type", ""), False),
            ("Qty on hand", lambda o: o.get("QtyOnHand", ""), True),
            ("Price", lambda o: _money(o.get("UnitPrice")), True),
        ],
    ),
    "customers": (
        "Customer",
        "Customers",
        False,
        [
            ("Id", lambda o: o["Id"], False),
            ("Name", lambda o: o.get("DisplayName"), False),
            ("Email", lambda o: (o.get("PrimaryEmailAddr") or {}).get("Address", ""), False),
            ("Open balance", lambda o: _money(o.get("Balance")), True),
        ],
    ),
    "invoices": (
        "Invoice",
        "Invoices",
        True,
        [
            ("Id", lambda o: o["Id"], False),
            ("No.", lambda o: o.get("DocNumber", ""), False),
            ("Date", lambda o: o.get("TxnDate", ""), False),
            ("Customer", lambda o: o["CustomerRef"].get("name", ""), False),
            ("Total", lambda o: _money(o.get("TotalAmt")), True),
            ("Balance", lambda o: _money(o.get("Balance")), True),
            ("Status", _invoice_status, False),
        ],
    ),
    "payments": (
        "Payment",
        "Payments",
        True,
        [
            ("Id", lambda o: o["Id"], False),
            ("Date", lambda o: o.get("TxnDate", ""), False),
            ("Customer", lambda o: o["CustomerRef"].get("name", ""), False),
            ("Amount", lambda o: _money(o.get("TotalAmt")), True),
            ("Unapplied", lambda o: _money(o.get("UnappliedAmt")), True),
            (
                "Applied to invoice Ids",
                lambda o: ", ".join(
                    link["TxnId"]
                    for line in o.get("Line", [])
                    for link in line.get("LinkedTxn", [])
                ),
                False,
            ),
        ],
    ),
}


def _page(title: str, body: str) -> Response:
    return html_response(
        200,
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body>{body}</body></html>",
    )


def handle(store: Store, req: Request, parts: list[str]) -> Response:
    if req.method != "GET":
        return html_response(405, "<p>Read-only views.</p>")
    if not parts:
        return _home(store)
    if len(parts) == 3 and parts[0] == "companies" and parts[2] in VIEWS:
        try:
            page = max(1, int(req.query.get("page", "1")))
        except ValueError:
            page = 1
        return _listing(store, parts[1], parts[2], page)
    return html_response(404, "<p>Not found. Try <a href='/'>the company list</a>.</p>")


def _home(store: Store) -> Response:
    with store.transaction() as tx:
        companies = [(realm, name, tx.entity_counts(realm)) for realm, name in tx.companies()]
    rows = "".join(
        f"<tr><td>{escape(realm)}</td><td>{escape(name)}</td><td>"
        + " ".join(
            f"<a href='/companies/{quote(realm)}/{view}'>{view} ({counts.get(entity, 0)})</a>"
            for view, (entity, *_) in VIEWS.items()
        )
        + "</td></tr>"
        for realm, name, counts in companies
    )
    return _page(
        "qbo_sandbox",
        "<h1>qbo_sandbox companies</h1><table><tr><th>Realm ID</th><th>Company</th>"
        f"<th>Views</th></tr>{rows}</table>",
    )


def _listing(store: Store, realm_id: str, view: str, page: int) -> Response:
    entity, title, newest_first, columns = VIEWS[view]
    with store.transaction() as tx:
        if not tx.company_exists(realm_id):
            return html_response(404, f"<p>No company {escape(realm_id)}.</p>")
        name = dict(tx.companies())[realm_id]
        total = tx.count(realm_id, entity)
        rows = tx.select(
            realm_id,
            entity,
            order="id DESC" if newest_first else "id",
            limit=PAGE_SIZE,
            offset=(page - 1) * PAGE_SIZE,
        )
    head = "".join(f"<th>{escape(heading)}</th>" for heading, _, _ in columns)
    body = "".join(
        f"<tr class='{'off' if row.get('Active') is False else ''}'>"
        + "".join(
            f"<td class='{'n' if numeric else ''}'>{escape(str(value(row)))}</td>"
            for _, value, numeric in columns
        )
        + "</tr>"
        for row in rows
    )
    pages = max(1, -(-total // PAGE_SIZE))
    base = f"/companies/{quote(realm_id)}/{view}"
    links = ["<a href='/'>all companies</a>"]
    links += [f"<a href='/companies/{quote(realm_id)}/{v}'>{v}</a>" for v in VIEWS if v != view]
    if page > 1:
        links.append(f"<a href='{base}?page={page - 1}'>&larr; previous</a>")
    if page < pages:
        links.append(f"<a href='{base}?page={page + 1}'>next &rarr;</a>")
    return _page(
        f"{title} · {name}",
        f"<nav>{''.join(links)}</nav><h1>{escape(name)}: {escape(title)}</h1>"
        f"<p>{total} in total (inactive ones greyed) · page {page} of {pages}</p>"
        f"<table><tr>{head}</tr>{body}</table>",
    )
