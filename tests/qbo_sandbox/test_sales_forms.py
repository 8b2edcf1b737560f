"""Sales receipts, credit memos, refund receipts and estimates, through python-quickbooks' own
objects: create, read, full and sparse update, void or delete, and what each does to stock,
to the customer's balance and to credit (qbo_sandbox/sales.py; docs/qbo-api.md §8, §9)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from quickbooks import QuickBooks
from quickbooks.exceptions import ObjectNotFoundException, QuickbooksException
from quickbooks.objects.base import LinkedTxn, Ref
from quickbooks.objects.creditmemo import CreditMemo
from quickbooks.objects.detailline import SalesItemLine, SalesItemLineDetail
from quickbooks.objects.estimate import Estimate
from quickbooks.objects.payment import Payment, PaymentLine
from quickbooks.objects.refundreceipt import RefundReceipt
from quickbooks.objects.salesreceipt import SalesReceipt

from .support import (
    Accounts,
    RealmApi,
    assert_validation_fault,
    inventory_item_body,
    invoice_body,
    sales_line,
)


@pytest.fixture
def customer(api: RealmApi) -> dict[str, Any]:
    return api.create("Customer", {"DisplayName": "Le Bistrot d'Émile"})


@pytest.fixture
def callie(api: RealmApi, accounts: Accounts) -> dict[str, Any]:
    return api.create(
        "Item",
        inventory_item_body(
            "Une Femme The Callie Sparkling Rosé NV 750ml", accounts, qty=48, unit_price="24.00"
        ),
    )


@pytest.fixture
def bank(api: RealmApi) -> str:
    return str(api.rows("SELECT * FROM Account WHERE AccountType = 'Bank'", "Account")[0]["Id"])


def ref(value: str) -> Ref:
    found = Ref()
    found.value = value
    return found


def line(item_id: str, qty: str, price: str) -> SalesItemLine:
    sale = SalesItemLine()
    sale.Amount = Decimal(qty) * Decimal(price)
    sale.SalesItemLineDetail = SalesItemLineDetail()
    sale.SalesItemLineDetail.ItemRef = ref(item_id)
    sale.SalesItemLineDetail.Qty = Decimal(qty)
    sale.SalesItemLineDetail.UnitPrice = Decimal(price)
    return sale


def qty_on_hand(api: RealmApi, item_id: str) -> Decimal:
    return Decimal(api.read("Item", item_id)["QtyOnHand"])


def balance(api: RealmApi, customer_id: str) -> Decimal:
    return Decimal(api.read("Customer", customer_id)["Balance"])


# ---------------------------------------------------------------- SalesReceipt


def test_a_sales_receipt_sells_stock_and_leaves_nothing_owed(
    qb: QuickBooks, api: RealmApi, customer: dict[str, Any], callie: dict[str, Any]
) -> None:
    receipt = SalesReceipt()
    receipt.CustomerRef = ref(customer["Id"])
    receipt.Line = [line(callie["Id"], "6", "24.00")]
    receipt.PrivateNote = "Cash on delivery"

    saved = receipt.save(qb=qb)

    assert saved.Id and saved.SyncToken == "0" and saved.DocNumber
    assert saved.TotalAmt == Decimal("144.00") and saved.Balance == 0
    fetched = SalesReceipt.get(saved.Id, qb=qb)
    assert fetched.DepositToAccountRef.name == "Undeposited Funds"
    assert fetched.MetaData["CreateTime"] and fetched.CurrencyRef.value == "USD"
    assert qty_on_hand(api, callie["Id"]) == 42
    # A cash sale owes nothing: the customer's balance does not move.
    assert balance(api, customer["Id"]) == 0


def test_a_sales_receipt_updated_full_and_sparse_then_voided_and_deleted(
    qb: QuickBooks, api: RealmApi, customer: dict[str, Any], callie: dict[str, Any]
) -> None:
    receipt = SalesReceipt()
    receipt.CustomerRef = ref(customer["Id"])
    receipt.Line = [line(callie["Id"], "6", "24.00")]
    saved = receipt.save(qb=qb)

    # Full update through pyqb: the quantity moves the stock by the difference.
    fetched = SalesReceipt.get(saved.Id, qb=qb)
    fetched.Line = [line(callie["Id"], "3", "24.00")]
    updated = fetched.save(qb=qb)
    assert updated.SyncToken == "1" and updated.TotalAmt == Decimal("72.00")
    assert qty_on_hand(api, callie["Id"]) == 45

    sparse = api.update(
        "SalesReceipt",
        {"Id": saved.Id, "SyncToken": "1", "sparse": True, "PrivateNote": "Paid by check"},
    )
    assert sparse["SyncToken"] == "2" and sparse["TotalAmt"] == 72
    assert sparse["PrivateNote"] == "Paid by check"

    # pyqb voids a sales receipt with operation=update&include=void and a sparse body.
    SalesReceipt.get(saved.Id, qb=qb).void(qb=qb)
    voided = api.read("SalesReceipt", saved.Id)
    assert voided["TotalAmt"] == 0 and voided["PrivateNote"].startswith("Voided")
    assert voided["SyncToken"] == "3"
    assert qty_on_hand(api, callie["Id"]) == 48

    result = SalesReceipt.get(saved.Id, qb=qb).delete(qb=qb)
    assert result["SalesReceipt"]["status"] == "Deleted"
    with pytest.raises(ObjectNotFoundException):
        SalesReceipt.get(saved.Id, qb=qb)


def test_a_sales_receipt_may_name_no_customer(api: RealmApi, callie: dict[str, Any]) -> None:
    walk_in = api.create("SalesReceipt", {"Line": [sales_line(callie["Id"], "2", "24.00")]})
    assert "CustomerRef" not in walk_in and walk_in["TotalAmt"] == 48
    assert qty_on_hand(api, callie["Id"]) == 46


# ---------------------------------------------------------------- CreditMemo


def credit_memo(qb: QuickBooks, customer_id: str, item_id: str, qty: str) -> CreditMemo:
    memo = CreditMemo()
    memo.CustomerRef = ref(customer_id)
    memo.Line = [line(item_id, qty, "24.00")]
    saved: CreditMemo = memo.save(qb=qb)
    return saved


def payment(customer_id: str, total: str, applied: list[tuple[str, str, str]]) -> Payment:
    paid = Payment()
    paid.CustomerRef = ref(customer_id)
    paid.TotalAmt = Decimal(total)
    for txn_type, txn_id, amount in applied:
        applied_line = PaymentLine()
        applied_line.Amount = Decimal(amount)
        link = LinkedTxn()
        link.TxnId = txn_id
        link.TxnType = txn_type
        applied_line.LinkedTxn = [link]
        paid.Line.append(applied_line)
    return paid


def test_a_credit_memo_takes_stock_back_and_is_credit_until_a_payment_applies_it(
    qb: QuickBooks, api: RealmApi, customer: dict[str, Any], callie: dict[str, Any]
) -> None:
    memo = credit_memo(qb, customer["Id"], callie["Id"], "2")
    assert memo.TotalAmt == Decimal("48.00") and memo.RemainingCredit == Decimal("48.00")
    assert qty_on_hand(api, callie["Id"]) == 50
    assert balance(api, customer["Id"]) == Decimal("-48.00")

    invoice = api.create(
        "Invoice", invoice_body(customer["Id"], [sales_line(callie["Id"], "5", "24.00")])
    )
    assert balance(api, customer["Id"]) == Decimal("72.00")

    # 120.00 of invoice paid with the 48.00 credit and 72.00 of money.
    paid = payment(
        customer["Id"],
        "72.00",
        [("Invoice", invoice["Id"], "120.00"), ("CreditMemo", memo.Id, "48.00")],
    ).save(qb=qb)

    assert paid.UnappliedAmt == 0
    assert Decimal(api.read("Invoice", invoice["Id"])["Balance"]) == 0
    used = api.read("CreditMemo", memo.Id)
    assert used["RemainingCredit"] == 0 and used["Balance"] == 0
    assert {"TxnId": paid.Id, "TxnType": "Payment"} in used["LinkedTxn"]
    assert int(used["SyncToken"]) == 1
    assert balance(api, customer["Id"]) == 0

    # Deleting the payment puts the credit and the invoice's balance back.
    Payment.get(paid.Id, qb=qb).delete(qb=qb)
    assert Decimal(api.read("CreditMemo", memo.Id)["RemainingCredit"]) == Decimal("48.00")
    assert Decimal(api.read("Invoice", invoice["Id"])["Balance"]) == Decimal("120.00")
    assert balance(api, customer["Id"]) == Decimal("72.00")


def test_remaining_credit_goes_down_as_payments_apply_it(
    qb: QuickBooks, api: RealmApi, customer: dict[str, Any], callie: dict[str, Any]
) -> None:
    memo = credit_memo(qb, customer["Id"], callie["Id"], "4")  # 96.00 of credit
    first = api.create(
        "Invoice", invoice_body(customer["Id"], [sales_line(callie["Id"], "2", "24.00")])
    )
    second = api.create(
        "Invoice", invoice_body(customer["Id"], [sales_line(callie["Id"], "3", "24.00")])
    )

    # Credit alone pays an invoice: a payment of 0.00.
    payment(
        customer["Id"], "0", [("Invoice", first["Id"], "48.00"), ("CreditMemo", memo.Id, "48.00")]
    ).save(qb=qb)
    assert Decimal(api.read("CreditMemo", memo.Id)["RemainingCredit"]) == Decimal("48.00")
    over = api.request(
        "POST",
        "payment",
        json_body={
            "CustomerRef": {"value": customer["Id"]},
            "TotalAmt": 0,
            "Line": [
                {"Amount": 72, "LinkedTxn": [{"TxnId": second["Id"], "TxnType": "Invoice"}]},
                {"Amount": 72, "LinkedTxn": [{"TxnId": memo.Id, "TxnType": "CreditMemo"}]},
            ],
        },
    )
    assert_validation_fault(over, "6000")  # more than the 48.00 left of the credit
    payment(
        customer["Id"],
        "24.00",
        [("Invoice", second["Id"], "72.00"), ("CreditMemo", memo.Id, "48.00")],
    ).save(qb=qb)

    assert Decimal(api.read("CreditMemo", memo.Id)["RemainingCredit"]) == 0
    assert api.rows("SELECT * FROM CreditMemo WHERE RemainingCredit > '0'", "CreditMemo") == []
    assert balance(api, customer["Id"]) == 0


def test_credit_memo_faults(
    qb: QuickBooks, api: RealmApi, customer: dict[str, Any], callie: dict[str, Any]
) -> None:
    memo = credit_memo(qb, customer["Id"], callie["Id"], "1")
    other = api.create("Customer", {"DisplayName": "Chez Thérèse"})
    invoice = api.create(
        "Invoice", invoice_body(customer["Id"], [sales_line(callie["Id"], "1", "24.00")])
    )

    def pay(
        lines: list[tuple[str, str, str]], customer_id: str = customer["Id"], total: float = 0
    ) -> Any:
        body = {
            "CustomerRef": {"value": customer_id},
            "TotalAmt": total,
            "Line": [
                {"Amount": float(amount), "LinkedTxn": [{"TxnId": txn_id, "TxnType": kind}]}
                for kind, txn_id, amount in lines
            ],
        }
        return api.request("POST", "payment", json_body=body)

    # Credit only pays invoices: it cannot be turned into money.
    assert_validation_fault(pay([("CreditMemo", memo.Id, "24")]), "6000")
    # Another customer's credit memo, and one that does not exist.
    other_invoice = api.create(
        "Invoice", invoice_body(other["Id"], [sales_line(callie["Id"], "1", "24.00")])
    )
    assert_validation_fault(
        pay([("Invoice", other_invoice["Id"], "24"), ("CreditMemo", memo.Id, "24")], other["Id"]),
        "6000",
    )
    assert_validation_fault(
        pay([("Invoice", invoice["Id"], "24"), ("CreditMemo", "999999", "24")]), "2500"
    )
    assert_validation_fault(
        api.request(
            "POST",
            "creditmemo",
            json_body={
                "CustomerRef": {"value": "999999"},
                "Line": [sales_line(callie["Id"], "1", "24.00")],
            },
        ),
        "2500",
    )
    assert_validation_fault(
        api.request(
            "POST", "creditmemo", json_body={"Line": [sales_line(callie["Id"], "1", "24.00")]}
        ),
        "2020",
    )
    # A credit memo has no void (Intuit's API deletes it), and an applied one is not deleted.
    void = api.request(
        "POST",
        "creditmemo",
        params={"operation": "void"},
        json_body={"Id": memo.Id, "SyncToken": memo.SyncToken},
    )
    assert void.status_code == 400 and void.json()["Fault"]["Error"][0]["code"] == "500"
    pay([("Invoice", invoice["Id"], "24"), ("CreditMemo", memo.Id, "24")])
    current = api.read("CreditMemo", memo.Id)
    with pytest.raises(QuickbooksException) as refused:
        CreditMemo.get(memo.Id, qb=qb).delete(qb=qb)
    assert refused.value.error_code == 6000
    assert api.read("CreditMemo", memo.Id)["SyncToken"] == current["SyncToken"]


def test_a_credit_memo_updated_full_and_sparse_then_deleted(
    qb: QuickBooks, api: RealmApi, customer: dict[str, Any], callie: dict[str, Any]
) -> None:
    memo = credit_memo(qb, customer["Id"], callie["Id"], "2")
    fetched = CreditMemo.get(memo.Id, qb=qb)
    fetched.Line = [line(callie["Id"], "3", "24.00")]
    updated = fetched.save(qb=qb)
    assert updated.SyncToken == "1" and updated.RemainingCredit == Decimal("72.00")
    assert updated.DocNumber == memo.DocNumber
    assert qty_on_hand(api, callie["Id"]) == 51
    assert balance(api, customer["Id"]) == Decimal("-72.00")
    sparse = api.update(
        "CreditMemo", {"Id": memo.Id, "SyncToken": "1", "sparse": True, "PrivateNote": "Corked"}
    )
    assert sparse["SyncToken"] == "2" and sparse["TotalAmt"] == 72

    CreditMemo.get(memo.Id, qb=qb).delete(qb=qb)
    assert qty_on_hand(api, callie["Id"]) == 48
    assert balance(api, customer["Id"]) == 0


def test_an_invoice_deleted_under_a_payment_gives_its_credit_back_to_the_credit_memo(
    qb: QuickBooks, api: RealmApi, customer: dict[str, Any], callie: dict[str, Any]
) -> None:
    memo = credit_memo(qb, customer["Id"], callie["Id"], "2")  # 48.00
    invoice = api.create(
        "Invoice", invoice_body(customer["Id"], [sales_line(callie["Id"], "5", "24.00")])
    )
    paid = payment(
        customer["Id"],
        "72.00",
        [("Invoice", invoice["Id"], "120.00"), ("CreditMemo", memo.Id, "48.00")],
    ).save(qb=qb)

    api.request(
        "POST",
        "invoice",
        params={"operation": "delete"},
        json_body={
            "Id": invoice["Id"],
            "SyncToken": api.read("Invoice", invoice["Id"])["SyncToken"],
        },
    )

    # The money becomes unapplied credit; the credit memo gets its credit back.
    left = api.read("Payment", paid.Id)
    assert left["Line"] == [] and Decimal(left["UnappliedAmt"]) == Decimal("72.00")
    assert Decimal(api.read("CreditMemo", memo.Id)["RemainingCredit"]) == Decimal("48.00")
    assert balance(api, customer["Id"]) == Decimal("-120.00")


# ---------------------------------------------------------------- RefundReceipt


def test_a_refund_receipt_takes_stock_back_and_pays_the_money_out(
    qb: QuickBooks, api: RealmApi, customer: dict[str, Any], callie: dict[str, Any], bank: str
) -> None:
    refund = RefundReceipt()
    refund.CustomerRef = ref(customer["Id"])
    refund.Line = [line(callie["Id"], "2", "24.00")]
    # The account the money leaves from is required.
    with pytest.raises(QuickbooksException) as missing:
        refund.save(qb=qb)
    assert missing.value.error_code == 2020
    refund.DepositToAccountRef = ref("999999")
    with pytest.raises(QuickbooksException) as unknown:
        refund.save(qb=qb)
    assert unknown.value.error_code == 2500

    refund.DepositToAccountRef = ref(bank)
    saved = refund.save(qb=qb)

    assert saved.TotalAmt == Decimal("48.00") and saved.Balance == 0 and saved.DocNumber
    assert qty_on_hand(api, callie["Id"]) == 50
    assert balance(api, customer["Id"]) == 0  # paid out at once: no credit left

    fetched = RefundReceipt.get(saved.Id, qb=qb)
    fetched.Line = [line(callie["Id"], "1", "24.00")]
    assert fetched.save(qb=qb).SyncToken == "1"
    assert qty_on_hand(api, callie["Id"]) == 49
    sparse = api.update(
        "RefundReceipt", {"Id": saved.Id, "SyncToken": "1", "sparse": True, "PrivateNote": "Cork"}
    )
    assert sparse["SyncToken"] == "2" and sparse["DepositToAccountRef"]["value"] == bank
    RefundReceipt.get(saved.Id, qb=qb).delete(qb=qb)
    assert qty_on_hand(api, callie["Id"]) == 48


# ---------------------------------------------------------------- Estimate


def test_an_estimate_moves_nothing_and_follows_its_status(
    qb: QuickBooks, api: RealmApi, customer: dict[str, Any], callie: dict[str, Any]
) -> None:
    estimate = Estimate()
    estimate.CustomerRef = ref(customer["Id"])
    estimate.Line = [line(callie["Id"], "24", "22.00")]
    estimate.ExpirationDate = "2031-01-31"
    saved = estimate.save(qb=qb)

    assert saved.TxnStatus == "Pending" and saved.TotalAmt == Decimal("528.00")
    assert qty_on_hand(api, callie["Id"]) == 48 and balance(api, customer["Id"]) == 0

    fetched = Estimate.get(saved.Id, qb=qb)
    fetched.TxnStatus = "Accepted"
    accepted = fetched.save(qb=qb)
    assert accepted.SyncToken == "1" and accepted.AcceptedDate
    bad = api.request(
        "POST",
        "estimate",
        json_body={"Id": saved.Id, "SyncToken": "1", "sparse": True, "TxnStatus": "Maybe"},
    )
    assert_validation_fault(bad, "2170")
    sparse = api.update(
        "Estimate", {"Id": saved.Id, "SyncToken": "1", "sparse": True, "TxnStatus": "Closed"}
    )
    assert sparse["TxnStatus"] == "Closed" and sparse["ExpirationDate"] == "2031-01-31"
    assert Estimate.get(saved.Id, qb=qb).delete(qb=qb)["Estimate"]["status"] == "Deleted"
    assert qty_on_hand(api, callie["Id"]) == 48


@pytest.mark.parametrize("entity", ["SalesReceipt", "CreditMemo", "RefundReceipt", "Estimate"])
def test_bad_references_and_missing_lines_get_intuits_faults(
    api: RealmApi, customer: dict[str, Any], callie: dict[str, Any], bank: str, entity: str
) -> None:
    extra = {"DepositToAccountRef": {"value": bank}} if entity == "RefundReceipt" else {}
    good = {"CustomerRef": {"value": customer["Id"]}, **extra}

    def post(body: dict[str, Any]) -> Any:
        return api.request("POST", entity.lower(), json_body=body)

    assert_validation_fault(post({**good, "Line": []}), "2020")
    item_fault = assert_validation_fault(
        post({**good, "Line": [sales_line("999999", "1", "1.00")]}), "2500"
    )
    assert "Item" in item_fault["Detail"]
    assert_validation_fault(
        post(
            {
                **good,
                "CustomerRef": {"value": "999999"},
                "Line": [sales_line(callie["Id"], "1", "24.00")],
            }
        ),
        "2500",
    )
    assert_validation_fault(
        post(
            {
                **good,
                "ClassRef": {"value": "999999"},
                "Line": [sales_line(callie["Id"], "1", "24.00")],
            }
        ),
        "2500",
    )
    assert_validation_fault(
        post({**good, "Colour": "red", "Line": [sales_line(callie["Id"], "1", "24.00")]}), "2010"
    )
    # Nothing of the refused writes touched the stock.
    assert qty_on_hand(api, callie["Id"]) == 48
