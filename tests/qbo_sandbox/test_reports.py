"""The reports finance staff reconcile against: AgedReceivables, AgedReceivableDetail and
InventoryValuationSummary (qbo_sandbox/reports.py), in Intuit's report JSON.

Every figure is checked against sums computed here, independently, from the documents the
query endpoint returns: open invoices less unused credit (credit memos' RemainingCredit,
payments' UnappliedAmt), aged by days past due; items' QtyOnHand valued at PurchaseCost.
To the cent and to the bottle.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest
from quickbooks import QuickBooks
from quickbooks.exceptions import QuickbooksException

from .support import (
    Accounts,
    Connection,
    RealmApi,
    assert_validation_fault,
    connect,
    inventory_item_body,
    invoice_body,
    sales_line,
)

if TYPE_CHECKING:
    from qbo_sandbox.testing import SandboxProcess

ZERO = Decimal(0)
CENT = Decimal("0.01")


@pytest.fixture(scope="module")
def demo(sandbox: SandboxProcess) -> Connection:
    return connect(sandbox, sandbox.new_company(seed="demo"))


def report(api: RealmApi, name: str, **params: str) -> dict[str, Any]:
    response = api.request("GET", f"reports/{name}", params=params)
    assert response.status_code == 200, response.text
    assert response.headers.get("intuit_tid")
    body: dict[str, Any] = response.json()
    return body


def select_all(api: RealmApi, entity: str, where: str = "") -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    while True:
        page = api.rows(
            f"SELECT * FROM {entity} {where} STARTPOSITION {len(rows) + 1} MAXRESULTS 1000", entity
        )
        rows += page
        if len(page) < 1000:
            return rows


def dec(value: Any) -> Decimal:
    return Decimal(str(value)) if value not in (None, "") else ZERO


def data_rows(rows: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Every Data row, those inside Sections included."""
    for row in rows:
        if "ColData" in row:
            yield row
        yield from data_rows(row.get("Rows", {}).get("Row", []))


def option(body: dict[str, Any], name: str) -> str:
    return str(next(o["Value"] for o in body["Header"]["Option"] if o["Name"] == name))


def totals_row(body: dict[str, Any]) -> list[str]:
    last = body["Rows"]["Row"][-1]
    assert last["group"] == "GrandTotal" and last["type"] == "Section"
    return [cell["value"] for cell in last["Summary"]["ColData"]]


# ---------------------------------------------------------------- receivables, computed here


def applications(payment: dict[str, Any], kind: str) -> dict[str, Decimal]:
    found: dict[str, Decimal] = defaultdict(Decimal)
    for line in payment.get("Line", []):
        for link in line.get("LinkedTxn", []):
            if link["TxnType"] == kind:
                found[link["TxnId"]] += dec(line["Amount"])
    return found


def open_on(api: RealmApi, day: date) -> list[tuple[str, str, str, date, Decimal]]:
    """(kind, id, customer, date aged from, open amount) of everything open on `day`."""
    payments = select_all(api, "Payment")
    later = [p for p in payments if date.fromisoformat(p["TxnDate"]) > day]
    back: dict[str, dict[str, Decimal]] = {
        "Invoice": defaultdict(Decimal),
        "CreditMemo": defaultdict(Decimal),
    }
    for payment in later:
        for kind in back:
            for txn_id, amount in applications(payment, kind).items():
                back[kind][txn_id] += amount
    found = []
    for invoice in select_all(api, "Invoice"):
        if date.fromisoformat(invoice["TxnDate"]) > day:
            continue
        amount = dec(invoice["Balance"]) + back["Invoice"][invoice["Id"]]
        if amount:
            due = date.fromisoformat(invoice["DueDate"])
            found.append(("Invoice", invoice["Id"], invoice["CustomerRef"]["value"], due, amount))
    for memo in select_all(api, "CreditMemo"):
        when = date.fromisoformat(memo["TxnDate"])
        amount = dec(memo["RemainingCredit"]) + back["CreditMemo"][memo["Id"]]
        if when <= day and amount:
            found.append(("Credit Memo", memo["Id"], memo["CustomerRef"]["value"], when, -amount))
    for payment in payments:
        when = date.fromisoformat(payment["TxnDate"])
        if when <= day and dec(payment["UnappliedAmt"]):
            customer = payment["CustomerRef"]["value"]
            found.append(("Payment", payment["Id"], customer, when, -dec(payment["UnappliedAmt"])))
    return found


def bucket(day: date, due: date, period: int = 30, count: int = 4) -> int:
    late = (day - due).days
    return 0 if late <= 0 else min((late + period - 1) // period, count)


def expected_aging(
    items: list[tuple[str, str, str, date, Decimal]], day: date, period: int = 30, count: int = 4
) -> dict[str, list[Decimal]]:
    by_customer: dict[str, list[Decimal]] = defaultdict(lambda: [ZERO] * (count + 2))
    for _kind, _id, customer, due, amount in items:
        by_customer[customer][bucket(day, due, period, count)] += amount
        by_customer[customer][-1] += amount
    return dict(by_customer)


def reported_aging(body: dict[str, Any]) -> dict[str, list[Decimal]]:
    return {
        row["ColData"][0]["id"]: [dec(cell["value"]) for cell in row["ColData"][1:]]
        for row in data_rows(body["Rows"]["Row"])
    }


def test_aged_receivables_agree_to_the_cent_with_the_documents(demo: Connection) -> None:
    body = report(demo.api, "AgedReceivables")
    day = date.fromisoformat(option(body, "report_date"))
    expected = expected_aging(open_on(demo.api, day), day)

    assert [c["ColTitle"] for c in body["Columns"]["Column"]] == [
        "", "Current", "1 - 30", "31 - 60", "61 - 90", "91 and over", "Total"
    ]  # fmt: skip
    assert body["Columns"]["Column"][0]["ColType"] == "Customer"
    header = body["Header"]
    assert header["ReportName"] == "AgedReceivables" and header["Currency"] == "USD"
    assert header["DateMacro"] == "today" and header["EndPeriod"] == day.isoformat()
    assert option(body, "NoReportData") == "false" and header["Time"]
    assert reported_aging(body) == expected
    grand = [sum((v[i] for v in expected.values()), ZERO) for i in range(6)]
    assert totals_row(body) == ["TOTAL", *(f"{g:.2f}" for g in grand)]
    # Credit memos and unapplied payments are among what is aged, as negative amounts.
    kinds = {item[0] for item in open_on(demo.api, day)}
    assert kinds == {"Invoice", "Credit Memo", "Payment"}
    # QBO's identity: a customer's Balance is its line's total on today's aging.
    balances = {
        c["Id"]: dec(c["Balance"])
        for c in select_all(demo.api, "Customer", "WHERE Active IN (true, false)")
    }
    assert {cid: values[-1] for cid, values in expected.items()} == {
        cid: b for cid, b in balances.items() if b
    }


def test_aged_receivables_as_of_an_earlier_date_with_other_periods(demo: Connection) -> None:
    today = date.fromisoformat(option(report(demo.api, "AgedReceivables"), "report_date"))
    day = today - timedelta(days=45)
    body = report(
        demo.api, "AgedReceivables", report_date=day.isoformat(), aging_period="15", num_periods="3"
    )

    assert [c["ColTitle"] for c in body["Columns"]["Column"]][1:] == [
        "Current", "1 - 15", "16 - 30", "31 and over", "Total"
    ]  # fmt: skip
    assert option(body, "report_date") == day.isoformat()
    assert body["Header"]["EndPeriod"] == day.isoformat() and "DateMacro" not in body["Header"]
    # Payments made after the day had not yet paid anything on it.
    assert reported_aging(body) == expected_aging(open_on(demo.api, day), day, 15, 3)


def test_aged_receivables_for_one_customer(demo: Connection) -> None:
    customer = max(select_all(demo.api, "Customer"), key=lambda c: (dec(c["Balance"]), c["Id"]))
    body = report(demo.api, "AgedReceivables", customer=customer["Id"])
    assert body["Header"]["Customer"] == customer["Id"]
    ((only, values),) = reported_aging(body).items()
    assert only == customer["Id"] and values[-1] == dec(customer["Balance"])
    assert totals_row(body)[-1] == f"{dec(customer['Balance']):.2f}"


def test_aged_receivable_detail_lists_every_open_document_by_period(demo: Connection) -> None:
    body = report(demo.api, "AgedReceivableDetail")
    day = date.fromisoformat(option(body, "report_date"))
    items = open_on(demo.api, day)

    columns = [(c["ColTitle"], c["MetaData"][0]["Value"]) for c in body["Columns"]["Column"]]
    assert columns == [
        ("Date", "tx_date"), ("Transaction Type", "txn_type"), ("Num", "doc_num"),
        ("Customer", "cust_name"), ("Due Date", "due_date"), ("Amount", "subt_amount"),
        ("Open Balance", "subt_open_bal"),
    ]  # fmt: skip
    titles = [
        "Current", "1 - 30 days past due", "31 - 60 days past due", "61 - 90 days past due",
        "91 or more days past due",
    ]  # fmt: skip
    expected: dict[str, set[tuple[str, str, Decimal]]] = defaultdict(set)
    for kind, txn_id, _customer, due, amount in items:
        expected[titles[bucket(day, due)]].add((kind, txn_id, amount))
    sections = body["Rows"]["Row"][:-1]
    assert [s["Header"]["ColData"][0]["value"] for s in sections] == [
        t for t in reversed(titles) if t in expected
    ]
    for section in sections:
        title = section["Header"]["ColData"][0]["value"]
        rows = [row["ColData"] for row in section["Rows"]["Row"]]
        assert {(r[1]["value"], r[1]["id"], dec(r[6]["value"])) for r in rows} == expected[title]
        summary = [c["value"] for c in section["Summary"]["ColData"]]
        assert summary[0] == f"Total for {title}"
        assert dec(summary[6]) == sum((dec(r[6]["value"]) for r in rows), ZERO)
    assert dec(totals_row(body)[6]) == sum((item[4] for item in items), ZERO)


def test_aged_receivable_detail_takes_columns_and_past_due(demo: Connection) -> None:
    body = report(
        demo.api, "AgedReceivableDetail", columns="cust_name,due_date,subt_open_bal", past_due="31"
    )
    assert [c["ColTitle"] for c in body["Columns"]["Column"]] == [
        "Customer", "Due Date", "Open Balance"
    ]  # fmt: skip
    day = date.fromisoformat(option(body, "report_date"))
    rows = list(data_rows(body["Rows"]["Row"]))
    assert rows and all(
        (day - date.fromisoformat(r["ColData"][1]["value"])).days >= 31 for r in rows
    )


# ---------------------------------------------------------------- inventory


def test_inventory_valuation_agrees_to_the_bottle_and_the_cent(demo: Connection) -> None:
    body = report(demo.api, "InventoryValuationSummary")
    items = [
        item
        for item in select_all(demo.api, "Item", "WHERE Active IN (true, false)")
        if item["Type"] == "Inventory" and (item["Active"] or dec(item["QtyOnHand"]))
    ]
    expected = {
        item["Id"]: (
            dec(item["QtyOnHand"]),
            (dec(item["QtyOnHand"]) * dec(item.get("PurchaseCost"))).quantize(CENT),
        )
        for item in items
    }

    assert [c["ColTitle"] for c in body["Columns"]["Column"]] == [
        "", "SKU", "Qty", "Asset Value", "Avg Cost"
    ]  # fmt: skip
    reported = {
        row["ColData"][0]["id"]: (dec(row["ColData"][2]["value"]), dec(row["ColData"][3]["value"]))
        for row in data_rows(body["Rows"]["Row"])
    }
    assert reported == expected
    total = totals_row(body)
    assert dec(total[2]) == sum((q for q, _ in expected.values()), ZERO)
    assert dec(total[3]) == sum((v for _, v in expected.values()), ZERO)
    # Sub-items are grouped under their parent, with the parent's total.
    cremant = next(
        row for row in body["Rows"]["Row"]
        if row.get("Header", {}).get("ColData", [{}])[0].get("value") == "Crémant"
    )  # fmt: skip
    assert cremant["type"] == "Section"
    assert cremant["Summary"]["ColData"][0]["value"] == "Total Crémant"
    inside = [r["ColData"][0]["id"] for r in cremant["Rows"]["Row"]]
    assert dec(cremant["Summary"]["ColData"][3]["value"]) == sum(
        (expected[i][1] for i in inside), ZERO
    )


def test_inventory_valuation_on_an_earlier_date_and_for_chosen_items(
    api: RealmApi, accounts: Accounts
) -> None:
    today = date.fromisoformat(option(report(api, "InventoryValuationSummary"), "report_date"))
    wine = api.create(
        "Item",
        {
            **inventory_item_body("Une Femme Demi-Sec NV 750ml", accounts, qty=100),
            "InvStartDate": (today - timedelta(days=60)).isoformat(),
            "PurchaseCost": 11.78,
        },
    )
    late = api.create(
        "Item",
        {
            **inventory_item_body("Une Femme Still Rosé 2023 750ml", accounts, qty=12),
            "InvStartDate": (today - timedelta(days=5)).isoformat(),
            "PurchaseCost": 9.15,
        },
    )
    customer = api.create("Customer", {"DisplayName": "Oyster Bar on Pike"})
    api.create(
        "Invoice",
        invoice_body(
            customer["Id"],
            [sales_line(wine["Id"], "5", "19.00")],
            TxnDate=(today - timedelta(days=10)).isoformat(),
        ),
    )
    api.create(
        "SalesReceipt",
        {
            "CustomerRef": {"value": customer["Id"]},
            "TxnDate": (today - timedelta(days=3)).isoformat(),
            "Line": [sales_line(wine["Id"], "2", "19.00")],
        },
    )

    def quantities(**params: str) -> dict[str, tuple[str, str]]:
        body = report(api, "InventoryValuationSummary", **params)
        return {
            row["ColData"][0]["id"]: (row["ColData"][2]["value"], row["ColData"][3]["value"])
            for row in data_rows(body["Rows"]["Row"])
        }

    assert quantities() == {wine["Id"]: ("93.00", "1095.54"), late["Id"]: ("12.00", "109.80")}
    earlier = (today - timedelta(days=20)).isoformat()
    assert quantities(report_date=earlier) == {wine["Id"]: ("100.00", "1178.00")}
    week = (today - timedelta(days=7)).isoformat()
    assert quantities(report_date=week, item=wine["Id"]) == {wine["Id"]: ("95.00", "1119.10")}
    only = report(api, "InventoryValuationSummary", item=late["Id"])
    assert only["Header"]["Item"] == late["Id"]


# ---------------------------------------------------------------- the rest of the surface


def test_python_quickbooks_reads_a_report(qb: QuickBooks) -> None:
    body = qb.get_report("AgedReceivables", {"date_macro": "Last Month"})
    header = body["Header"]
    assert header["ReportName"] == "AgedReceivables" and header["DateMacro"] == "last month"
    start, end = date.fromisoformat(header["StartPeriod"]), date.fromisoformat(header["EndPeriod"])
    assert start.day == 1 and (end + timedelta(days=1)).day == 1 and start.month == end.month
    assert option(body, "report_date") == header["EndPeriod"]
    assert option(body, "NoReportData") == "true"  # an empty company owes nothing


@pytest.mark.parametrize("name", ["ProfitAndLoss", "agedreceivables", "Cashflow", "Nonsense"])
def test_a_report_the_sandbox_does_not_serve_is_intuits_400(api: RealmApi, name: str) -> None:
    error = assert_validation_fault(api.request("GET", f"reports/{name}"), "5020")
    assert error["element"] == "ReportName"


def test_python_quickbooks_gets_the_fault_of_an_unserved_report(qb: QuickBooks) -> None:
    with pytest.raises(QuickbooksException) as raised:
        qb.get_report("BalanceSheet")
    assert raised.value.error_code == 5020


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("AgedReceivables", {"report_date": "2026-13-01"}),
        ("AgedReceivables", {"aging_period": "0"}),
        ("AgedReceivables", {"num_periods": "four"}),
        ("AgedReceivables", {"customer": "Bob"}),
        ("AgedReceivables", {"aging_method": "Whenever"}),
        ("AgedReceivableDetail", {"columns": "cust_name,colour"}),
        ("InventoryValuationSummary", {"date_macro": "All"}),
        ("InventoryValuationSummary", {"sort_order": "sideways"}),
    ],
)
def test_bad_report_parameters_are_validation_faults_never_500(
    api: RealmApi, name: str, params: dict[str, str]
) -> None:
    error = assert_validation_fault(api.request("GET", f"reports/{name}", params=params), "2010")
    assert error["element"] == next(iter(params))
