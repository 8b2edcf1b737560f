"""Transactions (Invoice, Payment, InventoryAdjustment) and the rules all transactions share.

The computations are pure functions of the documents (`sales_lines`, `applications`,
`stock_effect`...), shared by the HTTP handlers and by the bulk seed, so seeded data
obeys exactly the rules that API writes do. Side effects on other objects are
registered on `Books` and settled once per operation. The other sales forms live in
sales.py, purchases (Bill, PurchaseOrder, VendorCredit, BillPayment) in purchases.py;
both use the helpers here, underscored ones included.
"""

from __future__ import annotations

from dataclasses import dataclass
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


# How each transaction moves QtyOnHand: the line detail that carries items, its sign and
# its quantity key. Sales lower stock and purchases raise it (docs/qbo-api.md §8); a credit
# memo or refund receipt takes returned bottles back in, a vendor credit sends them back.
STOCK_LINES: dict[str, tuple[str, int, str]] = {
    "Invoice": ("SalesItemLineDetail", -1, "Qty"),
    "SalesReceipt": ("SalesItemLineDetail", -1, "Qty"),
    "CreditMemo": ("SalesItemLineDetail", 1, "Qty"),
    "RefundReceipt": ("SalesItemLineDetail", 1, "Qty"),
    "Bill": ("ItemBasedExpenseLineDetail", 1, "Qty"),
    "VendorCredit": ("ItemBasedExpenseLineDetail", -1, "Qty"),
    "InventoryAdjustment": ("ItemAdjustmentLineDetail", 1, "QtyDiff"),
}


def stock_effect(obj: JSON | None, entity: str) -> dict[int, Decimal]:
    """How a transaction moves QtyOnHand, per item id (STOCK_LINES)."""
    effect: dict[int, Decimal] = {}
    rule = STOCK_LINES.get(entity)
    if obj is None or rule is None:
        return effect
    detail_type, sign, qty_key = rule
    for line in obj.get("Line", []):
        if line.get("DetailType") != detail_type:
            continue
        detail = line.get(detail_type, {})
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
    assign_doc_number(books, "Invoice", data, old)
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


def assign_doc_number(books: Books, entity: str, data: JSON, old: JSON | None) -> None:
    """DocNumber of a form the company numbers: an update without one keeps its number, a
    create gets the next one (docs/qbo-api.md §9)."""
    doc_number = data.get("DocNumber")
    if doc_number is None:
        data["DocNumber"] = old["DocNumber"] if old else next_doc_number(books, entity)
    elif len(str(doc_number)) > 21:
        raise business_error("DocNumber is longer than 21 characters")
    else:
        data["DocNumber"] = str(doc_number)


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
    """An invoice deleted or voided under a payment: that part of the payment becomes credit.

    Credit memos the payment used stay applied only as far as the invoices left on it
    absorb them; the rest goes back to the credit memos, so the payment never applies more
    credit than invoices [unconfirmed: what QBO does with them is undocumented].
    """
    payment = books.get("Payment", payment_id)
    if payment is None:
        return
    kept = [
        line
        for line in payment.get("Line", [])
        if not any(link.get("TxnId") == invoice["Id"] for link in line.get("LinkedTxn", []))
    ]
    debit = sum(applications({"Line": kept}, "Invoice").values(), ZERO)
    room = debit
    lines = []
    for line in kept:
        if _line_type(line) == "CreditMemo":
            amount = min(dec(line.get("Amount", 0), "Amount"), room)
            room -= amount
            if not amount:
                continue
            line = {**line, "Amount": num(amount)}
        lines.append(line)
    credit = debit - room
    unapplied = _amount(payment, "TotalAmt") - debit + credit
    updated = {**payment, "Line": lines, "UnappliedAmt": num(unapplied)}
    _settle_documents(books, PAYMENT, payment, updated, payment_id, credits_only=True)
    books.add_party_balance(
        _party(payment, "Customer", "CustomerRef"), _amount(payment, "UnappliedAmt") - unapplied
    )
    books.save("Payment", updated, payment, "Update")


def void_invoice(books: Books | None, old: JSON) -> JSON:
    new = zeroed(old)
    new.update(HomeBalance=0, LinkedTxn=[])
    return new


def zeroed(old: JSON) -> JSON:
    """A void: every line amount and quantity, TotalAmt and Balance 0, "Voided" noted."""
    new = dict(old)
    lines = []
    for line in old.get("Line", []):
        line = dict(line)
        if "Amount" in line:
            line["Amount"] = 0
        detail_type = line.get("DetailType")
        if detail_type in ("SalesItemLineDetail", "ItemBasedExpenseLineDetail"):
            line[detail_type] = {**line.get(detail_type, {}), "Qty": 0}
        lines.append(line)
    new.update(Line=lines, TotalAmt=0, PrivateNote=_voided_note(old))
    if "Balance" in old:
        new["Balance"] = 0
    return new


def _voided_note(old: JSON) -> str:
    note = old.get("PrivateNote")
    return f"Voided - {note}" if note and not str(note).startswith("Voided") else "Voided"


# ---------------------------------------------------------------- Payment, and BillPayment's rules


@dataclass(frozen=True)
class Settlement:
    """What a payment settles through `Line[].LinkedTxn` (docs/qbo-api.md §9).

    A Payment pays a customer's invoices with money and with the credit of credit memos; a
    BillPayment pays a vendor's bills with money and with vendor credits. Paying lowers
    each document's Balance; using a credit lowers what is left of it.
    """

    payment: str
    party: str  # whose Balance moves
    party_key: str
    debit: str  # the documents paid
    credit: str  # the credits used
    credit_key: str  # what is left of a credit


PAYMENT = Settlement(
    "Payment", "Customer", "CustomerRef", "Invoice", "CreditMemo", "RemainingCredit"
)
BILL_PAYMENT = Settlement("BillPayment", "Vendor", "VendorRef", "Bill", "VendorCredit", "Balance")


def _line_type(line: JSON) -> str | None:
    links = line.get("LinkedTxn") or []
    return str(links[0].get("TxnType")) if links else None


def applications(obj: JSON | None, txn_type: str = "Invoice") -> dict[str, Decimal]:
    """Amount applied per document id of `txn_type` by a payment's `Line[].LinkedTxn`."""
    applied: dict[str, Decimal] = {}
    for line in (obj or {}).get("Line", []):
        for link in line.get("LinkedTxn", []):
            if link.get("TxnType") == txn_type:
                key = str(link["TxnId"])
                applied[key] = applied.get(key, ZERO) + dec(line.get("Amount", 0), "Amount")
    return applied


def settlement_lines(
    books: Books, data: JSON, rule: Settlement
) -> tuple[list[JSON], Decimal, Decimal]:
    """A payment's lines, validated: (lines, amount applied to documents, credit used)."""
    party = data[rule.party_key]["value"]
    lines = []
    debit = credit = ZERO
    for line in _lines(data, required=False):
        check_fields(_PAYMENT_LINE_FIELDS, line, "Line")
        links = line.get("LinkedTxn") or []
        if not isinstance(links, list) or len(links) != 1:
            raise business_error(f"Each {rule.payment} line must link exactly one transaction")
        link = links[0]
        check_fields(_LINKED_TXN_FIELDS, link, "LinkedTxn")
        kind = link.get("TxnType")
        if kind not in (rule.debit, rule.credit):
            raise business_error(
                f"Applying a {rule.payment} to a {kind} is not supported by this sandbox"
            )
        target = books.get(str(kind), link.get("TxnId"))
        if target is None:
            raise invalid_reference("Line.LinkedTxn.TxnId", str(kind), link.get("TxnId"))
        if target[rule.party_key]["value"] != party:
            raise business_error(
                f"{kind} {target['Id']} belongs to another {rule.party.lower()} than this "
                f"{rule.payment}"
            )
        amount = money(dec(line.get("Amount", 0), "Line.Amount"))
        if amount < 0:
            raise business_error("A payment line cannot have a negative Amount")
        if kind == rule.debit:
            debit += amount
        else:
            credit += amount
        lines.append(
            {"Amount": num(amount), "LinkedTxn": [{"TxnId": target["Id"], "TxnType": kind}]}
        )
    if credit > debit:
        # A credit only pays documents; it cannot become money [unconfirmed].
        raise business_error(
            f"The credit applied ({credit}) is more than the {rule.debit.lower()}s it pays "
            f"({debit})"
        )
    return lines, debit, credit


def _payment(books: Books, data: JSON, old: JSON | None) -> JSON:
    _set_ref(books, data, "CustomerRef", "Customer", required=True)
    if data.get("TotalAmt") is None:
        raise required_missing("TotalAmt")
    total = money(dec(data["TotalAmt"], "TotalAmt"))
    if total < 0:
        raise business_error("TotalAmt cannot be negative")
    lines, debit, credit = settlement_lines(books, data, PAYMENT)
    if debit - credit > total:
        raise business_error(
            f"The amount applied to invoices ({debit - credit}) is more than the payment ({total})"
        )
    data["TotalAmt"] = num(total)
    # What the payment brought beyond what it paid stays the customer's credit; the
    # credit memos it used pay invoices without money (docs/qbo-api.md §9).
    data["UnappliedAmt"] = num(total - debit + credit)
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
    settle_effects(books, PAYMENT, old, new, "Payment")


def settle_effects(
    books: Books, rule: Settlement, old: JSON | None, new: JSON | None, link_type: str
) -> None:
    """Apply the difference between two versions of a payment to what it settles."""
    payment_id = str((new or old or {}).get("Id"))
    _settle_documents(books, rule, old, new, payment_id, link_type=link_type)
    party = rule.party, rule.party_key
    books.add_party_balance(_party(old, *party), _amount(old, "UnappliedAmt"))
    books.add_party_balance(_party(new, *party), -_amount(new, "UnappliedAmt"))


def _settle_documents(
    books: Books,
    rule: Settlement,
    old: JSON | None,
    new: JSON | None,
    payment_id: str,
    *,
    link_type: str | None = None,
    credits_only: bool = False,
) -> None:
    kinds = [(rule.credit, rule.credit_key, 1)]
    if not credits_only:
        kinds.insert(0, (rule.debit, "Balance", -1))
    for kind, key, sign in kinds:
        before = applications(old, kind)
        after = applications(new, kind)
        for doc_id in sorted(set(before) | set(after)):
            delta = after.get(doc_id, ZERO) - before.get(doc_id, ZERO)
            linked = after.get(doc_id, ZERO) > 0
            doc_type = link_type or rule.payment
            _apply_to(books, rule, kind, key, doc_id, payment_id, doc_type, delta, linked, sign)


def _apply_to(
    books: Books,
    rule: Settlement,
    kind: str,
    key: str,
    doc_id: str,
    payment_id: str,
    link_type: str,
    delta: Decimal,
    linked: bool,
    sign: int,
) -> None:
    """Apply `delta` more (or less) of a payment to one document or credit."""
    doc = books.get(kind, doc_id)
    if doc is None:
        if delta > 0:
            raise invalid_reference("Line.LinkedTxn.TxnId", kind, doc_id)
        return  # The document was deleted; its part of the payment is already credit.
    left = _amount(doc, key) - delta
    if left < 0:
        # Applying more than is open: QBO answers with a 6000-series business validation
        # error [unconfirmed].
        raise business_error(
            f"The amount applied to {kind} {doc.get('DocNumber') or doc['Id']} exceeds what "
            f"is open on it ({_amount(doc, key)})"
        )
    links = [link for link in doc.get("LinkedTxn", []) if link.get("TxnId") != payment_id]
    if linked:
        links.append({"TxnId": payment_id, "TxnType": link_type})
    if not delta and links == doc.get("LinkedTxn", []):
        return
    updated = {**doc, key: num(left), "LinkedTxn": links}
    for mirror in ("Balance", "HomeBalance"):
        if mirror != key and mirror in doc:
            updated[mirror] = num(left)
    books.add_party_balance(_party(doc, rule.party, rule.party_key), sign * delta)
    books.save(kind, updated, doc, "Update")


def _void_payment(books: Books, old: JSON) -> JSON:
    new = dict(old)
    new["Line"] = [{**line, "Amount": 0} for line in old.get("Line", [])]
    new.update(TotalAmt=0, PrivateNote=_voided_note(old))
    if "UnappliedAmt" in old:
        new["UnappliedAmt"] = 0
    return new


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
        doc_number=lambda obj: obj.get("DocNumber"),
        unique_doc_number=False,
        effects=_adjustment_effects,
        sparse_only_update=True,
    )
)
