"""factory_boy factories for the QuickBooks mirror rows the billing pages read.

Every mirrored row hangs off a ``QBOConnection``; pass ``connection=`` to keep rows in one
partner's company (QBO ids are only unique within a company).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import factory

from billing.models import (
    CREDIT_MEMO_LINK,
    QBOCreditMemo,
    QBOCustomer,
    QBOInvoice,
    QBOInvoiceLine,
    QBOPayment,
    QBOPaymentApplication,
)
from inventory.mapping.models import QBOItem
from sync.models import QBOConnection
from tests.factories import PartnerFactory


class ConnectionFactory(factory.django.DjangoModelFactory[QBOConnection]):
    class Meta:
        model = QBOConnection

    partner = factory.SubFactory(PartnerFactory)
    realm_id = factory.Sequence(lambda n: f"9130{n:012d}")
    company_name = factory.LazyAttribute(lambda c: f"{c.partner.name} (QuickBooks)")


class ItemFactory(factory.django.DjangoModelFactory[QBOItem]):
    class Meta:
        model = QBOItem

    connection = factory.SubFactory(ConnectionFactory)
    qbo_id = factory.Sequence(lambda n: str(100 + n))
    name = factory.Sequence(lambda n: f"The Callie Sparkling Rosé NV 750 ml #{n}")
    sku = "UF-CAL-NV-750"
    item_type = "Inventory"


class CustomerFactory(factory.django.DjangoModelFactory[QBOCustomer]):
    class Meta:
        model = QBOCustomer

    connection = factory.SubFactory(ConnectionFactory)
    qbo_id = factory.Sequence(lambda n: str(200 + n))
    display_name = factory.Sequence(lambda n: f"Retailer {n}")


class InvoiceFactory(factory.django.DjangoModelFactory[QBOInvoice]):
    class Meta:
        model = QBOInvoice

    connection = factory.SubFactory(ConnectionFactory)
    qbo_id = factory.Sequence(lambda n: str(1000 + n))
    doc_number = factory.Sequence(lambda n: f"INV-{1000 + n}")
    customer_qbo_id = "1"
    customer_name = "Château d'Yquem Wine Bar"
    txn_date = date(2025, 1, 1)
    due_date = date(2025, 1, 31)
    total_amt = Decimal("120.00")
    balance = factory.LazyAttribute(lambda i: i.total_amt)


class InvoiceLineFactory(factory.django.DjangoModelFactory[QBOInvoiceLine]):
    class Meta:
        model = QBOInvoiceLine

    invoice = factory.SubFactory(InvoiceFactory)
    line_id = factory.Sequence(lambda n: str(n + 1))
    position = factory.Sequence(lambda n: n)
    detail_type = "SalesItemLineDetail"
    item_qbo_id = ""
    description = "The Callie Sparkling Rosé NV 750 ml"
    qty = Decimal("12")
    unit_price = Decimal("10.00")
    amount = Decimal("120.00")


class CreditMemoFactory(factory.django.DjangoModelFactory[QBOCreditMemo]):
    class Meta:
        model = QBOCreditMemo

    connection = factory.SubFactory(ConnectionFactory)
    qbo_id = factory.Sequence(lambda n: str(3000 + n))
    doc_number = factory.Sequence(lambda n: f"CM-{3000 + n}")
    customer_qbo_id = "1"
    customer_name = "Château d'Yquem Wine Bar"
    txn_date = date(2025, 1, 15)
    total_amt = Decimal("40.00")
    # The credit not yet used (QuickBooks' RemainingCredit): all of it, until a payment
    # uses some.
    balance = factory.LazyAttribute(lambda m: m.total_amt)


class PaymentFactory(factory.django.DjangoModelFactory[QBOPayment]):
    class Meta:
        model = QBOPayment

    connection = factory.SubFactory(ConnectionFactory)
    qbo_id = factory.Sequence(lambda n: str(5000 + n))
    customer_qbo_id = "1"
    customer_name = "Château d'Yquem Wine Bar"
    txn_date = date(2025, 2, 1)
    total_amt = Decimal("100.00")
    unapplied_amt = Decimal("0.00")
    payment_method = "Check"
    reference = factory.Sequence(lambda n: f"CHK-{n}")


class PaymentApplicationFactory(factory.django.DjangoModelFactory[QBOPaymentApplication]):
    class Meta:
        model = QBOPaymentApplication

    payment = factory.SubFactory(PaymentFactory)
    txn_type = "Invoice"
    txn_qbo_id = "1"
    amount = Decimal("100.00")

    @classmethod
    def _create(cls, model_class: Any, *args: Any, **kwargs: Any) -> QBOPaymentApplication:
        # The mirror stores a payment's application sums with it (QBOPayment.applied_amt):
        # an application made here keeps them true, as a synced payment's are.
        application: QBOPaymentApplication = super()._create(model_class, *args, **kwargs)
        payment = application.payment
        if application.txn_type == CREDIT_MEMO_LINK:
            payment.applied_amt -= application.amount
            payment.credit_used_amt += application.amount
        else:
            payment.applied_amt += application.amount
        payment.save(update_fields=["applied_amt", "credit_used_amt"])
        return application


def pay(
    invoice: QBOInvoice, *amounts: Decimal, unapplied: Decimal = Decimal("0.00"), **fields: object
) -> QBOPayment:
    """A payment in the invoice's company applying ``amounts`` to it (one line each), with
    ``unapplied`` left over; its total is what QuickBooks would say it is."""
    payment: QBOPayment = PaymentFactory(
        connection=invoice.connection,
        total_amt=sum(amounts, Decimal("0.00")) + unapplied,
        unapplied_amt=unapplied,
        **fields,
    )
    for amount in amounts:
        PaymentApplicationFactory(payment=payment, txn_qbo_id=invoice.qbo_id, amount=amount)
    return payment


def pay_with_credit(
    invoice: QBOInvoice,
    money: Decimal,
    memo: QBOCreditMemo,
    credit: Decimal,
    *,
    unapplied: Decimal = Decimal("0.00"),
    **fields: object,
) -> QBOPayment:
    """A payment in the invoice's company paying it ``money + credit``: ``money`` of its own
    and ``credit`` of ``memo``'s, with ``unapplied`` left over. As QuickBooks records it:
    one line to the invoice for both, one line to the credit memo for the credit, and a
    TotalAmt of the money only (money applied + unapplied)."""
    payment: QBOPayment = PaymentFactory(
        connection=invoice.connection, total_amt=money + unapplied, unapplied_amt=unapplied,
        **fields,
    )  # fmt: skip
    PaymentApplicationFactory(payment=payment, txn_qbo_id=invoice.qbo_id, amount=money + credit)
    PaymentApplicationFactory(
        payment=payment, txn_type="CreditMemo", txn_qbo_id=memo.qbo_id, amount=credit
    )
    return payment
