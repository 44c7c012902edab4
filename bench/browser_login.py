#!/usr/bin/python3
"""Browser sign-in rates against a running authsvc (loopback only), as a browser makes the requests:

    bench/browser_login.py BASE_URL CLIENT_ID REDIRECT_URI USERNAME PASSWORD [SECONDS] [THREADS]

  page logins       GET /oauth2/authorize (the sign-in page and its attempt cookie), then POST the form with the
                    username and password: one argon2id verification, a new SSO session and a code each
  with a session    GET /oauth2/authorize with the SSO session cookie of one sign-in: a code without the form
                    (no argon2; the session is touched and the code stored: database writes only)

Each THREADS (default 4) keeps one HTTP/1.1 keep-alive connection; a run is SECONDS (default 10) per scenario.
Every answer is checked (a code in the redirect); anything else is counted as a failure and printed once.
The argon2 ceiling to compare the page rate with: bench/argon2_rate (bench/run prints it), or the password grant.
"""

import base64
import hashlib
import html.parser
import http.client
import os
import sys
import threading
import time
import urllib.parse

BASE, CLIENT, REDIRECT, USER, PASSWORD = sys.argv[1:6]
SECONDS = float(sys.argv[6]) if len(sys.argv) > 6 else 10
THREADS = int(sys.argv[7]) if len(sys.argv) > 7 else 4
HOST = urllib.parse.urlsplit(BASE)


class Form(html.parser.HTMLParser):
    """The sign-in page's form: its action and hidden fields."""

    def __init__(self):
        super().__init__()
        self.action, self.fields = None, {}

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.action = a.get("action")
        elif tag == "input" and a.get("type") == "hidden":
            self.fields[a["name"]] = a.get("value", "")


def authorize_path():
    verifier = base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode()
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    query = urllib.parse.urlencode({"response_type": "code", "client_id": CLIENT, "redirect_uri": REDIRECT,
                                    "scope": "openid", "state": "s", "nonce": "n", "code_challenge": challenge,
                                    "code_challenge_method": "S256"})
    return "/oauth2/authorize?" + query


def cookies_of(resp):
    return [h.split(";", 1)[0] for k, h in resp.getheaders() if k.lower() == "set-cookie"]


def has_code(resp):
    return resp.status in (302, 303) and "code=" in (resp.getheader("Location") or "")


def page_login(conn):
    conn.request("GET", authorize_path())
    resp = conn.getresponse()
    page = resp.read().decode()
    form = Form()
    form.feed(page)
    if resp.status != 200 or form.action is None:
        return False, f"sign-in page: {resp.status}"
    body = urllib.parse.urlencode({**form.fields, "username": USER, "password": PASSWORD})
    conn.request("POST", form.action, body=body, headers={"Content-Type": "application/x-www-form-urlencoded",
                                                          "Cookie": "; ".join(cookies_of(resp))})
    resp = conn.getresponse()
    resp.read()
    return has_code(resp), f"sign-in: {resp.status}", cookies_of(resp)


def run(name, step):
    counts, errors, lock = [0, 0], [], threading.Lock()
    deadline = time.monotonic() + SECONDS

    def worker():
        conn = http.client.HTTPConnection(HOST.hostname, HOST.port, timeout=30)
        while time.monotonic() < deadline:
            ok, why = step(conn)[:2]
            with lock:
                counts[0 if ok else 1] += 1
                if not ok and len(errors) < 3:
                    errors.append(why)
        conn.close()

    start = time.monotonic()
    threads = [threading.Thread(target=worker) for _ in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - start
    print(f"{name:<18} {counts[0] / elapsed:8.1f}/s   {counts[0]} codes, {counts[1]} failures in {elapsed:.1f} s"
          f" ({THREADS} connections){'  e.g. ' + '; '.join(errors) if errors else ''}")


def main():
    conn = http.client.HTTPConnection(HOST.hostname, HOST.port, timeout=30)
    ok, why, cookies = page_login(conn)
    if not ok:
        sys.exit(f"cannot sign in once ({why}): check the client, its redirect URI and the user")
    session = "; ".join(c for c in cookies if "attempt" not in c.split("=", 1)[0])

    def with_session(conn):
        conn.request("GET", authorize_path(), headers={"Cookie": session})
        resp = conn.getresponse()
        resp.read()
        return has_code(resp), f"authorize: {resp.status}"

    run("page logins", page_login)
    run("with a session", with_session)


if __name__ == "__main__":
    main()
