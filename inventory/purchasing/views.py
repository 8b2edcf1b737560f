"""The suppliers page: which vendor is Une Femme in each partner's QuickBooks, how it was
found and its recent changes. Everyone reads it (partner users their own company only);
admins set the vendor, or hand it back to the automatic rules, one connection at a time.
The rules live in ``inventory.purchasing.services``."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from accounts.access import AuthedRequest, role_required
from accounts.roles import ADMINS, EVERYONE
from common.sentences import end_sentence
from sync.models import QBOConnection

from . import selectors, services
from .forms import AUTOMATIC, VendorChoiceForm
from .models import UneFemmeVendor, describe_choice


@role_required(*EVERYONE)
@require_GET
def suppliers(request: AuthedRequest) -> HttpResponse:
    can_edit = request.user.is_admin
    rows = selectors.supplier_rows(user=request.user, with_vendors=can_edit)
    context = {
        "rows": rows,
        "can_edit": can_edit,
        "automatic": AUTOMATIC,
        "sources": UneFemmeVendor.Source,
    }
    return render(request, "inventory/purchasing/suppliers.html", context)


def _back(connection: QBOConnection) -> HttpResponse:
    return redirect(f"{reverse('inventory:suppliers')}#connection-{connection.pk}")


@role_required(*ADMINS)
@require_http_methods(["GET", "POST"])
def supplier_vendor(request: AuthedRequest, pk: int) -> HttpResponse:
    connection = selectors.get_connection_for_user(request, pk)
    if request.method == "GET":
        # A GET changes nothing: it shows the connection's row, whose form POSTs.
        return _back(connection)
    partner = connection.partner.name
    form = VendorChoiceForm(request.POST)
    if not form.is_valid():
        errors = " ".join(str(m) for e in form.errors.values() for m in e)
        messages.error(request, f"{partner}: nothing was changed. {errors}")
        return _back(connection)
    try:
        if form.automatic:
            row, changed = services.une_femme_vendor_reset(
                connection_id=connection.pk, user=request.user
            )
        else:
            row, changed = services.une_femme_vendor_set(
                connection_id=connection.pk,
                user=request.user,
                vendor_qbo_id=form.cleaned_data["vendor"],
            )
    except ValidationError as exc:
        messages.error(request, f"{partner}: {' '.join(exc.messages)}")
        return _back(connection)
    summary = describe_choice(
        {"vendor_qbo_id": row.vendor_qbo_id, "vendor_name": row.vendor_name, "source": row.source}
    )
    if not changed:
        messages.info(request, f"{partner}: nothing changed. Still {summary}.")
    elif form.automatic:
        messages.success(request, f"{partner}: back to automatic. Now {summary}.")
    else:
        messages.success(
            request,
            f"{partner}: Une Femme is now {end_sentence(row.vendor_name)} Syncs keep this "
            "choice until an admin changes it.",
        )
    return _back(connection)
