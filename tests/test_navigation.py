"""The main navigation as the server renders it: which pages each role is offered, in
which menus, and which menu holds the current page. How it looks and works in a browser,
at 1280 px and on a phone, is tests/browser/test_navigation.py."""

from __future__ import annotations

import re

import pytest
from django.urls import NoReverseMatch, resolve, reverse

from accounts import context_processors
from accounts.context_processors import NAVIGATION, Link, Menu, navigation_links
from accounts.models import User
from accounts.roles import ADMINS, EVERYONE, UNE_FEMME
from tests.conftest import signed_in


def test_each_page_is_offered_to_exactly_the_roles_its_view_admits() -> None:
    # The roles in NAVIGATION are a copy of each view's @role_required: a copy that drifts
    # either shows a link that answers 403 or hides a page from people who may open it.
    checked = 0
    for link in navigation_links():
        try:
            url = reverse(link.url_name)
        except NoReverseMatch:
            continue  # a page not in this URLconf (yet): the navigation leaves it out
        allowed = getattr(resolve(url).func, "allowed_roles", None)
        assert allowed == frozenset(link.roles), (link.url_name, allowed, link.roles)
        checked += 1
    assert checked >= 12


def test_every_page_is_in_the_navigation_once() -> None:
    names = [link.url_name for link in navigation_links()]
    assert len(names) == len(set(names))
    assert all(isinstance(entry, Menu) and entry.links for entry in NAVIGATION[1:])


def _menus(html: str) -> dict[str, list[str]]:
    """Each drop-down's name and the labels of its links."""
    found = re.findall(r"<summary[^>]*>([^<]+)</summary>\s*<ul[^>]*>(.*?)</ul>", html, re.S)
    return {name: re.findall(r">([^<]+)</a>", links) for name, links in found}


@pytest.mark.django_db
def test_a_role_is_shown_only_what_it_may_open(alice: User, ada: User) -> None:
    mine = signed_in(alice).get(reverse("dashboard")).content.decode()
    assert "Catalog" not in mine and "Warehouse feed" not in mine
    assert "Mapping conflicts" not in mine
    admins = _menus(signed_in(ada).get(reverse("dashboard")).content.decode())
    assert admins["Partners"][-2:] == ["Connections", "Mapping conflicts"]
    assert {"Catalog", "Warehouse feed"} <= set(admins["Stock"])


@pytest.mark.django_db
def test_a_menu_of_one_page_is_that_pages_link_and_an_empty_one_is_not_shown(
    alice: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A drop-down of one is a click for nothing; a menu with nothing to open is clutter.
    monkeypatch.setattr(
        context_processors,
        "NAVIGATION",
        (
            Menu("Alone", (Link("Invoices", "billing:invoices", EVERYONE),
                           Link("Catalog", "inventory:catalog", UNE_FEMME))),
            Menu("Nothing", (Link("Mapping conflicts", "inventory:conflicts", ADMINS),
                             Link("Not built yet", "nowhere:page", EVERYONE))),
        ),
    )  # fmt: skip
    html = signed_in(alice).get(reverse("dashboard")).content.decode()
    assert _menus(html) == {}
    nav = html[html.index('<nav aria-label="Main">') : html.index("</nav>")]
    assert re.findall(r"<a [^>]*>([^<]+)</a>", nav) == ["Invoices"]
    assert "Alone" not in nav and "Nothing" not in nav


@pytest.mark.django_db
def test_the_current_pages_menu_is_marked(sam: User) -> None:
    html = signed_in(sam).get(reverse("billing:payments")).content.decode()
    assert re.findall(r'<summary aria-current="true">([^<]+)</summary>', html) == ["Money"]
    assert f'<a href="{reverse("billing:payments")}" aria-current="page">Payments</a>' in html
    # The dashboard is a link of its own: no menu is current there.
    home = signed_in(sam).get(reverse("dashboard")).content.decode()
    assert 'aria-current="true"' not in home
    assert f'<a href="{reverse("dashboard")}" aria-current="page">Dashboard</a>' in home
