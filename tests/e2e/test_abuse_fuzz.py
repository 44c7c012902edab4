"""A fuzzer over the HTTP surface: random and mutated requests on every route `authsvc routes` lists, over
HTTP/1.1 and HTTP/2, and not one 5xx answer, not one crash.

Requests start from valid ones (every grant, revocation, introspection, the feed, the password change, with
real clients, users and tokens) and are then mutated: bytes that are not UTF-8 (raw or percent-encoded),
overlong and surrogate sequences, control bytes, repeated parameters and headers, two Authorization headers,
wrong content types, oversized and truncated values, stray cookies and query strings, other methods.
Everything is drawn from one seeded random generator: a failure names its seed and request number and
replays exactly. AUTHSVC_FUZZ_REQUESTS sets the count (default 1500 per protocol; the issue's 100,000 run
is `AUTHSVC_FUZZ_REQUESTS=50000`), AUTHSVC_FUZZ_SEED the seed.
"""

import base64
import http.client
import os
import random
import socket
import subprocess
import urllib.parse

import h2.config
import h2.connection
import h2.events
import h2.exceptions

import harness
from harness import API, Client

COUNT = int(os.environ.get("AUTHSVC_FUZZ_REQUESTS", "1500"))
SEED = int(os.environ.get("AUTHSVC_FUZZ_SEED", "20261130"))

NASTY = ["%FF", "%C0%AF", "%ED%A0%80", "%F4%90%80%80", "%C3", "%E2%82", "%80", "%00", "%0A", "%7F", "\xff", "\xc3\x28",
         "é", "😀", "%", "%zz", "+", "&", "=", ";", "'", '"', "\\", "' OR 1=1 --", "\u202e", "a" * 300, "a" * 5000]
PARAMS = ["grant_type", "client_id", "client_secret", "username", "password", "refresh_token", "scope", "token",
          "token_type_hint", "current_password", "new_password", "redirect_uri", "code", "code_verifier", "state",
          "response_type", "nonce"]
GRANTS = ["client_credentials", "password", "refresh_token", "authorization_code", "urn:x", ""]


class Fuzzer:
    def __init__(self, case, seed):
        self.case = case
        self.rnd = random.Random(seed)
        routes = harness.run([harness.authsvc_bin(), "routes"]).stdout.split()
        self.routes = list(zip(routes[0::2], routes[1::2]))

    def nasty(self):
        return self.rnd.choice(NASTY)

    def value(self, good):
        """A value: the good one, the good one mangled, or something nasty (as raw text, not yet encoded)."""
        r = self.rnd.random()
        if r < 0.5:
            return good
        if r < 0.8 and good:
            i = self.rnd.randrange(len(good) + 1)
            return good[:i] + self.nasty() + good[i:]
        return self.nasty()

    def encode(self, text):
        """Encodes a value, except that NASTY's escapes and raw bytes sometimes go as they are."""
        if self.rnd.random() < 0.3:
            return text
        return urllib.parse.quote_plus(text.encode("utf-8", "surrogatepass"), safe="%")

    def form(self, fields):
        pairs = [(k, self.value(v)) for k, v in fields.items()]
        if self.rnd.random() < 0.2:
            pairs.append((self.rnd.choice(PARAMS), self.value("x")))  # maybe a repeat
        if self.rnd.random() < 0.1:
            pairs.append((self.nasty(), "1"))
        self.rnd.shuffle(pairs)
        body = "&".join(f"{self.encode(k)}={self.encode(v)}" for k, v in pairs)
        return body.encode("utf-8", "surrogateescape") if all(ord(c) < 0x110000 for c in body) else body.encode("latin-1")

    def authorization(self):
        case = self.case
        r = self.rnd.random()
        backend = case.client["backend"]
        if r < 0.3:
            user, secret = self.value(backend.client_id), self.value(backend.secret)
            raw = urllib.parse.quote_plus(user, safe="%") + ":" + urllib.parse.quote_plus(secret, safe="%")
            return ["Basic " + base64.b64encode(raw.encode("utf-8", "surrogatepass")).decode()]
        if r < 0.4:
            raw = self.rnd.randbytes(self.rnd.randrange(1, 40))
            return ["Basic " + base64.b64encode(raw).decode()]
        if r < 0.5:
            return ["Bearer " + self.value(case.access_token)]
        if r < 0.55:
            return [harness.basic_auth(*backend.basic), harness.basic_auth(*backend.basic)]  # two headers: 400
        if r < 0.6:
            return [self.value("Basic") + " " + self.nasty()]
        return []

    def request(self):
        """(method, path, headers [(name, value)], body) of one request."""
        case = self.case
        method, path = self.rnd.choice(self.routes)
        fields = {}
        if path.endswith("/token"):
            fields = {"grant_type": self.rnd.choice(GRANTS), "scope": "read"}
            if self.rnd.random() < 0.5:
                fields.update(client_id="app", username="alice", password="alice-password")
            else:
                fields.update(refresh_token=case.refresh_token, client_id="app")
        elif path.endswith(("/revoke", "/introspect")):
            fields = {"token": self.rnd.choice([case.access_token, case.refresh_token]), "token_type_hint": "x"}
        elif path.endswith("/password"):
            fields = {"current_password": "alice-password", "new_password": self.value("a-new-password")}
        else:
            fields = {p: "x" for p in self.rnd.sample(PARAMS, 2)}
        if self.rnd.random() < 0.1:
            method = self.rnd.choice(["GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH", "BREW"])
        if self.rnd.random() < 0.3:
            path += "?" + "&".join(f"{self.encode(self.value(k))}={self.encode(self.value(v))}"
                                   for k, v in [("since", "1"), (self.rnd.choice(PARAMS), "x")])
        headers = [("authorization", a) for a in self.authorization()]
        body = None
        if method == "POST" or self.rnd.random() < 0.1:
            body = self.form(fields)
            ctype = self.rnd.choice([harness.FORM_TYPE] * 6 + ["application/json", "text/plain",
                                                                harness.FORM_TYPE + "; charset=" + self.nasty(), ""])
            if ctype:
                headers.append(("content-type", ctype))
        if self.rnd.random() < 0.15:
            headers.append(("cookie", f"authsvc-session={self.nasty()}; {self.nasty()}=1"))
        if self.rnd.random() < 0.05:
            headers.append(("x-forwarded-for", self.nasty()))
        return method, path, headers, body


def header_bytes(value):
    return value.encode("utf-8", "surrogatepass") if isinstance(value, str) else value


class Http1:
    def __init__(self, port):
        self.port = port
        self.sock = None

    def send(self, method, path, headers, body):
        """The status, or 0 when the server closed the connection without an answer (then a new connection)."""
        for attempt in range(2):
            if self.sock is None:
                self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=harness.REQUEST_TIMEOUT)
            head = f"{method} ".encode() + header_bytes(path) + b" HTTP/1.1\r\nhost: 127.0.0.1\r\n"
            for name, value in headers:
                head += name.encode() + b": " + header_bytes(value).replace(b"\r", b"").replace(b"\n", b"") + b"\r\n"
            if body is not None:
                head += f"content-length: {len(body)}\r\n".encode()
            try:
                self.sock.sendall(head + b"\r\n" + (body or b""))
                response = http.client.HTTPResponse(self.sock, method=method)
                response.begin()
                response.read()
                if response.will_close:
                    self.close()
                return response.status
            except (http.client.HTTPException, ConnectionError, socket.timeout, OSError):
                self.close()
                if attempt == 1:
                    return 0
        return 0

    def close(self):
        if self.sock is not None:
            self.sock.close()
            self.sock = None


class Http2:
    def __init__(self, port):
        self.port = port
        self.sock = None

    def connect(self):
        self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=harness.REQUEST_TIMEOUT)
        config = h2.config.H2Configuration(client_side=True, validate_outbound_headers=False,
                                           normalize_outbound_headers=False, validate_inbound_headers=False)
        self.conn = h2.connection.H2Connection(config)
        self.conn.initiate_connection()
        self.sock.sendall(self.conn.data_to_send())

    def send(self, method, path, headers, body):
        """The status, or 0 when the stream was refused or reset (h2o's answer to a bad request over HTTP/2)."""
        if self.sock is None:
            self.connect()
        try:
            stream = self.conn.get_next_available_stream_id()
            hdrs = [(b":method", method.encode()), (b":scheme", b"http"), (b":authority", b"127.0.0.1"),
                    (b":path", header_bytes(path) or b"/")] + [(n.encode(), header_bytes(v)) for n, v in headers]
            self.conn.send_headers(stream, hdrs, end_stream=body is None)
            if body is not None:
                self.conn.send_data(stream, body, end_stream=True)
            self.sock.sendall(self.conn.data_to_send())
            status = None
            while status is None:
                data = self.sock.recv(65536)
                if not data:
                    raise ConnectionError("closed")
                for event in self.conn.receive_data(data):
                    if isinstance(event, h2.events.ResponseReceived) and event.stream_id == stream:
                        status = int(dict(event.headers)[b":status"])
                    elif isinstance(event, h2.events.StreamReset) and event.stream_id == stream:
                        status = 0
                    elif isinstance(event, h2.events.ConnectionTerminated):
                        raise ConnectionError("GOAWAY")
                self.sock.sendall(self.conn.data_to_send())
            # the rest of the response: ignore its body
            return status
        except (h2.exceptions.H2Error, ConnectionError, socket.timeout, OSError, ValueError):
            self.close()
            return 0

    def close(self):
        if self.sock is not None:
            self.sock.close()
            self.sock = None


class HttpFuzzTests(harness.ServiceTestCase):
    users = {"alice": "alice-password"}
    clients = [
        Client("backend", grants=["client_credentials"], audiences=[API], scope="read",
               options=["--allow", "introspection", "--allow", "revocation-feed"]),
        Client("app", grants=["password", "refresh_token"], audiences=[API], scope="read", public=True,
               options=["--allow", "introspection"]),
    ]

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        login = harness.client_auth(cls.client["app"], {"grant_type": "password", "username": "alice",
                                                        "password": "alice-password"})
        body = cls.http.token(login[0]).json()
        cls.access_token, cls.refresh_token = body["access_token"], body["refresh_token"]

    def fuzz(self, client, seed):
        fuzzer = Fuzzer(self, seed)
        counts = {}
        for i in range(COUNT):
            method, path, headers, body = fuzzer.request()
            status = client.send(method, path, headers, body)
            counts[status // 100] = counts.get(status // 100, 0) + 1
            if status >= 500:
                self.fail(f"seed {seed}, request {i}: {status} for {method} {path!r} headers {headers!r} "
                          f"body {body[:300] if body else body!r}\n{self.server.log()}")
            if not self.server.alive():
                self.fail(f"seed {seed}, request {i}: the server died on {method} {path!r}\n{self.server.log()}")
        client.close()
        print(f"{type(client).__name__}, seed {seed}: {COUNT} requests, answers by class {dict(sorted(counts.items()))}")
        # most requests were answered, and by the endpoints (4xx and some 2xx), not only refused; a third at least
        # rejected, since the probes (/healthz, /livez, /readyz: GETs that answer 200 whatever else comes) are
        # three routes of the draw
        self.assertGreater(counts.get(4, 0) + counts.get(2, 0), COUNT // 2, counts)
        self.assertGreater(counts.get(4, 0), COUNT // 3, counts)
        self.assertGreater(counts.get(2, 0), 0, counts)
        self.assertStatus(self.http.get(harness.HEALTH_PATH), 200)

    def test_http1(self):
        self.fuzz(Http1(self.server.port), SEED)

    def test_http2(self):
        self.fuzz(Http2(self.server.port), SEED + 1)


if __name__ == "__main__":
    harness.main()
