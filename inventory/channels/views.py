"""The channels pages (docs/reports.md, "Channels"): every account with its channel and what
decided it (``/inventory/channels/``), and each partner's rules
(``/inventory/channels/<partner>/rules/``).

Who: everyone reads, within their scope (a partner user sees their own partner's accounts
and rules, and gets a 404 for another partner's); only admins change anything (rules,
per-account overrides, re-reading the customer types): staff and partner users get 403 on
every write. The views bind a form, call one service and redirect or re-render.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse, HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.access import AuthedRequest, role_required
from accounts.models import Partner
from accounts.roles import ADMINS, EVERYONE
from common.htmx import wants_fragment
from common.tables import Column, Table, csv_response
from sync.models import QBOConnection

from . import selectors
from . import services as channels
from .forms import AccountsFilterForm, MoveForm, OverrideForm, RuleForm
from .matching import fold
from .selectors import AccountChannel

ACCOUNTS_PAGE = "inventory/channels/accounts.html"
ACCOUNTS_FRAGMENT = "channel-accounts"
RULES_PAGE = "inventory/channels/rules.html"


def rules_url(partner_id: int) -> str:
    return reverse("inventory:channel_rules", args=[partner_id])


ACCOUNTS = Table(
    [
        Column(
            "partner",
            "Partner",
            attr="partner_name",
            sort=lambda a: (a.partner_name.casefold(), a.name.casefold()),
        ),
        Column("name", "Account", sort=lambda a: (a.name.casefold(), a.customer_qbo_id)),
        Column("customer_qbo_id", "QuickBooks id", export=True),
        Column(
            "type_name", "Customer type", sort=lambda a: (a.type_name.casefold(), a.name.casefold())
        ),
        Column(
            "channel",
            "Channel",
            attr="channel_label",
            sort=lambda a: (a.channel_label, a.name.casefold()),
        ),
        Column(
            "source",
            "Decided by",
            attr="source_label",
            sort=lambda a: (a.source_label, a.name.casefold()),
        ),
        Column("decided_by", "How"),
    ],  # fmt: skip
    default_sort="name",
    per_page=100,
)


class _Row:
    """An account as the table shows it: its channel, and its partner's name."""

    def __init__(self, account: AccountChannel, partner_name: str) -> None:
        self.account = account
        self.partner_name = partner_name

    def __getattr__(self, name: str) -> Any:
        return getattr(self.account, name)


@role_required(*EVERYONE)
@require_GET
def channel_accounts(request: AuthedRequest) -> HttpResponseBase:
    user = request.user
    form = AccountsFilterForm(request.GET, user=user)
    form.is_valid()  # bad filters are shown and left out
    filters = form.filters()
    connections = QBOConnection.objects.visible_to(user)
    if filters["partner_id"] is not None:
        connections = connections.filter(partner_id=filters["partner_id"])
    partner_names = dict(connections.values_list("pk", "partner__name"))
    accounts = selectors.account_channel_rows(connection_ids=partner_names)
    wanted = fold(filters["q"])
    rows = [
        _Row(a, partner_names[a.connection_id])
        for a in accounts
        if (not filters["channel"] or a.channel == filters["channel"])
        and (not filters["source"] or a.source == filters["source"])
        and (not wanted or wanted in fold(a.name))
    ]
    hide = [] if user.sees_all_partners else ["partner"]
    table = ACCOUNTS.bind(request, rows, hide=hide)
    if table.is_csv:
        return csv_response(table, "account-channels.csv")
    context = {
        "form": form,
        "table": table,
        "partners": selectors.partners_with_counts(user=user),
        "filtered": any(filters.values()),
        "override_form": OverrideForm(),
        "next": request.get_full_path(),
    }
    template = ACCOUNTS_PAGE
    if wants_fragment(request):
        template += f"#{ACCOUNTS_FRAGMENT}"
    return render(request, template, context)


def _rules_context(partner: Partner, form: RuleForm | None = None) -> dict[str, Any]:
    return {
        "partner": partner,
        "rules": selectors.partner_rules(partner=partner),
        "types": selectors.partner_customer_types(partner=partner),
        "form": form or RuleForm(),
        "connections": partner.connections.live().order_by("pk"),
    }


@role_required(*EVERYONE)
@require_GET
def channel_rules(request: AuthedRequest, partner_id: int) -> HttpResponse:
    partner = selectors.get_partner_for_user(request, partner_id)
    return render(request, RULES_PAGE, _rules_context(partner))


@role_required(*ADMINS)
@require_POST
def channel_rule_create(request: AuthedRequest, partner_id: int) -> HttpResponse:
    partner = selectors.get_partner_for_user(request, partner_id)
    form = RuleForm(request.POST)
    if form.is_valid():
        try:
            rule = channels.channel_rule_create(
                partner=partner, user=request.user, **form.cleaned_data
            )
        except ValidationError as exc:
            _form_errors(form, exc)
        else:
            messages.success(request, f"Rule {rule.position} added: {rule}.")
            return redirect(rules_url(partner.pk))
    # Re-rendered with its errors and a 200, as htmx swaps it (docs/style.md, 5).
    return render(request, RULES_PAGE, _rules_context(partner, form))


def _form_errors(form: RuleForm, exc: ValidationError) -> None:
    if hasattr(exc, "error_dict"):
        for field, errors in exc.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc)


@role_required(*ADMINS)
@require_http_methods(["GET", "POST"])
def channel_rule_edit(request: AuthedRequest, pk: int) -> HttpResponse:
    rule = selectors.get_rule_for_user(request, pk)
    if request.method == "GET":
        form = RuleForm(initial={"kind": rule.kind, "value": rule.value, "channel": rule.channel})
    else:
        form = RuleForm(request.POST)
        if form.is_valid():
            try:
                rule = channels.channel_rule_update(
                    rule_id=rule.pk, user=request.user, **form.cleaned_data
                )
            except ValidationError as exc:
                _form_errors(form, exc)
            else:
                messages.success(request, f"Rule {rule.position} saved: {rule}.")
                return redirect(rules_url(rule.partner_id))
    return render(request, "inventory/channels/rule_edit.html", {"rule": rule, "form": form})


@role_required(*ADMINS)
@require_POST
def channel_rule_delete(request: AuthedRequest, pk: int) -> HttpResponse:
    rule = selectors.get_rule_for_user(request, pk)
    said = str(rule)
    channels.channel_rule_delete(rule_id=rule.pk, user=request.user)
    messages.success(request, f"Rule deleted: {said}.")
    return redirect(rules_url(rule.partner_id))


@role_required(*ADMINS)
@require_POST
def channel_rule_move(request: AuthedRequest, pk: int) -> HttpResponse:
    rule = selectors.get_rule_for_user(request, pk)
    form = MoveForm(request.POST)
    if form.is_valid():
        channels.channel_rule_move(
            rule_id=rule.pk, up=form.cleaned_data["direction"] == "up", user=request.user
        )
    else:
        messages.error(request, "Nothing was changed: move the rule up or down.")
    return redirect(f"{rules_url(rule.partner_id)}#rule-{rule.pk}")


@role_required(*ADMINS)
@require_POST
def channel_types_refresh(request: AuthedRequest, partner_id: int) -> HttpResponse:
    """Re-read the customer type names from the partner's QuickBooks now: one query
    request per live company, answered while the admin waits."""
    partner = selectors.get_partner_for_user(request, partner_id)
    outcomes = channels.customer_types_refresh_for_partner(partner=partner, user=request.user)
    if not outcomes:
        messages.error(request, "This partner has no connected QuickBooks company to read.")
    for read in outcomes:
        if read.count is None:
            messages.error(
                request,
                f"QuickBooks did not answer for {read.company}: {read.error}. "
                "The names read before are kept.",
            )
        else:
            plural = "s" if read.count != 1 else ""
            messages.success(
                request, f"Read {read.count} customer type{plural} from {read.company}."
            )
    return redirect(rules_url(partner.pk))


@role_required(*ADMINS)
@require_POST
def channel_override(
    request: AuthedRequest, connection_id: int, customer_qbo_id: str
) -> HttpResponse:
    connection = get_object_or_404(QBOConnection.objects.visible_to(request.user), pk=connection_id)
    form = OverrideForm(request.POST)
    if not form.is_valid():
        messages.error(
            request, "Nothing was changed. " + " ".join(str(e) for e in form.errors["channel"])
        )
    else:
        try:
            override = channels.channel_override_set(
                connection_id=connection.pk, customer_qbo_id=customer_qbo_id,
                channel=form.cleaned_data["channel"], user=request.user,
            )  # fmt: skip
        except ValidationError as exc:
            messages.error(request, "Nothing was changed. " + " ".join(exc.messages))
        else:
            if override is None:
                messages.success(request, "Override cleared: the rules decide this account again.")
            else:
                messages.success(
                    request, f"This account is now {override.get_channel_display()}, set by you."
                )
    return redirect(_return_to(request, request.POST.get("next"), connection.partner_id))


def _return_to(request: AuthedRequest, url: str | None, partner_id: int) -> str:
    """``url`` when it is a page of this site (the form's ``next``); the partner's accounts
    otherwise, so a crafted form can never send anyone elsewhere."""
    if url and url_has_allowed_host_and_scheme(
        url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return url
    return f"{reverse('inventory:channels')}?{urlencode({'partner': partner_id})}"
