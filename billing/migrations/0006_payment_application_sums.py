"""Each payment stores its applications' sums (QBOPayment.applied_amt, credit_used_amt),
filled here from the applications already mirrored; from now on the mirror writes them
with the payment."""

from __future__ import annotations

from decimal import Decimal

from django.db import migrations, models

FILL = """
UPDATE billing_qbopayment AS p
SET applied_amt = s.applied, credit_used_amt = s.credit
FROM (
    SELECT payment_id,
           SUM(CASE WHEN txn_type = 'CreditMemo' THEN -amount ELSE amount END) AS applied,
           COALESCE(SUM(amount) FILTER (WHERE txn_type = 'CreditMemo'), 0) AS credit
    FROM billing_qbopaymentapplication
    GROUP BY payment_id
) AS s
WHERE s.payment_id = p.id
"""


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0005_sales_documents"),
    ]

    operations = [
        migrations.AddField(
            model_name="qbopayment",
            name="applied_amt",
            field=models.DecimalField(decimal_places=2, default=Decimal("0"), max_digits=18),
        ),
        migrations.AddField(
            model_name="qbopayment",
            name="credit_used_amt",
            field=models.DecimalField(decimal_places=2, default=Decimal("0"), max_digits=18),
        ),
        migrations.RunSQL(FILL, reverse_sql=migrations.RunSQL.noop),
    ]
