"""Covering indexes that let the reports' aggregates over every invoice and payment read
only the columns they need (billing.models: QBOInvoice.Meta says why), and each customer's
payments in the order the receivables page reads the last one.

Built CONCURRENTLY: on a live mirror of ~100,000 invoices a plain CREATE INDEX would hold
the sync's writes for its whole build; this one lets them through, at the price of running
outside a transaction (``atomic = False``).
"""

from __future__ import annotations

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("billing", "0006_payment_application_sums"),
        ("sync", "0003_syncrun_retries"),
    ]

    operations = [
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
                ),
                name="invoice_report_cover",
            ),
        ),
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
                ),
                name="payment_report_cover",
            ),
        ),
        # Each customer's payments newest first (billing.selectors, the receivables page's
        # last payment: DISTINCT ON in exactly this order), with the amount: read in order,
        # not 78,000 payments sorted per view. Not in the model's Meta: Django cannot write
        # NULLS LAST together with INCLUDE.
        migrations.RunSQL(
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS payment_last_per_customer"
            " ON billing_qbopayment (connection_id, customer_qbo_id, currency,"
            " txn_date DESC NULLS LAST, id DESC) INCLUDE (total_amt) WHERE NOT voided",
            reverse_sql="DROP INDEX CONCURRENTLY IF EXISTS payment_last_per_customer",
        ),
    ]
