"""Property-based tests of the push forms (no input reaches a 5xx).

Arbitrary form data goes to the two drafting pages (warehouse quantities, catalog items)
and to approve, discard and retry, for jobs in every state and for ids that are no job.
Whatever is sent, the answer is below 500 and says what happened; a refusal creates or
changes no job, item or batch. Staff and partner users get 403 and write nothing.

Nothing here reaches QuickBooks: drafting only plans, and approving only enqueues after
the commit, which the test's transaction never makes. Each example runs in a savepoint
that is rolled back, so every one starts from the same jobs.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.contrib.messages import constants, get_messages
from django.db.models import Model
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from hypothesis import event, example, given, note
from hypothesis import strategies as st

from accounts.models import Partner, User
from common.textinput import forbidden_character
from inventory.catalog.models import CatalogSKU
from inventory.catalog.services import catalog_demo_load
from inventory.mapping import services as mapping
from inventory.mapping.models import MappingConflict, SKUMapping
from inventory.push.models import PushBatch, PushItem, PushJob
from inventory.warehouse.models import WarehouseSnapshot, WarehouseSource
from sync.models import QBOConnection
from tests.billing.factories import ConnectionFactory, ItemFactory
from tests.conftest import rolled_back, signed_in
from tests.factories import PartnerFactory

JobStatus = PushJob.Status
DRAFT_PAGES = ("push_stock_new", "push_items_new")
DECISIONS = ("approve", "discard", "retry")
PARTNERS = ("bubbles-brine", "cote-ouest", "harbor-point", "north-shore")
MAPPED = ("UF-CAL-NV-750", "UF-JUL-NV-750", "UF-BDB-2021-750")
# Bubbles & Brine's items (21-24, 24 the Callie case), Côte Ouest's (40), and none.
ITEM_IDS = ("21", "22", "24", "40", "99")
JOBS = ("draft", "draft-reconnect", "queued", "failed", "partial", "done", "discarded")

TRICKY = [
    "", " ", "\x00", "1\x00", "\x01", "\x1b[0m", "\x7f", "\x85", "\t", "\u2028", "²", "٣",
    "١٢", "１２", "0", "-1", "+1", " 1 ", "1_0", "1e3", "7.5", "1" * 19, "9" * 40, "9" * 5000,
    "null", "true", "[]", "BUBBLES-BRINE", "bubbles-brine\x00", "%00", "&#0;",
]  # fmt: skip
damaged_text = st.text(
    st.one_of(st.sampled_from("\x00\x01\x1f\x7f\x85\r\n²٣"), st.characters(codec="utf-8")),
    max_size=12,
)
# "@sku:N" and "@conflict:N" stand for the fixture's rows, resolved once they exist.
references = st.one_of(
    st.integers(0, 7).map(lambda n: f"@sku:{n}"), st.integers(0, 1).map(lambda n: f"@conflict:{n}")
)
field_value = st.one_of(
    st.sampled_from(TRICKY),
    st.sampled_from(PARTNERS),
    references,
    damaged_text,
    st.text(max_size=8),
)
# A field is left out, sent once, or sent several times.
field = st.one_of(st.none(), field_value, st.lists(field_value, min_size=2, max_size=4))


@st.composite
def draft_form_data(draw: st.DrawFn) -> dict[str, Any]:
    """Mostly what the page's own form sends (a partner, ticked SKUs, maybe the conflict),
    with any field replaced, left out or repeated; sometimes anything at all."""
    if not draw(st.integers(0, 3)):
        names = ("partner", "sku", "conflict", draw(st.text(min_size=1, max_size=6)))
        return {name: value for name in names if (value := draw(field)) is not None}
    data: dict[str, Any] = {
        "partner": draw(st.sampled_from(PARTNERS)),
        "sku": draw(st.lists(st.integers(0, 7).map(lambda n: f"@sku:{n}"), max_size=3)),
    }
    if draw(st.booleans()):
        data["conflict"] = draw(st.integers(0, 1).map(lambda n: f"@conflict:{n}"))
    if draw(st.booleans()):
        # The item chosen for a SKU (the stock form's radio buttons): one of the partner's
        # items, another partner's, none at all, or anything.
        sku = draw(st.one_of(st.just("@callie"), st.integers(0, 7).map(lambda n: f"@sku:{n}")))
        data[f"item-{sku}"] = draw(
            st.one_of(
                st.sampled_from(ITEM_IDS),
                field_value,
                st.lists(field_value, min_size=2, max_size=3),
            )
        )
    if draw(st.booleans()):
        name = draw(st.sampled_from(["partner", "sku", "conflict"]))
        value = draw(field)
        if value is None:
            data.pop(name, None)
        else:
            data[name] = value
    return data


def state() -> dict[str, list[dict[str, Any]]]:
    """Every row a draft or a decision could write (a draft settles no conflict yet)."""
    models: tuple[type[Model], ...] = (PushJob, PushItem, PushBatch, MappingConflict)
    return {
        model.__name__: list(model._default_manager.order_by("pk").values()) for model in models
    }


def messages_of(response: Any) -> list[tuple[int, str]]:
    return [(m.level, m.message) for m in get_messages(response.wsgi_request)]


class World:
    """The fixture's rows, by name, and the references the strategies use."""

    def __init__(
        self, skus: list[int], conflicts: list[int], jobs: dict[str, int], callie: int
    ) -> None:
        self.skus = skus
        self.conflicts = conflicts
        self.jobs = jobs
        self.callie = callie

    def form(self, data: dict[str, Any]) -> dict[str, Any]:
        """The form data with its references resolved, in names (``item-@callie``) too."""
        return {
            (f"item-{self.resolve(name[5:])}" if name.startswith("item-@") else name): (
                self.resolve(value)
            )
            for name, value in data.items()
        }

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if value == "@callie":
            return str(self.callie)
        if isinstance(value, str) and value.startswith("@sku:"):
            return str(self.skus[int(value[5:])])
        if isinstance(value, str) and value.startswith("@conflict:"):
            return str(self.conflicts[int(value[10:])])
        return value

    def job_pk(self, job: str | int) -> int:
        return self.jobs[job] if isinstance(job, str) else job


def job(connection: QBOConnection, admin: User, status: str, **fields: Any) -> PushJob:
    made = PushJob.objects.create(
        connection=connection, kind=PushJob.Kind.STOCK, created_by=admin, status=status,
        **fields,
    )  # fmt: skip
    sku = CatalogSKU.objects.get(code="UF-CAL-NV-750")
    item_status = PushItem.Status.FAILED if status == JobStatus.DONE_WITH_FAILURES else "pending"
    PushItem.objects.create(job=made, catalog_sku=sku, item_qbo_id="21", item_name="Callie",
                            target_bottles=Decimal(48), status=item_status)  # fmt: skip
    return made


@pytest.fixture
def world(ada: User, partner_a: Partner, partner_b: Partner) -> World:
    """Bubbles & Brine: connected, three mapped SKUs with warehouse counts (one more
    without a mapping), a look-alike conflict, no job. Côte Ouest: connected, a job in
    every state. Harbor Point: disconnected. North Shore: needs reconnecting, one draft."""
    catalog_demo_load()
    books_a = ConnectionFactory(partner=partner_a, realm_id="4620000000000001")
    for n, code in enumerate(MAPPED):
        ItemFactory(connection=books_a, qbo_id=str(21 + n), name=f"{code} bottle", sku=code,
                    qty_on_hand=Decimal(24))  # fmt: skip
    ItemFactory(connection=books_a, qbo_id="30", name="Une Femme Mystery Cuvée", sku="")
    mapping.mapping_refresh(connection_id=books_a.pk)
    # The Callie also in a case item, empty: the warehouse's 12 more bottles could go on
    # either item, so the form asks which.
    callie = CatalogSKU.objects.get(code="UF-CAL-NV-750")
    case = ItemFactory(connection=books_a, qbo_id="24", name="Callie case", sku="",
                       qty_on_hand=Decimal(0), purchase_cost=Decimal("96.00"))  # fmt: skip
    SKUMapping.objects.create(
        connection=books_a, catalog_sku=callie, item_qbo_id=case.qbo_id, item_name=case.name,
        unit=SKUMapping.Unit.CASE, bottles_per_unit=12, method=SKUMapping.Method.ADMIN,
    )  # fmt: skip
    for code in [*MAPPED, "UF-DEM-NV-750"]:
        WarehouseSnapshot.objects.create(
            partner=partner_a, sku=CatalogSKU.objects.get(code=code),
            as_of=timezone.localdate(), bottles=Decimal(36), source=WarehouseSource.CSV,
        )  # fmt: skip

    books_b = ConnectionFactory(partner=partner_b, realm_id="4620000000000002")
    ItemFactory(connection=books_b, qbo_id="40", name="Une Femme Côte Rosé 1.5L", sku="")
    mapping.mapping_refresh(connection_id=books_b.pk)
    harbor = PartnerFactory(name="Harbor Point Beverage", slug="harbor-point")
    ConnectionFactory(partner=harbor, status=QBOConnection.Status.DISCONNECTED)
    north = PartnerFactory(name="North Shore Wines", slug="north-shore")
    books_n = ConnectionFactory(partner=north, status=QBOConnection.Status.NEEDS_RECONNECT)

    now = timezone.now()
    jobs = {
        "draft": job(books_b, ada, JobStatus.DRAFT),
        "draft-reconnect": job(books_n, ada, JobStatus.DRAFT),
        "queued": job(books_b, ada, JobStatus.QUEUED, approved_by=ada, approved_at=now),
        "failed": job(books_b, ada, JobStatus.FAILED, error="QuickBooks could not be reached."),
        "partial": job(books_b, ada, JobStatus.DONE_WITH_FAILURES, finished_at=now),
        "done": job(books_b, ada, JobStatus.DONE, finished_at=now),
        "discarded": job(books_b, ada, JobStatus.DISCARDED, finished_at=now),
    }
    conflicts = sorted(MappingConflict.objects.open().values_list("pk", flat=True))
    assert len(conflicts) == 2, "one look-alike conflict per connected partner"
    skus = sorted(CatalogSKU.objects.values_list("pk", flat=True))
    return World(
        skus=skus, conflicts=conflicts, jobs={k: v.pk for k, v in jobs.items()}, callie=callie.pk
    )


@pytest.fixture
def admin_client(ada: User) -> Client:
    return signed_in(ada)


@example(page="push_stock_new", form={"partner": "bubbles-brine", "sku": ["@sku:0"]})
@example(page="push_items_new", form={"partner": "bubbles-brine", "sku": "@sku:5",
                                      "conflict": "@conflict:0"})  # fmt: skip
@example(page="push_items_new", form={"partner": "cote-ouest", "sku": "@sku:5",
                                      "conflict": "²"})  # fmt: skip
@example(page="push_items_new", form={"partner": "cote-ouest", "sku": "@sku:5",
                                      "conflict": "@conflict:0"})  # fmt: skip
@example(page="push_stock_new", form={})
@example(page="push_stock_new", form={"partner": "bubbles-brine", "sku": ["@callie"]})
@example(page="push_stock_new", form={"partner": "bubbles-brine", "sku": ["@callie"],
                                      "item-@callie": "24"})  # fmt: skip
@example(page="push_stock_new", form={"partner": "bubbles-brine", "sku": ["@callie"],
                                      "item-@callie": "40"})  # fmt: skip
@example(page="push_stock_new", form={"partner": "bubbles-brine", "sku": ["@callie"],
                                      "item-@callie": "²"})  # fmt: skip
@given(page=st.sampled_from(DRAFT_PAGES), form=draft_form_data())
def test_any_draft_post_is_answered_below_500_and_a_refusal_starts_nothing(
    admin_client: Client, ada: User, world: World, page: str, form: dict[str, Any]
) -> None:
    data = world.form(form)
    note(f"POST {page} {data!r}")
    with rolled_back(admin_client):
        before = state()
        response = admin_client.post(reverse(f"inventory:{page}"), data)
        assert response.status_code in (200, 302)
        said = messages_of(response)
        if response.status_code == 302:
            event(f"{page}: drafted")
            assert [level for level, _ in said] == [constants.INFO]
            new = PushJob.objects.exclude(pk__in=[row["id"] for row in before["PushJob"]])
            [drafted] = new
            assert drafted.status == JobStatus.DRAFT and drafted.created_by == ada
            assert response["Location"] == drafted.get_absolute_url()
            assert drafted.items.exists()
        else:
            event(f"{page}: refused")
            # Refused: the reason is a message, or the partner field's own error.
            body = response.content.decode()
            assert said or 'class="errorlist"' in body, body[-3000:]
            assert all(level == constants.ERROR for level, _ in said), said
            assert not [m for _, m in said if forbidden_character(m)], "echoes damaged input"
            assert state() == before


@example(page="push_items_new", form={"partner": "cote-ouest", "conflict": "²"})
@example(page="push_items_new", form={"partner": "cote-ouest", "conflict": "9" * 5000})
@given(page=st.sampled_from(DRAFT_PAGES), form=draft_form_data())
def test_any_draft_page_query_is_answered_below_500(
    admin_client: Client, world: World, page: str, form: dict[str, Any]
) -> None:
    data = world.form(form)
    before = state()
    response = admin_client.get(reverse(f"inventory:{page}"), data)
    assert response.status_code == 200
    assert state() == before


@given(page=st.sampled_from(DRAFT_PAGES), body=st.binary(max_size=200))
def test_a_raw_undecodable_draft_body_is_answered_below_500(
    admin_client: Client, world: World, page: str, body: bytes
) -> None:
    with rolled_back(admin_client):
        before = state()
        response = admin_client.post(
            reverse(f"inventory:{page}"), body, content_type="application/x-www-form-urlencoded"
        )
        assert response.status_code in (200, 302)
        if response.status_code == 200:
            assert state() == before


jobs = st.sampled_from([*JOBS, *JOBS, 0]).flatmap(
    lambda key: st.just(key) if key else st.integers(0, 2**31) | st.integers(2**31, 2**80)
)


@example(decision="retry", target="partial", form={})
@example(decision="retry", target="failed", form={})
@example(decision="approve", target="draft-reconnect", form={})
@example(decision="approve", target=2**70, form={})
@given(decision=st.sampled_from(DECISIONS), target=jobs, form=draft_form_data())
def test_any_decision_is_answered_below_500_and_a_refusal_changes_no_job(
    admin_client: Client, world: World, decision: str, target: str | int, form: dict[str, Any]
) -> None:
    url = reverse(f"inventory:push_job_{decision}", args=[world.job_pk(target)])
    data = world.form(form)
    with rolled_back(admin_client):
        before = state()
        response = admin_client.post(url, data)
        assert response.status_code in (302, 404)
        if response.status_code == 404:
            event("no such job: 404")
            assert state() == before
            return
        [(level, message)] = messages_of(response)
        assert message.strip()
        assert forbidden_character(message) is None, "the message echoes damaged input"
        event(f"{decision} {target}: {'refused' if level == constants.ERROR else 'done'}")
        if level == constants.ERROR:
            assert state() == before, message
        else:
            expected = {"approve": JobStatus.QUEUED, "discard": JobStatus.DISCARDED,
                        "retry": JobStatus.QUEUED}[decision]  # fmt: skip
            assert PushJob.objects.get(pk=world.job_pk(target)).status == expected


@given(
    who=st.sampled_from(["alice", "bob", "sam"]),
    url=st.one_of(
        st.tuples(st.sampled_from(DRAFT_PAGES), st.none()),
        st.tuples(st.sampled_from(DECISIONS).map(lambda d: f"push_job_{d}"), jobs),
    ),
    form=draft_form_data(),
)
def test_staff_and_partner_users_cannot_draft_or_decide(
    cast: dict[str, User],
    world: World,
    who: str,
    url: tuple[str, str | int | None],
    form: dict[str, Any],
) -> None:
    name, target = url
    args = [] if target is None else [world.job_pk(target)]
    data = world.form(form)
    before = state()
    response = signed_in(cast[who]).post(reverse(f"inventory:{name}", args=args), data)
    assert response.status_code in (403, 404)
    assert state() == before
