"""Mirror of partners' inventory adjustments: the stock QuickBooks was told to add or take
off outside any sale or purchase (a count corrected, breakage, a receipt keyed as an
adjustment). Typed columns for what the stock ledger filters and sums on; the whole QBO
object in ``raw``. ``inventory.stock.mirror`` says how QuickBooks' JSON fills them.

As in billing's mirror (billing/models.py), the foreign key to the connection has no index
of its own (the unique (connection, qbo_id) index serves every lookup by connection), and a
line's key to its adjustment is covered by (adjustment, position).
"""

from __future__ import annotations

from django.db import models

from common.mirror import MirroredRecord


class QBOInventoryAdjustment(MirroredRecord):
    # QBO neither voids an inventory adjustment nor lets its TxnDate change; it can only
    # be deleted, so there is no ``voided`` column.
    connection = models.ForeignKey(
        "sync.QBOConnection",
        on_delete=models.CASCADE,
        related_name="inventory_adjustments",
        db_index=False,
    )
    doc_number = models.CharField(max_length=32, blank=True)
    txn_date = models.DateField(null=True, blank=True)
    # The account the adjustment's value goes to (Inventory Shrinkage, say).
    adjust_account_qbo_id = models.CharField(max_length=32, blank=True)
    adjust_account_name = models.CharField(max_length=255, blank=True)
    private_note = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "qbo_id"], name="inventory_adjustment_unique_per_realm"
            )
        ]
        indexes = [
            # The ledger sums adjustments by date (in the period, and after it).
            models.Index(fields=["connection", "txn_date"], name="inventory_adjustment_by_date"),
        ]

    def __str__(self) -> str:
        return f"Inventory adjustment {self.doc_number or self.qbo_id}"


class QBOInventoryAdjustmentLine(models.Model):
    """One line of an adjustment (ItemAdjustmentLineDetail): an item and the quantity it
    moves, signed (QtyDiff: positive adds stock, negative takes it off)."""

    adjustment = models.ForeignKey(
        QBOInventoryAdjustment, on_delete=models.CASCADE, related_name="lines", db_index=False
    )
    line_id = models.CharField(max_length=32, blank=True)
    position = models.PositiveIntegerField()
    detail_type = models.CharField(max_length=40)
    item_qbo_id = models.CharField(max_length=32, blank=True)
    qty_diff = models.DecimalField(max_digits=18, decimal_places=4, null=True, blank=True)

    class Meta:
        ordering = ["position"]
        constraints = [
            models.UniqueConstraint(
                fields=["adjustment", "position"], name="inventory_adjustment_line_position"
            )
        ]

    def __str__(self) -> str:
        return f"Line {self.position + 1}"
