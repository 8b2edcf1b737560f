"""Transactions (Invoice, Payment, Bill, InventoryAdjustment) and their accounting rules.

The computations are pure functions of the documents (`invoice_totals`, `applications`,
`stock_effect`...), shared by the HTTP handlers and by the bulk seed, so seeded data
obeys exactly the rules that API writes do. Side effects on other objects are
registered on `Books` and settled once per operation.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from qbo_sandbox.books import (
    SYSTEM_KEYS,
    Books,
    Spec,
    check_fields,
    parse_date,
    parse_id,
    register,
)
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

ZERO = Decimal(0)

_LINE_FIELDS = frozenset(
    {
        "Id",
        "LineNum",
        "Description",
        "Amount",
        "DetailType",
        "LinkedTxn",
        "CustomField",
        "SalesItemLineDetail",
        "SubTotalLineDetail",
        # pyqb's SubtotalLine spells its detail this way and echoes it back on update.
        "SubtotalLineDetail",
        "DiscountLineDetail",
        "DescriptionOnly",
        "DescriptionLineDetail",
        "GroupLineDetail",
        "ItemBasedExpenseLineDetail",
        "AccountBasedExpenseLineDetail",
        "ItemAdjustmentLineDetail",
        "TaxLineDetail",
        "ProjectRef",
        "LineEx",
    }
)
_PAYMENT_LINE_FIELDS = frozenset({"Amount", "LinkedTxn", "LineEx"})
_LINKED_TXN_FIELDS = frozenset({"TxnId", "TxnType", "TxnLineId"})
_DETAIL_KEYS = {
    "SalesItemLineDetail": "SalesItemLineDetail",
    "DiscountLineDetail": "DiscountLineDetail",
    "SubTotalLineDetail": "SubTotalLineDetail",
    "DescriptionOnly": "DescriptionLineDetail",
    "GroupLineDetail": "GroupLineDetail",
    "ItemBasedExpenseLineDetail": "ItemBasedExpenseLineDetail",
    "AccountBasedExpenseLineDetail": "AccountBasedExpenseLineDetail",
    "ItemAdjustmentLineDetail": "ItemAdjustmentLineDetail",
}


def _fields(*names: str) -> frozenset[str]:
    return SYSTEM_KEYS | frozenset(names)


def _lines(data: JSON, *, required: bool = True) -> list[JSON]:
    lines = data.get("Line")
    if lines is None or lines == []:
        if required:
            raise required_missing("Line")
        return []
    if not isinstance(lines, list) or not all(isinstance(line, dict) for line in lines):
        raise invalid_value("Line", lines)
    return lines


def _detail_type(line: JSON, allowed: tuple[str, ...]) -> str:
    detail_type = line.get("DetailType")
    if detail_type is None:
        detail_type = next((t for t in allowed if _DETAIL_KEYS[t] in line or t in line), None)
        if detail_type is None:
            raise required_missing("Line.DetailType")
    if detail_type not in allowed:
        raise invalid_enum("Line.DetailType", detail_type)
    return str(detail_type)


def _optional_dec(values: JSON, key: str) -> Decimal | None:
    return None if values.get(key) is None else dec(values[key], key)


def _txn_date(data: JSON, books: Books) -> date:
    return parse_date(data.get("TxnDate"), "TxnDate") or books.today()


def _due_date(books: Books, data: JSON, txn_date: date, term: JSON | None) -> str:
    given = parse_date(data.get("DueDate"), "DueDate")
    if given is not None:
        return given.isoformat()
    if term is not None:
        days = (books.get("Term", term["value"]) or {}).get("DueDays")
        if days is not None:
            return (txn_date + timedelta(days=int(days))).isoformat()
    return txn_date.isoformat()


def _set_ref(books: Books, data: JSON, key: str, entity: str, *, required: bool = False) -> None:
    ref = books.ref(data.get(key), entity, key, required=required)
    if ref is None:
        data.pop(key, None)
    else:
        data[key] = ref


def _account_by_subtype(books: Books, subtype: str) -> JSON | None:
    for account in books.tx.select(books.realm_id, "Account", ["active = 1"]):
        if account.get("AccountSubType") == subtype:
            return {"value": account["Id"], "name": account["FullyQualifiedName"]}
    return None


# ---------------------------------------------------------------- sales lines


def sales_lines(
    books: Books, lines: list[JSON], items: dict[str, JSON] | None = None
) -> tuple[list[JSON], Decimal]:
    """Validate and price invoice lines; returns the lines (with QBO's SubTotal line) and total.

    `items` lets the bulk seed price lines without a database round trip per line.
    """
    out: list[JSON] = []
    subtotal = ZERO
    discount = ZERO
    allowed = ("SalesItemLineDetail", "DiscountLineDetail", "SubTotalLineDetail", "DescriptionOnly")
    for line in lines:
        check_fields(_LINE_FIELDS, line, "Line")
        detail_type = _detail_type(line, (*allowed, "GroupLineDetail"))
        if detail_type == "SubTotalLineDetail":
            continue  # QBO computes the subtotal itself.
        if detail_type == "GroupLineDetail":
            raise business_error("Group lines are not supported by this sandbox")
        new: JSON = {k: v for k, v in line.items() if k not in ("Id", "LineNum", "LinkedTxn")}
        new["DetailType"] = detail_type
        if detail_type == "SalesItemLineDetail":
            detail = dict(line.get("SalesItemLineDetail") or {})
            new["SalesItemLineDetail"] = detail
            amount = _price_line(new, detail, books, items)
            subtotal += amount
        elif detail_type == "DiscountLineDetail":
            detail = dict(line.get("DiscountLineDetail") or {})
            new["DiscountLineDetail"] = detail
            if detail.get("PercentBased") is True and detail.get("DiscountPercent") is not None:
                percent = dec(detail["DiscountPercent"], "DiscountPercent")
                amount = money(subtotal * percent / 100)
            else:
                amount = money(dec(line.get("Amount", 0), "Line.Amount"))
            if "DiscountAccountRef" in detail:
                detail["DiscountAccountRef"] = books.ref(
                    detail["DiscountAccountRef"], "Account", "DiscountAccountRef"
                )
            discount += amount
            new["Amount"] = num(amount)
        else:
            new.pop("Amount", None)
            new.setdefault("DescriptionLineDetail", {})
            new.pop("DescriptionOnly", None)
        out.append(new)
    for number, line in enumerate(out, start=1):
        line["Id"] = str(number)
        line["LineNum"] = number
    out.append(
        {"Amount": num(subtotal), "DetailType": "SubTotalLineDetail", "SubTotalLineDetail": {}}
    )
    return out, money(subtotal - discount)


def _price_line(line: JSON, detail: JSON, books: Books, items: dict[str, JSON] | None) -> Decimal:
    element = "Line.SalesItemLineDetail.ItemRef"
    ref = detail.get("ItemRef")
    if items is not None:
        # The seed's own lines always carry a valid reference.
        assert isinstance(ref, dict)
        item = items[str(ref["value"])]
        detail["ItemRef"] = {"value": item["Id"], "name": item["FullyQualifiedName"]}
    else:
        detail["ItemRef"] = books.ref(ref, "Item", element, required=True)
        item = books.require("Item", detail["ItemRef"]["value"])
    qty = _optional_dec(detail, "Qty")
    price = _optional_dec(detail, "UnitPrice")
    given = _optional_dec(line, "Amount")
    if given is None:
        if qty is None or price is None:
            raise required_missing("Line.Amount")
        amount = money(qty * price)
    else:
        amount = money(given)
        if qty and price and money(qty * price) != amount:
            raise business_error(
                "Amount calculation incorrect in the request: Amount is not equal to "
                f"UnitPrice * Qty. Supplied value: {given}",
                code="6070",
            )
        if qty and price is None:
            price = amount / qty
        elif price and qty is None:
            qty = amount / price
    line["Amount"] = num(amount)
    if qty is not None:
        detail["Qty"] = num(qty)
    if price is not None:
        detail["UnitPrice"] = num(price)
    if item.get("IncomeAccountRef"):
        detail["ItemAccountRef"] = item["IncomeAccountRef"]
    detail.setdefault("TaxCodeRef", {"value": "NON"})
    return amount


def stock_effect(obj: JSON | None, entity: str) -> dict[int, Decimal]:
    """How a transaction moves QtyOnHand, per item id: sales lower it, purchases raise it."""
    effect: dict[int, Decimal] = {}
    if obj is None:
        return effect
    for line in obj.get("Line", []):
        if entity == "Invoice" and line.get("DetailType") == "SalesItemLineDetail":
            detail, sign, qty_key = line.get("SalesItemLineDetail", {}), -1, "Qty"
        elif entity == "Bill" and line.get("DetailType") == "ItemBasedExpenseLineDetail":
            detail, sign, qty_key = line.get("ItemBasedExpenseLineDetail", {}), 1, "Qty"
        elif entity == "InventoryAdjustment":
            detail, sign, qty_key = line.get("ItemAdjustmentLineDetail", {}), 1, "QtyDiff"
        else:
            continue
        item_id = parse_id((detail.get("ItemRef") or {}).get("value"))
        if item_id is None or detail.get(qty_key) is None:
            continue
        effect[item_id] = effect.get(item_id, ZERO) + sign * dec(detail[qty_key], qty_key)
    return effect


def _register_stock(books: Books, entity: str, old: JSON | None, new: JSON | None) -> None:
    before = stock_effect(old, entity)
    after = stock_effect(new, entity)
    for item_id in set(before) | set(after):
        books.add_stock(item_id, after.get(item_id, ZERO) - before.get(item_id, ZERO))


def _party(obj: JSON | None, entity: str, key: str) -> tuple[str, int] | None:
    if obj is None or obj.get(key) is None:
        return None
    party_id = parse_id(obj[key].get("value"))
    return None if party_id is None else (entity, party_id)


def _amount(obj: JSON | None, key: str) -> Decimal:
    return ZERO if obj is None else dec(obj.get(key, 0), key)


# ---------------------------------------------------------------- Invoice


def _invoice(books: Books, data: JSON, old: JSON | None) -> JSON:
    _set_ref(books, data, "CustomerRef", "Customer", required=True)
    customer = books.require("Customer", data["CustomerRef"]["value"])
    lines, total = sales_lines(books, _lines(data))
    data["Line"] = lines
    txn_date = _txn_date(data, books)
    data["TxnDate"] = txn_date.isoformat()
    if "SalesTermRef" not in data and customer.get("SalesTermRef"):
        data["SalesTermRef"] = customer["SalesTermRef"]
    _set_ref(books, data, "SalesTermRef", "Term")
    data["DueDate"] = _due_date(books, data, txn_date, data.get("SalesTermRef"))
    doc_number = data.get("DocNumber")
    if doc_number is None:
        # An update without DocNumber keeps the number; a create gets the next one.
        data["DocNumber"] = old["DocNumber"] if old else next_doc_number(books, "Invoice")
    elif len(str(doc_number)) > 21:
        raise business_error("DocNumber is longer than 21 characters")
    else:
        data["DocNumber"] = str(doc_number)
    applied = _amount(old, "TotalAmt") - _amount(old, "Balance")
    if total < applied:
        # Lowering an invoice below what has been paid on it [unconfirmed].
        raise business_error(
            f"The invoice total {total} is less than the payments applied to it ({applied})"
        )
    data["LinkedTxn"] = (old or {}).get("LinkedTxn", [])
    return finish_invoice(data, total, applied, customer)


def finish_invoice(data: JSON, total: Decimal, applied: Decimal, customer: JSON) -> JSON:
    """The computed and defaulted properties of an invoice (shared with the bulk seed)."""
    data["TotalAmt"] = num(total)
    data["Balance"] = num(total - applied)
    data["HomeBalance"] = data["Balance"]
    data.setdefault("LinkedTxn", [])
    data["CurrencyRef"] = USD
    data.setdefault("EmailStatus", "NotSet")
    data.setdefault("PrintStatus", "NotSet")
    data.setdefault("TxnTaxDetail", {"TotalTax": 0})
    if data.get("BillEmail") is None and customer.get("PrimaryEmailAddr"):
        data["BillEmail"] = customer["PrimaryEmailAddr"]
    if data.get("BillAddr") is None and customer.get("BillAddr"):
        data["BillAddr"] = customer["BillAddr"]
    return data


def next_doc_number(books: Books, entity: str) -> str:
    while True:
        number = str(books.tx.next_id(books.realm_id, f"DocNumber:{entity}") + 1000)
        if books.tx.find_doc_number(books.realm_id, entity, number) is None:
            return number


def _invoice_effects(books: Books, old: JSON | None, new: JSON | None) -> None:
    _register_stock(books, "Invoice", old, new)
    if old is not None:
        still_linked = {link["TxnId"] for link in (new or {}).get("LinkedTxn", [])}
        for link in old.get("LinkedTxn", []):
            if link.get("TxnType") == "Payment" and link["TxnId"] not in still_linked:
                _unlink_payment(books, link["TxnId"], old)
    books.add_party_balance(_party(old, "Customer", "CustomerRef"), -_amount(old, "Balance"))
    books.add_party_balance(_party(new, "Customer", "CustomerRef"), _amount(new, "Balance"))


def _unlink_payment(books: Books, payment_id: str, invoice: JSON) -> None:
    """An invoice deleted or voided under a payment: that part of the payment becomes credit."""
    payment = books.get("Payment", payment_id)
    if payment is None:
        return
    lines = [
        line
        for line in payment.get("Line", [])
        if not any(link.get("TxnId") == invoice["Id"] for link in line.get("LinkedTxn", []))
    ]
    unapplied = _amount(payment, "TotalAmt") - sum(
        (dec(line.get("Amount", 0), "Amount") for line in lines), ZERO
    )
    updated = {**payment, "Line": lines, "UnappliedAmt": num(unapplied)}
    books.add_party_balance(
        _party(payment, "Customer", "CustomerRef"), _amount(payment, "UnappliedAmt") - unapplied
    )
    books.save("Payment", updated, payment, "Update")


def void_invoice(books: Books | None, old: JSON) -> JSON:
    new = dict(old)
    lines = []
    for line in old.get("Line", []):
        line = dict(line)
        if "Amount" in line:
            line["Amount"] = 0
        if line.get("DetailType") == "SalesItemLineDetail":
            line["SalesItemLineDetail"] = {**line["SalesItemLineDetail"], "Qty": 0}
        lines.append(line)
    new.update(Line=lines, TotalAmt=0, Balance=0, HomeBalance=0, LinkedTxn=[])
    new["PrivateNote"] = _voided_note(old)
    return new


def _voided_note(old: JSON) -> str:
    note = old.get("PrivateNote")
    return f"Voided - {note}" if note and not str(note).startswith("Voided") else "Voided"


# ---------------------------------------------------------------- Payment


def applications(obj: JSON | None) -> dict[str, Decimal]:
    """Amount applied per invoice id by a payment's `Line[].LinkedTxn`."""
    applied: dict[str, Decimal] = {}
    for line in (obj or {}).get("Line", []):
        for link in line.get("LinkedTxn", []):
            if link.get("TxnType") == "Invoice":
                key = str(link["TxnId"])
                applied[key] = applied.get(key, ZERO) + dec(line.get("Amount", 0), "Amount")
    return applied


def _payment(books: Books, data: JSON, old: JSON | None) -> JSON:
    _set_ref(books, data, "CustomerRef", "Customer", required=True)
    if data.get("TotalAmt") is None:
        raise required_missing("TotalAmt")
    total = money(dec(data["TotalAmt"], "TotalAmt"))
    if total < 0:
        raise business_error("TotalAmt cannot be negative")
    lines = []
    applied = ZERO
    for line in _lines(data, required=False):
        check_fields(_PAYMENT_LINE_FIELDS, line, "Line")
        links = line.get("LinkedTxn") or []
        if not isinstance(links, list) or len(links) != 1:
            raise business_error("Each payment line must link exactly one transaction")
        link = links[0]
        check_fields(_LINKED_TXN_FIELDS, link, "LinkedTxn")
        if link.get("TxnType") != "Invoice":
            raise business_error(
                f"Applying a payment to a {link.get('TxnType')} is not supported by this sandbox"
            )
        invoice = books.get("Invoice", link.get("TxnId"))
        if invoice is None:
            raise invalid_reference("Line.LinkedTxn.TxnId", "Invoice", link.get("TxnId"))
        if invoice["CustomerRef"]["value"] != data["CustomerRef"]["value"]:
            raise business_error(
                f"Invoice {invoice['Id']} belongs to another customer than this payment"
            )
        amount = money(dec(line.get("Amount", 0), "Line.Amount"))
        applied += amount
        lines.append(
            {"Amount": num(amount), "LinkedTxn": [{"TxnId": invoice["Id"], "TxnType": "Invoice"}]}
        )
    if applied > total:
        raise business_error(
            f"The amount applied to invoices ({applied}) is more than the payment ({total})"
        )
    data["TotalAmt"] = num(total)
    data["UnappliedAmt"] = num(total - applied)
    data["Line"] = lines
    data["TxnDate"] = _txn_date(data, books).isoformat()
    data["CurrencyRef"] = USD
    data.setdefault("ProcessPayment", False)
    _set_ref(books, data, "PaymentMethodRef", "PaymentMethod")
    if data.get("DepositToAccountRef") is None:
        undeposited = _account_by_subtype(books, "UndepositedFunds")
        if undeposited is not None:
            data["DepositToAccountRef"] = undeposited
    _set_ref(books, data, "DepositToAccountRef", "Account")
    return data


def _payment_effects(books: Books, old: JSON | None, new: JSON | None) -> None:
    before = applications(old)
    after = applications(new)
    payment_id = (new or old or {}).get("Id")
    for invoice_id in sorted(set(before) | set(after)):
        delta = after.get(invoice_id, ZERO) - before.get(invoice_id, ZERO)
        linked = after.get(invoice_id, ZERO) > 0
        _apply_to_invoice(books, invoice_id, str(payment_id), delta, linked)
    books.add_party_balance(_party(old, "Customer", "CustomerRef"), _amount(old, "UnappliedAmt"))
    books.add_party_balance(_party(new, "Customer", "CustomerRef"), -_amount(new, "UnappliedAmt"))


def _apply_to_invoice(
    books: Books, invoice_id: str, payment_id: str, delta: Decimal, linked: bool
) -> None:
    invoice = books.get("Invoice", invoice_id)
    if invoice is None:
        if delta > 0:
            raise invalid_reference("Line.LinkedTxn.TxnId", "Invoice", invoice_id)
        return  # The invoice was deleted; its part of the payment is already credit.
    balance = _amount(invoice, "Balance") - delta
    if balance < 0:
        # Applying more than an invoice's balance: QBO answers with a 6000-series
        # business validation error [unconfirmed].
        raise business_error(
            f"The payment amount applied to invoice {invoice['DocNumber']} exceeds its "
            f"open balance of {_amount(invoice, 'Balance')}"
        )
    links = [link for link in invoice.get("LinkedTxn", []) if link.get("TxnId") != payment_id]
    if linked:
        links.append({"TxnId": payment_id, "TxnType": "Payment"})
    if not delta and links == invoice.get("LinkedTxn", []):
        return
    updated = {**invoice, "Balance": num(balance), "HomeBalance": num(balance), "LinkedTxn": links}
    books.add_party_balance(_party(invoice, "Customer", "CustomerRef"), -delta)
    books.save("Invoice", updated, invoice, "Update")


def _void_payment(books: Books, old: JSON) -> JSON:
    new = dict(old)
    new["Line"] = [{**line, "Amount": 0} for line in old.get("Line", [])]
    new.update(TotalAmt=0, UnappliedAmt=0, PrivateNote=_voided_note(old))
    return new


# ---------------------------------------------------------------- Bill


def _bill(books: Books, data: JSON, old: JSON | None) -> JSON:
    _set_ref(books, data, "VendorRef", "Vendor", required=True)
    total = ZERO
    lines = []
    allowed = ("AccountBasedExpenseLineDetail", "ItemBasedExpenseLineDetail")
    for number, line in enumerate(_lines(data), start=1):
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
        if line.get("Amount") is None:
            raise required_missing("Line.Amount")
        amount = money(dec(line["Amount"], "Line.Amount"))
        total += amount
        lines.append(
            {
                **{k: v for k, v in line.items() if k not in ("Id", "LineNum")},
                "Id": str(number),
                "LineNum": number,
                "Amount": num(amount),
                "DetailType": detail_type,
                detail_type: detail,
            }
        )
    paid = _amount(old, "TotalAmt") - _amount(old, "Balance")
    data["Line"] = lines
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
    data["CurrencyRef"] = USD
    return data


def _bill_effects(books: Books, old: JSON | None, new: JSON | None) -> None:
    _register_stock(books, "Bill", old, new)
    books.add_party_balance(_party(old, "Vendor", "VendorRef"), -_amount(old, "Balance"))
    books.add_party_balance(_party(new, "Vendor", "VendorRef"), _amount(new, "Balance"))


# ---------------------------------------------------------------- InventoryAdjustment


def _inventory_adjustment(books: Books, data: JSON, old: JSON | None) -> JSON:
    _set_ref(books, data, "AdjustAccountRef", "Account", required=True)
    txn_date = _txn_date(data, books).isoformat()
    if old is not None and old.get("TxnDate") != txn_date:
        raise business_error("The TxnDate of an inventory adjustment cannot be changed")
    data["TxnDate"] = txn_date
    lines = []
    for number, line in enumerate(_lines(data), start=1):
        check_fields(_LINE_FIELDS, line, "Line")
        _detail_type(line, ("ItemAdjustmentLineDetail",))
        detail = dict(line.get("ItemAdjustmentLineDetail") or {})
        ref = books.ref(detail.get("ItemRef"), "Item", "ItemRef", required=True)
        assert ref is not None
        item = books.require("Item", ref["value"])
        if item.get("Type") != "Inventory":
            raise business_error(f"Item {item['Name']} is not an inventory item")
        if detail.get("QtyDiff") is None:
            raise required_missing("ItemAdjustmentLineDetail.QtyDiff")
        detail["ItemRef"] = ref
        detail["QtyDiff"] = num(dec(detail["QtyDiff"], "QtyDiff"))
        lines.append(
            {
                **{k: v for k, v in line.items() if k not in ("Id", "LineNum", "Amount")},
                "Id": str(number),
                "LineNum": number,
                "DetailType": "ItemAdjustmentLineDetail",
                "ItemAdjustmentLineDetail": detail,
            }
        )
    data["Line"] = lines
    return data


def _adjustment_effects(books: Books, old: JSON | None, new: JSON | None) -> None:
    _register_stock(books, "InventoryAdjustment", old, new)


_TXN_COMMON = (
    "DocNumber", "TxnDate", "PrivateNote", "Line", "LinkedTxn", "CurrencyRef", "ExchangeRate",
    "DepartmentRef", "TxnSource", "TransactionLocationType", "TotalAmt", "TxnTaxDetail",
    "GlobalTaxCalculation", "ProjectRef", "HomeTotalAmt", "TxnStatus",
)  # fmt: skip

register(
    Spec(
        name="Invoice",
        kind="txn",
        sequence="Txn",
        fields=_fields(
            *_TXN_COMMON,
            "CustomerRef",
            "CustomerMemo",
            "BillAddr",
            "ShipAddr",
            "ShipFromAddr",
            "FreeFormAddress",
            "SalesTermRef",
            "DueDate",
            "ShipMethodRef",
            "ShipDate",
            "TrackingNum",
            "ClassRef",
            "PrintStatus",
            "EmailStatus",
            "BillEmail",
            "BillEmailCc",
            "BillEmailBcc",
            "DeliveryInfo",
            "Balance",
            "HomeBalance",
            "Deposit",
            "DepositToAccountRef",
            "AllowIPNPayment",
            "AllowOnlinePayment",
            "AllowOnlineCreditCardPayment",
            "AllowOnlineACHPayment",
            "ApplyTaxAfterDiscount",
            "CustomField",
            "InvoiceLink",
            "RecurDataRef",
            "TaxExemptionRef",
            "EInvoiceStatus",
        ),  # fmt: skip
        read_only=frozenset(
            {"TotalAmt", "Balance", "HomeBalance", "HomeTotalAmt", "LinkedTxn", "CurrencyRef"}
        ),
        normalize=_invoice,
        doc_number=lambda obj: obj.get("DocNumber"),
        effects=_invoice_effects,
        void=void_invoice,
    )
)
register(
    Spec(
        name="Payment",
        kind="txn",
        sequence="Txn",
        fields=_fields(
            *_TXN_COMMON,
            "CustomerRef",
            "ARAccountRef",
            "DepositToAccountRef",
            "PaymentMethodRef",
            "PaymentRefNum",
            "CreditCardPayment",
            "UnappliedAmt",
            "ProcessPayment",
            "TaxExemptionRef",
        ),  # fmt: skip
        read_only=frozenset({"UnappliedAmt", "CurrencyRef"}),
        normalize=_payment,
        effects=_payment_effects,
        void=_void_payment,
    )
)
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
        effects=_bill_effects,
    )
)
register(
    Spec(
        name="InventoryAdjustment",
        kind="txn",
        sequence="Txn",
        fields=_fields(
            "DocNumber",
            "TxnDate",
            "PrivateNote",
            "Line",
            "AdjustAccountRef",
            "DepartmentRef",
            "ClassRef",
        ),  # fmt: skip
        read_only=frozenset(),
        normalize=_inventory_adjustment,
        effects=_adjustment_effects,
        sparse_only_update=True,
    )
)
