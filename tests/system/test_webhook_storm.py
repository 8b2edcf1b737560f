"""The webhook storm of issue 14, whole (bench/webhook_storm.py): 1,000 signed deliveries
over 60 seconds for three realms, 30 % of them duplicates, shuffled, some sent after the
change they describe was already polled. Every one must be answered 200 in under 3 s, each
distinct event stored exactly once, the polls coalesced, no run left running, and every
mirror equal to QuickBooks at the end. About a minute and a half on 2 cores.

bench/webhook_storm.py starts a whole unefemme of its own (bench/_stack.py: PostgreSQL,
Redis, qbo_sandbox, gunicorn, a worker and beat), so it runs in a subprocess: this
process's Django is set up for the test database, which the run must not touch. It
therefore takes no ``db`` fixture, and reads the run's figures from its JSON.
"""

from __future__ import annotations

from pathlib import Path

from tests.system.bench_run import run_bench

DELIVERIES, SECONDS, REALMS, DUPLICATES = 1000, 60, 3, 0.3


def test_a_storm_of_webhooks_is_acknowledged_in_time_stored_once_coalesced_and_converges(
    tmp_path: Path,
) -> None:
    run = run_bench(
        "webhook_storm.py",
        ["--deliveries", str(DELIVERIES), "--seconds", str(SECONDS), "--realms", str(REALMS),
         "--duplicates", str(DUPLICATES), "--workdir", str(tmp_path / "stack")],
        tmp_path, timeout=480,
    )  # fmt: skip
    found = run.found
    context = f"\n{run.tail(20)}"

    # The storm happened as asked: real changes, described, duplicated and shuffled.
    assert not found["change_errors"], found["change_errors"]
    assert found["deliveries"] == DELIVERIES
    assert found["duplicate_deliveries"] == round(DELIVERIES * DUPLICATES)
    assert found["distinct_deliveries"] == DELIVERIES - found["duplicate_deliveries"]
    assert found["distinct_events"] >= found["distinct_deliveries"] > 0
    assert found["deliveries_out_of_order"] > 0
    assert found["deliveries_after_poll"] > 0, "no delivery came after its change was polled"
    # Every delivery acknowledged within Intuit's 3 seconds.
    assert found["statuses"] == {"200": DELIVERIES}, found["statuses"]
    assert found["ack_seconds"]["max"] < 3, found["ack_seconds"]
    # Each distinct event stored once, as sent; the redeliveries stored nothing.
    assert found["events_stored"] == found["distinct_events"], context
    assert found["events_stored_twice"] == found["events_stored_wrong"] == 0
    # Polls coalesced: far fewer than the deliveries, and each of them succeeded.
    assert 0 < found["polls"] <= DELIVERIES // 10, (found["polls"], found["polls_by_trigger"])
    assert set(found["polls_by_status"]) == {"succeeded"}, found["poll_errors"]
    # Nothing left running, and QuickBooks and the mirror agree.
    assert found["runs_stuck"] == 0
    assert found["converged"], (found["mirror_differences"], context)
    assert found["realms_equal"] == REALMS
    assert found["passed"], (found["checks"], context)
    assert run.returncode == 0, context
