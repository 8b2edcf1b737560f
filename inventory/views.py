from __future__ import annotations

from django.http import HttpResponse
from django.shortcuts import render

from accounts.access import AuthedRequest, role_required
from accounts.roles import EVERYONE


@role_required(*EVERYONE)
def discrepancies(request: AuthedRequest) -> HttpResponse:
    return render(request, "inventory/discrepancies.html")
