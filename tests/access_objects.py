"""Real rows for the access walk (tests/test_access_by_url.py): two partners' worlds, and
for every URL of ours that takes parameters, a function making a real object to open.

``world_build`` gives partner A (alice's) and partner B (bob's) the same kinds of rows:
a QuickBooks company, a customer, an open invoice selling a mapped item, a payment on
it, a cash sale of the item today and a warehouse snapshot, so every list page and export
has a row of each. Every row carries text only its own partner's rows carry
(``Side.markers``): none of B's may reach alice, and none of A's may reach bob.

To register a new URL with parameters, say ``inventory:push_job`` at
``push/<int:pk>/``:

1. write a function that takes a ``Side`` (one partner's world: ``partner``, ``books``
   its QuickBooks company, ``user`` its partner user, ``admin`` Une Femme's admin), makes
   a real object of that partner and returns the kwargs ``reverse()`` needs::

       def push_job(side: Side) -> Kwargs:
           job = PushJob.objects.create(connection=side.books, ...)  # or its service
           return {"pk": job.pk}

2. add a line to ``OBJECT_URLS`` saying what the view answers a GET from someone who may
   see the object: ``OK`` (200), or ``redirect_to(lambda kw: ...)`` for a view that
   answers GET with a redirect (the exact Location it should send)::

       "inventory:push_job": ObjectURL(push_job, OK),

   Objects that belong to no partner (an admin's upload) say ``partner_scoped=False``.

The walk then opens A's and B's object as every role, GET and POST, and checks the rest.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.urls import reverse
from django.utils import timezone

from accounts.models import Partner, User
from allowances import services as allowances
from allowances.models import AllowanceProgram, Claim
from billing.models import QBOCustomer, QBOInvoice, QBOSalesReceipt, QBOSalesReceiptLine
from common.mirror import mirror_apply
from common.models import MirrorVersion
from history.services import snapshot_day
from inventory.catalog.models import CatalogSKU
from inventory.catalog.services import catalog_import_upload
from inventory.channels import services as channels
from inventory.channels.models import Channel, ChannelRule
from inventory.mapping import services as mapping
from inventory.mapping.models import MappingConflict, QBOItem, SKUMapping
from inventory.push.models import PushJob
from inventory.warehouse.models import WarehouseSnapshot, WarehouseSource
from inventory.warehouse.services import warehouse_token_issue, warehouse_upload_create
from sync.models import QBOConnection
from tests.billing.factories import (
    ConnectionFactory,
    CustomerFactory,
    InvoiceFactory,
    InvoiceLineFactory,
    ItemFactory,
    pay,
)

Kwargs = dict[str, Any]


@dataclass(frozen=True)
class Side:
    """One partner's world: its partner, user and QuickBooks company, with rows whose
    text names the side (``tag``), so a page that shows one can be told from the other."""

    tag: str  # "A" or "B"
    partner: Partner
    user: User  # the partner's own user (alice or bob)
    admin: User  # Une Femme's admin, who makes the objects only admins make
    books: QBOConnection
    sku_code: str  # the catalog SKU only this partner holds and sells

    @property
    def partner_name(self) -> str:
        return self.partner.name

    @property
    def company_name(self) -> str:
        return f"Books of partner {self.tag}"

    @property
    def customer(self) -> str:
        return f"Customer of partner {self.tag}"

    @property
    def invoice_number(self) -> str:
        return f"INV-{self.tag}-1"

    @property
    def payment_reference(self) -> str:
        return f"CHK-{self.tag}-1"

    @property
    def deleted_invoice_number(self) -> str:
        return f"INV-{self.tag}-DELETED"

    @property
    def program_name(self) -> str:
        return f"Allowances of partner {self.tag}"

    @property
    def markers(self) -> tuple[str, ...]:
        """Text that appears in this partner's rows and nowhere else."""
        return (
            self.partner.name,
            self.user.email,
            self.books.realm_id,
            self.company_name,
            self.customer,
            self.invoice_number,
            self.payment_reference,
            self.deleted_invoice_number,
            self.sku_code,
            self.program_name,
        )


@dataclass(frozen=True)
class World:
    a: Side
    b: Side

    @property
    def sides(self) -> tuple[Side, Side]:
        return (self.a, self.b)

    def side_of(self, user: User) -> Side | None:
        """The side a partner user belongs to; None for Une Femme's people."""
        return next((s for s in self.sides if s.partner.pk == user.partner_id), None)

    def other(self, side: Side) -> Side:
        return self.b if side is self.a else self.a


def world_build(*, alice: User, bob: User, admin: User) -> World:
    assert alice.partner is not None and bob.partner is not None
    world = World(
        a=_side_build("A", alice.partner, alice, admin, "4620000000000001", "UF-CAL-NV-750"),
        b=_side_build("B", bob.partner, bob, admin, "4620000000000002", "UF-BDB-2021-750"),
    )
    # A day of daily history (the trends page's rows: each partner's and the total), taken
    # as the nightly job takes it.
    snapshot_day(timezone.localdate())
    return world


def _side_build(
    tag: str, partner: Partner, user: User, admin: User, realm_id: str, sku_code: str
) -> Side:
    books: QBOConnection = ConnectionFactory(
        partner=partner, realm_id=realm_id, company_name=f"Books of partner {tag}",
        connected_by=user,
    )  # fmt: skip
    side = Side(tag, partner, user, admin, books, sku_code)
    today = timezone.localdate()
    sku, _ = CatalogSKU.objects.get_or_create(
        code=sku_code,
        defaults={"wine": f"Wine {sku_code}", "format_ml": 750, "bottles_per_case": 12},
    )
    # A mapped item with stock in QuickBooks and in the warehouse: a discrepancies row.
    item: QBOItem = ItemFactory(
        connection=books, qbo_id="11", name=f"Une Femme {sku.wine}", sku=sku_code,
        qty_on_hand=Decimal("24"),
    )  # fmt: skip
    SKUMapping.objects.create(
        connection=books, catalog_sku=sku, item_qbo_id=item.qbo_id, method=SKUMapping.Method.SKU,
        item_name=item.name, item_sku=item.sku,
    )  # fmt: skip
    WarehouseSnapshot.objects.create(
        partner=partner, sku=sku, as_of=today - timedelta(days=1), bottles=Decimal("30"),
        source=WarehouseSource.CSV,
    )  # fmt: skip
    # An open, overdue invoice selling that item this week (an open-invoices row and a
    # depletion row), and a payment on it (a payments row).
    # The customer every document of the world is for (the invoices' factory names
    # customer "1"), so a claim on it finds its sales.
    CustomerFactory(connection=books, qbo_id="1", display_name=side.customer)
    invoice: QBOInvoice = InvoiceFactory(
        connection=books, doc_number=side.invoice_number, customer_name=side.customer,
        txn_date=today - timedelta(days=3), due_date=today - timedelta(days=2),
    )  # fmt: skip
    InvoiceLineFactory(invoice=invoice, position=0, item_qbo_id=item.qbo_id, qty=Decimal("6"))
    pay(
        invoice, Decimal("20.00"), reference=side.payment_reference, customer_name=side.customer,
        txn_date=today - timedelta(days=1),
    )  # fmt: skip
    # A cash sale of that item today to the same customer: the invoice three days ago falls
    # in last month on the 1st to the 3rd, and the accounts page lists this month's buyers.
    receipt = QBOSalesReceipt.objects.create(
        connection=books, qbo_id=f"SR-{tag}-1", customer_qbo_id=invoice.customer_qbo_id,
        customer_name=side.customer, txn_date=today, total_amt=Decimal("20.00"),
    )  # fmt: skip
    QBOSalesReceiptLine.objects.create(
        sales_receipt=receipt, position=0, detail_type="SalesItemLineDetail",
        item_qbo_id=item.qbo_id, qty=Decimal("2"), amount=Decimal("20.00"),
    )  # fmt: skip
    # An invoice QuickBooks deleted: gone from the mirror, its history kept (a row of the
    # deleted invoices' list).
    _deleted_invoice_build(side)
    # A push job into this partner's books (a push jobs row).
    PushJob.objects.create(connection=books, kind=PushJob.Kind.STOCK, created_by=admin)
    # An allowance program naming only this partner (a programs row), and a claim on this
    # month's cash sale, approved (a claims row and a row approved for payment).
    program = _program_build(side, name=side.program_name)
    claim = _claim_build(side, program)
    allowances.claim_submit(user=user, claim_id=claim.pk)
    allowances.claim_decide(
        user=admin, claim_id=claim.pk, approve=True,
        line_ids=list(claim.lines.values_list("pk", flat=True)), note="",
    )  # fmt: skip
    return side


# Far above the ids the factories give, so no other invoice of the world is this one.
DELETED_INVOICE_ID = "90000001"


def _deleted_invoice_build(side: Side) -> str:
    """An invoice of this partner's, first seen and then deleted in QuickBooks, through the
    mirror's own write path: its row is gone and its versions stay. Once per side: a world
    opened by every URL asks for it once per URL that takes it."""
    versions = MirrorVersion.objects.filter(
        connection=side.books, entity="Invoice", qbo_id=DELETED_INVOICE_ID
    )
    if versions.filter(kind=MirrorVersion.Kind.DELETED).exists():
        return DELETED_INVOICE_ID
    seen = {"LastUpdatedTime": timezone.now().isoformat()}
    document = {
        "Id": DELETED_INVOICE_ID, "SyncToken": "0", "DocNumber": side.deleted_invoice_number,
        "CustomerRef": {"value": "1", "name": side.customer}, "TotalAmt": 120, "Balance": 120,
        "MetaData": seen,
    }  # fmt: skip
    tombstone = {"Id": DELETED_INVOICE_ID, "status": "Deleted", "MetaData": seen}
    for objects in ([document], [tombstone]):
        mirror_apply(connection_id=side.books.pk, entity="Invoice", objects=objects)
    return DELETED_INVOICE_ID


def _program_build(side: Side, *, name: str) -> AllowanceProgram:
    # One per name: a world opened by every URL (tests/test_token_decryptions.py) asks for
    # the same program once per URL that takes it, and names are unique.
    existing: AllowanceProgram | None = AllowanceProgram.objects.filter(name=name).first()
    if existing is not None:
        return existing
    today = timezone.localdate()
    program = AllowanceProgram.objects.create(
        name=name, start=today - timedelta(days=60), end=today + timedelta(days=30),
        rate=Decimal("1.00"), unit=AllowanceProgram.Unit.BOTTLE, created_by=side.admin,
    )  # fmt: skip
    program.partners.set([side.partner])
    program.skus.set(CatalogSKU.objects.filter(code=side.sku_code))
    return program


def _claim_build(side: Side, program: AllowanceProgram) -> Claim:
    content = (
        "period,sku,account,bottles,amount\n"
        f"{timezone.localdate():%Y-%m},{side.sku_code},{side.customer},2,2.00\n"
    )
    return allowances.claim_create(
        user=side.user, partner=side.partner, program=program, content=content.encode(),
        reference=f"BB-{side.tag}-1",
    )  # fmt: skip


# --- One real object per URL ------------------------------------------------------------


def invoice(side: Side) -> Kwargs:
    made: QBOInvoice = InvoiceFactory(
        connection=side.books, doc_number=f"INV-{side.tag}-2", customer_name=side.customer
    )
    InvoiceLineFactory(invoice=made, position=0)
    return {"pk": made.pk}


def customer_account(side: Side) -> Kwargs:
    # The world's open invoice is customer 1's in each company (the ids collide, as
    # QuickBooks' do across companies): only the connection tells the two apart.
    made: QBOInvoice = InvoiceFactory(
        connection=side.books, customer_qbo_id="1", doc_number=f"INV-{side.tag}-3",
        customer_name=side.customer,
    )  # fmt: skip
    return {"connection_id": made.connection_id, "customer_qbo_id": made.customer_qbo_id}


def deleted_invoice(side: Side) -> Kwargs:
    # The world's deleted invoice: its history is the page an old link cannot reach.
    return {"connection_id": side.books.pk, "qbo_id": _deleted_invoice_build(side)}


def connection(side: Side) -> Kwargs:
    # A partner has one live company (a database constraint): the world's is the object.
    return {"pk": side.books.pk}


def mapping_conflict(side: Side) -> Kwargs:
    # An item that looks like Une Femme's and fits no SKU: the engine queues it.
    item: QBOItem = ItemFactory(
        connection=side.books, name=f"Une Femme Cuvée Mystère {side.tag} 750ml", sku=""
    )
    mapping.mapping_refresh(connection_id=side.books.pk)
    conflict = MappingConflict.objects.get(connection=side.books, item_qbo_id=item.qbo_id)
    return {"pk": conflict.pk}


def warehouse_upload(side: Side) -> Kwargs:
    as_of = timezone.localdate() - timedelta(days=2)
    content = f"partner,sku,as_of,bottles\n{side.partner.slug},{side.sku_code},{as_of},12\n"
    upload = warehouse_upload_create(
        user=side.admin, filename=f"stock-{side.tag}.csv", content=content.encode()
    )
    return {"pk": upload.pk}


def warehouse_token(side: Side) -> Kwargs:
    token, _secret = warehouse_token_issue(
        partner=side.partner, label=f"WMS of partner {side.tag}", user=side.admin
    )
    return {"pk": token.pk}


def invitation(side: Side) -> Kwargs:
    from onboarding.models import Invitation

    row = Invitation.objects.create(
        email=f"invitee-{side.tag.lower()}@example.test", role="partner", partner=side.partner,
        invited_by=side.admin, expires_at=timezone.now() + timedelta(days=7),
    )  # fmt: skip
    return {"pk": row.pk}


def invitation_link(side: Side) -> Kwargs:
    from onboarding.models import Invitation
    from onboarding.tokens import make_token

    row = Invitation.objects.get(pk=invitation(side)["pk"])
    return {"token": make_token(row.pk, row.key)}


def partner(side: Side) -> Kwargs:
    return {"pk": side.partner.pk}


def person(side: Side) -> Kwargs:
    # The partner's own user: Une Femme sees everyone, partner users are refused the
    # people pages outright (403), their own partner's people included.
    return {"pk": side.user.pk}


def _person_page(kwargs: Kwargs) -> str:
    # Changing a role takes POSTs; a GET goes to the person's page, where the form is.
    return reverse("accounts:person", kwargs=kwargs)


def catalog_import(side: Side) -> Kwargs:
    # Previews are their uploader's alone (another admin gets 404): the admin uploads.
    content = (
        "code,wine,vintage,format_ml,bottles_per_case,active\n"
        f"UF-NEW{side.tag}-NV-750,New wine {side.tag},NV,750,12,yes\n"
    )
    upload = catalog_import_upload(
        user=side.admin, filename=f"catalog-{side.tag}.csv", content=content.encode()
    )
    return {"token": upload.token}


def push_job(side: Side) -> Kwargs:
    job = PushJob.objects.create(
        connection=side.books, kind=PushJob.Kind.STOCK, created_by=side.admin
    )
    return {"pk": job.pk}


def ledger_row(side: Side) -> Kwargs:
    # The world's mapped SKU of this partner: its stock ledger drill-down.
    return {"partner_id": side.partner.pk, "sku": side.sku_code}


def allowance_program(side: Side) -> Kwargs:
    made = _program_build(side, name=f"Second program of partner {side.tag}")
    return {"pk": made.pk}


def allowance_evidence(side: Side) -> Kwargs:
    made = _program_build(side, name=f"Evidence program of partner {side.tag}")
    return {"pk": made.pk, "partner_id": side.partner.pk, "month": f"{timezone.localdate():%Y-%m}"}


def claim(side: Side) -> Kwargs:
    program = AllowanceProgram.objects.get(name=side.program_name)
    return {"pk": _claim_build(side, program).pk}


def placements_row(side: Side) -> Kwargs:
    # The same partner × SKU: its accounts drill-down (its accounts buying this month are
    # the world's invoice's and cash sale's customer).
    return ledger_row(side)


def channel_rule(side: Side) -> Kwargs:
    # A rule whose pattern is the partner's own customer's name: its text is a marker, so
    # the rules page of one partner shown to the other would be caught. One per partner:
    # a world opened by every URL (tests/test_token_decryptions.py) asks for it thrice,
    # and a second rule saying the same is refused.
    existing = ChannelRule.objects.filter(partner=side.partner, value=side.customer).first()
    if existing is not None:
        return {"pk": existing.pk}
    rule = channels.channel_rule_create(
        partner=side.partner, kind="name", value=side.customer, channel=Channel.ON_PREMISE,
        user=side.admin,
    )  # fmt: skip
    return {"pk": rule.pk}


def channel_account(side: Side) -> Kwargs:
    # The world's customer of this partner (ids collide across companies, as in QuickBooks).
    customer = QBOCustomer.objects.get(connection=side.books, display_name=side.customer)
    return {"connection_id": side.books.pk, "customer_qbo_id": customer.qbo_id}


def partner_channels(side: Side) -> Kwargs:
    return {"partner_id": side.partner.pk}


# --- The registry ------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """What a view answers a GET from someone who may see the object."""

    status: int
    # For redirects: the exact Location, from the kwargs the object was opened with.
    location: Callable[[Kwargs], str] | None = None


OK = Answer(200)


def redirect_to(location: Callable[[Kwargs], str]) -> Answer:
    return Answer(302, location)


def _conflict_in_queue(kwargs: Kwargs) -> str:
    # The decision endpoints take POSTs; a GET shows the conflict in the queue.
    return f"{reverse('inventory:conflicts')}#conflict-{kwargs['pk']}"


def _connection_on_suppliers_page(kwargs: Kwargs) -> str:
    # Choosing Une Femme's vendor takes POSTs; a GET shows the connection's row.
    return f"{reverse('inventory:suppliers')}#connection-{kwargs['pk']}"


@dataclass(frozen=True)
class ObjectURL:
    make: Callable[[Side], Kwargs]
    answer: Answer = OK
    # False for objects that belong to no partner (an admin's upload): everyone who may
    # use the view gets ``answer`` for both sides' objects.
    partner_scoped: bool = True


OBJECT_URLS: dict[str, ObjectURL] = {
    "billing:invoice": ObjectURL(invoice),
    "billing:invoice_history": ObjectURL(deleted_invoice),
    "billing:receivables_customer": ObjectURL(customer_account),
    "billing:statement": ObjectURL(customer_account),
    "sync:connection": ObjectURL(connection),
    "sync:sync_now": ObjectURL(connection),  # GET: "Sync now?", the button POSTs
    "sync:disconnect": ObjectURL(connection),  # GET: "Disconnect?", the button POSTs
    "inventory:conflict_choose": ObjectURL(mapping_conflict, redirect_to(_conflict_in_queue)),
    "inventory:conflict_ignore": ObjectURL(mapping_conflict, redirect_to(_conflict_in_queue)),
    "inventory:conflict_unmap": ObjectURL(mapping_conflict, redirect_to(_conflict_in_queue)),
    "inventory:warehouse_upload_detail": ObjectURL(warehouse_upload, partner_scoped=False),
    # GET shows the same preview as the detail page; the confirm button POSTs.
    "inventory:warehouse_upload_confirm": ObjectURL(warehouse_upload, partner_scoped=False),
    "inventory:warehouse_token_revoke": ObjectURL(warehouse_token),  # GET: "Revoke?"
    "inventory:catalog_import_preview": ObjectURL(catalog_import, partner_scoped=False),
    "inventory:push_job": ObjectURL(push_job),
    "inventory:supplier_vendor": ObjectURL(connection, redirect_to(_connection_on_suppliers_page)),
    "inventory:stock_ledger_row": ObjectURL(ledger_row),
    "inventory:placements_row": ObjectURL(placements_row),
    # Programs are Une Femme's, but a partner user sees only those naming its partner.
    "allowances:program": ObjectURL(allowance_program),
    "allowances:program_edit": ObjectURL(allowance_program),  # admins only
    "allowances:evidence": ObjectURL(allowance_evidence),
    "allowances:claim": ObjectURL(claim),
    "allowances:claim_submit": ObjectURL(claim, Answer(405)),  # POST only
    "allowances:claim_discard": ObjectURL(claim, Answer(405)),  # POST only
    "allowances:claim_decide": ObjectURL(claim, Answer(405)),  # POST only
    # Everyone reads a partner's channel rules (their own partner's, for partner users);
    # only admins change them, by POST.
    "inventory:channel_rules": ObjectURL(partner_channels),
    "inventory:channel_rule_edit": ObjectURL(channel_rule),  # admins: the edit form
    "inventory:channel_rule_create": ObjectURL(partner_channels, Answer(405)),  # POST only
    "inventory:channel_rule_delete": ObjectURL(channel_rule, Answer(405)),  # POST only
    "inventory:channel_rule_move": ObjectURL(channel_rule, Answer(405)),  # POST only
    "inventory:channel_types_refresh": ObjectURL(partner_channels, Answer(405)),  # POST only
    "inventory:channel_override": ObjectURL(channel_account, Answer(405)),  # POST only
    # POST-only: a GET is refused before the job is loaded.
    "reconciliation:connection": ObjectURL(connection),
    "reconciliation:status": ObjectURL(connection),  # the run's progress, as a fragment
    "reconciliation:run": ObjectURL(connection, Answer(405)),  # POST only
    "inventory:push_job_approve": ObjectURL(push_job, Answer(405)),
    "inventory:push_job_discard": ObjectURL(push_job, Answer(405)),
    "inventory:push_job_retry": ObjectURL(push_job, Answer(405)),
    "accounts:partner_edit": ObjectURL(partner),  # staff read it, admins edit it
    "accounts:person": ObjectURL(person),
    "accounts:person_deactivate": ObjectURL(person),  # GET: "Deactivate?"
    "accounts:person_reactivate": ObjectURL(person),  # GET: "Reactivate?"
    "accounts:person_role": ObjectURL(person, redirect_to(_person_page)),
    # Invitations are Une Femme's admin records, not a partner's data: admins only.
    "onboarding:resend": ObjectURL(invitation, Answer(405), partner_scoped=False),  # POST only
    "onboarding:revoke": ObjectURL(invitation, Answer(405), partner_scoped=False),  # POST only
    # Public (the token is the credential); a signed-in person is told to sign out first.
    "onboarding:accept": ObjectURL(invitation_link, partner_scoped=False),
}
