"""`python -m qbo_sandbox serve`: a threaded WSGI server around SandboxApp."""

from __future__ import annotations

import argparse
import logging
import signal
import socketserver
import sys
import threading
from types import FrameType
from typing import IO, Any, cast
from wsgiref.simple_server import ServerHandler, WSGIRequestHandler, WSGIServer

from qbo_sandbox.app import Config, DropConnection, SandboxApp
from qbo_sandbox.clock import Clock
from qbo_sandbox.oauth import OAuth, OAuthSettings
from qbo_sandbox.seed import seed_store
from qbo_sandbox.store import Store
from qbo_sandbox.webhooks import WebhookDispatcher

logger = logging.getLogger("qbo_sandbox")

DEFAULT_CLIENT = ("sandbox-client-id", "sandbox-client-secret")
DEFAULT_VERIFIER = "sandbox-verifier-token"


class _ServerHandler(ServerHandler):
    def log_exception(self, exc_info: Any) -> None:
        if not isinstance(exc_info[1], DropConnection):
            logger.error("error while serving a request", exc_info=exc_info)

    def handle_error(self) -> None:
        if isinstance(sys.exc_info()[1], DropConnection):
            # fault_drop(_before): send nothing and let the socket close.
            return
        super().handle_error()


class _RequestHandler(WSGIRequestHandler):
    def handle(self) -> None:
        # WSGIRequestHandler.handle, with a ServerHandler that can drop a connection.
        self.raw_requestline = self.rfile.readline(65537)
        if len(self.raw_requestline) > 65536:
            self.send_error(414)
            return
        if not self.parse_request():
            return
        # typeshed types wfile as BufferedIOBase; it is the socket's binary writer.
        wfile = cast("IO[bytes]", self.wfile)
        handler = _ServerHandler(
            self.rfile, wfile, self.get_stderr(), self.get_environ(), multithread=True
        )
        handler.request_handler = self  # type: ignore[attr-defined]
        app = self.server.get_app()  # type: ignore[attr-defined]
        handler.run(app)

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s %s", self.address_string(), format % args)


class ThreadingWSGIServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host name (socket.getfqdn), which can
        # stall for seconds on a machine without DNS; the sandbox only needs the address.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)
        self.setup_environ()


def _clients(args: argparse.Namespace) -> dict[str, str]:
    ids: list[str] = args.client_id or []
    secrets: list[str] = args.client_secret or []
    if len(ids) != len(secrets):
        raise SystemExit("--client-id and --client-secret must be given in pairs")
    return dict(zip(ids, secrets, strict=True)) or dict([DEFAULT_CLIENT])


def serve(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=getattr(logging, str(args.log_level).upper(), logging.INFO),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    clock = Clock(args.time_scale)
    store = Store(args.state)
    companies = seed_store(store, args.seed, args.seed_number, args.scale)
    oauth = OAuth(
        store,
        clock,
        OAuthSettings(
            _clients(args),
            list(args.redirect_uri or []),
            rotate_every_refresh=args.rotate_every_refresh,
        ),
    )
    dispatcher = None
    if args.webhook_url:
        dispatcher = WebhookDispatcher(
            url=args.webhook_url,
            verifier_token=args.webhook_verifier or DEFAULT_VERIFIER,
            fmt=args.webhook_format,
            clock=clock,
        )
    config = Config(
        fault_5xx=args.fault_5xx,
        fault_429=args.fault_429,
        fault_slow=args.fault_slow,
        fault_drop=args.fault_drop,
        fault_drop_before=args.fault_drop_before,
        fault_drop_batch=args.fault_drop_batch,
        slow_seconds=args.slow_seconds,
        webhook_duplicate=args.webhook_duplicate,
        webhook_delay=args.webhook_delay,
        webhook_delay_max_seconds=args.webhook_delay_max_seconds,
        webhook_reorder=args.webhook_reorder,
        fault_seed=args.fault_seed,
        limit_per_minute=args.limit_per_minute,
        limit_concurrent=args.limit_concurrent,
        limit_batch_per_minute_app=args.limit_batch_per_minute_app,
        limit_batch_per_minute_realm=args.limit_batch_per_minute_realm,
        cdc_cap_order=args.cdc_cap_order,
        cdc_spurious_deleted=args.cdc_spurious_deleted,
        naive_time_zone=args.naive_time_zone,
    )
    app = SandboxApp(store=store, clock=clock, oauth=oauth, config=config, dispatcher=dispatcher)
    logger.info("fault seed %s", config.fault_seed)
    httpd = ThreadingWSGIServer((args.host, args.port), _RequestHandler)
    httpd.set_app(app)
    host, port = httpd.server_address[:2]
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else str(host)
    app.base_url = f"http://{shown}:{port}"

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if dispatcher is not None:
        dispatcher.start()
    thread = threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True
    )
    thread.start()
    lines = [
        f"qbo_sandbox base_url {app.base_url}",
        f"qbo_sandbox discovery_url {app.base_url}/.well-known/openid_configuration",
        f"qbo_sandbox sandbox_discovery_url {app.base_url}"
        "/.well-known/openid_sandbox_configuration",
        f"qbo_sandbox api_url {app.base_url}/v3",
        *(f"qbo_sandbox realm {realm_id} {name}" for realm_id, name in companies),
        "qbo_sandbox ready",
    ]
    print("\n".join(lines), flush=True)
    while not stop.wait(0.5):
        pass
    logger.info("stopping")
    httpd.shutdown()
    httpd.server_close()
    if dispatcher is not None:
        dispatcher.stop()
    store.close()
    return 0
