"""`--state FILE`: the books survive a restart, and the seed is applied only once."""

from __future__ import annotations

from pathlib import Path

from .support import connect, ensure_accounts, non_inventory_item_body


def test_a_state_file_survives_a_restart_without_reseeding(tmp_path: Path) -> None:
    from qbo_sandbox.testing import start_sandbox

    state = tmp_path / "qbo.sqlite3"
    args = ("--state", str(state), "--seed", "demo", "--scale", "0.1")
    everything = "WHERE Active IN (true, false) MAXRESULTS 1000"

    first = start_sandbox(*args)
    try:
        realm_id = sorted(first.realms)[0]
        api = connect(first, realm_id).api
        items_before = len(api.rows(f"SELECT * FROM Item {everything}", "Item"))
        invoices_before = api.query("SELECT COUNT(*) FROM Invoice")["totalCount"]
        created = api.create(
            "Item", non_inventory_item_body("Persisted Pinot Noir 2022", ensure_accounts(api))
        )
        added_realm = first.new_company(seed="empty")
        realms_before = dict(first.realms)
    finally:
        first.stop()
    assert first.process.returncode == 0
    assert state.stat().st_size > 0

    second = start_sandbox(*args)
    try:
        assert set(second.realms) == set(realms_before) | {added_realm}
        for realm, name in realms_before.items():
            assert second.realms[realm] == name
        api = connect(second, realm_id).api
        kept = api.read("Item", created["Id"])
        assert kept["Name"] == "Persisted Pinot Noir 2022"
        assert kept["SyncToken"] == created["SyncToken"]
        # Re-applying the seed would have doubled these.
        assert len(api.rows(f"SELECT * FROM Item {everything}", "Item")) == items_before + 1
        assert api.query("SELECT COUNT(*) FROM Invoice")["totalCount"] == invoices_before
    finally:
        second.stop()
