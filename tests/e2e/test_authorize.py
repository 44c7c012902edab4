"""Signing in with a browser: the authorization endpoint, the hosted pages, SSO, and the code exchange.

A browser is a `requests.Session` (its own cookie jar) that reads the pages' HTML with the standard library's
parser and submits their forms as a browser would; codes are exchanged with Authlib's OAuth2Session (PKCE
S256) or with plain token requests, and id_tokens are verified with PyJWT against the served JWKS.

- The whole flow: authorize → the sign-in page → the password → a 303 with code, state and iss (RFC 9207) →
  the exchange → an access token, a refresh token and an id_token (nonce, at_hash, sid, auth_time, aud).
- SSO: another client gets its code without a form; prompt=none, prompt=login, max_age; a password change
  (`user passwd`) ends the session.
- Every error of RFC 6749 §4.1.2.1 and OpenID Connect Core §3.1.2.6 that authsvc produces: an HTML page
  (400) while the client or its redirect URI is not known good, a redirect with error, state and iss after.
- PKCE (required, S256 only), code binding (client, redirect_uri, verifier), single use (a replay revokes
  what the first exchange issued), expiry.
- The forms' CSRF tokens: missing, forged, of another browser or request, replayed.
- Consent for third-party clients only; cookies' attributes; the pages' security headers; the stylesheet.

Time never passes by sleeping: the tests move timestamps in the class's database instead.
"""

import hashlib
import html.parser
import json
import os
import secrets
import subprocess
import time
import urllib.parse

import jwt
import requests
from authlib.integrations.requests_client import OAuth2Session

import harness
from harness import API, Client, INTROSPECT_PATH, ISSUER, JWKS_PATH, TOKEN_PATH

AUTHORIZE_PATH = "/oauth2/authorize"
CSS_PATH = "/login.css"
CB = "https://app.test/cb"
CB_PORTAL = "https://portal.test/oauth/callback?tenant=1"
CB_THIRD = "https://third.example/cb"
CB_SERVICE = "https://service.test/cb"
CB_WIDGET = "https://widget.example/cb"
TIMEOUT = harness.REQUEST_TIMEOUT

# Where each client's codes go (registered with `client add --redirect-uri`).
REDIRECT_URIS = {"spa": CB, "portal": CB_PORTAL, "third": CB_THIRD, "service": CB_SERVICE, "widget": CB_WIDGET}


def spa(scope="openid profile read"):
    """The first-party single-page app: public, may refresh, a display name that needs escaping."""
    return Client("spa", grants=["authorization_code", "refresh_token"], audiences=[API], scope=scope, public=True,
                  options=["--redirect-uri", CB, "--name", "Single <Page> & App"])


def pkce():
    """(code_verifier, S256 code_challenge)."""
    verifier = harness.b64url_encode(secrets.token_bytes(32))
    return verifier, harness.b64url_encode(hashlib.sha256(verifier.encode()).digest())


def code_hash_sql(code):
    """The stored hash of a code (SHA-256 of its 32 bytes), as a SQL expression."""
    return f"decode('{hashlib.sha256(harness.b64url_decode(code)).hexdigest()}', 'hex')"


class Page(html.parser.HTMLParser):
    """What a browser sees in one of our pages: its form (action, fields a submission sends, submit buttons),
    the text of its role=alert element, its labels and inputs, its stylesheet and scripts."""

    def __init__(self, text):
        super().__init__()
        self.forms = []
        self.alerts = []
        self.labels = {}
        self.inputs = []
        self.stylesheets = []
        self.scripts = 0
        self.title = ""
        self._alert = None
        self._label = None
        self._title = False
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.forms.append({"action": a.get("action"), "method": (a.get("method") or "get").lower(), "fields": {},
                               "buttons": []})
        elif tag == "input":
            self.inputs.append(a)
            if self.forms and a.get("name") and a.get("type") == "hidden":
                self.forms[-1]["fields"][a["name"]] = a.get("value", "")
        elif tag == "button" and self.forms:
            self.forms[-1]["buttons"].append(a)
        elif tag == "p" and a.get("role") == "alert":
            self._alert = []
        elif tag == "label":
            self._label = a.get("for")
        elif tag == "link" and a.get("rel") == "stylesheet":
            self.stylesheets.append(a.get("href"))
        elif tag == "script":
            self.scripts += 1
        elif tag == "title":
            self._title = True

    def handle_endtag(self, tag):
        if tag == "p" and self._alert is not None:
            self.alerts.append("".join(self._alert).strip())
            self._alert = None
        elif tag == "label":
            self._label = None
        elif tag == "title":
            self._title = False

    def handle_data(self, data):
        if self._alert is not None:
            self._alert.append(data)
        if self._label is not None:
            self.labels[self._label] = self.labels.get(self._label, "") + data
        if self._title:
            self.title += data

    @property
    def form(self):
        assert len(self.forms) == 1, f"expected one form, found {len(self.forms)}"
        return self.forms[0]

    @property
    def alert(self):
        return self.alerts[0] if self.alerts else ""

    def input(self, name):
        return next((i for i in self.inputs if i.get("name") == name), None)


class Browser:
    """One browser: its own cookie jar, HTTP/1.1, redirects not followed (they lead to the clients)."""

    def __init__(self, server):
        self.server = server
        self.session = requests.Session()

    def authorize(self, params, method="GET"):
        url = self.server.url(AUTHORIZE_PATH)
        if method == "GET":
            return self.session.get(url, params=params, allow_redirects=False, timeout=TIMEOUT)
        return self.session.post(url, data=params, allow_redirects=False, timeout=TIMEOUT)

    def get(self, path_and_query):
        return self.session.get(self.server.url(path_and_query), allow_redirects=False, timeout=TIMEOUT)

    def submit(self, page, fields=None, *, button=None, drop=()):
        """Submits the page's form as a browser would: its hidden fields, `fields`, the value of `button`
        (a submit button's value); minus the names in `drop`."""
        form = page.form
        data = dict(form["fields"])
        data.update(fields or {})
        if button is not None:
            chosen = [b for b in form["buttons"] if b.get("value") == button]
            assert chosen, f"no button with value {button!r} in {form['buttons']}"
            data[chosen[0]["name"]] = button
        for name in drop:
            data.pop(name, None)
        assert form["method"] == "post", form
        return self.post_form(form["action"], data)

    def post_form(self, path, data):
        return self.session.post(self.server.url(path), data=data, allow_redirects=False, timeout=TIMEOUT)

    def cookie(self, name):
        return self.session.cookies.get(name)


class AuthorizeCase(harness.ServiceTestCase):
    """Shared helpers: requests, pages, redirects, exchanges, and the assertions on them."""

    session_cookie = "authsvc-session"
    issuer = ISSUER

    def browser(self):
        browser = Browser(self.server)
        self.addCleanup(browser.session.close)
        return browser

    def params(self, client_id="spa", redirect_uri=None, **extra):
        """A fresh authorization request: (params, code_verifier). extra: overrides; None removes one."""
        verifier, challenge = pkce()
        params = {"client_id": client_id, "redirect_uri": redirect_uri or REDIRECT_URIS[client_id],
                  "response_type": "code", "scope": "openid profile", "state": secrets.token_urlsafe(12),
                  "nonce": secrets.token_urlsafe(12), "code_challenge": challenge, "code_challenge_method": "S256"}
        for name, value in extra.items():
            if value is None:
                params.pop(name, None)
            else:
                params[name] = value
        return params, verifier

    # -- pages ------------------------------------------------------------------------------------------

    def assertPageHeaders(self, response):
        """The headers every page of ours carries (DESIGN, issue 8): not cached, not framed, no script."""
        context = f"\n{describe(response)}"
        self.assertEqual(response.headers.get("content-type"), "text/html; charset=utf-8", context)
        self.assertIn("no-store", response.headers.get("cache-control", ""), context)
        csp = response.headers.get("content-security-policy", "")
        directives = {d.strip().split(" ")[0]: d.strip() for d in csp.split(";") if d.strip()}
        self.assertEqual(directives.get("default-src"), "default-src 'none'", context)
        self.assertEqual(directives.get("frame-ancestors"), "frame-ancestors 'none'", context)
        self.assertNotIn("script-src", directives, "no script may run" + context)
        self.assertNotIn("unsafe-inline", csp, context)
        self.assertIn("form-action 'self'", csp, context)
        self.assertEqual(response.headers.get("x-frame-options"), "DENY", context)
        self.assertEqual(response.headers.get("referrer-policy"), "no-referrer", context)
        self.assertEqual(response.headers.get("x-content-type-options"), "nosniff", context)
        self.assertNotIn("location", response.headers, context)

    def assertSigninPage(self, response, status=200, *, alert=None):
        """The sign-in page; returns it parsed."""
        self.assertEqual(response.status_code, status, describe(response))
        self.assertPageHeaders(response)
        page = Page(response.text)
        self.assertIn("username", page.labels, describe(response))
        self.assertEqual(page.form["fields"].get("step"), "login", describe(response))
        self.assertTrue(page.form["fields"].get("csrf_token"), describe(response))
        if alert is None:
            self.assertEqual(page.alert, "", describe(response))
        else:
            self.assertIn(alert, page.alert, describe(response))
        return page

    def assertConsentPage(self, response, status=200):
        self.assertEqual(response.status_code, status, describe(response))
        self.assertPageHeaders(response)
        page = Page(response.text)
        self.assertEqual(page.form["fields"].get("step"), "consent", describe(response))
        self.assertEqual({b.get("value") for b in page.form["buttons"]}, {"approve", "deny"}, describe(response))
        return page

    def assertErrorPage(self, response, status=400):
        """An error page: the request cannot be trusted enough to send the browser back (RFC 6749 §4.1.2.1)."""
        self.assertEqual(response.status_code, status, describe(response))
        self.assertPageHeaders(response)
        page = Page(response.text)
        self.assertEqual(page.forms, [], describe(response))
        self.assertTrue(page.alert, describe(response))
        return page

    def assertCookie(self, header, name, *, max_age, secure=False):
        """A Set-Cookie header of ours: host-only, Path=/, HttpOnly, SameSite=Lax, Max-Age, Secure if https."""
        parts = [p.strip() for p in header.split(";")]
        self.assertTrue(parts[0].startswith(name + "="), header)
        attrs = {p.split("=")[0].lower(): (p.split("=", 1)[1] if "=" in p else True) for p in parts[1:]}
        self.assertEqual(attrs.get("path"), "/", header)
        self.assertIs(attrs.get("httponly"), True, header)
        self.assertEqual(attrs.get("samesite"), "Lax", header)
        self.assertEqual(attrs.get("max-age"), str(max_age), header)
        self.assertNotIn("domain", attrs, "host-only: " + header)
        self.assertEqual("secure" in attrs, secure, header)

    # -- redirects ----------------------------------------------------------------------------------------

    def redirect_params(self, response, params, statuses=(302, 303)):
        """The query of an authorization response to params' redirect_uri; checks state and iss."""
        context = f"\n{describe(response)}"
        self.assertIn(response.status_code, statuses, context)
        self.assertIn("no-store", response.headers.get("cache-control", ""), context)
        self.assertEqual(response.headers.get("referrer-policy"), "no-referrer", context)
        location = response.headers["location"]
        redirect_uri = params["redirect_uri"]
        self.assertTrue(location.startswith(redirect_uri.split("?")[0] + "?"), context)
        got = urllib.parse.parse_qs(urllib.parse.urlsplit(location).query, keep_blank_values=True, strict_parsing=True)
        for name, values in got.items():
            self.assertEqual(len(values), 1, f"{name} given twice{context}")
        got = {name: values[0] for name, values in got.items()}
        # the redirect URI's own query is kept (RFC 6749 §3.1.2)
        for name, value in urllib.parse.parse_qsl(urllib.parse.urlsplit(redirect_uri).query):
            self.assertEqual(got.pop(name, None), value, context)
        self.assertEqual(got.pop("iss", None), self.issuer, "RFC 9207: iss in every authorization response" + context)
        if "state" in params:
            self.assertEqual(got.pop("state", None), params["state"], context)
        else:
            self.assertNotIn("state", got, context)
        return got

    def assertCodeResponse(self, response, params, statuses=(302, 303)):
        """A successful authorization response; returns the code."""
        got = self.redirect_params(response, params, statuses)
        self.assertEqual(set(got), {"code"}, describe(response))
        self.assertEqual(len(harness.b64url_decode(got["code"])), 32, got)
        return got["code"]

    def assertRedirectError(self, response, params, error, statuses=(302, 303)):
        got = self.redirect_params(response, params, statuses)
        self.assertEqual(got.get("error"), error, describe(response))
        self.assertIsInstance(got.get("error_description"), str, describe(response))
        self.assertNotIn("code", got, describe(response))
        return got

    # -- flows --------------------------------------------------------------------------------------------

    def sign_in(self, browser, username, password=None, params=None):
        """authorize → the sign-in page → the password → the code. Returns (code, params, verifier)."""
        params, verifier = params or self.params()
        page = self.assertSigninPage(browser.authorize(params))
        response = browser.submit(page, {"username": username, "password": password or self.users[username]})
        return self.assertCodeResponse(response, params, (303,)), params, verifier

    def exchange(self, code, params, verifier, client=None, **overrides):
        """A token request for a code (raw requests response). client: the Client (default: params')."""
        client = client or self.client[params["client_id"]]
        data = {"grant_type": "authorization_code", "code": code, "redirect_uri": params["redirect_uri"],
                "code_verifier": verifier}
        for name, value in overrides.items():
            if value is None:
                data.pop(name, None)
            else:
                data[name] = value
        auth = None
        if client.public:
            data["client_id"] = client.client_id
        else:
            auth = (client.client_id, client.secret)
        return requests.post(self.server.url(TOKEN_PATH), data=data, auth=auth, timeout=TIMEOUT)

    def assertTokens(self, response, *, refresh=True):
        self.assertEqual(response.status_code, 200, describe(response))
        self.assertIn("no-store", response.headers.get("cache-control", ""), describe(response))
        body = response.json()
        self.assertEqual(body.get("token_type"), "Bearer", body)
        if refresh:
            self.assertIsInstance(body.get("refresh_token"), str, body)
        else:
            self.assertNotIn("refresh_token", body)
        return body

    def assertInvalidGrant(self, response):
        self.assertEqual(response.status_code, 400, describe(response))
        self.assertEqual(response.json().get("error"), "invalid_grant", describe(response))

    def verify_id_token(self, id_token, *, client_id, nonce, access_token):
        """PyJWT verification against the served JWKS; the OpenID Connect claims checked. Returns the claims."""
        jwks = self.jwks()
        header = jwt.get_unverified_header(id_token)
        self.assertEqual(header.get("typ"), "JWT", header)
        claims = harness.decode_jwt(id_token, harness.jwk_of(id_token, jwks), audience=client_id,
                                    require=["iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "sid", "at_hash"])
        context = f"\nheader: {header}\nclaims: {claims}"
        self.assertEqual(claims["iss"], self.issuer, context)
        self.assertEqual(claims["aud"], client_id, context)
        self.assertEqual(claims["nonce"], nonce, context)
        digest = hashlib.sha256(access_token.encode()).digest()
        self.assertEqual(claims["at_hash"], harness.b64url_encode(digest[:16]), "at_hash (Core §3.1.3.6)" + context)
        self.assertLessEqual(claims["auth_time"], claims["iat"], context)
        self.assertLess(abs(claims["iat"] - time.time()), 60, context)
        return claims

    def session_of(self, sid):
        """(user id, live) of a session row."""
        row = self.db.query(f"SELECT user_id, ended_at IS NULL FROM sessions WHERE id = '{sid}'")
        self.assertTrue(row, f"no session {sid}")
        user, live = row.split("|")
        return user, live == "t"

    def introspect(self, token):
        portal = self.client["portal"]
        response = requests.post(self.server.url(INTROSPECT_PATH), data={"token": token},
                                 auth=(portal.client_id, portal.secret), timeout=TIMEOUT)
        self.assertEqual(response.status_code, 200, describe(response))
        return response.json()


def describe(response):
    """A requests response for a failure message: request, status, headers, the start of the body."""
    body = response.text
    if len(body) > 3000:
        body = body[:3000] + "..."
    request = response.request
    sent = request.body if isinstance(request.body, str) else (request.body or b"").decode("utf-8", "replace")
    for secret in ("password=",):
        if secret in sent:
            sent = sent.split(secret)[0] + secret + "..."
    headers = "\n".join(f"  {n}: {v}" for n, v in response.headers.items())
    return f"{request.method} {request.url} {sent[:500]}\nstatus {response.status_code}\n{headers}\n{body}"


# ---------------------------------------------------------------------------------------------------------


class AuthorizeTests(AuthorizeCase):
    users = {"alice": "alice-password-1", "bob": "bob-password-22", "dave": "dave-password-4",
             "erin": "erin-password-55", "frank": "frank-password-6", "gina": "gina-password-77"}
    clients = [
        spa(),
        Client("portal", grants=["authorization_code", "refresh_token"], audiences=[API], scope="openid profile",
               options=["--redirect-uri", CB_PORTAL, "--name", "Portal", "--allow", "introspection"]),
        Client("third", grants=["authorization_code"], audiences=[API], scope="openid read", public=True,
               options=["--redirect-uri", CB_THIRD, "--consent"]),
        Client("service", grants=["client_credentials"], audiences=[API], scope="read"),
        Client("widget", grants=["authorization_code"], audiences=[API], scope="openid read write", public=True,
               options=["--redirect-uri", CB_WIDGET, "--consent"]),
    ]

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # A registered redirect URI without the authorization_code grant: a state the CLI refuses to create (the
        # grant taken away later, by hand), which the authorization endpoint must still answer unauthorized_client.
        cls.db.query(f"UPDATE clients SET redirect_uris = '{{{CB_SERVICE}}}' WHERE client_id = 'service'")

    # -- the whole flow -------------------------------------------------------------------------------------

    def test_full_flow_with_authlib_and_pyjwt(self):
        browser = self.browser()
        oauth = OAuth2Session(client_id="spa", scope="openid profile read", redirect_uri=CB, code_challenge_method="S256",
                              token_endpoint_auth_method="none")
        verifier = harness.b64url_encode(secrets.token_bytes(48))
        nonce = secrets.token_urlsafe(16)
        url, state = oauth.create_authorization_url(self.server.url(AUTHORIZE_PATH), code_verifier=verifier, nonce=nonce)
        response = browser.session.get(url, allow_redirects=False, timeout=TIMEOUT)
        page = self.assertSigninPage(response)
        self.assertEqual(page.form["action"], AUTHORIZE_PATH)
        self.assertEqual(page.form["fields"]["state"], state)
        response = browser.submit(page, {"username": "alice", "password": self.users["alice"]})
        self.assertEqual(response.status_code, 303, "after a POST: 303, so the password is not posted again\n" +
                         describe(response))
        location = response.headers["location"]
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(location).query))
        self.assertEqual(query["iss"], ISSUER)
        self.assertEqual(query["state"], state)
        token = oauth.fetch_token(self.server.url(TOKEN_PATH), authorization_response=location, code_verifier=verifier)
        self.assertEqual(token["token_type"], "Bearer")
        self.assertEqual(set(token["scope"].split()), {"openid", "profile", "read"})
        self.assertIsInstance(token.get("refresh_token"), str)
        access = self.assertAccessToken(token["access_token"], client=self.client["spa"], sub=self.user_id("alice"),
                                        scopes={"openid", "profile", "read"})
        claims = self.verify_id_token(token["id_token"], client_id="spa", nonce=nonce, access_token=token["access_token"])
        self.assertEqual(claims["sub"], self.user_id("alice"))
        self.assertEqual(claims["exp"] - claims["iat"], token["expires_in"], "the id_token lives as long as the access token")
        self.assertLess(abs(claims["auth_time"] - time.time()), 60)
        self.assertEqual(self.session_of(claims["sid"]), (self.user_id("alice"), True))
        self.assertEqual(access["ver"], 1)
        # the refresh token works, and is bound to the session the code came from
        refreshed = oauth.refresh_token(self.server.url(TOKEN_PATH), refresh_token=token["refresh_token"])
        self.assertIsInstance(refreshed.get("access_token"), str)
        self.assertEqual(self.family_session(token["refresh_token"]), claims["sid"])
        # only hashes are stored: neither the code nor the session cookie appears in the database
        cookie = browser.cookie(self.session_cookie)
        self.assertEqual(len(harness.b64url_decode(cookie)), 32)
        stored = self.db.query(f"SELECT count(*) FROM sessions WHERE hash = decode('{hashlib.sha256(harness.b64url_decode(cookie)).hexdigest()}', 'hex')")
        self.assertEqual(stored, "1")

    def test_confidential_client_exchange_and_no_id_token_without_openid(self):
        browser = self.browser()
        params, verifier = self.params("portal", scope="profile")
        code, params, verifier = self.sign_in(browser, "bob", params=(params, verifier))
        # a confidential client must authenticate: client_id alone is not enough
        response = requests.post(self.server.url(TOKEN_PATH), timeout=TIMEOUT,
                                 data={"grant_type": "authorization_code", "code": code, "client_id": "portal",
                                       "redirect_uri": params["redirect_uri"], "code_verifier": verifier})
        self.assertEqual(response.status_code, 401, describe(response))
        body = self.assertTokens(self.exchange(code, params, verifier))
        self.assertEqual(body["scope"], "profile")
        self.assertNotIn("id_token", body, "no openid scope, no id_token")

    def test_post_authorization_request(self):
        """OpenID Connect Core §3.1.2.1: the request may come as a form POST too."""
        browser = self.browser()
        params, verifier = self.params()
        page = self.assertSigninPage(browser.authorize(params, method="POST"))
        response = browser.submit(page, {"username": "alice", "password": self.users["alice"]})
        code = self.assertCodeResponse(response, params, (303,))
        params2, verifier2 = self.params()
        code2 = self.assertCodeResponse(browser.authorize(params2, method="POST"), params2, (303,))
        self.assertTokens(self.exchange(code, params, verifier))
        self.assertTokens(self.exchange(code2, params2, verifier2))

    # -- SSO ----------------------------------------------------------------------------------------------

    def test_sso_second_client_gets_a_code_without_a_form(self):
        browser = self.browser()
        code, params, verifier = self.sign_in(browser, "alice")
        first = self.assertTokens(self.exchange(code, params, verifier))
        params2, verifier2 = self.params("portal")
        code2 = self.assertCodeResponse(browser.authorize(params2), params2, (302,))
        second = self.assertTokens(self.exchange(code2, params2, verifier2))
        sid1 = jwt.decode(first["id_token"], options={"verify_signature": False})["sid"]
        claims2 = self.verify_id_token(second["id_token"], client_id="portal", nonce=params2["nonce"],
                                       access_token=second["access_token"])
        self.assertEqual(claims2["sid"], sid1, "one SSO session for both clients")
        self.assertEqual(claims2["sub"], self.user_id("alice"))
        # a new browser has no session: it sees the form
        self.assertSigninPage(self.browser().authorize(self.params("portal")[0]))

    def test_prompt_none(self):
        params, _ = self.params(prompt="none")
        self.assertRedirectError(self.browser().authorize(params), params, "login_required", (302,))
        browser = self.browser()
        self.sign_in(browser, "alice")
        params, verifier = self.params(prompt="none")
        code = self.assertCodeResponse(browser.authorize(params), params, (302,))
        self.assertTokens(self.exchange(code, params, verifier))

    def cookie_session(self, cookie):
        """(id, live) of the session row of a session cookie's value, or None."""
        digest = hashlib.sha256(harness.b64url_decode(cookie)).hexdigest()
        row = self.db.query(f"SELECT id, ended_at IS NULL FROM sessions WHERE hash = decode('{digest}', 'hex')")
        if not row:
            return None
        sid, live = row.split("|")
        return sid, live == "t"

    def family_session(self, refresh_token):
        return self.db.query(f"SELECT session_id FROM refresh_families WHERE id = {harness.sql_refresh_family(refresh_token)}")

    def test_prompt_login_forces_the_form(self):
        browser = self.browser()
        first_code, first, first_verifier = self.sign_in(browser, "alice")
        first_refresh = self.assertTokens(self.exchange(first_code, first, first_verifier))["refresh_token"]
        old_cookie = browser.cookie(self.session_cookie)
        old_sid, live = self.cookie_session(old_cookie)
        self.assertTrue(live)
        params, verifier = self.params(prompt="login")
        page = self.assertSigninPage(browser.authorize(params))
        response = browser.submit(page, {"username": "alice", "password": self.users["alice"]})
        code = self.assertCodeResponse(response, params, (303,))
        body = self.assertTokens(self.exchange(code, params, verifier))
        claims = self.verify_id_token(body["id_token"], client_id="spa", nonce=params["nonce"], access_token=body["access_token"])
        # signing in again replaces the session (as against session fixation): a new cookie value, the old row ended
        new_cookie = browser.cookie(self.session_cookie)
        self.assertNotEqual(new_cookie, old_cookie)
        self.assertEqual(self.cookie_session(new_cookie), (claims["sid"], True))
        self.assertNotEqual(claims["sid"], old_sid)
        self.assertEqual(self.cookie_session(old_cookie), (old_sid, False), "the old session must end")
        self.assertEqual(self.db.query(f"SELECT ended_reason FROM sessions WHERE id = '{old_sid}'"), "replaced")
        self.assertEqual(self.db.query(f"SELECT count(*) FROM audit_events WHERE kind = 'session_replaced'"
                                       f" AND detail->>'session' = '{old_sid}'"), "1")
        # the same user: what the old session issued now belongs to the new one, so that signing out ends it
        self.assertEqual(self.family_session(first_refresh), claims["sid"])
        # the old cookie, replayed by whoever kept it, signs nobody in
        stale = self.browser()
        stale.session.cookies.set(self.session_cookie, old_cookie)
        params, _ = self.params(prompt="none")
        self.assertRedirectError(stale.authorize(params), params, "login_required", (302,))

    def test_signing_in_as_someone_else_ends_the_first_session(self):
        browser = self.browser()
        code, first, verifier = self.sign_in(browser, "alice")
        alice_refresh = self.assertTokens(self.exchange(code, first, verifier))["refresh_token"]
        old_cookie = browser.cookie(self.session_cookie)
        old_sid, _ = self.cookie_session(old_cookie)
        params, verifier = self.params(prompt="login")
        page = self.assertSigninPage(browser.authorize(params))
        code = self.assertCodeResponse(browser.submit(page, {"username": "bob", "password": self.users["bob"]}), params, (303,))
        claims = jwt.decode(self.assertTokens(self.exchange(code, params, verifier))["id_token"],
                            options={"verify_signature": False})
        self.assertEqual(claims["sub"], self.user_id("bob"))
        self.assertEqual(self.cookie_session(old_cookie), (old_sid, False))
        self.assertEqual(self.family_session(alice_refresh), old_sid, "alice's tokens never pass to bob's session")

    def test_max_age(self):
        browser = self.browser()
        code, params, verifier = self.sign_in(browser, "frank")
        sid = jwt.decode(self.assertTokens(self.exchange(code, params, verifier))["id_token"],
                         options={"verify_signature": False})["sid"]
        # the password was entered an hour ago
        self.db.query(f"UPDATE sessions SET auth_time = now() - interval '1 hour' WHERE id = '{sid}'")
        params, verifier = self.params(max_age="7200")
        code = self.assertCodeResponse(browser.authorize(params), params, (302,))
        claims = jwt.decode(self.assertTokens(self.exchange(code, params, verifier))["id_token"],
                            options={"verify_signature": False})
        self.assertAlmostEqual(claims["auth_time"], time.time() - 3600, delta=60)
        params, _ = self.params(max_age="60", prompt="none")
        self.assertRedirectError(browser.authorize(params), params, "login_required", (302,))
        params, verifier = self.params(max_age="60")
        page = self.assertSigninPage(browser.authorize(params))
        code = self.assertCodeResponse(browser.submit(page, {"username": "frank", "password": self.users["frank"]}), params,
                                       (303,))
        claims = jwt.decode(self.assertTokens(self.exchange(code, params, verifier))["id_token"],
                            options={"verify_signature": False})
        self.assertLess(abs(claims["auth_time"] - time.time()), 60, "a fresh password: a fresh auth_time")
        self.assertNotEqual(claims["sid"], sid, "a new session replaces the one too old for max_age")
        self.assertEqual(self.session_of(sid), (self.user_id("frank"), False))
        # max_age=0: always the form (the same as prompt=login)
        self.assertSigninPage(browser.authorize(self.params(max_age="0")[0]))

    def test_password_change_ends_the_session(self):
        browser = self.browser()
        code, params, verifier = self.sign_in(browser, "dave")
        tokens = self.assertTokens(self.exchange(code, params, verifier))
        params2, _ = self.params()
        self.assertCodeResponse(browser.authorize(params2), params2, (302,))
        new_password = "dave-password-" + secrets.token_hex(4)
        self.cli.set_password("dave", new_password)
        self.assertSigninPage(browser.authorize(self.params()[0]))
        params3, _ = self.params(prompt="none")
        self.assertRedirectError(browser.authorize(params3), params3, "login_required", (302,))
        # and what the session's code gave is revoked too
        response = requests.post(self.server.url(TOKEN_PATH), timeout=TIMEOUT,
                                 data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"],
                                       "client_id": "spa"})
        self.assertInvalidGrant(response)
        self.sign_in(browser, "dave", new_password)

    # -- errors before the redirect URI is trusted: an HTML page, never a redirect ------------------------------

    def test_errors_shown_on_a_page(self):
        good, _ = self.params()
        cases = [
            ("no client_id", {**good, "client_id": None}),
            ("unknown client", {**good, "client_id": "nobody"}),
            ("client_id too long", {**good, "client_id": "c" * 256}),
            ("no redirect_uri", {**good, "redirect_uri": None}),
            ("unregistered redirect_uri", {**good, "redirect_uri": "https://evil.test/cb"}),
            ("redirect_uri: another path", {**good, "redirect_uri": CB + "/x"}),
            ("redirect_uri: trailing slash", {**good, "redirect_uri": CB + "/"}),
            ("redirect_uri: another case", {**good, "redirect_uri": CB.upper()}),
            ("redirect_uri: a query added", {**good, "redirect_uri": CB + "?a=1"}),
            ("redirect_uri with a fragment", {**good, "redirect_uri": CB + "#x"}),
            ("redirect_uri of another client", {**good, "redirect_uri": CB_PORTAL}),
            ("redirect_uri too long", {**good, "redirect_uri": CB + "?" + "a" * 2100}),
        ]
        for label, params in cases:
            with self.subTest(label):
                params = {k: v for k, v in params.items() if v is not None}
                for method in ("GET", "POST"):
                    self.assertErrorPage(self.browser().authorize(params, method=method))
        with self.subTest("a repeated parameter"):
            for name in ("client_id", "state", "scope"):
                query = urllib.parse.urlencode(list(good.items()) + [(name, good.get(name, "x"))])
                self.assertErrorPage(self.browser().get(AUTHORIZE_PATH + "?" + query))
        with self.subTest("malformed query"):
            self.assertErrorPage(self.browser().get(AUTHORIZE_PATH + "?client_id=spa&state=%zz"))
            self.assertErrorPage(self.browser().get(AUTHORIZE_PATH + "?client_id=spa&state=%00"))
        with self.subTest("a POST that is not a form"):
            response = requests.post(self.server.url(AUTHORIZE_PATH), data=b"{}",
                                     headers={"content-type": "application/json"}, allow_redirects=False, timeout=TIMEOUT)
            self.assertErrorPage(response)
        with self.subTest("a form that is not ours"):
            self.assertErrorPage(self.browser().authorize({**good, "step": "other"}, method="POST"))
        with self.subTest("no parameters at all"):
            page = self.assertErrorPage(self.browser().get(AUTHORIZE_PATH))
            self.assertIn("client_id", page.alert)

    # -- errors after: a redirect with error, state and iss ------------------------------------------------------

    def test_errors_redirected(self):
        cases = [
            ("no response_type", {"response_type": None}, "invalid_request"),
            ("response_type=token", {"response_type": "token"}, "unsupported_response_type"),
            ("response_type=id_token", {"response_type": "id_token"}, "unsupported_response_type"),
            ("response_type=code id_token", {"response_type": "code id_token"}, "unsupported_response_type"),
            ("no PKCE", {"code_challenge": None, "code_challenge_method": None}, "invalid_request"),
            ("PKCE plain", {"code_challenge_method": "plain"}, "invalid_request"),
            ("PKCE without a method (plain)", {"code_challenge_method": None}, "invalid_request"),
            ("a malformed challenge", {"code_challenge": "too-short"}, "invalid_request"),
            ("a scope the client may not have", {"scope": "openid admin"}, "invalid_scope"),
            ("a malformed scope", {"scope": 'openid "x"'}, "invalid_scope"),
            ("prompt=none with login", {"prompt": "none login"}, "invalid_request"),
            ("prompt=none with consent", {"prompt": "none consent"}, "invalid_request"),
            ("an unknown prompt", {"prompt": "maybe"}, "invalid_request"),
            ("a malformed max_age", {"max_age": "ten"}, "invalid_request"),
            ("a negative max_age", {"max_age": "-1"}, "invalid_request"),
            ("a nonce too long", {"nonce": "n" * 513}, "invalid_request"),
            ("response_mode=fragment", {"response_mode": "fragment"}, "invalid_request"),
            ("a request object", {"request": "eyJhbGciOiJub25lIn0.e30."}, "request_not_supported"),
            ("a request_uri", {"request_uri": "https://app.test/req"}, "request_uri_not_supported"),
            ("registration", {"registration": "{}"}, "registration_not_supported"),
        ]
        for label, overrides, error in cases:
            with self.subTest(label):
                params, _ = self.params(**overrides)
                self.assertRedirectError(self.browser().authorize(params), params, error, (302,))
                self.assertRedirectError(self.browser().authorize(params, method="POST"), params, error, (303,))
        with self.subTest("no state: none echoed"):
            params, _ = self.params(state=None, response_type="token")
            self.assertRedirectError(self.browser().authorize(params), params, "unsupported_response_type", (302,))
        with self.subTest("a state too long to echo"):
            params, _ = self.params(state="s" * 1025)
            response = self.browser().authorize(params)
            got = urllib.parse.parse_qs(urllib.parse.urlsplit(response.headers["location"]).query)
            self.assertEqual(got.get("error"), ["invalid_request"], describe(response))
            self.assertNotIn("state", got)
        with self.subTest("a client without the authorization_code grant"):
            params, _ = self.params("service", scope="read")
            self.assertRedirectError(self.browser().authorize(params), params, "unauthorized_client", (302,))
        with self.subTest("the redirect URI's own query is kept"):
            params, _ = self.params("portal", response_type="token")
            self.assertRedirectError(self.browser().authorize(params), params, "unsupported_response_type", (302,))

    def test_server_error_when_the_store_fails(self):
        browser = self.browser()
        self.sign_in(browser, "alice")
        # a constraint that refuses every new code: the statement fails, the client hears server_error
        self.db.query("ALTER TABLE authorization_codes ADD CONSTRAINT e2e_refuse_codes CHECK (false) NOT VALID")
        try:
            params, _ = self.params()
            self.assertRedirectError(browser.authorize(params), params, "server_error", (302,))
        finally:
            self.db.query("ALTER TABLE authorization_codes DROP CONSTRAINT e2e_refuse_codes")
        params, _ = self.params()
        self.assertCodeResponse(browser.authorize(params), params, (302,))

    # -- the sign-in form -------------------------------------------------------------------------------------

    def test_wrong_password_reshows_the_page(self):
        browser = self.browser()
        params, verifier = self.params()
        page = self.assertSigninPage(browser.authorize(params))
        for username, password in (("alice", "wrong-password"), ("nobody", "any-password"), ("alice", "x" * 1025)):
            with self.subTest(username=username, password=password[:20]):
                response = browser.submit(page, {"username": username, "password": password})
                page = self.assertSigninPage(response, 400, alert="incorrect")
                self.assertEqual(page.input("username").get("value"), username, "the username stays")
                self.assertNotIn("value", page.input("password"), "the password never comes back")
                self.assertEqual(page.input("username").get("aria-invalid"), "true")
                self.assertIsNone(browser.cookie(self.session_cookie), "no session after a wrong password")
        with self.subTest("a missing password"):
            response = browser.submit(page, {"username": "alice"})
            page = self.assertSigninPage(response, 400, alert="Enter")
        response = browser.submit(page, {"username": "alice", "password": self.users["alice"]})
        code = self.assertCodeResponse(response, params, (303,))
        self.assertTokens(self.exchange(code, params, verifier))

    def test_the_page(self):
        params, _ = self.params(login_hint="alice@example")
        response = self.browser().authorize(params)
        page = self.assertSigninPage(response)
        text = response.text
        self.assertIn("Single &lt;Page&gt; &amp; App", text, "the client's display name, escaped")
        self.assertNotIn("<Page>", text)
        self.assertEqual(page.scripts, 0, "no JavaScript")
        self.assertEqual(page.stylesheets, [CSS_PATH])
        self.assertIn('name="viewport"', text)
        self.assertEqual({"username", "password"} <= set(page.labels), True, page.labels)
        self.assertEqual(page.input("username").get("autocomplete"), "username")
        self.assertEqual(page.input("password").get("autocomplete"), "current-password")
        self.assertEqual(page.input("password").get("type"), "password")
        self.assertEqual(page.input("username").get("value"), "alice@example", "login_hint prefills the username")
        # focus order follows the document: username, password, then the button
        names = [i.get("name") for i in page.inputs if i.get("type") != "hidden"]
        self.assertEqual(names, ["username", "password"])
        self.assertNotIn("tabindex", text)
        # the authorization request travels in the form, as sent
        for name in ("client_id", "redirect_uri", "state", "nonce", "code_challenge", "login_hint"):
            self.assertEqual(page.form["fields"].get(name), params[name], name)
        # a client without a display name is shown by its id
        third, _ = self.params("third", scope="openid")
        self.assertIn("<strong>third</strong>", self.browser().authorize(third).text)

    def test_stylesheet(self):
        response = self.browser().get(CSS_PATH)
        self.assertEqual(response.status_code, 200, describe(response))
        self.assertEqual(response.headers.get("content-type"), "text/css; charset=utf-8")
        cache_control = response.headers.get("cache-control", "")
        self.assertIn("public", cache_control)
        self.assertRegex(cache_control, r"max-age=[1-9][0-9]*")
        self.assertEqual(response.headers.get("x-content-type-options"), "nosniff")
        self.assertIn("@media", response.text, "responsive")

    def test_cookies(self):
        browser = self.browser()
        params, _ = self.params()
        response = browser.authorize(params)
        page = self.assertSigninPage(response)
        attempt = response.raw.headers.getlist("set-cookie")
        self.assertEqual(len(attempt), 1, attempt)
        self.assertCookie(attempt[0], "authsvc-attempt", max_age=900)
        response = browser.submit(page, {"username": "alice", "password": self.users["alice"]})
        self.assertCodeResponse(response, params, (303,))
        cookies = response.raw.headers.getlist("set-cookie")
        self.assertEqual(len(cookies), 1, cookies)
        self.assertCookie(cookies[0], self.session_cookie, max_age=36000)  # --session-max-ttl's default

    # -- CSRF -----------------------------------------------------------------------------------------------

    def test_csrf_token_missing_forged_foreign_or_replayed(self):
        alice = {"username": "alice", "password": self.users["alice"]}
        expired_alert = "expired or was already used"

        with self.subTest("missing"):
            browser = self.browser()
            page = self.assertSigninPage(browser.authorize(self.params()[0]))
            self.assertSigninPage(browser.submit(page, alice, drop=("csrf_token",)), 400, alert=expired_alert)
            self.assertIsNone(browser.cookie(self.session_cookie))
        with self.subTest("forged"):
            browser = self.browser()
            page = self.assertSigninPage(browser.authorize(self.params()[0]))
            token = page.form["fields"]["csrf_token"]
            forged = token[:40] + ("A" if token[40] != "A" else "B") + token[41:]
            self.assertSigninPage(browser.submit(page, {**alice, "csrf_token": forged}), 400, alert=expired_alert)
            self.assertSigninPage(browser.submit(page, {**alice, "csrf_token": "x"}), 400, alert=expired_alert)
        with self.subTest("without the attempt cookie"):
            browser = self.browser()
            page = self.assertSigninPage(browser.authorize(self.params()[0]))
            browser.session.cookies.clear()
            self.assertSigninPage(browser.submit(page, alice), 400, alert=expired_alert)
        with self.subTest("another browser's token (login CSRF)"):
            attacker, victim = self.browser(), self.browser()
            params, _ = self.params()
            page = self.assertSigninPage(attacker.authorize(params))
            self.assertSigninPage(victim.authorize(params))  # the victim has an attempt cookie of its own
            response = victim.post_form(AUTHORIZE_PATH, {**page.form["fields"], **alice})
            self.assertSigninPage(response, 400, alert=expired_alert)
            self.assertIsNone(victim.cookie(self.session_cookie))
        with self.subTest("a token for another authorization request"):
            browser = self.browser()
            page = self.assertSigninPage(browser.authorize(self.params()[0]))
            other, _ = self.params(scope="openid")
            response = browser.post_form(AUTHORIZE_PATH, {**other, "step": "login",
                                                          "csrf_token": page.form["fields"]["csrf_token"], **alice})
            self.assertSigninPage(response, 400, alert=expired_alert)
        with self.subTest("replayed after a wrong password"):
            browser = self.browser()
            page = self.assertSigninPage(browser.authorize(self.params()[0]))
            self.assertSigninPage(browser.submit(page, {"username": "alice", "password": "wrong"}), 400, alert="incorrect")
            # the same form again, now with the right password: the token is spent
            self.assertSigninPage(browser.submit(page, alice), 400, alert=expired_alert)
            self.assertIsNone(browser.cookie(self.session_cookie))
        with self.subTest("replayed after a good sign-in"):
            browser = self.browser()
            params, _ = self.params()
            page = self.assertSigninPage(browser.authorize(params))
            self.assertCodeResponse(browser.submit(page, alice), params, (303,))
            codes = self.db.query("SELECT count(*) FROM authorization_codes")
            self.assertSigninPage(browser.submit(page, alice), 400, alert=expired_alert)
            self.assertEqual(self.db.query("SELECT count(*) FROM authorization_codes"), codes, "no second code")
        with self.subTest("expired"):
            browser = self.browser()
            page = self.assertSigninPage(browser.authorize(self.params()[0]))
            raw = bytearray(harness.b64url_decode(page.form["fields"]["csrf_token"]))
            raw[16:24] = (int(time.time()) - 1).to_bytes(8, "big")  # the expiry is under the MAC: any change is refused
            self.assertSigninPage(browser.submit(page, {**alice, "csrf_token": harness.b64url_encode(bytes(raw))}), 400,
                                  alert=expired_alert)
        with self.subTest("two tabs of one browser"):
            browser = self.browser()
            params1, verifier1 = self.params()
            params2, _ = self.params("portal")
            page1 = self.assertSigninPage(browser.authorize(params1))
            self.assertSigninPage(browser.authorize(params2))
            code = self.assertCodeResponse(browser.submit(page1, alice), params1, (303,))
            self.assertTokens(self.exchange(code, params1, verifier1))

    # -- PKCE and the code ---------------------------------------------------------------------------------

    def test_pkce_at_the_token_endpoint(self):
        browser = self.browser()
        code, params, verifier = self.sign_in(browser, "alice")
        response = self.exchange(code, params, verifier, code_verifier=None)
        self.assertEqual(response.status_code, 400, describe(response))
        self.assertEqual(response.json()["error"], "invalid_request")
        for label, wrong in (("another verifier", pkce()[0]), ("the challenge itself", params["code_challenge"]),
                             ("too short", "a" * 42), ("a bad character", verifier[:-1] + "+")):
            with self.subTest(label):
                self.assertInvalidGrant(self.exchange(code, params, verifier, code_verifier=wrong))
        # the failed attempts did not consume the code
        self.assertTokens(self.exchange(code, params, verifier))

    def test_code_bound_to_client_and_redirect_uri(self):
        browser = self.browser()
        code, params, verifier = self.sign_in(browser, "alice")
        self.assertInvalidGrant(self.exchange(code, params, verifier, client=self.client["portal"]))
        self.assertInvalidGrant(self.exchange(code, params, verifier, client=self.client["third"]))
        self.assertInvalidGrant(self.exchange(code, params, verifier, redirect_uri=CB + "/"))
        self.assertInvalidGrant(self.exchange(code, params, verifier, redirect_uri=CB_PORTAL))
        response = self.exchange(code, params, verifier, redirect_uri=None)
        self.assertEqual(response.json().get("error"), "invalid_request", describe(response))
        for garbage in ("x", "A" * 43, code + "A", code[:-1]):
            self.assertInvalidGrant(self.exchange(garbage, params, verifier))
        self.assertTokens(self.exchange(code, params, verifier))

    def test_code_replay_revokes_what_it_issued(self):
        browser = self.browser()
        code, params, verifier = self.sign_in(browser, "bob")
        tokens = self.assertTokens(self.exchange(code, params, verifier))
        self.assertIs(self.introspect(tokens["access_token"])["active"], True)
        self.assertInvalidGrant(self.exchange(code, params, verifier))
        # RFC 6749 §4.1.2: the tokens issued from the code are revoked
        response = requests.post(self.server.url(TOKEN_PATH), timeout=TIMEOUT,
                                 data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"],
                                       "client_id": "spa"})
        self.assertInvalidGrant(response)
        self.assertIs(self.introspect(tokens["access_token"])["active"], False)
        audit = self.db.query("SELECT count(*) FROM audit_events WHERE kind = 'code_replay'")
        self.assertGreaterEqual(int(audit), 1)
        # the session itself stays: the user is not logged out by a client's replay
        params2, verifier2 = self.params()
        self.assertCodeResponse(browser.authorize(params2), params2, (302,))

    def test_expired_code(self):
        browser = self.browser()
        code, params, verifier = self.sign_in(browser, "alice")
        ttl = self.db.query(f"SELECT extract(epoch FROM expires_at - created_at)::int FROM authorization_codes"
                            f" WHERE hash = {code_hash_sql(code)}")
        self.assertEqual(ttl, "60", "codes live 60 s")
        self.db.query(f"UPDATE authorization_codes SET expires_at = now() - interval '1 second' WHERE hash = {code_hash_sql(code)}")
        self.assertInvalidGrant(self.exchange(code, params, verifier))

    def test_code_of_an_ended_session(self):
        browser = self.browser()
        code, params, verifier = self.sign_in(browser, "alice")
        self.db.query(f"UPDATE sessions SET ended_at = now() WHERE id = (SELECT session_id FROM authorization_codes"
                      f" WHERE hash = {code_hash_sql(code)})")
        self.assertInvalidGrant(self.exchange(code, params, verifier))

    # -- consent ------------------------------------------------------------------------------------------

    def test_consent_for_third_parties_only(self):
        browser = self.browser()
        params, verifier = self.params("third", scope="openid read")
        page = self.assertSigninPage(browser.authorize(params))
        response = browser.submit(page, {"username": "erin", "password": self.users["erin"]})
        consent = self.assertConsentPage(response)
        self.assertIn("read", response.text)
        self.assertIn("erin", response.text)
        # prompt=none while the consent is pending
        pending, _ = self.params("third", scope="openid read", prompt="none")
        self.assertRedirectError(browser.authorize(pending), pending, "consent_required", (302,))
        # the consent page's token is not the sign-in form's, and is good once
        response = browser.submit(consent, button="approve")
        code = self.assertCodeResponse(response, params, (303,))
        self.assertConsentPage(browser.submit(consent, button="approve"), 400)
        body = self.assertTokens(self.exchange(code, params, verifier), refresh=False)
        self.assertEqual(body["scope"], "openid read")
        # once approved: no page, even with prompt=none
        again, verifier = self.params("third", scope="read", prompt="none")
        self.assertCodeResponse(browser.authorize(again), again, (302,))
        # prompt=consent asks again; Deny is access_denied
        ask, _ = self.params("third", scope="openid", prompt="consent")
        consent = self.assertConsentPage(browser.authorize(ask))
        self.assertRedirectError(browser.submit(consent, button="deny"), ask, "access_denied", (303,))
        # a first-party client never asks
        params, _ = self.params("spa")
        self.assertCodeResponse(browser.authorize(params), params, (302,))

    def test_consent_adds_to_what_was_approved(self):
        """Approving `write` after `read` keeps both; a request within what was approved skips the page."""
        browser = self.browser()
        params, verifier = self.params("widget", scope="read")
        page = self.assertSigninPage(browser.authorize(params))
        consent = self.assertConsentPage(browser.submit(page, {"username": "gina", "password": self.users["gina"]}))
        self.assertCodeResponse(browser.submit(consent, button="approve"), params, (303,))
        params, verifier = self.params("widget", scope="write")
        consent = self.assertConsentPage(browser.authorize(params))
        code = self.assertCodeResponse(browser.submit(consent, button="approve"), params, (303,))
        self.assertEqual(self.assertTokens(self.exchange(code, params, verifier), refresh=False)["scope"], "write")
        stored = self.db.query(f"SELECT scope FROM consents WHERE client_id = 'widget' AND user_id = '{self.user_id('gina')}'")
        self.assertEqual(set(stored.split(" ")), {"read", "write"})
        for scope in ("read", "write", "read write", "write read"):
            with self.subTest(scope=scope):
                params, verifier = self.params("widget", scope=scope, prompt="none")
                code = self.assertCodeResponse(browser.authorize(params), params, (302,))
                body = self.assertTokens(self.exchange(code, params, verifier), refresh=False)
                self.assertEqual(set(body["scope"].split()), set(scope.split()))
        # a scope not approved yet still asks, and approving it keeps the rest
        params, _ = self.params("widget", scope="openid read")
        consent = self.assertConsentPage(browser.authorize(params))
        self.assertCodeResponse(browser.submit(consent, button="approve"), params, (303,))
        stored = self.db.query(f"SELECT scope FROM consents WHERE client_id = 'widget' AND user_id = '{self.user_id('gina')}'")
        self.assertEqual(sorted(stored.split(" ")), ["openid", "read", "write"])

    def test_consent_form_checks(self):
        browser = self.browser()
        self.sign_in(browser, "gina")  # a session, through spa
        params, _ = self.params("third", scope="openid", prompt="consent")
        consent = self.assertConsentPage(browser.authorize(params))
        with self.subTest("no decision"):
            self.assertConsentPage(browser.submit(consent), 400)
        consent = self.assertConsentPage(browser.authorize(params))
        with self.subTest("a sign-in token on the consent form"):
            signin = self.assertSigninPage(self.browser().authorize(self.params("third", scope="openid")[0]))
            response = browser.submit(consent, {"csrf_token": signin.form["fields"]["csrf_token"]}, button="approve")
            self.assertConsentPage(response, 400)
        with self.subTest("another browser"):
            response = self.browser().submit(consent, button="approve")
            self.assertSigninPage(response, 400, alert="sign in again")  # no session there: sign in first
        with self.subTest("a wider scope than shown"):
            response = browser.post_form(AUTHORIZE_PATH, {**consent.form["fields"], "scope": "openid read",
                                                          "decision": "approve"})
            self.assertConsentPage(response, 400)
        self.assertEqual(self.db.query(f"SELECT count(*) FROM consents WHERE client_id = 'third' AND user_id ="
                                       f" '{self.user_id('gina')}' AND scope LIKE '%read%'"), "0")

    # -- metadata --------------------------------------------------------------------------------------------

    def test_metadata(self):
        metadata = requests.get(self.server.url("/.well-known/oauth-authorization-server"), timeout=TIMEOUT).json()
        self.assertEqual(metadata["authorization_endpoint"], ISSUER + AUTHORIZE_PATH)
        self.assertIn("authorization_code", metadata["grant_types_supported"])
        self.assertEqual(metadata["response_types_supported"], ["code"])
        self.assertEqual(metadata["code_challenge_methods_supported"], ["S256"])
        self.assertIs(metadata["authorization_response_iss_parameter_supported"], True)


class SecureCookieTests(AuthorizeCase):
    """An https issuer: the cookies are Secure and __Host- prefixed (the requests here are plain HTTP to the
    server, as behind a TLS-terminating proxy, so the cookies are sent by hand)."""

    issuer = "https://login.example.test"
    serve_args = ("--issuer", issuer)
    session_cookie = "__Host-authsvc-session"
    users = {"alice": "alice-password-1"}
    clients = [spa("openid")]

    def test_secure_host_cookies(self):
        params, _ = self.params(scope="openid")
        url = self.server.url(AUTHORIZE_PATH)
        response = requests.get(url, params=params, allow_redirects=False, timeout=TIMEOUT)
        page = self.assertSigninPage(response)
        attempt = response.raw.headers.getlist("set-cookie")
        self.assertEqual(len(attempt), 1, attempt)
        self.assertCookie(attempt[0], "__Host-authsvc-attempt", max_age=900, secure=True)
        cookie = attempt[0].split(";")[0]
        response = requests.post(url, data={**page.form["fields"], "username": "alice", "password": self.users["alice"]},
                                 headers={"cookie": cookie}, allow_redirects=False, timeout=TIMEOUT)
        self.assertCodeResponse(response, params, (303,))
        session = response.raw.headers.getlist("set-cookie")
        self.assertEqual(len(session), 1, session)
        self.assertCookie(session[0], "__Host-authsvc-session", max_age=36000, secure=True)
        # the cookie is what stands for the session
        params, _ = self.params(scope="openid", prompt="none")
        response = requests.get(url, params=params, headers={"cookie": session[0].split(";")[0]}, allow_redirects=False,
                                timeout=TIMEOUT)
        self.assertCodeResponse(response, params, (302,))
        # a cookie without the prefix is not ours
        response = requests.get(url, params=params, headers={"cookie": session[0].split(";")[0].replace("__Host-", "")},
                                allow_redirects=False, timeout=TIMEOUT)
        self.assertRedirectError(response, params, "login_required", (302,))


class StoreTimeoutTests(AuthorizeCase):
    """A database that does not answer in time, once the redirect URI is trusted: temporarily_unavailable."""

    serve_args = ("--db-timeout", "1000")
    users = {"alice": "alice-password-1"}
    clients = [spa("openid")]

    def test_temporarily_unavailable(self):
        browser = self.browser()
        self.sign_in(browser, "alice", params=self.params(scope="openid"))
        # another transaction holds the codes table: the next code cannot be stored before the deadline
        locker = subprocess.Popen([harness._tool("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", self.db.conninfo],
                                  stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True)
        try:
            locker.stdin.write("BEGIN; LOCK TABLE authorization_codes IN ACCESS EXCLUSIVE MODE;\n")
            locker.stdin.flush()
            harness.wait_for("the lock on authorization_codes", lambda: self.db.query(
                "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation"
                " WHERE c.relname = 'authorization_codes' AND l.mode = 'AccessExclusiveLock' AND l.granted") == "1")
            params, _ = self.params(scope="openid")
            self.assertRedirectError(browser.authorize(params), params, "temporarily_unavailable", (302,))
        finally:
            locker.stdin.write("ROLLBACK;\n")
            locker.stdin.close()
            locker.wait(30)

        # the service recovers by itself
        def recovered():
            response = browser.authorize(self.params(scope="openid")[0])
            return response.status_code == 302 and "code=" in response.headers.get("location", "")

        harness.wait_for("codes to be issued again", recovered)


class LogSecrecyTests(AuthorizeCase):
    """What a browser sign-in leaves in the access log: the client and the outcome, never a secret (the
    password, the code, the cookies, the form's token, the PKCE verifier, the tokens, the request's state
    and nonce); nor in the server's own log."""

    users = {"alice": "alice-password-1"}
    clients = [spa("openid")]

    @classmethod
    def _start_server(cls):
        cls.log_path = os.path.join(cls.workdir, "access.log")
        cls.serve_args = ("--access-log", cls.log_path)
        super()._start_server()

    def lines(self):
        with open(self.log_path, encoding="utf-8") as f:
            return [json.loads(line) for line in f]

    def test_no_secret_in_the_logs(self):
        browser = self.browser()
        params, verifier = self.params(scope="openid", login_hint="alice")
        response = browser.authorize(params)
        page = self.assertSigninPage(response)
        signin_id = response.headers["x-request-id"]
        response = browser.submit(page, {"username": "alice", "password": self.users["alice"]})
        code = self.assertCodeResponse(response, params, (303,))
        submit_id = response.headers["x-request-id"]
        tokens = self.assertTokens(self.exchange(code, params, verifier))
        error, _ = self.params(response_type="token")
        error_id = browser.authorize(error).headers["x-request-id"]

        def logged_lines():
            lines = {line.get("request_id"): line for line in self.lines()}
            return lines if {signin_id, submit_id, error_id} <= set(lines) else None

        by_id = harness.wait_for("the access-log lines", logged_lines)
        self.assertEqual((by_id[signin_id]["path"], by_id[signin_id]["status"], by_id[signin_id].get("client_id")),
                         (AUTHORIZE_PATH, 200, "spa"))
        self.assertEqual((by_id[submit_id]["method"], by_id[submit_id]["status"], by_id[submit_id].get("client_id")),
                         ("POST", 303, "spa"))
        self.assertEqual(by_id[error_id].get("error"), "unsupported_response_type")
        with open(self.log_path, encoding="utf-8") as f:
            logged = f.read() + self.server.stderr_text()
        secrets_shown = {
            "password": self.users["alice"], "code": code, "session cookie": browser.cookie(self.session_cookie),
            "attempt cookie": browser.cookie("authsvc-attempt"), "form token": page.form["fields"]["csrf_token"],
            "code_verifier": verifier, "code_challenge": params["code_challenge"], "state": params["state"],
            "nonce": params["nonce"], "access token": tokens["access_token"], "refresh token": tokens["refresh_token"],
            "id_token": tokens["id_token"],
        }
        for name, value in secrets_shown.items():
            self.assertTrue(value, name)
            self.assertNotIn(value, logged, f"the {name} is in a log")


if __name__ == "__main__":
    harness.main()
