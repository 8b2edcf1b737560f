"""Purchase orders, bills that receive them, vendor credits and bill payments, through
python-quickbooks' own objects: create, read, full and sparse update, void or delete, and
what each does to stock, purchase-order status, bill balances and the vendor's balance
(qbo_sandbox/purchases.py)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from quickbooks import QuickBooks
from quickbooks.exceptions import QuickbooksException
from quickbooks.objects.base import LinkedTxn, Ref
from quickbooks.objects.bill import Bill
from quickbooks.objects.billpayment import BillPayment, BillPaymentLine, CheckPayment
from quickbooks.objects.detailline import ItemBasedExpenseLine, ItemBasedExpenseLineDetail
from quickbooks.objects.purchaseorder import PurchaseOrder
from quickbooks.objects.vendorcredit import VendorCredit

from .support import Accounts, RealmApi, assert_validation_fault, inventory_item_body


@pytest.fixture
def une_femme(api: RealmApi) -> dict[str, Any]:
    return api.create("Vendor", {"DisplayName": "Une Femme Wines"})


@pytest.fixture
def juliette(api: RealmApi, accounts: Accounts) -> dict[str, Any]:
    return api.create(
        "Item",
        inventory_item_body(
            "Une Femme The Juliette Brut NV 750ml", accounts, qty=24, PurchaseCost=10.85
        ),
    )


@pytest.fixture
def bank(api: RealmApi) -> str:
    return str(api.rows("SELECT * FROM Account WHERE AccountType = 'Bank'", "Account")[0]["Id"])


def ref(value: str) -> Ref:
    found = Ref()
    found.value = value
    return found


def link(txn_type: str, txn_id: str) -> LinkedTxn:
    linked = LinkedTxn()
    linked.TxnId = txn_id
    linked.TxnType = txn_type
    return linked


def item_line(item_id: str, qty: str, cost: str = "10.85") -> ItemBasedExpenseLine:
    bought = ItemBasedExpenseLine()
    bought.Amount = Decimal(qty) * Decimal(cost)
    bought.ItemBasedExpenseLineDetail = ItemBasedExpenseLineDetail()
    bought.ItemBasedExpenseLineDetail.ItemRef = ref(item_id)
    bought.ItemBasedExpenseLineDetail.Qty = Decimal(qty)
    bought.ItemBasedExpenseLineDetail.UnitPrice = Decimal(cost)
    return bought


def item_line_json(item_id: str, qty: str, cost: str = "10.85") -> dict[str, Any]:
    return {
        "Amount": float(Decimal(qty) * Decimal(cost)),
        "DetailType": "ItemBasedExpenseLineDetail",
        "ItemBasedExpenseLineDetail": {
            "ItemRef": {"value": item_id},
            "Qty": float(Decimal(qty)),
            "UnitPrice": float(Decimal(cost)),
        },
    }


def purchase_order(qb: QuickBooks, vendor_id: str, item_id: str, qty: str) -> PurchaseOrder:
    order = PurchaseOrder()
    order.VendorRef = ref(vendor_id)
    order.Line = [item_line(item_id, qty)]
    saved: PurchaseOrder = order.save(qb=qb)
    return saved


def bill(qb: QuickBooks, vendor_id: str, item_id: str, qty: str, *orders: str) -> Bill:
    received = Bill()
    received.VendorRef = ref(vendor_id)
    received.Line = [item_line(item_id, qty)]
    received.LinkedTxn = [link("PurchaseOrder", order) for order in orders]
    saved: Bill = received.save(qb=qb)
    return saved


def qty_on_hand(api: RealmApi, item_id: str) -> Decimal:
    return Decimal(api.read("Item", item_id)["QtyOnHand"])


def vendor_balance(api: RealmApi, vendor_id: str) -> Decimal:
    return Decimal(api.read("Vendor", vendor_id)["Balance"])


def bill_payment(
    vendor_id: str, bank: str, total: str, applied: list[tuple[str, str, str]]
) -> BillPayment:
    payment = BillPayment()
    payment.VendorRef = ref(vendor_id)
    payment.PayType = "Check"
    payment.CheckPayment = CheckPayment()
    payment.CheckPayment.BankAccountRef = ref(bank)
    payment.TotalAmt = Decimal(total)
    for txn_type, txn_id, amount in applied:
        paid = BillPaymentLine()
        paid.Amount = Decimal(amount)
        paid.LinkedTxn = [link(txn_type, txn_id)]
        payment.Line.append(paid)
    return payment


# ---------------------------------------------------------------- PurchaseOrder


def test_a_purchase_order_moves_nothing_until_a_bill_receives_it_and_closes_it(
    qb: QuickBooks, api: RealmApi, une_femme: dict[str, Any], juliette: dict[str, Any]
) -> None:
    order = purchase_order(qb, une_femme["Id"], juliette["Id"], "120")

    assert order.POStatus == "Open" and order.DocNumber
    assert order.TotalAmt == Decimal("1302.00")
    assert qty_on_hand(api, juliette["Id"]) == 24
    assert vendor_balance(api, une_femme["Id"]) == 0
    assert [
        row["Id"]
        for row in api.rows("SELECT * FROM PurchaseOrder WHERE POStatus = 'Open'", "PurchaseOrder")
    ] == [order.Id]

    received = bill(qb, une_femme["Id"], juliette["Id"], "120", order.Id)

    assert {"TxnId": order.Id, "TxnType": "PurchaseOrder"} in [
        {"TxnId": linked.TxnId, "TxnType": linked.TxnType} for linked in received.LinkedTxn
    ]
    closed = PurchaseOrder.get(order.Id, qb=qb)
    assert closed.POStatus == "Closed" and closed.SyncToken == "1"
    assert [(linked.TxnId, linked.TxnType) for linked in closed.LinkedTxn] == [
        (received.Id, "Bill")
    ]
    assert qty_on_hand(api, juliette["Id"]) == 144
    assert vendor_balance(api, une_femme["Id"]) == Decimal("1302.00")

    # Without the bill the order is open again and the stock is gone.
    Bill.get(received.Id, qb=qb).delete(qb=qb)
    reopened = api.read("PurchaseOrder", order.Id)
    assert reopened["POStatus"] == "Open" and reopened["LinkedTxn"] == []
    assert qty_on_hand(api, juliette["Id"]) == 24
    assert vendor_balance(api, une_femme["Id"]) == 0


def test_a_purchase_order_linked_on_a_bill_line_is_received_too(
    api: RealmApi, une_femme: dict[str, Any], juliette: dict[str, Any]
) -> None:
    order = api.create(
        "PurchaseOrder",
        {"VendorRef": {"value": une_femme["Id"]}, "Line": [item_line_json(juliette["Id"], "12")]},
    )
    received_line = {
        **item_line_json(juliette["Id"], "12"),
        "LinkedTxn": [{"TxnId": order["Id"], "TxnType": "PurchaseOrder", "TxnLineId": "1"}],
    }
    received = api.create(
        "Bill", {"VendorRef": {"value": une_femme["Id"]}, "Line": [received_line]}
    )

    assert received["LinkedTxn"] == [{"TxnId": order["Id"], "TxnType": "PurchaseOrder"}]
    assert received["Line"][0]["LinkedTxn"] == [{"TxnId": order["Id"], "TxnType": "PurchaseOrder"}]
    assert api.read("PurchaseOrder", order["Id"])["POStatus"] == "Closed"
    # A sparse update of the bill keeps the link; the order stays closed.
    api.update(
        "Bill",
        {
            "Id": received["Id"],
            "SyncToken": received["SyncToken"],
            "sparse": True,
            "DocNumber": "UFW-7",
        },
    )
    assert api.read("PurchaseOrder", order["Id"])["POStatus"] == "Closed"


def test_purchase_order_faults(
    qb: QuickBooks, api: RealmApi, une_femme: dict[str, Any], juliette: dict[str, Any]
) -> None:
    glass = api.create("Vendor", {"DisplayName": "Golden State Glass & Packaging"})
    order = purchase_order(qb, une_femme["Id"], juliette["Id"], "12")
    received = bill(qb, une_femme["Id"], juliette["Id"], "12", order.Id)

    def post_bill(vendor_id: str, order_id: str) -> Any:
        return api.request(
            "POST",
            "bill",
            json_body={
                "VendorRef": {"value": vendor_id},
                "Line": [item_line_json(juliette["Id"], "12")],
                "LinkedTxn": [{"TxnId": order_id, "TxnType": "PurchaseOrder"}],
            },
        )

    assert_validation_fault(post_bill(une_femme["Id"], order.Id), "6000")  # already closed
    other = purchase_order(qb, une_femme["Id"], juliette["Id"], "12")
    assert_validation_fault(post_bill(glass["Id"], other.Id), "6000")  # another vendor's order
    assert_validation_fault(post_bill(une_femme["Id"], "999999"), "2500")
    assert_validation_fault(
        api.request(
            "POST",
            "purchaseorder",
            json_body={
                "VendorRef": {"value": une_femme["Id"]},
                "POStatus": "Lost",
                "Line": [item_line_json(juliette["Id"], "1")],
            },
        ),
        "2170",
    )
    assert_validation_fault(
        api.request(
            "POST", "purchaseorder", json_body={"Line": [item_line_json(juliette["Id"], "1")]}
        ),
        "2020",
    )
    # A received order stays until its bill lets go of it.
    with pytest.raises(QuickbooksException) as refused:
        PurchaseOrder.get(order.Id, qb=qb).delete(qb=qb)
    assert refused.value.error_code == 6000
    assert received.Id


def test_a_purchase_order_updated_full_and_sparse_then_deleted(
    qb: QuickBooks, api: RealmApi, une_femme: dict[str, Any], juliette: dict[str, Any]
) -> None:
    order = purchase_order(qb, une_femme["Id"], juliette["Id"], "12")
    fetched = PurchaseOrder.get(order.Id, qb=qb)
    fetched.Line = [item_line(juliette["Id"], "60")]
    updated = fetched.save(qb=qb)
    assert updated.SyncToken == "1" and updated.TotalAmt == Decimal("651.00")
    assert updated.POStatus == "Open" and updated.DocNumber == order.DocNumber
    # Closed by hand (the rest will never come): a sparse update.
    closed = api.update(
        "PurchaseOrder", {"Id": order.Id, "SyncToken": "1", "sparse": True, "POStatus": "Closed"}
    )
    assert closed["POStatus"] == "Closed" and closed["TotalAmt"] == 651
    assert PurchaseOrder.get(order.Id, qb=qb).delete(qb=qb)["PurchaseOrder"]["status"] == "Deleted"
    assert qty_on_hand(api, juliette["Id"]) == 24


# ---------------------------------------------------------------- VendorCredit


def test_a_vendor_credit_sends_stock_back_and_lowers_what_is_owed(
    qb: QuickBooks, api: RealmApi, une_femme: dict[str, Any], juliette: dict[str, Any]
) -> None:
    bill(qb, une_femme["Id"], juliette["Id"], "24")
    credit = VendorCredit()
    credit.VendorRef = ref(une_femme["Id"])
    credit.Line = [item_line(juliette["Id"], "3")]
    credit.PrivateNote = "Breakage"
    saved = credit.save(qb=qb)

    assert saved.TotalAmt == Decimal("32.55")
    assert Decimal(api.read("VendorCredit", saved.Id)["Balance"]) == Decimal("32.55")
    assert qty_on_hand(api, juliette["Id"]) == 45
    assert vendor_balance(api, une_femme["Id"]) == Decimal("227.85")

    fetched = VendorCredit.get(saved.Id, qb=qb)
    fetched.Line = [item_line(juliette["Id"], "2")]
    assert fetched.save(qb=qb).SyncToken == "1"
    assert qty_on_hand(api, juliette["Id"]) == 46
    sparse = api.update(
        "VendorCredit", {"Id": saved.Id, "SyncToken": "1", "sparse": True, "DocNumber": "CR-9"}
    )
    assert sparse["SyncToken"] == "2" and sparse["TotalAmt"] == Decimal("21.7")
    assert vendor_balance(api, une_femme["Id"]) == Decimal("238.70")
    VendorCredit.get(saved.Id, qb=qb).delete(qb=qb)
    assert qty_on_hand(api, juliette["Id"]) == 48
    assert vendor_balance(api, une_femme["Id"]) == Decimal("260.40")


# ---------------------------------------------------------------- BillPayment


def test_a_bill_payment_lowers_bill_balances_and_uses_vendor_credit(
    qb: QuickBooks,
    api: RealmApi,
    une_femme: dict[str, Any],
    juliette: dict[str, Any],
    bank: str,
) -> None:
    first = bill(qb, une_femme["Id"], juliette["Id"], "12")  # 130.20
    second = bill(qb, une_femme["Id"], juliette["Id"], "24")  # 260.40
    credit = VendorCredit()
    credit.VendorRef = ref(une_femme["Id"])
    credit.Line = [item_line(juliette["Id"], "2")]  # 21.70
    credit = credit.save(qb=qb)
    assert vendor_balance(api, une_femme["Id"]) == Decimal("368.90")

    # First bill in full, 100.00 of the second, less the credit: 208.50 of money.
    payment = bill_payment(
        une_femme["Id"],
        bank,
        "208.50",
        [
            ("Bill", first.Id, "130.20"),
            ("Bill", second.Id, "100.00"),
            ("VendorCredit", credit.Id, "21.70"),
        ],
    ).save(qb=qb)

    assert payment.TotalAmt == Decimal("208.50") and payment.PayType == "Check"
    assert payment.CheckPayment.BankAccountRef.value == bank
    paid = api.read("Bill", first.Id)
    assert paid["Balance"] == 0
    assert {"TxnId": payment.Id, "TxnType": "BillPaymentCheck"} in paid["LinkedTxn"]
    assert Decimal(api.read("Bill", second.Id)["Balance"]) == Decimal("160.40")
    assert api.read("VendorCredit", credit.Id)["Balance"] == 0
    assert vendor_balance(api, une_femme["Id"]) == Decimal("160.40")
    assert [row["Id"] for row in api.rows("SELECT * FROM Bill WHERE Balance > '0'", "Bill")] == [
        second.Id
    ]

    # A full update pays less of the second bill.
    fetched = BillPayment.get(payment.Id, qb=qb)
    fetched.TotalAmt = Decimal("158.50")
    fetched.Line[1].Amount = Decimal("50.00")
    assert fetched.save(qb=qb).SyncToken == "1"
    assert Decimal(api.read("Bill", second.Id)["Balance"]) == Decimal("210.40")
    sparse = api.update(
        "BillPayment", {"Id": payment.Id, "SyncToken": "1", "sparse": True, "DocNumber": "4417"}
    )
    assert sparse["SyncToken"] == "2" and sparse["TotalAmt"] == Decimal("158.5")

    # pyqb voids a bill payment like a payment; the bills and the credit are open again.
    BillPayment.get(payment.Id, qb=qb).void(qb=qb)
    voided = api.read("BillPayment", payment.Id)
    assert voided["TotalAmt"] == 0 and voided["PrivateNote"].startswith("Voided")
    assert Decimal(api.read("Bill", first.Id)["Balance"]) == Decimal("130.20")
    assert Decimal(api.read("Bill", second.Id)["Balance"]) == Decimal("260.40")
    assert Decimal(api.read("VendorCredit", credit.Id)["Balance"]) == Decimal("21.70")
    assert vendor_balance(api, une_femme["Id"]) == Decimal("368.90")
    assert BillPayment.get(payment.Id, qb=qb).delete(qb=qb)["BillPayment"]["status"] == "Deleted"


def test_bill_payment_faults(
    qb: QuickBooks,
    api: RealmApi,
    une_femme: dict[str, Any],
    juliette: dict[str, Any],
    bank: str,
) -> None:
    glass = api.create("Vendor", {"DisplayName": "Golden State Glass & Packaging"})
    owed = bill(qb, une_femme["Id"], juliette["Id"], "12")  # 130.20

    def pay(body: dict[str, Any]) -> Any:
        good = {
            "VendorRef": {"value": une_femme["Id"]},
            "PayType": "Check",
            "CheckPayment": {"BankAccountRef": {"value": bank}},
            "TotalAmt": 130.2,
            "Line": [{"Amount": 130.2, "LinkedTxn": [{"TxnId": owed.Id, "TxnType": "Bill"}]}],
        }
        return api.request("POST", "billpayment", json_body={**good, **body})

    assert_validation_fault(pay({"TotalAmt": 150}), "6000")  # more than the bills it pays
    over = [{"Amount": 140, "LinkedTxn": [{"TxnId": owed.Id, "TxnType": "Bill"}]}]
    assert_validation_fault(pay({"TotalAmt": 140, "Line": over}), "6000")  # above the balance
    assert_validation_fault(pay({"VendorRef": {"value": glass["Id"]}}), "6000")
    missing = [{"Amount": 1, "LinkedTxn": [{"TxnId": "999999", "TxnType": "Bill"}]}]
    assert_validation_fault(pay({"TotalAmt": 1, "Line": missing}), "2500")
    assert_validation_fault(pay({"PayType": None}), "2020")
    assert_validation_fault(pay({"PayType": "Cash"}), "2170")
    assert_validation_fault(pay({"CheckPayment": {"PrintStatus": "NotSet"}}), "2020")
    assert_validation_fault(pay({"CheckPayment": {"BankAccountRef": {"value": "999999"}}}), "2500")
    assert Decimal(api.read("Bill", owed.Id)["Balance"]) == Decimal("130.20")

    paid = pay({})
    assert paid.status_code == 200, paid.text
    # A paid bill is not deleted under its payment, nor lowered below what was paid.
    with pytest.raises(QuickbooksException) as refused:
        Bill.get(owed.Id, qb=qb).delete(qb=qb)
    assert refused.value.error_code == 6000
    lowered = api.request(
        "POST",
        "bill",
        json_body={
            "Id": owed.Id,
            "SyncToken": api.read("Bill", owed.Id)["SyncToken"],
            "VendorRef": {"value": une_femme["Id"]},
            "Line": [item_line_json(juliette["Id"], "1")],
        },
    )
    assert_validation_fault(lowered, "6000")


def test_a_credit_card_bill_payment_links_as_intuit_names_it(
    api: RealmApi, qb: QuickBooks, une_femme: dict[str, Any], juliette: dict[str, Any]
) -> None:
    card = api.rows("SELECT * FROM Account WHERE AccountType = 'Credit Card'", "Account")
    card_id = (
        card[0]["Id"]
        if card
        else api.create("Account", {"Name": "Visa Business Card", "AccountType": "Credit Card"})[
            "Id"
        ]
    )
    owed = bill(qb, une_femme["Id"], juliette["Id"], "1")
    paid = api.create(
        "BillPayment",
        {
            "VendorRef": {"value": une_femme["Id"]},
            "PayType": "CreditCard",
            "CreditCardPayment": {"CCAccountRef": {"value": card_id}},
            "TotalAmt": 10.85,
            "Line": [{"Amount": 10.85, "LinkedTxn": [{"TxnId": owed.Id, "TxnType": "Bill"}]}],
        },
    )
    assert "CheckPayment" not in paid
    assert {"TxnId": paid["Id"], "TxnType": "BillPaymentCreditCard"} in api.read("Bill", owed.Id)[
        "LinkedTxn"
    ]
