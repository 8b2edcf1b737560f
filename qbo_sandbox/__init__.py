"""qbo_sandbox: an offline, stateful QuickBooks Online that stock QBO clients use unmodified.

Run it with `python -m qbo_sandbox serve`; start it from tests with
`qbo_sandbox.testing.start_sandbox`. See README.md for what is implemented.
"""

from __future__ import annotations

__version__ = "0.1.0"
