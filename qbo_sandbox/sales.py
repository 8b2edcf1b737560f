"""Sales forms besides the invoice: SalesReceipt, CreditMemo, RefundReceipt and Estimate.

They are priced like invoices (`accounting.sales_lines`). A sales receipt is a cash sale:
stock goes out and nothing is owed. A credit memo takes returned stock back and leaves the
customer a credit that payments apply (`Line[].LinkedTxn`, TxnType CreditMemo; see
accounting.PAYMENT) until its RemainingCredit is used up. A refund receipt takes stock back
and pays the money out at once. An estimate is a quote and moves nothing.
"""

from __future__ import annotations

from decimal import Decimal

from qbo_sandbox.accounting import (
    _TXN_COMMON,
    ZERO,
    _account_by_subtype,
    _amount,
    _fields,
    _lines,
    _party,
    _register_stock,
    _set_ref,
    _txn_date,
    assign_doc_number,
    sales_lines,
    zeroed,
)
from qbo_sandbox.books import Books, Spec, parse_date, register
from qbo_sandbox.common import (
    JSON,
    business_error,
    invalid_enum,
    num,
)
from qbo_sandbox.entities import USD


def _sales_form(
    books: Books, entity: str, data: JSON, old: JSON | None, *, customer_required: bool
) -> tuple[Decimal, JSON | None]:
    """What every sales form checks; returns its total and its customer."""
    _set_ref(books, data, "CustomerRef", "Customer", required=customer_required)
    customer = (
        books.get("Customer", data["CustomerRef"]["value"]) if "CustomerRef" in data else None
    )
    lines, total = sales_lines(books, _lines(data))
    data["Line"] = lines
    data["TxnDate"] = _txn_date(data, books).isoformat()
    assign_doc_number(books, entity, data, old)
    _set_ref(books, data, "ClassRef", "Class")
    _set_ref(books, data, "DepartmentRef", "Department")
    data["LinkedTxn"] = (old or {}).get("LinkedTxn", [])
    return total, customer


def finish_sale(
    entity: str, data: JSON, total: Decimal, customer: JSON | None, used: Decimal = ZERO
) -> JSON:
    """The computed and defaulted properties of a sales form (shared with the bulk seed).

    A sales receipt is paid and a refund receipt paid out when made, so nothing is owed on
    either (Balance 0); a credit memo reports what is left of its credit twice, as
    RemainingCredit and as Balance; an estimate starts Pending.
    """
    data["TotalAmt"] = num(total)
    if entity == "CreditMemo":
        data["RemainingCredit"] = data["Balance"] = num(total - used)
    elif entity != "Estimate":
        data["Balance"] = 0
    if entity == "Estimate":
        data.setdefault("TxnStatus", "Pending")
    data.setdefault("LinkedTxn", [])
    data["CurrencyRef"] = USD
    data.setdefault("PrintStatus", "NotSet")
    if entity != "RefundReceipt":
        data.setdefault("EmailStatus", "NotSet")
    data.setdefault("TxnTaxDetail", {"TotalTax": 0})
    for key, source in (("BillEmail", "PrimaryEmailAddr"), ("BillAddr", "BillAddr")):
        if data.get(key) is None and (customer or {}).get(source):
            data[key] = (customer or {})[source]
    return data


def _deposit(books: Books, data: JSON, *, required: bool = False) -> None:
    """Where the money goes (a sale) or comes from (a refund)."""
    if data.get("DepositToAccountRef") is None and not required:
        undeposited = _account_by_subtype(books, "UndepositedFunds")
        if undeposited is not None:
            data["DepositToAccountRef"] = undeposited
    _set_ref(books, data, "DepositToAccountRef", "Account", required=required)
    _set_ref(books, data, "PaymentMethodRef", "PaymentMethod")


# ---------------------------------------------------------------- SalesReceipt


def _sales_receipt(books: Books, data: JSON, old: JSON | None) -> JSON:
    # A cash sale may name no customer at all (a walk-in), unlike an invoice.
    total, customer = _sales_form(books, "SalesReceipt", data, old, customer_required=False)
    _deposit(books, data)
    return finish_sale("SalesReceipt", data, total, customer)


def _sales_receipt_effects(books: Books, old: JSON | None, new: JSON | None) -> None:
    _register_stock(books, "SalesReceipt", old, new)


# ---------------------------------------------------------------- CreditMemo


def _credit_memo(books: Books, data: JSON, old: JSON | None) -> JSON:
    total, customer = _sales_form(books, "CreditMemo", data, old, customer_required=True)
    used = _amount(old, "TotalAmt") - _amount(old, "RemainingCredit")
    if total < used:
        raise business_error(
            f"The credit memo total {total} is less than what payments applied of it ({used})"
        )
    _set_ref(books, data, "SalesTermRef", "Term")
    return finish_sale("CreditMemo", data, total, customer, used)


def _credit_memo_effects(books: Books, old: JSON | None, new: JSON | None) -> None:
    if new is None and _amount(old, "RemainingCredit") < _amount(old, "TotalAmt"):
        # Deleting a credit that paid invoices would reopen them behind the payment's back
        # [unconfirmed: QBO's UI warns and unapplies it].
        raise business_error(
            "This credit memo is applied by a payment; remove it from the payment first"
        )
    _register_stock(books, "CreditMemo", old, new)
    # The customer owes less by the credit still to be used.
    books.add_party_balance(_party(old, "Customer", "CustomerRef"), _amount(old, "RemainingCredit"))
    books.add_party_balance(
        _party(new, "Customer", "CustomerRef"), -_amount(new, "RemainingCredit")
    )


# ---------------------------------------------------------------- RefundReceipt


def _refund_receipt(books: Books, data: JSON, old: JSON | None) -> JSON:
    total, customer = _sales_form(books, "RefundReceipt", data, old, customer_required=False)
    # The account the refund is paid from is required (Intuit's RefundReceipt reference).
    _deposit(books, data, required=True)
    return finish_sale("RefundReceipt", data, total, customer)


def _refund_receipt_effects(books: Books, old: JSON | None, new: JSON | None) -> None:
    _register_stock(books, "RefundReceipt", old, new)


# ---------------------------------------------------------------- Estimate

ESTIMATE_STATUSES = ("Pending", "Accepted", "Closed", "Rejected", "Converted")


def _estimate(books: Books, data: JSON, old: JSON | None) -> JSON:
    total, customer = _sales_form(books, "Estimate", data, old, customer_required=True)
    finish_sale("Estimate", data, total, customer)
    status = data["TxnStatus"]
    if status not in ESTIMATE_STATUSES:
        raise invalid_enum("TxnStatus", status)
    for key in ("ExpirationDate", "AcceptedDate", "DueDate", "ShipDate"):
        day = parse_date(data.get(key), key)
        if day is not None:
            data[key] = day.isoformat()
    _set_ref(books, data, "SalesTermRef", "Term")
    if status == "Accepted" and not data.get("AcceptedDate"):
        data["AcceptedDate"] = books.today().isoformat()
    return data


_SALES_FIELDS = (
    *_TXN_COMMON, "CustomerRef", "CustomerMemo", "BillAddr", "ShipAddr", "ShipFromAddr",
    "FreeFormAddress", "ClassRef", "PrintStatus", "EmailStatus", "BillEmail", "BillEmailCc",
    "BillEmailBcc", "DeliveryInfo", "ShipMethodRef", "ShipDate", "TrackingNum",
    "ApplyTaxAfterDiscount", "CustomField", "Balance", "HomeBalance", "RecurDataRef",
    "TaxExemptionRef",
)  # fmt: skip
_PAID_FIELDS = ("DepositToAccountRef", "PaymentMethodRef", "PaymentRefNum", "CreditCardPayment")
_COMPUTED = frozenset({"TotalAmt", "Balance", "HomeBalance", "HomeTotalAmt", "LinkedTxn"})

register(
    Spec(
        name="SalesReceipt",
        kind="txn",
        sequence="Txn",
        fields=_fields(*_SALES_FIELDS, *_PAID_FIELDS),
        read_only=_COMPUTED | {"CurrencyRef"},
        normalize=_sales_receipt,
        doc_number=lambda obj: obj.get("DocNumber"),
        effects=_sales_receipt_effects,
        # pyqb voids a sales receipt as it voids a payment (operation=update&include=void).
        void=lambda books, old: zeroed(old),
    )
)
register(
    Spec(
        name="CreditMemo",
        kind="txn",
        sequence="Txn",
        fields=_fields(*_SALES_FIELDS, "RemainingCredit", "SalesTermRef", "InvoiceRef"),
        read_only=_COMPUTED | {"RemainingCredit", "CurrencyRef"},
        normalize=_credit_memo,
        doc_number=lambda obj: obj.get("DocNumber"),
        effects=_credit_memo_effects,
    )
)
register(
    Spec(
        name="RefundReceipt",
        kind="txn",
        sequence="Txn",
        fields=_fields(*_SALES_FIELDS, *_PAID_FIELDS, "CheckPayment", "PaymentType"),
        read_only=_COMPUTED | {"CurrencyRef"},
        normalize=_refund_receipt,
        doc_number=lambda obj: obj.get("DocNumber"),
        effects=_refund_receipt_effects,
    )
)
register(
    Spec(
        name="Estimate",
        kind="txn",
        sequence="Txn",
        fields=_fields(
            *_SALES_FIELDS,
            "SalesTermRef",
            "DueDate",
            "ExpirationDate",
            "AcceptedBy",
            "AcceptedDate",
        ),  # fmt: skip
        read_only=_COMPUTED | {"CurrencyRef"},
        normalize=_estimate,
        doc_number=lambda obj: obj.get("DocNumber"),
    )
)
