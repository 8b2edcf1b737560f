"""Whatever an admin types as a rule (kind, pattern or type name, channel), the rules page
answers below 500: a rule that can be used is stored and redirects, one that cannot is
shown again with its message and a 200; nothing else happens."""

from __future__ import annotations

import pytest
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.models import Partner, User
from inventory.channels.models import ChannelRule
from tests.conftest import rolled_back, signed_in

pytestmark = pytest.mark.django_db

WORDS = st.sampled_from(
    ["bistro", "Château d'Yquem", "Crémant: Brut", "*", "|", "||", "wine*bar", " ", "%", "_",
     "\x00", "\u202e", "' OR 1=1 --", "<b>", "€" * 120, "a" * 201]
)  # fmt: skip
# No lone surrogates: a form body is UTF-8, which cannot carry one (the test client refuses
# to encode it, and a browser sends U+FFFD).
VALUES = st.one_of(
    st.text(st.characters(exclude_categories=["Cs"]), max_size=250),
    st.lists(WORDS, max_size=6).map("".join),
)
KINDS = st.sampled_from(["name", "customer_type", "", "regex", "\x00"])
CHANNELS = st.sampled_from(["on_premise", "off_premise", "other", "", "bar", "\x00"])


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(kind=KINDS, value=VALUES, channel=CHANNELS)
def test_no_rule_input_reaches_a_5xx(
    kind: str, value: str, channel: str, partner_a: Partner, ada: User
) -> None:
    client = signed_in(ada)
    url = reverse("inventory:channel_rule_create", args=[partner_a.pk])
    with rolled_back(client):
        response = client.post(url, {"kind": kind, "value": value, "channel": channel})
        assert response.status_code in (200, 302), response.status_code
        stored = ChannelRule.objects.filter(partner=partner_a).count()
        if response.status_code == 302:
            assert stored == 1
        else:
            assert stored == 0
            assert 'class="errorlist' in response.content.decode()
