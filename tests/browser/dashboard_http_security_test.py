#!/usr/bin/python3
"""The dashboard's HTTP security, checked with a plain HTTPS client against a real deployment:
  dashboard_http_security_test.py CONTROLLER CLI AGENT
TLS is verified against the controller's CA for the name 127.0.0.1. Checked: authentication
(no cookie, a bad token, a bad cookie: 401), authorization (an auditor's revoke: 403), CSRF (a
revoke without the X-CSRF-Token header, with a wrong one, from a foreign Origin, or as a
text/plain form post: refused, and the key is still active afterwards; the same request done
right works, and its replay with the same X-Request-Id answers the same change), the session
cookie's attributes, the login answer not echoing the token, the security headers (the CSP exactly
as the contract, nosniff, frame and referrer policy, no-store) on the page, the script and the
API, unknown query parameters (400), static paths outside the three files (404), and HTML in
principal names, host names and labels refused at input (only comments carry it to a page).
Every check runs; the test fails if any did, listing each."""

import http.client
import json
import os
import re
import ssl
import sys
import traceback

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dashboard_harness import Deployment, Failure, binaries_from_argv, check  # noqa: E402

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
COOKIE = "__Host-keyfleet"


class Response:
    def __init__(self, raw):
        self.status = raw.status
        self.headers = raw.headers
        self.body = raw.read()

    def header(self, name):
        return self.headers.get(name) or ""

    def json(self):
        try:
            return json.loads(self.body)
        except ValueError:
            raise Failure(f"not JSON (HTTP {self.status}): {self.body[:300]!r}")

    def __repr__(self):
        return f"HTTP {self.status} {self.body[:300]!r}"


class Client:
    """One HTTPS connection per request, verified against the controller's CA."""

    def __init__(self, deployment):
        self.port = deployment.dashboard_port
        self.origin = f"https://127.0.0.1:{self.port}"
        self.context = ssl.create_default_context(cafile=deployment.ca_file)
        check(self.context.verify_mode == ssl.CERT_REQUIRED and self.context.check_hostname,
              "the client context must verify the server")

    def request(self, method, path, body=None, headers=None, cookie=None):
        conn = http.client.HTTPSConnection("127.0.0.1", self.port, context=self.context,
                                           timeout=20)
        all_headers = dict(headers or {})
        if cookie is not None:
            all_headers["Cookie"] = f"{COOKIE}={cookie}"
        if body is not None and not isinstance(body, (bytes, str)):
            body = json.dumps(body)
            all_headers.setdefault("Content-Type", "application/json")
        try:
            conn.request(method, path, body=body, headers=all_headers)
            return Response(conn.getresponse())
        finally:
            conn.close()

    def login(self, token):
        """(cookie value, session object, response) after a token login."""
        r = self.request("POST", "/api/v1/login", {"token": token})
        check(r.status == 200, f"login with a valid token: {r!r}")
        match = re.search(COOKIE + r"=([^;]*)", r.header("Set-Cookie"))
        check(match, f"login set no {COOKIE} cookie: Set-Cookie {r.header('Set-Cookie')!r}")
        return match.group(1), r.json(), r


def expect_status(r, status, what, code=None):
    check(r.status == status, f"{what}: expected HTTP {status}, got {r!r}")
    if code is not None:
        got = r.json().get("code")
        check(got == code, f"{what}: expected code {code}, got {got!r} ({r!r})")


def key_state(client, cookie, fingerprint):
    r = client.request("GET", "/api/v1/key?fingerprint=" + quote(fingerprint), cookie=cookie)
    expect_status(r, 200, "GET /api/v1/key")
    return r.json().get("state")


def quote(text):
    from urllib.parse import quote as q
    return q(text, safe="")


def main(argv):
    controller, cli, agent = binaries_from_argv(argv, __doc__)
    try:
        deployment = Deployment(controller, cli, agent)
    except Failure as failure:
        print(f"FAIL: {failure}")
        return 1
    failures = []
    try:
        deployment.start()
        client = Client(deployment)
        operator_token = deployment.token("operator")
        auditor_token = deployment.token("auditor")
        bob = deployment.keys["bob"]["fingerprint"]
        mallory = deployment.keys["mallory"]["fingerprint"]
        state = {}

        def t_no_cookie():
            expect_status(client.request("GET", "/api/v1/fleet"), 401, "fleet without a cookie",
                          "UNAUTHENTICATED")
            expect_status(client.request("GET", "/api/v1/session"), 401,
                          "session without a cookie")

        def t_bad_token_login():
            r = client.request("POST", "/api/v1/login", {"token": "kfat_" + "0" * 40})
            expect_status(r, 401, "login with a bad token", "UNAUTHENTICATED")
            check(COOKIE not in r.header("Set-Cookie"), "a refused login set the cookie")

        def t_bad_cookie():
            expect_status(client.request("GET", "/api/v1/fleet", cookie="kfat_" + "1" * 40), 401,
                          "fleet with a bad cookie", "UNAUTHENTICATED")

        def t_operator_login_and_cookie():
            cookie, session, r = client.login(operator_token)
            state["operator"] = (cookie, session["csrf_token"])
            attrs = [a.strip().lower() for a in r.header("Set-Cookie").split(";")]
            for wanted in ("httponly", "secure", "samesite=strict", "path=/"):
                check(wanted in attrs, f"login cookie lacks {wanted}: {r.header('Set-Cookie')!r}")
            check(operator_token.encode() not in r.body,
                  f"the login response body holds the token: {r.body[:300]!r}")
            check(re.fullmatch(r"[0-9a-f]{64}", session.get("csrf_token", "")),
                  f"csrf_token is not 64 hex digits: {session.get('csrf_token')!r}")
            check(session.get("credential", {}).get("role") == "ROLE_OPERATOR",
                  f"session role: {session!r}")
            r = client.request("GET", "/api/v1/session", cookie=cookie)
            expect_status(r, 200, "session with the login cookie")
            check(operator_token.encode() not in r.body, "GET /api/v1/session holds the token")

        def t_auditor_revoke_forbidden():
            cookie, session, _ = client.login(auditor_token)
            check(session["credential"]["role"] == "ROLE_AUDITOR", f"auditor session: {session}")
            r = client.request("POST", "/api/v1/keys/revoke", {"fingerprint": bob, "reason": "x"},
                               headers={"X-CSRF-Token": session["csrf_token"]}, cookie=cookie)
            expect_status(r, 403, "an auditor's revoke with the right CSRF token",
                          "PERMISSION_DENIED")

        def t_csrf_refusals():
            cookie, csrf = state["operator"]
            body = {"fingerprint": bob, "reason": "csrf test"}
            r = client.request("POST", "/api/v1/keys/revoke", body, cookie=cookie)
            expect_status(r, 403, "revoke without X-CSRF-Token", "CSRF")
            r = client.request("POST", "/api/v1/keys/revoke", body, cookie=cookie,
                               headers={"X-CSRF-Token": "0" * 64})
            expect_status(r, 403, "revoke with a wrong X-CSRF-Token", "CSRF")
            r = client.request("POST", "/api/v1/keys/revoke", body, cookie=cookie,
                               headers={"X-CSRF-Token": csrf, "Origin": "https://evil.example"})
            expect_status(r, 403, "revoke with the right token from a foreign Origin")
            # What a cross-site <form enctype=text/plain> could send: no header, not JSON.
            r = client.request("POST", "/api/v1/keys/revoke", json.dumps(body), cookie=cookie,
                               headers={"Content-Type": "text/plain"})
            check(400 <= r.status < 500, f"a text/plain form post was not refused: {r!r}")
            check(key_state(client, cookie, bob) == "KEY_STATE_ACTIVE",
                  "bob's key is not active after the refused revocations")

        def t_revoke_done_right_and_replayed():
            # The refusals above mean something only if the same request, done right, works.
            cookie, csrf = state["operator"]
            headers = {"X-CSRF-Token": csrf, "Origin": client.origin,
                       "X-Request-Id": "http-security-test-0001"}
            body = {"fingerprint": mallory, "reason": "http security test"}
            first = client.request("POST", "/api/v1/keys/revoke", body, headers=headers,
                                   cookie=cookie)
            expect_status(first, 200, "a revoke with cookie, CSRF token and same Origin")
            change = first.json().get("change")
            check(isinstance(change, str) and change.isdigit() and int(change) > 0,
                  f"change is not a positive 64-bit string: {first!r}")
            replay = client.request("POST", "/api/v1/keys/revoke", body, headers=headers,
                                    cookie=cookie)
            expect_status(replay, 200, "the replay of the same X-Request-Id")
            check(replay.json().get("change") == change,
                  f"the replay answered {replay!r}, not the first change {change}")
            check(key_state(client, cookie, mallory) == "KEY_STATE_REVOKED",
                  "mallory's key is not revoked after the accepted request")

        def t_security_headers():
            cookie, _ = state["operator"]
            for path, kind in (("/", "text/html"), ("/app.js", "text/javascript"),
                               ("/app.css", "text/css"), ("/api/v1/fleet", "application/json"),
                               ("/api/v1/nothing-here", None)):
                r = client.request("GET", path, cookie=cookie)
                if kind:
                    expect_status(r, 200, f"GET {path}")
                    check(r.header("Content-Type").split(";")[0].strip() == kind,
                          f"{path}: Content-Type {r.header('Content-Type')!r}, not {kind}")
                got = " ".join(r.header("Content-Security-Policy").split())
                check(got == CSP, f"{path}: Content-Security-Policy is\n  {got!r}\nnot\n  {CSP!r}")
                check(r.header("X-Content-Type-Options") == "nosniff",
                      f"{path}: X-Content-Type-Options {r.header('X-Content-Type-Options')!r}")
                check(r.header("X-Frame-Options") == "DENY", f"{path}: no X-Frame-Options DENY")
                check(r.header("Referrer-Policy") == "no-referrer",
                      f"{path}: no Referrer-Policy no-referrer")
                # Reached by an IP address: no HSTS, which would pin every other local HTTP
                # server of the browser to HTTPS (the header is checked by name below).
                check(r.header("Strict-Transport-Security") == "",
                      f"{path}: Strict-Transport-Security sent for an IP address")
                for name in ("Content-Security-Policy", "X-Frame-Options",
                             "Cross-Origin-Opener-Policy"):
                    check(len(r.headers.get_all(name) or []) == 1,
                          f"{path}: {name} sent {len(r.headers.get_all(name) or [])} times")
                if path.startswith("/api/"):
                    check("no-store" in r.header("Cache-Control"),
                          f"{path}: Cache-Control {r.header('Cache-Control')!r}")
            r = client.request("GET", "/api/v1/fleet")  # the 401 answer carries them too, once
            check(" ".join(r.header("Content-Security-Policy").split()) == CSP,
                  "a 401 answer lacks the CSP")
            check(len(r.headers.get_all("X-Frame-Options") or []) == 1,
                  "a 401 answer repeats its headers")
            # Reached by a name (the certificate's, as browsers on other machines use it): HSTS.
            r = client.request("GET", "/", headers={"Host": f"keyfleet.example:{client.port}"})
            check(r.header("Strict-Transport-Security").startswith("max-age="),
                  "no Strict-Transport-Security for a host name")

        def t_unknown_query_parameter():
            cookie, _ = state["operator"]
            expect_status(client.request("GET", "/api/v1/fleet?bogus=1", cookie=cookie), 400,
                          "fleet with an unknown query parameter", "INVALID_ARGUMENT")

        def t_static_paths():
            for path in ("/../etc/passwd", "/%2e%2e/etc/passwd", "/index.html.bak", "/index.html~",
                         "/app.js.map", "/.git/config", "/web/app.js", "//etc/passwd",
                         "/app.js/", "/favicon.ico"):
                r = client.request("GET", path)
                check(r.status == 404, f"GET {path}: expected 404, got {r!r}")
                check(b"root:" not in r.body, f"GET {path} answered a passwd file")

        def t_logout():
            cookie, csrf = state["operator"]
            r = client.request("POST", "/api/v1/logout", {}, cookie=cookie)
            expect_status(r, 403, "logout without X-CSRF-Token", "CSRF")
            r = client.request("POST", "/api/v1/logout", {}, cookie=cookie,
                               headers={"X-CSRF-Token": csrf})
            expect_status(r, 204, "logout with the CSRF token")
            cleared = r.header("Set-Cookie")
            check(COOKIE in cleared and re.search(r"max-age=0|expires=thu, 01 jan 1970", cleared,
                                                  re.I),
                  f"logout did not clear the cookie: Set-Cookie {cleared!r}")

        def t_hostile_names_refused():
            # Only a key's comment (and a revocation reason) is free text: names and labels are
            # refused at the door, so HTML in them never reaches a page. The browser test shows
            # the hostile comment rendered as text.
            for args in (["principal", "add", "<b>eve</b>"],
                         ["key", "label", bob, "<i>x</i>"],
                         ["host", "token", "create", "--hostname", "h<script>", "--labels", "a=b"],
                         ["host", "token", "create", "--hostname", "h-9", "--labels",
                          "team=<b>x</b>"]):
                try:
                    deployment.cli(*args)
                except Failure as failure:
                    check("not allowed" in str(failure) or "may contain only" in str(failure),
                          f"keyfleet {' '.join(args)} failed otherwise: {failure}")
                    continue
                raise Failure(f"keyfleet {' '.join(args)} was accepted")

        checks = [t_no_cookie, t_bad_token_login, t_bad_cookie, t_operator_login_and_cookie,
                  t_auditor_revoke_forbidden, t_csrf_refusals, t_revoke_done_right_and_replayed,
                  t_security_headers, t_unknown_query_parameter, t_static_paths, t_logout,
                  t_hostile_names_refused]
        for test in checks:
            name = test.__name__[2:]
            try:
                test()
                print(f"PASS {name}")
            except Failure as failure:
                print(f"FAIL {name}: {failure}")
                failures.append(name)
            except Exception:  # an unexpected error in one check must not hide the others
                print(f"FAIL {name}:\n{traceback.format_exc()}")
                failures.append(name)
    except Failure as failure:
        print(f"FAIL setup: {failure}\n{deployment.logs()}")
        failures.append("setup")
    finally:
        deployment.stop()
    if failures:
        print(f"dashboard_http_security: {len(failures)} failed: {', '.join(failures)}")
        return 1
    print("dashboard_http_security: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
