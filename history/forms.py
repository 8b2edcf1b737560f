from __future__ import annotations

from common.forms import PartnerFilterForm


class TrendsFilterForm(PartnerFilterForm):
    """The trends page's one filter: which partner (staff and admins only; a partner user
    has no such field and sees its own partner)."""
