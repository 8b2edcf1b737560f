"""Command line: `python -m qbo_sandbox serve ...` and `python -m qbo_sandbox activity ...`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from qbo_sandbox import activity, server
from qbo_sandbox.cdc import CAP_ORDERS
from qbo_sandbox.common import DEFAULT_NAIVE_TIME_ZONE, load_zone


def _probability(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError("a probability between 0 and 1")
    return value


def _positive(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be positive")
    return value


def _non_negative(text: str) -> float:
    value = float(text)
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError("must be a finite number, 0 or more")
    return value


def _zone(text: str) -> str:
    try:
        load_zone(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"no time zone named {text!r} (an IANA name such as America/Los_Angeles, UTC "
            "or Etc/GMT+12)"
        ) from None
    return text


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m qbo_sandbox",
        description="An offline, stateful QuickBooks Online for demos and tests.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser(
        "serve",
        help="run the sandbox server",
        description="Serve QuickBooks Online's OAuth and Accounting APIs until SIGINT/SIGTERM.",
    )
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8700, help="0 picks a free port")
    serve.add_argument("--state", default=":memory:", help="SQLite file, or :memory:")
    serve.add_argument(
        "--seed",
        choices=("demo", "empty"),
        default="demo",
        help="applied only when the state file has no companies yet",
    )
    serve.add_argument("--seed-number", type=int, default=1)
    serve.add_argument(
        "--scale", type=_positive, default=1.0, help="multiplies the seeded transaction volume"
    )
    serve.add_argument(
        "--client-id",
        action="append",
        help="an app's client id (repeatable; paired in order with --client-secret)",
    )
    serve.add_argument("--client-secret", action="append")
    serve.add_argument(
        "--redirect-uri",
        action="append",
        help="an allowed OAuth callback (repeatable); without any, every http(s) URI on "
        "127.0.0.1 or localhost is allowed",
    )
    serve.add_argument("--webhook-url")
    serve.add_argument("--webhook-verifier", help="the verifier token that signs webhooks")
    serve.add_argument("--webhook-format", choices=("cloudevents", "legacy"), default="cloudevents")
    serve.add_argument(
        "--time-scale",
        type=_positive,
        default=1.0,
        help="60 makes an Intuit minute last a real second (throttle windows, webhook "
        "retries, token lifetimes; not the 30-day CDC look-back)",
    )
    serve.add_argument(
        "--rotate-every-refresh",
        action="store_true",
        help="replace the refresh token on every refresh (default: as Intuit, the same "
        "value comes back during its first 24 hours, then a new one)",
    )
    serve.add_argument("--limit-per-minute", type=int, default=500, help="0 disables")
    serve.add_argument("--limit-concurrent", type=int, default=10, help="0 disables")
    serve.add_argument("--limit-batch-per-minute-app", type=int, default=40, help="0 disables")
    serve.add_argument("--limit-batch-per-minute-realm", type=int, default=120, help="0 disables")
    # Fault injection (README, "Fault injection"), all off by default.
    for flag, meaning in (
        ("5xx", "a 500, 502 or 503 (equal shares) before any work"),
        ("429", "a 429 ThrottleExceeded with Retry-After before any work"),
        ("slow", "the answer delayed by --slow-seconds"),
        ("drop", "the connection closed without an answer after the work is committed"),
        ("drop-before", "the connection closed without an answer before any work"),
        ("drop-batch", "as --fault-drop, for POST /batch only"),
    ):
        serve.add_argument(
            f"--fault-{flag}",
            type=_probability,
            default=0.0,
            metavar="P",
            help=f"probability 0..1 of {meaning}",
        )
    serve.add_argument(
        "--slow-seconds",
        type=_non_negative,
        default=5.0,
        help="Intuit seconds a --fault-slow answer waits (default 5)",
    )
    for flag, meaning in (
        ("duplicate", "sent twice (the same body)"),
        ("delay", "delayed by up to --webhook-delay-max-seconds"),
        ("reorder", "held and sent after the realm's next delivery"),
    ):
        serve.add_argument(
            f"--webhook-{flag}",
            type=_probability,
            default=0.0,
            metavar="P",
            help=f"probability 0..1 that a webhook delivery is {meaning}",
        )
    serve.add_argument(
        "--webhook-delay-max-seconds",
        type=_non_negative,
        default=10.0,
        help="Intuit seconds: the longest --webhook-delay, and the longest a "
        "--webhook-reorder delivery waits for the next one (default 10)",
    )
    serve.add_argument(
        "--fault-seed",
        type=int,
        default=None,
        help="seed of every fault draw: the same seed and requests give the same faults "
        "(default: one picked at start, shown by GET /_sandbox/config)",
    )
    # Switches for what Intuit's CDC documentation leaves open (README, "Switches").
    serve.add_argument(
        "--cdc-cap-order",
        choices=CAP_ORDERS,
        default="oldest",
        help="which 1000 changes of an entity CDC answers when more match (default: oldest)",
    )
    serve.add_argument(
        "--cdc-spurious-deleted",
        type=_probability,
        default=0.0,
        metavar="P",
        help="probability 0..1 that CDC reports a live object as Deleted (Intuit's .NET SDK "
        "issue #189); queries and reads still find it",
    )
    serve.add_argument(
        "--naive-time-zone",
        type=_zone,
        default=DEFAULT_NAIVE_TIME_ZONE,
        metavar="ZONE",
        help="IANA zone a timestamp without an offset is read in (changedSince, query "
        f"literals); default {DEFAULT_NAIVE_TIME_ZONE}",
    )
    serve.add_argument("--log-level", default="INFO")

    activity = commands.add_parser(
        "activity",
        help="keep a running sandbox busy through its public API",
        description="Create invoices, payments and stock receipts (and now and then rename "
        "an item or void/delete an invoice) through the public HTTP API.",
    )
    activity.add_argument("--base-url", required=True, help="the sandbox's base_url")
    activity.add_argument(
        "--realm", action="append", help="a company to drive (repeatable; default: all)"
    )
    activity.add_argument(
        "--per-minute", type=_positive, default=30.0, help="operations per minute"
    )
    activity.add_argument(
        "--duration", type=float, default=0.0, help="seconds to run; 0 runs until interrupted"
    )
    activity.add_argument("--seed", type=int, default=1, help="random seed")
    activity.add_argument(
        "--client-id", help="the app to connect as (default: the sandbox's first app)"
    )
    activity.add_argument(
        "--client-secret", help="that app's secret, to refresh tokens (default: mint new ones)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        return server.serve(args)
    return activity.run(args)


if __name__ == "__main__":
    sys.exit(main())
