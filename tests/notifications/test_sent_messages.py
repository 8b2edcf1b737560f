"""Every e-mail is recorded as sent, the newest kept; admins read them on one page."""

from __future__ import annotations

from typing import Any

import pytest
from django.core import mail
from django.core.mail import EmailMultiAlternatives, send_mail
from django.urls import reverse

from accounts.models import User
from notifications.models import SentMessage
from tests.conftest import signed_in

pytestmark = pytest.mark.django_db


def test_each_message_is_delivered_and_recorded_with_both_parts() -> None:
    message = EmailMultiAlternatives(
        "Your invitation", "Open https://unefemme.example/invite/abc/", to=["new@example.test"]
    )
    message.attach_alternative(
        '<p><a href="https://unefemme.example/invite/abc/">Open</a></p>', "text/html"
    )
    message.send()
    send_mail("Plain", "Only text", None, ["plain@example.test"])

    assert [m.subject for m in mail.outbox] == ["Your invitation", "Plain"]  # delivered
    first, second = SentMessage.objects.order_by("pk")
    assert (first.to, first.subject) == ("new@example.test", "Your invitation")
    assert first.body_text == "Open https://unefemme.example/invite/abc/"
    assert 'href="https://unefemme.example/invite/abc/"' in first.body_html
    assert (second.body_text, second.body_html, second.kind) == ("Only text", "", "")


def test_only_the_newest_are_kept(settings: Any) -> None:
    settings.SENT_MESSAGES_KEEP = 3
    for n in range(5):
        send_mail(f"Message {n}", "x", None, ["a@example.test"])
    assert list(SentMessage.objects.values_list("subject", flat=True)) == [
        "Message 4",
        "Message 3",
        "Message 2",
    ]


@pytest.mark.parametrize(("who", "status"), [("alice", 403), ("sam", 403), ("ada", 200)])
def test_the_sent_page_is_for_admins(cast: dict[str, User], who: str, status: int) -> None:
    send_mail("Welcome to unefemme", "Read https://unefemme.example/x/", None, ["z@example.test"])
    response = signed_in(cast[who]).get(reverse("notifications:sent"))
    assert response.status_code == status
    if status == 200:
        page = response.content.decode()
        assert "Welcome to unefemme" in page and "z@example.test" in page
        # The text part's links can be followed from the page.
        assert '<a href="https://unefemme.example/x/"' in page


def test_the_sent_page_lists_the_last_hundred(ada: User, settings: Any) -> None:
    settings.SENT_MESSAGES_KEEP = 150
    SentMessage.objects.bulk_create(
        [SentMessage(to="a@example.test", subject=f"Subject #{n:03d}.") for n in range(120)]
    )
    page = signed_in(ada).get(reverse("notifications:sent")).content.decode()
    assert page.count('class="sent-subject"') == 100
    assert "Subject #119." in page and "Subject #019." not in page


def test_the_sent_page_refuses_strangers(client: Any) -> None:
    response = client.get(reverse("notifications:sent"))
    assert response.status_code == 302
