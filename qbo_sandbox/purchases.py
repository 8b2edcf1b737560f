"""Purchases: Bill, PurchaseOrder, VendorCredit and BillPayment, and their accounting rules.

A wine distributor orders from its suppliers (PurchaseOrder: no stock and no balance until
it is received), receives and is billed (a Bill raising QtyOnHand, linking the order it
receives and closing it), sends breakage back (VendorCredit: stock out, credit with the
vendor) and pays (BillPayment: lowering bill balances, using vendor credits). Vendor.Balance
is the open bills less the unused vendor credit.
"""

from __future__ import annotations

from decimal import Decimal

from qbo_sandbox.accounting import (
    _LINE_FIELDS,
    _LINKED_TXN_FIELDS,
    _TXN_COMMON,
    BILL_PAYMENT,
    ZERO,
    _account_by_subtype,
    _amount,
    _detail_type,
    _due_date,
    _fields,
    _lines,
    _party,
    _register_stock,
    _set_ref,
    _txn_date,
    _void_payment,
    assign_doc_number,
    settle_effects,
    settlement_lines,
)
from qbo_sandbox.books import Books, Spec, check_fields, parse_date, register
from qbo_sandbox.common import (
    JSON,
    business_error,
    dec,
    invalid_enum,
    invalid_reference,
    invalid_value,
    money,
    num,
    required_missing,
)
from qbo_sandbox.entities import USD


def _payable(books: Books, data: JSON) -> None:
    if data.get("APAccountRef") is None:
        payable = _account_by_subtype(books, "AccountsPayable")
        if payable is not None:
            data["APAccountRef"] = payable
    _set_ref(books, data, "APAccountRef", "Account")


# ---------------------------------------------------------------- Bill


def expense_lines(books: Books, lines: list[JSON]) -> tuple[list[JSON], Decimal]:
    """Validate the lines of a purchase (Bill, PurchaseOrder, VendorCredit); return them and
    their total."""
    total = ZERO
    out = []
    allowed = ("AccountBasedExpenseLineDetail", "ItemBasedExpenseLineDetail")
    for number, line in enumerate(lines, start=1):
        check_fields(_LINE_FIELDS, line, "Line")
        detail_type = _detail_type(line, allowed)
        detail = dict(line.get(detail_type) or {})
        if detail_type == "AccountBasedExpenseLineDetail":
            detail["AccountRef"] = books.ref(
                detail.get("AccountRef"), "Account", "AccountRef", required=True
            )
        else:
            detail["ItemRef"] = books.ref(detail.get("ItemRef"), "Item", "ItemRef", required=True)
            for key in ("Qty", "UnitPrice"):
                if key in detail:
                    detail[key] = num(dec(detail[key], key))
        if "CustomerRef" in detail:
            detail["CustomerRef"] = books.ref(detail["CustomerRef"], "Customer", "CustomerRef")
        if "ClassRef" in detail:
            detail["ClassRef"] = books.ref(detail["ClassRef"], "Class", "ClassRef")
        if line.get("Amount") is None:
            raise required_missing("Line.Amount")
        amount = money(dec(line["Amount"], "Line.Amount"))
        total += amount
        out.append(
            {
                **{k: v for k, v in line.items() if k not in ("Id", "LineNum", "LinkedTxn")},
                "Id": str(number),
                "LineNum": number,
                "Amount": num(amount),
                "DetailType": detail_type,
                detail_type: detail,
            }
        )
        if line.get("LinkedTxn"):
            out[-1]["LinkedTxn"] = line["LinkedTxn"]
    return out, total


def _bill(books: Books, data: JSON, old: JSON | None) -> JSON:
    _set_ref(books, data, "VendorRef", "Vendor", required=True)
    lines, total = expense_lines(books, _lines(data))
    paid = _amount(old, "TotalAmt") - _amount(old, "Balance")
    if total < paid:
        raise business_error(
            f"The bill total {total} is less than the bill payments applied to it ({paid})"
        )
    data["Line"] = lines
    data["LinkedTxn"] = _bill_links(books, data, old)
    data["TotalAmt"] = num(total)
    data["Balance"] = num(total - paid)
    txn_date = _txn_date(data, books)
    data["TxnDate"] = txn_date.isoformat()
    _set_ref(books, data, "SalesTermRef", "Term")
    data["DueDate"] = _due_date(books, data, txn_date, data.get("SalesTermRef"))
    if data.get("APAccountRef") is None:
        payable = _account_by_subtype(books, "AccountsPayable")
        if payable is not None:
            data["APAccountRef"] = payable
    _set_ref(books, data, "APAccountRef", "Account")
    _set_ref(books, data, "DepartmentRef", "Department")
    data["CurrencyRef"] = USD
    return data


BILL_PAYMENT_LINKS = ("BillPaymentCheck", "BillPaymentCreditCard")


def _bill_links(books: Books, data: JSON, old: JSON | None) -> list[JSON]:
    """A bill's LinkedTxn: the purchase orders it receives, then its bill payments.

    A client links a purchase order on the bill or on one of its lines (`Line[].LinkedTxn`,
    as Intuit's Bill reference describes); the bill payments are the server's own, so
    whatever a client sends for them is ignored.
    """
    vendor = data["VendorRef"]["value"]
    received = {str(po) for po in purchase_orders(old)}
    wanted: list[str] = []
    given = [*(data.get("LinkedTxn") or [])]
    for line in data["Line"]:
        given += line.get("LinkedTxn") or []
    for link in given:
        if not isinstance(link, dict):
            raise invalid_value("LinkedTxn", link)
        check_fields(_LINKED_TXN_FIELDS, link, "LinkedTxn")
        kind = link.get("TxnType")
        if kind in BILL_PAYMENT_LINKS:
            continue
        if kind != "PurchaseOrder":
            raise business_error(f"Linking a bill to a {kind} is not supported by this sandbox")
        order = books.get("PurchaseOrder", link.get("TxnId"))
        if order is None:
            raise invalid_reference("LinkedTxn.TxnId", "PurchaseOrder", link.get("TxnId"))
        if order["VendorRef"]["value"] != vendor:
            raise business_error(f"Purchase order {order['DocNumber']} is for another vendor")
        if order.get("POStatus") == "Closed" and order["Id"] not in received:
            raise business_error(f"Purchase order {order['DocNumber']} is already closed")
        if order["Id"] not in wanted:
            wanted.append(order["Id"])
    for line in data["Line"]:
        orders = [
            {"TxnId": str(link["TxnId"]), "TxnType": "PurchaseOrder"}
            for link in line.pop("LinkedTxn", [])
            if link.get("TxnType") == "PurchaseOrder"
        ]
        if orders:
            line["LinkedTxn"] = orders
    kept = [
        link for link in (old or {}).get("LinkedTxn", []) if link["TxnType"] in BILL_PAYMENT_LINKS
    ]
    return [{"TxnId": po, "TxnType": "PurchaseOrder"} for po in wanted] + kept


def purchase_orders(bill: JSON | None) -> list[str]:
    return [
        str(link["TxnId"])
        for link in (bill or {}).get("LinkedTxn", [])
        if link.get("TxnType") == "PurchaseOrder"
    ]


def _bill_effects(books: Books, old: JSON | None, new: JSON | None) -> None:
    if new is None and any(
        link.get("TxnType") in BILL_PAYMENT_LINKS for link in (old or {}).get("LinkedTxn", [])
    ):
        # A paid bill goes only once its payments are removed [unconfirmed: QBO may instead
        # leave the payment unapplied, which a BillPayment has no field to show].
        raise business_error("This bill has bill payments applied; delete or void them first")
    _register_stock(books, "Bill", old, new)
    bill_id = str((new or old or {}).get("Id"))
    before, after = purchase_orders(old), purchase_orders(new)
    for po in [po for po in before if po not in after]:
        receive_purchase_order(books, po, bill_id, received=False)
    for po in [po for po in after if po not in before]:
        receive_purchase_order(books, po, bill_id, received=True)
    books.add_party_balance(_party(old, "Vendor", "VendorRef"), -_amount(old, "Balance"))
    books.add_party_balance(_party(new, "Vendor", "VendorRef"), _amount(new, "Balance"))


def receive_purchase_order(books: Books, po_id: str, bill_id: str, *, received: bool) -> None:
    """A bill received (or no longer receives) a purchase order: the order is Closed while a
    bill links it, Open again when none does [unconfirmed: QBO closes an order when it is
    received in full; the sandbox knows no partial receipt]."""
    order = books.get("PurchaseOrder", po_id)
    if order is None:
        return
    links = [link for link in order.get("LinkedTxn", []) if link.get("TxnId") != bill_id]
    if received:
        links.append({"TxnId": bill_id, "TxnType": "Bill"})
    status = "Closed" if any(link.get("TxnType") == "Bill" for link in links) else "Open"
    updated = {**order, "LinkedTxn": links, "POStatus": status}
    books.save("PurchaseOrder", updated, order, "Update")


# ---------------------------------------------------------------- PurchaseOrder

PO_STATUSES = ("Open", "Closed")


def _purchase_order(books: Books, data: JSON, old: JSON | None) -> JSON:
    _set_ref(books, data, "VendorRef", "Vendor", required=True)
    links = (old or {}).get("LinkedTxn", [])
    if old is not None and links and old["VendorRef"]["value"] != data["VendorRef"]["value"]:
        raise business_error("A purchase order received on a bill cannot change vendor")
    lines, total = expense_lines(books, _lines(data))
    data["Line"] = lines
    data["TotalAmt"] = num(total)
    data["TxnDate"] = _txn_date(data, books).isoformat()
    due = parse_date(data.get("DueDate"), "DueDate")
    if due is not None:
        data["DueDate"] = due.isoformat()
    # An update that leaves POStatus out keeps it: pyqb sends none, and a client should
    # not reopen a received order by saving it [unconfirmed].
    status = data.get("POStatus") or (old or {}).get("POStatus") or "Open"
    if status not in PO_STATUSES:
        raise invalid_enum("POStatus", status)
    data["POStatus"] = status
    data["LinkedTxn"] = links
    assign_doc_number(books, "PurchaseOrder", data, old)
    _set_ref(books, data, "SalesTermRef", "Term")
    _set_ref(books, data, "DepartmentRef", "Department")
    _set_ref(books, data, "ClassRef", "Class")
    _payable(books, data)
    data.setdefault("EmailStatus", "NotSet")
    data["CurrencyRef"] = USD
    return data


def _purchase_order_effects(books: Books, old: JSON | None, new: JSON | None) -> None:
    if new is None and any(
        link.get("TxnType") == "Bill" for link in (old or {}).get("LinkedTxn", [])
    ):
        # QBO asks to unlink the bill first [unconfirmed for the API].
        raise business_error(
            "This purchase order has been received on a bill; remove it from the bill first"
        )


# ---------------------------------------------------------------- VendorCredit


def _vendor_credit(books: Books, data: JSON, old: JSON | None) -> JSON:
    _set_ref(books, data, "VendorRef", "Vendor", required=True)
    lines, total = expense_lines(books, _lines(data))
    used = _amount(old, "TotalAmt") - _amount(old, "Balance")
    if total < used:
        raise business_error(
            f"The vendor credit total {total} is less than what bill payments used of it ({used})"
        )
    data["Line"] = lines
    data["TotalAmt"] = num(total)
    data["Balance"] = num(total - used)
    data["LinkedTxn"] = (old or {}).get("LinkedTxn", [])
    data["TxnDate"] = _txn_date(data, books).isoformat()
    _set_ref(books, data, "DepartmentRef", "Department")
    _payable(books, data)
    data["CurrencyRef"] = USD
    return data


def _vendor_credit_effects(books: Books, old: JSON | None, new: JSON | None) -> None:
    if new is None and _amount(old, "Balance") < _amount(old, "TotalAmt"):
        raise business_error(
            "This vendor credit is used by a bill payment; remove it from the payment first"
        )
    _register_stock(books, "VendorCredit", old, new)
    books.add_party_balance(_party(old, "Vendor", "VendorRef"), _amount(old, "Balance"))
    books.add_party_balance(_party(new, "Vendor", "VendorRef"), -_amount(new, "Balance"))


# ---------------------------------------------------------------- BillPayment

# PayType: the block that says where the money came from, its account, and how a paid
# bill's LinkedTxn names the payment (Intuit's BillPayment reference).
PAY_TYPES: dict[str, tuple[str, str, str]] = {
    "Check": ("CheckPayment", "BankAccountRef", "BillPaymentCheck"),
    "CreditCard": ("CreditCardPayment", "CCAccountRef", "BillPaymentCreditCard"),
}


def _bill_payment(books: Books, data: JSON, old: JSON | None) -> JSON:
    _set_ref(books, data, "VendorRef", "Vendor", required=True)
    pay_type = data.get("PayType")
    if pay_type is None:
        raise required_missing("PayType")
    if pay_type not in PAY_TYPES:
        raise invalid_enum("PayType", pay_type)
    block, account, _ = PAY_TYPES[pay_type]
    for other, _account, _link in PAY_TYPES.values():
        if other != block:
            data.pop(other, None)
    detail = data.get(block) or {}
    if not isinstance(detail, dict):
        raise invalid_value(block, detail)
    detail = dict(detail)
    detail[account] = books.ref(detail.get(account), "Account", f"{block}.{account}", required=True)
    if pay_type == "Check":
        detail.setdefault("PrintStatus", "NotSet")
    data[block] = detail
    if data.get("TotalAmt") is None:
        raise required_missing("TotalAmt")
    total = money(dec(data["TotalAmt"], "TotalAmt"))
    lines, paid, credit = settlement_lines(books, data, BILL_PAYMENT)
    if total != paid - credit:
        # A bill payment pays bills and nothing else; money beyond them has no field to
        # live in (BillPayment has no UnappliedAmt) [unconfirmed].
        raise business_error(
            f"The bill payment total ({total}) must equal the bills it pays ({paid}) less the "
            f"vendor credits it uses ({credit})"
        )
    data["TotalAmt"] = num(total)
    data["Line"] = lines
    data["TxnDate"] = _txn_date(data, books).isoformat()
    _set_ref(books, data, "DepartmentRef", "Department")
    _payable(books, data)
    data["CurrencyRef"] = USD
    return data


def _bill_payment_effects(books: Books, old: JSON | None, new: JSON | None) -> None:
    pay_type = str((new or old or {}).get("PayType"))
    settle_effects(books, BILL_PAYMENT, old, new, PAY_TYPES[pay_type][2])


register(
    Spec(
        name="Bill",
        kind="txn",
        sequence="Txn",
        fields=_fields(
            *_TXN_COMMON,
            "VendorRef",
            "VendorAddr",
            "APAccountRef",
            "SalesTermRef",
            "DueDate",
            "Balance",
            "HomeBalance",
            "AttachableRef",
            "IncludeInAnnualTPAR",
        ),  # fmt: skip
        read_only=frozenset({"TotalAmt", "Balance", "HomeBalance", "CurrencyRef"}),
        normalize=_bill,
        # Bill numbers are the vendor's and may repeat (WarnDuplicateBillNumber is a
        # warning in QBO's UI, never an API fault); they are indexed for queries all the same.
        doc_number=lambda obj: obj.get("DocNumber"),
        unique_doc_number=False,
        effects=_bill_effects,
    )
)
register(
    Spec(
        name="PurchaseOrder",
        kind="txn",
        sequence="Txn",
        fields=_fields(
            *_TXN_COMMON,
            "VendorRef",
            "VendorAddr",
            "ShipAddr",
            "ShipTo",
            "ShipMethodRef",
            "APAccountRef",
            "SalesTermRef",
            "DueDate",
            "POStatus",
            "POEmail",
            "Memo",
            "EmailStatus",
            "ClassRef",
            "TaxCodeRef",
            "ManuallyClosed",
            "AttachableRef",
            "CustomField",
        ),  # fmt: skip
        read_only=frozenset({"TotalAmt", "LinkedTxn", "CurrencyRef"}),
        normalize=_purchase_order,
        doc_number=lambda obj: obj.get("DocNumber"),
        effects=_purchase_order_effects,
    )
)
register(
    Spec(
        name="VendorCredit",
        kind="txn",
        sequence="Txn",
        fields=_fields(
            *_TXN_COMMON,
            "VendorRef",
            "APAccountRef",
            "Balance",
            "FromAccountRef",
            "ToAccountRef",
            "AttachableRef",
            "IncludeInAnnualTPAR",
        ),  # fmt: skip
        read_only=frozenset({"TotalAmt", "Balance", "LinkedTxn", "CurrencyRef"}),
        normalize=_vendor_credit,
        doc_number=lambda obj: obj.get("DocNumber"),
        unique_doc_number=False,
        effects=_vendor_credit_effects,
    )
)
register(
    Spec(
        name="BillPayment",
        kind="txn",
        sequence="Txn",
        fields=_fields(
            *_TXN_COMMON,
            "VendorRef",
            "PayType",
            "CheckPayment",
            "CreditCardPayment",
            "APAccountRef",
            "ProcessBillPayment",
        ),  # fmt: skip
        read_only=frozenset({"CurrencyRef"}),
        normalize=_bill_payment,
        # A check number is the bank's; QBO only warns on a repeat (WarnDuplicateCheckNumber).
        doc_number=lambda obj: obj.get("DocNumber"),
        unique_doc_number=False,
        effects=_bill_payment_effects,
        void=_void_payment,
    )
)
