"""How QuickBooks' customers, sales forms (invoices, sales receipts, credit memos, refund
receipts) and payments fill billing's mirror (common.mirror says how a mirrored entity is
declared and applied). Registered in ``BillingConfig.ready``."""

from __future__ import annotations

from decimal import Decimal

from common.mirror import JSON, MirrorSpec, date_of, is_voided, money, qty, ref, text

from .models import (
    CREDIT_MEMO_LINK,
    QBOCreditMemo,
    QBOCreditMemoLine,
    QBOCustomer,
    QBOInvoice,
    QBOInvoiceLine,
    QBOPayment,
    QBOPaymentApplication,
    QBORefundReceipt,
    QBORefundReceiptLine,
    QBOSalesReceipt,
    QBOSalesReceiptLine,
)


def _customer(obj: JSON) -> JSON:
    return {
        "display_name": text(obj.get("DisplayName") or obj.get("FullyQualifiedName"), 255),
        "company_name": text(obj.get("CompanyName"), 255),
        "email": text((obj.get("PrimaryEmailAddr") or {}).get("Address"), 255),
        "active": obj.get("Active") is not False,
        "balance": money(obj.get("Balance")),
    }


def _sales_document(obj: JSON) -> JSON:
    """The columns of every sales form (``models.SalesDocument``); a sales receipt and a
    refund receipt have no others."""
    customer_id, customer_name = ref(obj, "CustomerRef")
    return {
        "doc_number": text(obj.get("DocNumber"), 32),
        "customer_qbo_id": customer_id,
        "customer_name": customer_name,
        "txn_date": date_of(obj.get("TxnDate")),
        "total_amt": money(obj.get("TotalAmt")),
        "currency": text(ref(obj, "CurrencyRef")[0] or "USD", 3),
        "voided": is_voided(obj),
    }


def _invoice(obj: JSON) -> JSON:
    row = _sales_document(obj)
    row["due_date"] = date_of(obj.get("DueDate"))
    row["balance"] = money(obj.get("Balance"))
    return row


def _credit_memo(obj: JSON) -> JSON:
    row = _sales_document(obj)
    # The credit payments have not used yet is RemainingCredit, as Intuit documents it
    # ("the total credit amount still available to apply") and as payments lower it. A
    # credit memo carries Balance too; qbo_sandbox keeps the two equal [unconfirmed for a
    # real company], so Balance only stands in should RemainingCredit be missing.
    remaining = obj.get("RemainingCredit")
    row["balance"] = money(obj.get("Balance") if remaining is None else remaining)
    return row


def _sales_lines(obj: JSON) -> list[JSON]:
    """The lines of any sales form: invoices, sales receipts, credit memos and refund
    receipts list them alike (``models.SalesLine``)."""
    lines: list[JSON] = []
    for position, line in enumerate(obj.get("Line") or []):
        detail_type = text(line.get("DetailType"), 40)
        detail = line.get(detail_type) if isinstance(line.get(detail_type), dict) else {}
        lines.append(
            {
                "line_id": text(line.get("Id"), 32),
                "position": position,
                "detail_type": detail_type,
                "item_qbo_id": ref(detail, "ItemRef")[0],
                "description": text(line.get("Description"), 4000),
                "qty": qty(detail.get("Qty")),
                "unit_price": qty(detail.get("UnitPrice")),
                "amount": money(line.get("Amount")),
            }
        )
    return lines


def _payment(obj: JSON) -> JSON:
    customer_id, customer_name = ref(obj, "CustomerRef")
    applications = _payment_applications(obj)
    credit = sum(
        (a["amount"] for a in applications if a["txn_type"] == CREDIT_MEMO_LINK), Decimal("0.00")
    )
    paid = sum((a["amount"] for a in applications), Decimal("0.00")) - credit
    return {
        "customer_qbo_id": customer_id,
        "customer_name": customer_name,
        "txn_date": date_of(obj.get("TxnDate")),
        "total_amt": money(obj.get("TotalAmt")),
        "unapplied_amt": money(obj.get("UnappliedAmt")),
        "applied_amt": paid - credit,
        "credit_used_amt": credit,
        "payment_method": ref(obj, "PaymentMethodRef")[1][:100],
        "reference": text(obj.get("PaymentRefNum"), 100),
        "currency": text(ref(obj, "CurrencyRef")[0] or "USD", 3),
        "voided": is_voided(obj),
    }


def _payment_applications(obj: JSON) -> list[JSON]:
    applications: list[JSON] = []
    for line in obj.get("Line") or []:
        links = [link for link in line.get("LinkedTxn") or [] if link.get("TxnId")]
        for index, link in enumerate(links):
            # A payment line carries one amount; QBO links it to one transaction. Should a
            # line ever link several, the amount is recorded once (on the first link) so
            # that no line is counted twice. A link to a CreditMemo is credit the payment
            # used, not money: what went to invoices can exceed TotalAmt by that much.
            applications.append(
                {
                    "txn_type": text(link.get("TxnType") or "Invoice", 32),
                    "txn_qbo_id": text(link.get("TxnId"), 32),
                    "amount": money(line.get("Amount")) if index == 0 else Decimal("0.00"),
                }
            )
    return applications


CUSTOMER = MirrorSpec("Customer", "Customers", QBOCustomer, _customer, order=10)
# Sales forms after the customers and items they name, before the payments that settle
# them. Vendor (12) and the purchase documents (50 and up) are inventory's.
INVOICE = MirrorSpec(
    "Invoice", "Invoices", QBOInvoice, _invoice, order=30, children=_sales_lines,
    child_model=QBOInvoiceLine, child_parent=QBOInvoiceLine.DOCUMENT,
)  # fmt: skip
SALES_RECEIPT = MirrorSpec(
    "SalesReceipt", "Sales receipts", QBOSalesReceipt, _sales_document, order=32,
    children=_sales_lines, child_model=QBOSalesReceiptLine,
    child_parent=QBOSalesReceiptLine.DOCUMENT,
)  # fmt: skip
CREDIT_MEMO = MirrorSpec(
    "CreditMemo", "Credit memos", QBOCreditMemo, _credit_memo, order=34,
    children=_sales_lines, child_model=QBOCreditMemoLine, child_parent=QBOCreditMemoLine.DOCUMENT,
)  # fmt: skip
REFUND_RECEIPT = MirrorSpec(
    "RefundReceipt", "Refund receipts", QBORefundReceipt, _sales_document, order=36,
    children=_sales_lines, child_model=QBORefundReceiptLine,
    child_parent=QBORefundReceiptLine.DOCUMENT,
)  # fmt: skip
PAYMENT = MirrorSpec(
    "Payment", "Payments", QBOPayment, _payment, order=40, children=_payment_applications,
    child_model=QBOPaymentApplication, child_parent="payment",
)  # fmt: skip
SPECS = (CUSTOMER, INVOICE, SALES_RECEIPT, CREDIT_MEMO, REFUND_RECEIPT, PAYMENT)
