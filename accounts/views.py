from __future__ import annotations

from django.http import HttpResponse
from django.shortcuts import render

from .access import AuthedRequest, role_required
from .roles import UNE_FEMME
from .selectors import partner_list


@role_required(*UNE_FEMME)
def partners(request: AuthedRequest) -> HttpResponse:
    return render(request, "accounts/partners.html", {"partners": partner_list(user=request.user)})
