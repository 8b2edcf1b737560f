"""The convergence run's short version (bench/convergence.py): three small companies synced
through 10 % 5xx, 5 % 429, 2 % dropped connections and 1 % timeouts, webhooks duplicated,
delayed and reordered, the books changing all the while, a push job running, the worker
killed -9 three times, Redis restarted and PostgreSQL crashed once; then the faults stop
and the mirror must equal QuickBooks exactly.

bench/convergence.py starts a whole unefemme of its own (bench/_stack.py) and restarts its
servers, so it runs in a subprocess: this process's Django is set up for the test database,
which the run must not touch. It takes no ``db`` fixture.
"""

from __future__ import annotations

from pathlib import Path

from tests.system.bench_run import run_bench


def test_the_mirror_converges_through_faults_kills_and_restarts(tmp_path: Path) -> None:
    run = run_bench(
        "convergence.py",
        ["--companies", "3", "--scale", "1", "--chaos-seconds", "60", "--push-items", "20",
         "--converge-timeout", "180", "--seed", "7", "--workdir", str(tmp_path / "stack")],
        tmp_path, timeout=480,
    )  # fmt: skip
    found = run.found
    problems = {
        name: found[name]
        for name in ("mirror_differences", "push_problems", "stuck", "version_problems")
        if found[name]
    }

    assert not problems, (problems, run.tail())
    assert found["log_problems"] == []
    assert run.returncode == 0
    # The run really was what it says: the faults happened, the kills and restarts too...
    faults = found["faults_injected"]
    assert sum(faults["5xx"].values()) > 0 and faults["429"] > 0
    assert faults["drop_before"] + faults["drop_after"] > 0
    events = "\n".join(found["events"])
    assert events.count("kill worker: 1 killed -9") == 3, events
    assert "restart redis" in events and "PostgreSQL crashed, a new worker took" in events
    # ...the mirror was compared row by row, the push wrote its items once each, and the
    # run log kept the 429s met and the retries made.
    assert found["rows_compared"] > 1000
    assert found["push_items"] == 20 and found["push_status"] == "done"
    assert found["run_retries"] > 0 and found["run_throttled"] <= found["run_retries"]
    assert found["converge_seconds"] is not None
    # Every change has its version, once; the quiet poll at the end wrote none.
    assert found["versions"] >= found["rows_compared"]
    assert found["quiet_poll_versions"] == 0
