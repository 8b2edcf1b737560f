"""OAuth 2.0 as Intuit runs it: discovery, consent, token, revoke, userinfo, bearer checks.

Codes and tokens live in the state file (store.py), grouped by grant: one app's
connection to one company. Revoking any token, disconnecting the company, or reusing
an authorization code kills every token of the grant.

Refresh tokens (docs/qbo-api.md §10): for the first 24 hours of its life a refresh
token, used, comes back unchanged with a fresh access token; used after that, it is
replaced by a new value and answers `invalid_grant` from then on. With
`rotate_every_refresh` (`--rotate-every-refresh`) every refresh replaces it, the
strictest reading, for testing that a client stores every token it is given.

Every time here comes from the sandbox clock (clock.py), so a test can move a token
past its 24 hours, or past its expiry, without waiting.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from html import escape
from typing import Any
from urllib.parse import urlencode, urlsplit

from qbo_sandbox.clock import Clock
from qbo_sandbox.common import gateway_fault
from qbo_sandbox.store import Store, Tx
from qbo_sandbox.web import Request, Response, dump_json, html_response, redirect

ACCESS_TOKEN_SECONDS = 3600
# The contract's value (101 days); Intuit documents "100 days", extended on each use.
REFRESH_TOKEN_SECONDS = 8_726_400
HARD_EXPIRY_SECONDS = 157_680_000  # five years
# Intuit's codes live 5 to 10 minutes; the sandbox grants the upper end.
CODE_SECONDS = 600
# How long Intuit keeps handing back the same refresh token value (docs/qbo-api.md §10).
SAME_REFRESH_TOKEN_SECONDS = 86_400
# Intuit's discovery document advertises both ways of authenticating the app; OAuth
# libraries (requests-oauthlib among them) send client_id and client_secret in the form.
CLIENT_AUTH_METHODS = ("client_secret_post", "client_secret_basic")
ACCOUNTING_SCOPE = "com.intuit.quickbooks.accounting"
KNOWN_SCOPES = frozenset(
    {
        ACCOUNTING_SCOPE,
        "com.intuit.quickbooks.payment",
        "openid",
        "profile",
        "email",
        "phone",
        "address",
    }
)
DEFAULT_SCOPE = f"{ACCOUNTING_SCOPE} openid profile email"


@dataclass
class OAuthSettings:
    clients: dict[str, str]  # client id -> secret, in the order given on the command line
    redirect_uris: list[str] = field(default_factory=list)
    # Replace the refresh token on every refresh instead of after its first 24 hours.
    # Settable at run time through /_sandbox/config (control.py).
    rotate_every_refresh: bool = False

    def redirect_allowed(self, uri: str) -> bool:
        if self.redirect_uris:
            return uri in self.redirect_uris
        # With no --redirect-uri, any http(s) callback on this machine is accepted.
        parts = urlsplit(uri)
        return parts.scheme in ("http", "https") and parts.hostname in ("127.0.0.1", "localhost")


@dataclass(frozen=True)
class BearerCheck:
    client_id: str | None  # the app, when the token is good for this realm
    response: Response | None  # the 401/403 to send otherwise


def json_error(status: int, error: str, description: str | None = None) -> Response:
    body: dict[str, str] = {"error": error}
    if description:
        body["error_description"] = description
    return Response(status, dump_json(body), "application/json;charset=UTF-8")


class OAuth:
    def __init__(self, store: Store, clock: Clock, settings: OAuthSettings) -> None:
        self.store = store
        self.clock = clock
        self.settings = settings

    # ------------------------------------------------------------ discovery

    @staticmethod
    def discovery(base_url: str) -> dict[str, Any]:
        return {
            "issuer": f"{base_url}/op/v1",
            "authorization_endpoint": f"{base_url}/connect/oauth2",
            "token_endpoint": f"{base_url}/oauth2/v1/tokens/bearer",
            "revocation_endpoint": f"{base_url}/v2/oauth2/tokens/revoke",
            "jwks_uri": f"{base_url}/op/v1/jwks",
            "userinfo_endpoint": f"{base_url}/v1/openid_connect/userinfo",
            "token_endpoint_auth_methods_supported": list(CLIENT_AUTH_METHODS),
        }

    # ------------------------------------------------------------ consent

    def authorize(self, req: Request) -> Response:
        params = dict(req.query)
        if req.method == "POST":
            params.update(req.form())
        problem = self._authorization_problem(params)
        if problem:
            # Intuit shows an error page rather than redirecting to an unverified URI.
            return html_response(400, _page("Authorization error", f"<p>{escape(problem)}</p>"))
        if req.method != "POST":
            return html_response(200, self._consent_page(params))
        state = params.get("state")
        if params.get("action") == "cancel":
            return redirect(_with_query(params["redirect_uri"], error="access_denied", state=state))
        realm_id = params.get("realm_id", "")
        with self.store.transaction() as tx:
            if not tx.company_exists(realm_id):
                return html_response(400, _page("Authorization error", "<p>Pick a company.</p>"))
            grant_id = self._new_grant(tx, params["client_id"], realm_id, params["scope"])
            code = "AB11" + secrets.token_urlsafe(27)
            tx.execute(
                "INSERT INTO oauth_code (code, grant_id, redirect_uri, expires_ms)"
                " VALUES (?, ?, ?, ?)",
                (code, grant_id, params["redirect_uri"], self._expiry(CODE_SECONDS)),
            )
        return redirect(
            _with_query(params["redirect_uri"], code=code, state=state, realmId=realm_id)
        )

    def _authorization_problem(self, params: dict[str, str]) -> str | None:
        if params.get("client_id") not in self.settings.clients:
            return "Unknown client_id."
        if not self.settings.redirect_allowed(params.get("redirect_uri", "")):
            return "The redirect_uri is not registered for this app."
        if params.get("response_type") != "code":
            return "response_type must be code."
        scopes = params.get("scope", "").split()
        if not scopes or not set(scopes) <= KNOWN_SCOPES:
            return "Invalid scope."
        return None

    def _consent_page(self, params: dict[str, str]) -> str:
        with self.store.transaction() as tx:
            companies = tx.companies()
        hidden = "".join(
            f'<input type="hidden" name="{key}" value="{escape(params.get(key, ""))}">'
            for key in ("client_id", "redirect_uri", "response_type", "scope", "state")
        )
        radios = "".join(
            f'<p><input type="radio" name="realm_id" id="realm-{escape(realm)}" '
            f'value="{escape(realm)}"{" checked" if index == 0 else ""}> '
            f'<label for="realm-{escape(realm)}">{escape(name)} '
            f"<small>(company {escape(realm)})</small></label></p>"
            for index, (realm, name) in enumerate(companies)
        )
        body = (
            f"<p>The app <b>{escape(params['client_id'])}</b> asks to connect to one of your "
            f"QuickBooks companies ({escape(params['scope'])}).</p>"
            f'<form method="post" action="/connect/oauth2">{hidden}{radios}'
            '<button type="submit" name="action" value="connect">Connect</button> '
            '<button type="submit" name="action" value="cancel">Cancel</button></form>'
        )
        return _page("Connect to QuickBooks (sandbox)", body)

    # ------------------------------------------------------------ tokens

    def token(self, req: Request) -> tuple[Response, str | None]:
        """The token endpoint; also returns the grant type, for statistics."""
        form = req.form()
        client_id = self._client(req, form)
        if client_id is None:
            return json_error(401, "invalid_client"), None
        grant_type = form.get("grant_type")
        include_hard = req.headers.get("x-include-refresh-token-hard-expires-in") == "true"
        with self.store.transaction() as tx:
            if grant_type == "authorization_code":
                response = self._exchange_code(tx, client_id, form, include_hard)
            elif grant_type == "refresh_token":
                response = self._refresh(tx, client_id, form.get("refresh_token", ""), include_hard)
            else:
                return json_error(400, "unsupported_grant_type"), None
        return response, grant_type

    def _client(self, req: Request, params: Mapping[str, Any]) -> str | None:
        """The app a request authenticates as, or None (answered 401 invalid_client).

        The app may authenticate with HTTP Basic (client_secret_basic), with client_id and
        client_secret among the parameters (client_secret_post), or with both, as long as
        both name the same app and every secret sent is that app's.
        """
        claims: list[tuple[str, str | None]] = []
        header = req.headers.get("authorization", "")
        if header:
            if not header.lower().startswith("basic "):
                return None
            try:
                decoded = base64.b64decode(header[6:]).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                return None
            basic_id, colon, basic_secret = decoded.partition(":")
            if not colon:
                return None
            claims.append((basic_id, basic_secret))
        posted_id, posted_secret = params.get("client_id"), params.get("client_secret")
        if posted_id is not None or posted_secret is not None:
            if not isinstance(posted_id, str) or not isinstance(posted_secret, str | None):
                return None
            claims.append((posted_id, posted_secret))
        if not claims or len({client_id for client_id, _ in claims}) != 1:
            # No credentials at all, or a header and a form that name two different apps.
            return None
        client_id = claims[0][0]
        secrets_sent = [secret for _, secret in claims if secret is not None]
        expected = self.settings.clients.get(client_id)
        if expected is None or not secrets_sent:
            return None
        if not all(secrets.compare_digest(expected, secret) for secret in secrets_sent):
            return None
        return client_id

    def _exchange_code(
        self, tx: Tx, client_id: str, form: dict[str, str], include_hard: bool
    ) -> Response:
        row = tx.execute(
            "SELECT c.grant_id, c.redirect_uri, c.expires_ms, c.used, g.client_id, g.revoked"
            " FROM oauth_code c JOIN oauth_grant g USING (grant_id) WHERE c.code = ?",
            (form.get("code", ""),),
        ).fetchone()
        if row is None or row[4] != client_id:
            return json_error(400, "invalid_grant")
        grant_id, redirect_uri, expires_ms, used, _, revoked = row
        if used:
            # A replayed code is treated as stolen: everything it bought dies with it.
            self._revoke_grants(tx, "grant_id = ?", (grant_id,))
            return json_error(400, "invalid_grant")
        if revoked or expires_ms < self.clock.now_ms() or form.get("redirect_uri") != redirect_uri:
            return json_error(400, "invalid_grant")
        tx.execute("UPDATE oauth_code SET used = 1 WHERE code = ?", (form["code"],))
        return self._token_response(self.issue(tx, grant_id, include_hard))

    def _refresh(self, tx: Tx, client_id: str, token: str, include_hard: bool) -> Response:
        row = tx.execute(
            "SELECT t.grant_id, t.expires_ms, t.revoked, g.client_id, g.revoked"
            " FROM oauth_token t JOIN oauth_grant g USING (grant_id)"
            " WHERE t.token = ? AND t.kind = 'refresh'",
            (token,),
        ).fetchone()
        now = self.clock.now_ms()
        if row is None or row[3] != client_id or row[2] or row[4] or row[1] < now:
            return json_error(400, "invalid_grant", "Incorrect or invalid refresh token")
        grant_id, expires_ms = row[0], row[1]
        # A value's expiry is fixed when it is issued (it is per value, never extended),
        # so it also tells when the value was issued.
        issued_ms = expires_ms - self._lifetime_ms(REFRESH_TOKEN_SECONDS)
        young = now < issued_ms + self._lifetime_ms(SAME_REFRESH_TOKEN_SECONDS)
        if young and not self.settings.rotate_every_refresh:
            return self._token_response(self.issue(tx, grant_id, include_hard, keep=token))
        # Replaced: from now on the old value answers invalid_grant.
        tx.execute("UPDATE oauth_token SET revoked = 1 WHERE token = ?", (token,))
        return self._token_response(self.issue(tx, grant_id, include_hard))

    def issue(
        self, tx: Tx, grant_id: str, include_hard: bool = False, keep: str | None = None
    ) -> dict[str, Any]:
        """A new access token, with a new refresh token or, given `keep`, the same one."""
        now = self.clock.now_ms()
        access = "eyJ" + secrets.token_urlsafe(96)
        tx.execute(
            "INSERT INTO oauth_token (token, kind, grant_id, expires_ms) VALUES (?, ?, ?, ?)",
            (access, "access", grant_id, self._expiry(ACCESS_TOKEN_SECONDS)),
        )
        if keep is None:
            refresh = "AB11" + secrets.token_urlsafe(36)
            tx.execute(
                "INSERT INTO oauth_token (token, kind, grant_id, expires_ms) VALUES (?, ?, ?, ?)",
                (refresh, "refresh", grant_id, self._expiry(REFRESH_TOKEN_SECONDS)),
            )
            refresh_expires_in = REFRESH_TOKEN_SECONDS
        else:
            # The same value keeps its own expiry, so what is left of it is reported
            # (docs/qbo-api.md §10; an assumption, see qbo_sandbox/README.md).
            refresh = keep
            expires_ms = tx.execute(
                "SELECT expires_ms FROM oauth_token WHERE token = ?", (keep,)
            ).fetchone()[0]
            refresh_expires_in = max(1, int((expires_ms - now) / 1000 * self.clock.time_scale))
        body: dict[str, Any] = {
            "token_type": "bearer",
            "access_token": access,
            "refresh_token": refresh,
            "expires_in": ACCESS_TOKEN_SECONDS,
            "x_refresh_token_expires_in": refresh_expires_in,
        }
        if include_hard:
            created = tx.execute(
                "SELECT created_ms FROM oauth_grant WHERE grant_id = ?", (grant_id,)
            ).fetchone()[0]
            elapsed = (now - created) / 1000 * self.clock.time_scale
            body["x_refresh_token_hard_expires_in"] = max(1, int(HARD_EXPIRY_SECONDS - elapsed))
        return body

    @staticmethod
    def _token_response(body: dict[str, Any]) -> Response:
        return Response(
            200,
            dump_json(body),
            "application/json;charset=UTF-8",
            [("Cache-Control", "no-store"), ("Pragma", "no-cache")],
        )

    def _new_grant(self, tx: Tx, client_id: str, realm_id: str, scope: str) -> str:
        grant_id = secrets.token_hex(12)
        tx.execute(
            "INSERT INTO oauth_grant (grant_id, client_id, realm_id, scope, created_ms)"
            " VALUES (?, ?, ?, ?, ?)",
            (grant_id, client_id, realm_id, scope, self.clock.now_ms()),
        )
        return grant_id

    def _lifetime_ms(self, intuit_seconds: float) -> int:
        return int(self.clock.scaled(intuit_seconds) * 1000)

    def _expiry(self, intuit_seconds: float) -> int:
        return self.clock.now_ms() + self._lifetime_ms(intuit_seconds)

    # ------------------------------------------------------------ revoke, userinfo

    def revoke(self, req: Request) -> Response:
        # Intuit documents a JSON body ({"token": ...}); RFC 7009 clients send a form. The
        # body is read first because a client_secret_post app authenticates inside it.
        try:
            parsed = json.loads(req.body or b"{}")
        except ValueError:
            parsed = None
        params: dict[str, Any] | None = parsed if isinstance(parsed, dict) else None
        form_type = "application/x-www-form-urlencoded"
        if params is None and req.headers.get("content-type", "").startswith(form_type):
            params = dict(req.form())
        if self._client(req, params or {}) is None:
            return json_error(401, "invalid_client")
        if params is None:
            return json_error(400, "invalid_request")
        token = params.get("token")
        if not isinstance(token, str):
            token = ""
        with self.store.transaction() as tx:
            # Revoking either token of a connection disconnects the app from the company.
            self._revoke_grants(
                tx, "grant_id IN (SELECT grant_id FROM oauth_token WHERE token = ?)", (token,)
            )
        # RFC 7009: an unknown token is not an error.
        return Response(200, b"", "application/json;charset=UTF-8")

    def userinfo(self, req: Request) -> Response:
        grant = self._bearer_grant(req)
        if grant is None:
            return json_error(401, "invalid_token")
        realm_id = grant[1]
        sub = hashlib.sha256(realm_id.encode()).hexdigest()
        info = {
            "sub": f"{sub[:8]}-{sub[8:12]}-{sub[12:16]}-{sub[16:20]}-{sub[20:32]}",
            "email": f"owner+{realm_id}@sandbox.example.com",
            "emailVerified": True,
            "givenName": "Sandbox",
            "familyName": "Owner",
        }
        return Response(200, dump_json(info), "application/json;charset=UTF-8")

    # ------------------------------------------------------------ bearer tokens

    def check_bearer(self, req: Request, realm_id: str) -> BearerCheck:
        grant = self._bearer_grant(req)
        if grant is None:
            body = gateway_fault(
                401,
                "3200",
                "AuthenticationFailed",
                "Token invalid, expired or revoked",
                "AUTHENTICATION",
            )
            response = Response(401, dump_json(body), "application/json;charset=UTF-8")
            response.headers.append(
                ("WWW-Authenticate", 'Bearer realm="Intuit", error="invalid_token"')
            )
            return BearerCheck(None, response)
        client_id, grant_realm, scope = grant
        if grant_realm != realm_id or ACCOUNTING_SCOPE not in scope.split():
            body = gateway_fault(403, "3100", "ApplicationAuthorizationFailed", "", "SERVICE")
            return BearerCheck(
                None, Response(403, dump_json(body), "application/json;charset=UTF-8")
            )
        return BearerCheck(client_id, None)

    def _bearer_grant(self, req: Request) -> tuple[str, str, str] | None:
        header = req.headers.get("authorization", "")
        if not header.lower().startswith("bearer "):
            return None
        with self.store.transaction() as tx:
            row = tx.execute(
                "SELECT g.client_id, g.realm_id, g.scope FROM oauth_token t"
                " JOIN oauth_grant g USING (grant_id) WHERE t.token = ? AND t.kind = 'access'"
                " AND t.revoked = 0 AND g.revoked = 0 AND t.expires_ms > ?",
                (header[7:].strip(), self.clock.now_ms()),
            ).fetchone()
        return None if row is None else (str(row[0]), str(row[1]), str(row[2]))

    # ------------------------------------------------------------ control endpoints

    def mint(self, realm_id: str, client_id: str | None) -> dict[str, Any] | None:
        """Tokens without the browser dance (control endpoint); None for an unknown realm."""
        client = client_id or next(iter(self.settings.clients))
        with self.store.transaction() as tx:
            if not tx.company_exists(realm_id) or client not in self.settings.clients:
                return None
            grant_id = self._new_grant(tx, client, realm_id, DEFAULT_SCOPE)
            return {**self.issue(tx, grant_id), "realm_id": realm_id, "client_id": client}

    def expire_access_tokens(self, realm_id: str) -> None:
        with self.store.transaction() as tx:
            tx.execute(
                "UPDATE oauth_token SET expires_ms = 0 WHERE kind = 'access' AND grant_id IN"
                " (SELECT grant_id FROM oauth_grant WHERE realm_id = ?)",
                (realm_id,),
            )

    def revoke_realm(self, realm_id: str) -> None:
        with self.store.transaction() as tx:
            self._revoke_grants(tx, "realm_id = ?", (realm_id,))

    @staticmethod
    def _revoke_grants(tx: Tx, where: str, params: tuple[Any, ...]) -> None:
        tx.execute(f"UPDATE oauth_grant SET revoked = 1 WHERE {where}", params)


def _with_query(uri: str, **params: str | None) -> str:
    query = urlencode({k: v for k, v in params.items() if v is not None})
    return f"{uri}{'&' if '?' in uri else '?'}{query}"


def _page(title: str, body: str) -> str:
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{escape(title)}</title></head><body><h1>{escape(title)}</h1>{body}</body></html>"
    )
