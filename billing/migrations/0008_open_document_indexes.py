"""The open documents' own covering indexes, credit sales and the payments page's totals
in the reports' ones, and the payments page's order (billing.models says what reads each).

At ~100,000 invoices the open-documents list, the aging figures, a customer's
receivables, DSO's credit sales and the payments page each read the whole heap (170 MB
of invoices, 55 MB of payments, every row carrying its raw document) on every view.

Built CONCURRENTLY, as 0007's were: a live mirror's sync keeps writing meanwhile. The
reports' indexes are rebuilt under their own names, so between a drop and its build those
aggregates read the heap, as they did before 0007: seconds, not an outage.
"""

from __future__ import annotations

from django.contrib.postgres.operations import AddIndexConcurrently, RemoveIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("billing", "0007_report_covering_indexes"),
        ("sync", "0003_syncrun_retries"),
    ]

    operations = [
        RemoveIndexConcurrently(model_name="qboinvoice", name="invoice_report_cover"),
        AddIndexConcurrently(
            model_name="qboinvoice",
            index=models.Index(
                fields=["connection", "txn_date"],
                include=(
                    "id",
                    "customer_qbo_id",
                    "customer_name",
                    "voided",
                    "balance",
                    "due_date",
                    "currency",
                    "total_amt",
                ),
                name="invoice_report_cover",
            ),
        ),
        RemoveIndexConcurrently(model_name="qbopayment", name="payment_report_cover"),
        AddIndexConcurrently(
            model_name="qbopayment",
            index=models.Index(
                fields=["connection", "txn_date"],
                include=(
                    "id",
                    "customer_qbo_id",
                    "currency",
                    "voided",
                    "unapplied_amt",
                    "total_amt",
                    "applied_amt",
                    "credit_used_amt",
                ),
                name="payment_report_cover",
            ),
        ),
        AddIndexConcurrently(
            model_name="qboinvoice",
            index=models.Index(
                condition=models.Q(("balance__gt", 0), ("voided", False)),
                fields=["connection", "customer_qbo_id"],
                include=(
                    "id",
                    "customer_name",
                    "doc_number",
                    "qbo_id",
                    "txn_date",
                    "due_date",
                    "total_amt",
                    "balance",
                    "currency",
                ),
                name="invoice_open_cover",
            ),
        ),
        AddIndexConcurrently(
            model_name="qbopayment",
            index=models.Index(
                condition=models.Q(("unapplied_amt__gt", 0), ("voided", False)),
                fields=["connection", "customer_qbo_id"],
                include=(
                    "id",
                    "customer_name",
                    "reference",
                    "qbo_id",
                    "txn_date",
                    "total_amt",
                    "unapplied_amt",
                    "currency",
                ),
                name="payment_open_cover",
            ),
        ),
        AddIndexConcurrently(
            model_name="qbopayment",
            index=models.Index(
                models.OrderBy(models.F("txn_date"), descending=True, nulls_last=True),
                models.OrderBy(models.F("id"), descending=True),
                name="payment_newest_first",
            ),
        ),
    ]
