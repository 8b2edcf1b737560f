from __future__ import annotations

from django.http import HttpResponse
from django.shortcuts import render

from accounts.access import AuthedRequest, role_required
from accounts.roles import EVERYONE


@role_required(*EVERYONE)
def invoices(request: AuthedRequest) -> HttpResponse:
    return render(request, "billing/invoices.html")


@role_required(*EVERYONE)
def payments(request: AuthedRequest) -> HttpResponse:
    return render(request, "billing/payments.html")
