"""Start a sandbox server in a subprocess for a test session (used by every test suite)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from dataclasses import dataclass, field
from typing import Any

DEFAULT_CLIENT_ID = "sandbox-client-id"
DEFAULT_CLIENT_SECRET = "sandbox-client-secret"


@dataclass
class SandboxProcess:
    base_url: str
    discovery_url: str
    api_url: str
    realms: dict[str, str]  # realm id -> company name, as printed at start
    client_id: str
    client_secret: str
    process: subprocess.Popen[str]
    output: deque[str] = field(default_factory=lambda: deque(maxlen=500))

    def control(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """A JSON call to a /_sandbox/ endpoint; raises RuntimeError on a non-2xx answer."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.base_url + path,
            data=data if data is not None else (b"" if method == "POST" else None),
            method=method,
            headers={"Content-Type": "application/json", "Accept": "application/json"},
        )
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(request, timeout=120) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            detail = error.read().decode("utf-8", "replace")
            raise RuntimeError(f"{method} {path}: {error.code} {detail}") from None

    def new_company(self, *, seed: str = "empty", seed_number: int = 1, scale: float = 1.0) -> str:
        created = self.control(
            "POST",
            "/_sandbox/companies",
            {"seed": seed, "seed_number": seed_number, "scale": scale},
        )
        realm_id: str = created["realm_id"]
        return realm_id

    def customer_type(
        self, realm_id: str, name: str | None = None, *, active: bool | None = None, **fields: Any
    ) -> dict[str, Any]:
        """Create a CustomerType (the API cannot), or change one given `Id=...`; returns it."""
        body: dict[str, Any] = dict(fields)
        if name is not None:
            body["Name"] = name
        if active is not None:
            body["Active"] = active
        written: dict[str, Any] = self.control(
            "POST", f"/_sandbox/companies/{realm_id}/customer-types", body
        )["CustomerType"]
        return written

    def mint_tokens(self, realm_id: str) -> dict[str, Any]:
        tokens: dict[str, Any] = self.control(
            "POST", f"/_sandbox/companies/{realm_id}/tokens", {"client_id": self.client_id}
        )
        return tokens

    def stop(self) -> None:
        """SIGTERM, wait, then SIGKILL after 10 s."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _option(args: tuple[str, ...], name: str) -> str | None:
    """The first value of `--name VALUE` or `--name=VALUE` among the extra arguments."""
    for index, arg in enumerate(args):
        if arg == name and index + 1 < len(args):
            return args[index + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return None


def start_sandbox(
    *extra_args: str, timeout: float = 60.0, env: dict[str, str] | None = None
) -> SandboxProcess:
    """Run `python -m qbo_sandbox serve --port 0 --state :memory: ...` until it is ready."""
    command = [
        sys.executable,
        "-m",
        "qbo_sandbox",
        "serve",
        "--port",
        "0",
        "--state",
        ":memory:",
        *extra_args,
    ]
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        encoding="utf-8",
        env={**os.environ, **(env or {})},
    )
    assert process.stdout is not None
    stdout = process.stdout
    lines: deque[str] = deque(maxlen=500)
    ready = threading.Event()

    def drain() -> None:
        # Keeps reading for the life of the process so a chatty server never blocks on
        # a full pipe; the last lines stay available for error messages.
        for line in stdout:
            lines.append(line.rstrip("\n"))
            if line.startswith("qbo_sandbox ready"):
                ready.set()
        ready.set()

    threading.Thread(target=drain, daemon=True).start()
    deadline = time.monotonic() + timeout
    while not ready.wait(0.05):
        if time.monotonic() > deadline:
            process.kill()
            process.wait()
            raise RuntimeError(f"qbo_sandbox not ready after {timeout} s:\n" + "\n".join(lines))
    if process.poll() is not None or not any(line == "qbo_sandbox ready" for line in lines):
        process.wait()
        raise RuntimeError(f"qbo_sandbox exited with {process.returncode}:\n" + "\n".join(lines))
    values: dict[str, str] = {}
    realms: dict[str, str] = {}
    for line in list(lines):
        parts = line.split(" ", 2)
        if len(parts) == 3 and parts[0] == "qbo_sandbox":
            if parts[1] == "realm":
                realm_id, _, name = parts[2].partition(" ")
                realms[realm_id] = name
            else:
                values[parts[1]] = parts[2]
    return SandboxProcess(
        base_url=values["base_url"],
        discovery_url=values["discovery_url"],
        api_url=values["api_url"],
        realms=realms,
        client_id=_option(extra_args, "--client-id") or DEFAULT_CLIENT_ID,
        client_secret=_option(extra_args, "--client-secret") or DEFAULT_CLIENT_SECRET,
        process=process,
        output=lines,
    )
