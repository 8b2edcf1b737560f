"""Each person sets their own notifications, and only the kinds their role receives."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.models import User
from notifications.models import Delivery, Kind, NotificationPreference
from notifications.selectors import preferences_for
from tests.conftest import signed_in

pytestmark = pytest.mark.django_db

URL = "/notifications/preferences/"


def test_the_url() -> None:
    assert reverse("notifications:preferences") == URL


@pytest.mark.parametrize(
    ("who", "kinds"),
    [
        ("alice", [Kind.CONNECTION_RECONNECT, Kind.WAREHOUSE_STALE]),
        ("sam", [Kind.CONNECTION_RECONNECT, Kind.SYNC_FAILING]),
        ("ada", [Kind.CONNECTION_RECONNECT, Kind.SYNC_FAILING, Kind.MAPPING_CONFLICT]),
    ],
)
def test_each_role_sees_its_own_kinds_with_defaults(
    cast: dict[str, User], who: str, kinds: list[str]
) -> None:
    response = signed_in(cast[who]).get(URL)
    assert response.status_code == 200
    assert list(response.context["form"].fields) == kinds
    assert preferences_for(cast[who]) == dict.fromkeys(kinds, Delivery.IMMEDIATELY)


def test_saving_changes_only_ones_own(cast: dict[str, User]) -> None:
    alice, bob = cast["alice"], cast["bob"]
    response = signed_in(alice).post(
        URL,
        {
            Kind.CONNECTION_RECONNECT: Delivery.DIGEST,
            Kind.WAREHOUSE_STALE: Delivery.OFF,
            # Not alice's to choose, and naming bob changes nothing: there is no such field.
            Kind.MAPPING_CONFLICT: Delivery.OFF,
            "user": bob.pk,
        },
    )
    assert response.status_code == 302 and response["Location"] == URL
    assert preferences_for(alice) == {
        Kind.CONNECTION_RECONNECT: Delivery.DIGEST,
        Kind.WAREHOUSE_STALE: Delivery.OFF,
    }
    assert not NotificationPreference.objects.filter(user=bob).exists()
    assert not NotificationPreference.objects.filter(kind=Kind.MAPPING_CONFLICT).exists()


def test_a_bad_choice_is_refused_with_a_message(cast: dict[str, User]) -> None:
    response = signed_in(cast["sam"]).post(URL, {Kind.SYNC_FAILING: "hourly"})
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert not NotificationPreference.objects.exists()


def test_strangers_are_sent_to_sign_in(client: object) -> None:
    response = client.get(URL)  # type: ignore[attr-defined]
    assert response.status_code == 302
