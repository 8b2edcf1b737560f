"""The reports: stock discrepancies and depletion (days on hand). Reads only."""
