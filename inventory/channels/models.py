"""Where an account pours or shelves the wine: the channel figures and programs split by."""

from __future__ import annotations

from django.db import models


class Channel(models.TextChoices):
    """An account's channel. On-premise venues (restaurants, bars, hotels) pour the wine;
    off-premise ones (wine shops, grocers) sell the bottle; anything else is "other"."""

    ON_PREMISE = "on_premise", "On-premise"
    OFF_PREMISE = "off_premise", "Off-premise"
    OTHER = "other", "Other"
