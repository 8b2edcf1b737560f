"""Retail accounts' channels: on-premise, off-premise or other (docs/reports.md, "Channels")."""
