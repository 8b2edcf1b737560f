"""The activity generator books what a distributor books, not only invoices: each of its
operations, driven one by one against a demo company over the public API
(qbo_sandbox/activity.py)."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

from qbo_sandbox.activity import Activity, Client

from .support import connect

if TYPE_CHECKING:
    from qbo_sandbox.testing import SandboxProcess


def test_each_activity_books_its_document(sandbox: SandboxProcess) -> None:
    realm_id = sandbox.new_company(seed="demo", scale=0.1)
    api = connect(sandbox, realm_id).api
    activity = Activity(Client(sandbox.base_url, realm_id, None, None), random.Random(7))
    before = {
        entity: api.query(f"SELECT COUNT(*) FROM {entity}")["totalCount"]
        for entity in ("SalesReceipt", "CreditMemo", "RefundReceipt", "Estimate", "PurchaseOrder")
    }
    open_bills = api.query("SELECT COUNT(*) FROM Bill WHERE Balance > '0'")["totalCount"]

    outcomes = [
        activity.cash_sale(),
        activity.credit_memo(),
        activity.refund(),
        activity.estimate(),
        activity.purchase_order(),
        activity.receive_purchase_order(),
        activity.pay_bill(),
    ]

    assert not [o for o in outcomes if o.startswith(("skipped", "refused"))], outcomes
    for entity, count in before.items():
        assert api.query(f"SELECT COUNT(*) FROM {entity}")["totalCount"] == count + 1, entity
    # The received order became an open bill; the payment settled one.
    assert api.query("SELECT COUNT(*) FROM Bill WHERE Balance > '0'")["totalCount"] == open_bills
    assert "BillPayment" in outcomes[-1]
