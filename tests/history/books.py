"""A small company's books written straight into the mirror, kept as QuickBooks keeps
them: a payment lowers the balances of what it pays, a sale lowers the item's QtyOnHand, a
bill raises it. Each call dates its document ``on`` the day given; the history tests move
the clock with time_machine and take each day's snapshot as the nightly job would."""

from __future__ import annotations

import itertools
from datetime import date
from decimal import Decimal

from accounts.models import Partner
from billing.models import (
    QBOCreditMemo,
    QBOCreditMemoLine,
    QBOInvoice,
    QBOInvoiceLine,
    QBOPayment,
    QBOPaymentApplication,
    QBOSalesReceipt,
    QBOSalesReceiptLine,
)
from inventory.catalog.models import CatalogSKU
from inventory.mapping.models import QBOItem, SKUMapping
from inventory.purchasing.models import QBOBill, QBOBillLine
from sync.models import QBOConnection
from tests.billing.factories import ConnectionFactory, ItemFactory

D = Decimal
_ids = itertools.count(1)


def _id() -> str:
    return str(next(_ids) + 10_000)


class Books:
    def __init__(self, partner: Partner) -> None:
        self.connection: QBOConnection = ConnectionFactory(partner=partner)
        self.items: dict[str, QBOItem] = {}

    def item(self, code: str, *, on_hand: int, per_unit: int = 1) -> QBOItem:
        sku, _ = CatalogSKU.objects.get_or_create(
            code=code, defaults={"wine": f"Wine {code}", "format_ml": 750, "bottles_per_case": 12}
        )
        item: QBOItem = ItemFactory(
            connection=self.connection, sku=code, item_type="Inventory", qty_on_hand=D(on_hand)
        )
        SKUMapping.objects.create(
            connection=self.connection, catalog_sku=sku, item_qbo_id=item.qbo_id,
            unit=SKUMapping.Unit.BOTTLE if per_unit == 1 else SKUMapping.Unit.CASE,
            bottles_per_unit=per_unit, method=SKUMapping.Method.SKU, item_name=item.name,
            item_sku=code,
        )  # fmt: skip
        self.items[code] = item
        return item

    def _move(self, code: str, qty: Decimal) -> None:
        item = self.items[code]
        item.refresh_from_db()
        item.qty_on_hand = (item.qty_on_hand or D(0)) + qty
        item.save(update_fields=["qty_on_hand"])

    def invoice(
        self, on: date, amount: str, *, due: date | None = None, sku: str = "", qty: int = 0,
        customer: str = "1",
    ) -> QBOInvoice:  # fmt: skip
        invoice = QBOInvoice.objects.create(
            connection=self.connection, qbo_id=_id(), doc_number=f"INV-{_id()}",
            customer_qbo_id=customer, customer_name=f"Customer {customer}", txn_date=on,
            due_date=due or on, total_amt=D(amount), balance=D(amount),
        )  # fmt: skip
        if sku:
            QBOInvoiceLine.objects.create(
                invoice=invoice, position=0, detail_type="SalesItemLineDetail",
                item_qbo_id=self.items[sku].qbo_id, qty=D(qty), amount=D(amount),
            )  # fmt: skip
            self._move(sku, -D(qty))
        return invoice

    def cash_sale(self, on: date, amount: str, *, sku: str, qty: int) -> None:
        receipt = QBOSalesReceipt.objects.create(
            connection=self.connection, qbo_id=_id(), txn_date=on, total_amt=D(amount)
        )
        QBOSalesReceiptLine.objects.create(
            sales_receipt=receipt, position=0, detail_type="SalesItemLineDetail",
            item_qbo_id=self.items[sku].qbo_id, qty=D(qty), amount=D(amount),
        )  # fmt: skip
        self._move(sku, -D(qty))

    def credit_memo(self, on: date, amount: str, *, sku: str = "", qty: int = 0) -> QBOCreditMemo:
        memo = QBOCreditMemo.objects.create(
            connection=self.connection, qbo_id=_id(), customer_qbo_id="1", txn_date=on,
            total_amt=D(amount), balance=D(amount),
        )  # fmt: skip
        if sku:
            QBOCreditMemoLine.objects.create(
                credit_memo=memo, position=0, detail_type="SalesItemLineDetail",
                item_qbo_id=self.items[sku].qbo_id, qty=D(qty), amount=D(amount),
            )  # fmt: skip
            self._move(sku, D(qty))
        return memo

    def bill(self, on: date, *, sku: str, qty: int) -> None:
        bill = QBOBill.objects.create(connection=self.connection, qbo_id=_id(), txn_date=on)
        QBOBillLine.objects.create(
            bill=bill, position=0, detail_type="ItemBasedExpenseLineDetail",
            item_qbo_id=self.items[sku].qbo_id, qty=D(qty),
        )  # fmt: skip
        self._move(sku, D(qty))

    def payment(
        self, on: date, *, pays: list[tuple[QBOInvoice, str]] = (),  # type: ignore[assignment]
        uses: list[tuple[QBOCreditMemo, str]] = (),  # type: ignore[assignment]
        unapplied: str = "0.00", voided: bool = False,
    ) -> QBOPayment:  # fmt: skip
        paid = sum((D(a) for _, a in pays), D("0.00"))
        used = sum((D(a) for _, a in uses), D("0.00"))
        payment = QBOPayment.objects.create(
            connection=self.connection, qbo_id=_id(), customer_qbo_id="1", txn_date=on,
            total_amt=paid - used + D(unapplied), unapplied_amt=D(unapplied), voided=voided,
            applied_amt=paid - used, credit_used_amt=used,
        )  # fmt: skip
        for invoice, amount in pays:
            QBOPaymentApplication.objects.create(
                payment=payment, txn_type="Invoice", txn_qbo_id=invoice.qbo_id, amount=D(amount)
            )
            if not voided:
                invoice.refresh_from_db()
                invoice.balance -= D(amount)
                invoice.save(update_fields=["balance"])
        for memo, amount in uses:
            QBOPaymentApplication.objects.create(
                payment=payment, txn_type="CreditMemo", txn_qbo_id=memo.qbo_id, amount=D(amount)
            )
            if not voided:
                memo.refresh_from_db()
                memo.balance -= D(amount)
                memo.save(update_fields=["balance"])
        return payment
