"""Partners and people, in the app. Admins create and edit partners and deactivate,
reactivate or re-role people; staff read the same pages without the forms; partner users
are refused every one of them (403). The changes live in ``accounts.services``."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db import IntegrityError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from . import selectors, services
from .access import AuthedRequest, role_required
from .forms import PartnerForm, PeopleFilterForm, RoleForm
from .models import Partner
from .roles import ADMINS, UNE_FEMME, Role


def _partner_or_404(pk: int) -> Partner:
    # Only Une Femme reaches these views, and they see every partner.
    try:
        return Partner.objects.get(pk=pk)
    except Partner.DoesNotExist:
        raise Http404 from None


def _form_errors_from(form: PartnerForm | RoleForm, exc: ValidationError) -> None:
    """Put a service's ValidationError next to the fields it names (a name taken between
    the form's check and the save)."""
    if hasattr(exc, "error_dict"):
        for field, errors in exc.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)


@role_required(*ADMINS)
@require_http_methods(["GET", "POST"])
def partner_new(request: AuthedRequest) -> HttpResponse:
    form = PartnerForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            partner = services.partner_create(actor=request.user, **form.cleaned_data)
        except (ValidationError, IntegrityError) as exc:
            _form_errors_from(form, exc if isinstance(exc, ValidationError) else _taken())
        else:
            messages.success(
                request,
                f"{partner.name} added. Invite its people next; they connect its QuickBooks "
                "company on Connections.",
            )
            return redirect("accounts:partner_edit", pk=partner.pk)
    return render(request, "accounts/partner_form.html", {"form": form, "partner": None})


def _taken() -> ValidationError:
    return ValidationError("Another partner took this name or slug a moment ago; try another.")


@role_required(*UNE_FEMME)
@require_http_methods(["GET", "POST"])
def partner_edit(request: AuthedRequest, pk: int) -> HttpResponse:
    partner = _partner_or_404(pk)
    can_edit = request.user.is_admin
    if request.method == "POST" and not can_edit:
        raise PermissionDenied  # staff read this page; only admins change a partner
    form = None
    if can_edit:
        form = PartnerForm(request.POST or None, instance=partner)
        if request.method == "POST" and form.is_valid():
            try:
                services.partner_update(
                    partner_id=partner.pk, actor=request.user, **form.cleaned_data
                )
            except (ValidationError, IntegrityError) as exc:
                _form_errors_from(form, exc if isinstance(exc, ValidationError) else _taken())
            else:
                messages.success(request, f"{form.cleaned_data['name']} saved.")
                return redirect("accounts:partner_edit", pk=partner.pk)
        # The form's validation wrote the typed values onto ``partner``: show the saved ones.
        partner = _partner_or_404(pk)
    context = {
        "partner": partner,
        "form": form,
        "can_edit": can_edit,
        "details": PartnerForm(instance=partner) if not can_edit else None,
        "audit": selectors.audit_trail_for(target_type="accounts.partner", target_id=partner.pk),
        "people": partner.users.order_by("email"),
    }
    return render(request, "accounts/partner_form.html", context)


# A page of people: Une Femme's few dozen fit on one; the paging keeps a long list cheap.
PEOPLE_PER_PAGE = 100


@role_required(*UNE_FEMME)
@require_GET
def people(request: AuthedRequest) -> HttpResponse:
    form = PeopleFilterForm(request.GET or None)
    filters = form.filters() if form.is_valid() else {}
    rows = selectors.people_list(user=request.user, **filters).order_by("email", "pk")
    page = Paginator(rows, PEOPLE_PER_PAGE).get_page(request.GET.get("page"))
    template = "accounts/people.html"
    # The filter form (common/_filters.html) swaps only the list under htmx; a boosted
    # request is a navigation and gets the whole page. (accounts sits below common, so
    # common.htmx.wants_fragment is spelled out here.)
    htmx = getattr(request, "htmx", None)
    if htmx and not htmx.boosted:
        template += "#people-table"
    params = request.GET.copy()
    params.pop("page", None)
    context = {
        "form": form,
        "page": page,
        "query": params.urlencode(),
        "sign_ins": selectors.recent_sign_ins(user=request.user),
        "can_edit": request.user.is_admin,
    }
    return render(request, template, context)


@role_required(*UNE_FEMME)
@require_GET
def person(request: AuthedRequest, pk: int) -> HttpResponse:
    subject = selectors.get_person_for_user(request.user, pk)
    context = {
        "person": subject,
        "is_self": subject.pk == request.user.pk,
        "can_edit": request.user.is_admin,
        "role_form": RoleForm.for_user(subject) if request.user.is_admin else None,
        "sign_ins": selectors.person_sign_ins(person=subject),
        "audit": selectors.person_audit_trail(person=subject),
    }
    return render(request, "accounts/person.html", context)


@role_required(*ADMINS)
@require_http_methods(["GET", "POST"])
def person_deactivate(request: AuthedRequest, pk: int) -> HttpResponse:
    return _active_change(request, pk, activate=False)


@role_required(*ADMINS)
@require_http_methods(["GET", "POST"])
def person_reactivate(request: AuthedRequest, pk: int) -> HttpResponse:
    return _active_change(request, pk, activate=True)


def _active_change(request: AuthedRequest, pk: int, *, activate: bool) -> HttpResponse:
    subject = selectors.get_person_for_user(request.user, pk)
    if request.method == "GET":
        # A GET changes nothing: it asks to confirm, and the confirmation POSTs.
        return render(
            request,
            "accounts/person_confirm.html",
            {"person": subject, "activate": activate, "is_self": subject.pk == request.user.pk},
        )
    try:
        if activate:
            services.user_reactivate(user_id=subject.pk, actor=request.user)
            messages.success(request, f"{subject.email} can sign in again.")
        else:
            services.user_deactivate(user_id=subject.pk, actor=request.user)
            messages.success(request, f"{subject.email} is deactivated and signed out everywhere.")
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    return redirect("accounts:person", pk=subject.pk)


@role_required(*ADMINS)
@require_http_methods(["GET", "POST"])
def person_role(request: AuthedRequest, pk: int) -> HttpResponse:
    subject = selectors.get_person_for_user(request.user, pk)
    if request.method == "GET":
        return redirect("accounts:person", pk=subject.pk)  # the form is on the person's page
    form = RoleForm(request.POST)
    if form.is_valid():
        partner = form.cleaned_data["partner"]
        try:
            services.user_role_set(
                user_id=subject.pk,
                actor=request.user,
                role=Role(form.cleaned_data["role"]),
                partner_id=partner.pk if partner else None,
            )
        except ValidationError as exc:
            if not hasattr(exc, "error_dict"):
                # Not about a field (changing one's own role): say so on the person's page.
                messages.error(request, " ".join(exc.messages))
                return redirect("accounts:person", pk=subject.pk)
            _form_errors_from(form, exc)
        else:
            messages.success(request, f"{subject.email}'s role saved.")
            return redirect("accounts:person", pk=subject.pk)
    context = {
        "person": subject,
        "is_self": subject.pk == request.user.pk,
        "can_edit": True,
        "role_form": form,
        "sign_ins": selectors.person_sign_ins(person=subject),
        "audit": selectors.person_audit_trail(person=subject),
    }
    return render(request, "accounts/person.html", context, status=400)
