"""api/openapi.yaml against the running service.

The document is the API as users read it; this test keeps it true:
- it is an OpenAPI 3.1 document whose $refs resolve, whose schemas are valid JSON Schema 2020-12, whose
  examples match their schemas, and which documents exactly the routes the binary serves, as
  `$AUTHSVC_BIN routes` prints them (every route documented, every documented operation routed);
- every documented path answers its documented method (not 404 or 405), every other method gets the
  documented 405, an unknown path the documented 404, an oversized body the documented 413;
- every documented status of every operation, and every error code each one allows, is produced by a
  real request (the 503s by a second server whose database is unreachable); every answer's status is
  documented, its body validates against the documented schema (python3-jsonschema) and carries no
  member the document does not name, and the documented response headers are present with documented
  values;
- the access tokens' JOSE header and claims match AccessTokenHeader and AccessTokenClaims, for every
  signing algorithm, and the metadata agrees with the document (endpoints, grant types).
"""

import hashlib
import functools
import json
import os
import re
import secrets
import sys
import unittest
import urllib.parse

try:
    import jsonschema
    import yaml
except ImportError as e:  # Debian's python3-jsonschema and python3-yaml (deploy/install-deps --test)
    sys.exit(f"test_openapi: {e}: install Debian's python3-jsonschema and python3-yaml")

import harness
from harness import (ACCOUNT_PASSWORD_PATH as ACCOUNT_PATH, API, Client, FEED_PATH, HEALTH_PATH, INTROSPECT_PATH,
                     ISSUER, JWKS_PATH, LIVE_PATH, LOGOUT_PATH, METADATA_PATHS, READY_PATH, REVOKE_PATH, TOKEN_PATH,
                     USERINFO_PATH)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DOC_PATH = os.path.join(ROOT, "api", "openapi.yaml")
AUTHORIZE_PATH = "/oauth2/authorize"
LOGIN_CSS_PATH = "/login.css"
BROWSER_REDIRECT_URI = "https://app.test/cb"

API2 = "https://other.example.test"
METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS")
DEFAULT_MAX_BODY = 16384
OVERSIZED = DEFAULT_MAX_BODY + 4096  # above --max-body, far below h2o's own backstop (8x, >= 128 KiB)

# Members the server sends that the document deliberately leaves out, because they advertise what authsvc
# does not do (reported as a server bug; remove an entry once the server stops sending it):
#  - token_endpoint_auth_signing_alg_values_supported: only meaningful with private_key_jwt/client_secret_jwt
#    client authentication, which authsvc does not accept (RFC 8414 §2);
#  - token_type "refresh_token" in the introspection of a refresh token: RFC 7662 §2.2 token_type is an
#    access-token type of RFC 6749 §7.1 (Bearer), which a refresh token does not have.
NOT_DOCUMENTED_ON_PURPOSE = {
    "IntrospectionActiveRefreshToken.token_type",
}


def load_document():
    with open(DOC_PATH, encoding="utf-8") as f:
        return yaml.safe_load(f)


DOC = load_document()


# ---------------------------------------------------------------------------------------------------------
# Reading the document


def resolve(node):
    """Follows local $refs; returns (node, name of the last component referenced, or None)."""
    name = None
    while isinstance(node, dict) and "$ref" in node:
        ref = node["$ref"]
        if not ref.startswith("#/"):
            raise AssertionError(f"non-local $ref {ref!r}")
        name = ref.rsplit("/", 1)[-1]
        node = DOC
        for part in ref[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(node, dict) or part not in node:
                raise AssertionError(f"$ref {ref!r} does not resolve")
            node = node[part]
    return node, name


def operations():
    """(path, METHOD, operation) for every documented operation."""
    for path, item in DOC["paths"].items():
        for method, op in item.items():
            if method.upper() in METHODS + ("HEAD", "TRACE"):
                yield path, method.upper(), op


def operation(path, method):
    return DOC["paths"][path][method.lower()]


def documented_responses(path, method):
    """{status: resolved response object} of one operation."""
    return {int(status): resolve(resp)[0] for status, resp in operation(path, method)["responses"].items()}


def request_schema(path, method="POST"):
    return operation(path, method)["requestBody"]["content"][harness.FORM_TYPE]["schema"]


def schema_errors(instance, schema):
    """Validation errors of `instance` against a schema of the document (local $refs resolve in it)."""
    wrapper = {"$schema": "https://json-schema.org/draft/2020-12/schema", "components": DOC["components"],
               "allOf": [schema]}
    return [f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"
            for e in jsonschema.Draft202012Validator(wrapper).iter_errors(instance)]


def component_schema(name):
    return {"$ref": f"#/components/schemas/{name}"}


def documented_properties(schema, instance):
    """(property -> subschema, component name) that describe `instance`.

    Gathered through $ref and allOf, and through those oneOf/anyOf branches that `instance` matches; the name
    is that of the most specific component (the matching branch's, when exactly one matches)."""
    schema, name = resolve(schema)
    props = {}
    if not isinstance(schema, dict):
        return props, name
    for key, sub in schema.get("properties", {}).items():
        props.setdefault(key, sub)
    for branch in schema.get("allOf", []):
        branch_props, branch_name = documented_properties(branch, instance)
        name = name or branch_name
        for key, sub in branch_props.items():
            props.setdefault(key, sub)
    for keyword in ("oneOf", "anyOf"):
        matching = [b for b in schema.get(keyword, []) if not schema_errors(instance, b)]
        for branch in matching:
            branch_props, branch_name = documented_properties(branch, instance)
            if len(matching) == 1 and branch_name:
                name = branch_name
            for key, sub in branch_props.items():
                props.setdefault(key, sub)
    return props, name


def undocumented_members(instance, schema, where="(root)"):
    """Members of the JSON objects in `instance` that the schema does not name, as 'Component.member'."""
    found = []
    resolved, _ = resolve(schema)
    if isinstance(instance, list):
        if isinstance(resolved, dict) and "items" in resolved:
            for i, item in enumerate(instance):
                found += undocumented_members(item, resolved["items"], f"{where}[{i}]")
        return found
    if not isinstance(instance, dict):
        return found
    props, name = documented_properties(schema, instance)
    if not props:
        return found  # a free-form object
    label = name or where
    for key, value in instance.items():
        if key not in props:
            found.append(f"{label}.{key}")
        elif isinstance(value, (dict, list)):
            found += undocumented_members(value, props[key], f"{label}.{key}")
    return found


def error_codes(schema):
    """The `error` values a (composed) error schema allows, or None if it constrains none."""
    schema, _ = resolve(schema)
    allowed = None
    error = schema.get("properties", {}).get("error")
    if error is not None and "enum" in resolve(error)[0]:
        allowed = set(resolve(error)[0]["enum"])
    for branch in schema.get("allOf", []):
        codes = error_codes(branch)
        if codes is not None:
            allowed = codes if allowed is None else allowed & codes
    return allowed


def documented_outcomes():
    """{(path, METHOD, status, error code or None)}: every answer the document promises."""
    outcomes = set()
    for path, method, _ in operations():
        for status, response in documented_responses(path, method).items():
            content = response.get("content", {}).get("application/json")
            codes = error_codes(content["schema"]) if content else None
            outcomes |= {(path, method, status, code) for code in codes} if codes else {(path, method, status, None)}
    return outcomes


def media_type(value):
    return (value or "").split(";")[0].strip().lower()


def walk(node, trail=()):
    """Every (trail, dict) in the document."""
    if isinstance(node, dict):
        yield trail, node
        for key, value in node.items():
            yield from walk(value, trail + (str(key),))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from walk(value, trail + (str(i),))


def parse_routes(text):
    """{(path, METHOD)} from the output of `authsvc routes`: one route a line, `METHOD PATH`, then perhaps
    more whitespace-separated columns (ignored). HEAD, served wherever GET is, is not printed."""
    routes = set()
    for number, line in enumerate(text.splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) < 2 or not re.fullmatch(r"[A-Z]+", fields[0]) or not fields[1].startswith("/"):
            raise AssertionError(f"`authsvc routes` line {number} is not `METHOD PATH ...`: {line!r}\n{text}")
        routes.add((fields[1], fields[0]))
    if not routes:
        raise AssertionError(f"`authsvc routes` printed no route\n{text!r}")
    return routes


def server_routes():
    """{(path, METHOD)} the binary routes, as `$AUTHSVC_BIN routes` prints them."""
    result = harness.run([harness.authsvc_bin(), "routes"], check=False)
    if result.returncode != 0:
        raise AssertionError("`authsvc routes` must print the route table and exit 0\n" +
                             harness.describe_process(result))
    return parse_routes(result.stdout)


def documented_routes(routed):
    """{(path, METHOD)} of the documented operations, less a documented HEAD where GET is routed (HEAD is
    implied there and `authsvc routes` does not print it), and less the CORS preflights (OPTIONS: the router
    answers them for the paths browser apps call cross-origin; ServiceTests triggers each)."""
    return {(path, method) for path, method, _ in operations()
            if not (method == "HEAD" and (path, "GET") in routed) and method != "OPTIONS"}


# ---------------------------------------------------------------------------------------------------------
# Comparing answers with the document


class DocumentAssertions:
    """Mixed into test cases: compares real responses with the document."""

    def assertDocumented(self, response, response_spec):
        """Checks headers and body against a response object of the document; returns the parsed body."""
        response_spec, _ = resolve(response_spec)
        for name, header in response_spec.get("headers", {}).items():
            header, _ = resolve(header)
            value = response.header(name)
            if value is None:
                if header.get("required"):
                    self.fail(f"documented header {name} is missing\n{response}")
                continue
            schema, _ = resolve(header["schema"])
            instance = value
            if schema.get("type") == "integer":
                self.assertRegex(value, r"^[0-9]+$", f"header {name} is not an integer\n{response}")
                instance = int(value)
            self.assertEqual(schema_errors(instance, schema), [],
                             f"header {name}: {value!r} does not match the document\n{response}")
        content = response_spec.get("content")
        if not content:
            self.assertEqual(response.body, b"", f"the document says no body\n{response}")
            return None
        content_type = media_type(response.header("content-type"))
        self.assertIn(content_type, content, f"Content-Type {content_type!r} is not documented\n{response}")
        schema = content[content_type]["schema"]
        if not content_type.endswith("json"):  # a page or a stylesheet: a text body, not JSON
            self.assertTrue(response.body or response.request.startswith("HEAD"), f"the document says a body\n{response}")
            self.assertEqual(schema_errors(response.body.decode("utf-8"), schema), [], response)
            return None
        try:
            body = json.loads(response.body)
        except ValueError as e:
            self.fail(f"body is not JSON ({e})\n{response}")
        errors = schema_errors(body, schema)
        self.assertEqual(errors, [], f"body does not match the documented schema\n{response}")
        extra = [m for m in undocumented_members(body, schema) if m not in NOT_DOCUMENTED_ON_PURPOSE]
        self.assertEqual(extra, [], f"body has members the document does not name\n{response}")
        return body

    def assertOperation(self, path, method, response, status=None, error=None):
        """The response is a documented one of the operation (with `status` and `error` if given)."""
        responses = documented_responses(path, method)
        if status is not None:
            self.assertIn(status, responses, f"test bug: {method} {path} documents no {status}")
            if response.status != status:
                self.fail(f"expected status {status}, got {response.status}\n{response}")
        self.assertIn(response.status, responses,
                      f"status {response.status} is not documented for {method} {path}\n{response}")
        body = self.assertDocumented(response, responses[response.status])
        if error is not None:
            self.assertEqual((body or {}).get("error"), error, response)
        return body

    def assertComponentResponse(self, name, response, status):
        if response.status != status:
            self.fail(f"expected status {status}, got {response.status}\n{response}")
        return self.assertDocumented(response, {"$ref": f"#/components/responses/{name}"})

    def assertRequestDocumented(self, path, fields):
        """A request the server accepted matches the documented request schema."""
        self.assertEqual(schema_errors(dict(fields), request_schema(path)), [],
                         f"request {sorted(fields)} does not match the documented request schema of {path}")

    def assertAccessTokenDocumented(self, body, jwks, *, audience):
        """The response's access token: verified with the JWKS, header and claims as documented."""
        header, claims = harness.verify_access_token(body["access_token"], jwks, audience=audience)
        context = f"\nheader: {header}\nclaims: {claims}"
        for instance, name in ((header, "AccessTokenHeader"), (claims, "AccessTokenClaims")):
            schema = component_schema(name)
            self.assertEqual(schema_errors(instance, schema), [], f"{name} does not match{context}")
            self.assertEqual(undocumented_members(instance, schema), [], f"{name} has undocumented members{context}")
        self.assertEqual(claims["exp"] - claims["iat"], body["expires_in"], "exp - iat != expires_in" + context)
        self.assertEqual(claims.get("scope"), body.get("scope"), "scope claim != response scope" + context)
        return header, claims


# ---------------------------------------------------------------------------------------------------------
# The document alone


class DocumentTests(unittest.TestCase):
    def test_openapi_31(self):
        self.assertRegex(str(DOC.get("openapi")), r"^3\.1\.\d+$")
        self.assertTrue(DOC["info"].get("title"))
        self.assertTrue(DOC["paths"])
        operation_ids = [op.get("operationId") for _, _, op in operations()]
        self.assertTrue(all(operation_ids), "an operation has no operationId")
        self.assertEqual(len(operation_ids), len(set(operation_ids)), "operationIds are not unique")
        for path, method, op in operations():
            self.assertTrue(op.get("responses"), f"{method} {path} documents no response")
            for status in op["responses"]:
                self.assertRegex(str(status), r"^[1-5][0-9][0-9]$", f"{method} {path}")

    def test_version_is_the_project_version(self):
        with open(os.path.join(ROOT, "CMakeLists.txt"), encoding="utf-8") as f:
            version = re.search(r"project\(\s*authsvc\s+VERSION\s+([0-9.]+)", f.read()).group(1)
        self.assertEqual(str(DOC["info"]["version"]), version)

    def test_refs_resolve(self):
        for trail, node in walk(DOC):
            if "$ref" in node:
                with self.subTest(at="/".join(trail)):
                    resolve(node)

    def test_schemas_are_json_schema_2020_12(self):
        for trail, node in walk(DOC):
            if "schema" in node and isinstance(node["schema"], dict):
                with self.subTest(at="/".join(trail)):
                    jsonschema.Draft202012Validator.check_schema(node["schema"])
        for name, schema in DOC["components"]["schemas"].items():
            with self.subTest(schema=name):
                jsonschema.Draft202012Validator.check_schema(schema)

    def test_examples_match_their_schemas(self):
        count = 0
        for trail, node in walk(DOC):
            if "schema" in node and isinstance(node.get("examples"), dict):
                for name, example in node["examples"].items():
                    with self.subTest(at="/".join(trail), example=name):
                        self.assertEqual(schema_errors(resolve(example)[0]["value"], node["schema"]), [])
                        count += 1
        self.assertGreater(count, 0)

    def test_every_route_of_the_server_is_documented(self):
        routed = server_routes()
        undocumented = routed - documented_routes(routed)
        self.assertEqual(sorted(undocumented), [], "routes `authsvc routes` prints that api/openapi.yaml does not "
                                                   "document")

    def test_every_documented_operation_is_routed(self):
        routed = server_routes()
        unrouted = documented_routes(routed) - routed
        self.assertEqual(sorted(unrouted), [], "operations api/openapi.yaml documents that `authsvc routes` does "
                                               "not print")

    def test_every_documented_outcome_has_a_trigger(self):
        """ServiceTests.TRIGGERS makes each documented answer happen: none may be missing, none extra."""
        self.assertEqual(set(ServiceTests.TRIGGERS), documented_outcomes())


# ---------------------------------------------------------------------------------------------------------
# The running service


class ServiceTests(DocumentAssertions, harness.ServiceTestCase):
    """One server with a database, and a second one (same keys and issuer) whose database is unreachable."""

    users = {"alice": "alice-password", "carol": "carol-password-0", "tess": "tess-password-0"}
    clients = [
        Client("backend", grants=["client_credentials"], audiences=[API], scope="read write",
               options=["--allow", "introspection", "--allow", "revocation-feed"]),
        Client("multi", grants=["client_credentials"], audiences=[API, API2], scope="read"),
        Client("bare", grants=["client_credentials"]),
        Client("web", grants=["password", "refresh_token"], audiences=[API], scope="profile read",
               options=["--allow", "introspection"]),
        Client("login-only", grants=["password"], audiences=[API], scope="profile"),
        Client("mobile", grants=["password", "refresh_token"], audiences=[API], scope="profile", public=True,
               options=["--allow", "introspection"]),
        Client("oidc", grants=["password"], audiences=[API], scope="openid profile"),
        Client("browser", grants=["authorization_code", "refresh_token"], audiences=[API], scope="openid profile",
               public=True, options=["--redirect-uri", BROWSER_REDIRECT_URI, "--post-logout-redirect-uri",
                                     "https://app.example/bye"]),
    ]

    # (path, method, status, error) -> the method that makes the server answer it; see
    # DocumentTests.test_every_documented_outcome_has_a_trigger
    TRIGGERS = {
        (TOKEN_PATH, "POST", 200, None): "token_ok",
        (TOKEN_PATH, "POST", 400, "invalid_request"): "token_invalid_request",
        (TOKEN_PATH, "POST", 400, "invalid_grant"): "token_invalid_grant",
        (TOKEN_PATH, "POST", 400, "unauthorized_client"): "token_unauthorized_client",
        (TOKEN_PATH, "POST", 400, "unsupported_grant_type"): "token_unsupported_grant_type",
        (TOKEN_PATH, "POST", 400, "invalid_scope"): "token_invalid_scope",
        (TOKEN_PATH, "POST", 401, "invalid_client"): "token_invalid_client",
        (TOKEN_PATH, "POST", 413, "invalid_request"): "token_too_large",
        (TOKEN_PATH, "POST", 429, "slow_down"): "token_throttled",
        (TOKEN_PATH, "POST", 503, "temporarily_unavailable"): "token_unavailable",
        (REVOKE_PATH, "POST", 200, None): "revoke_ok",
        (REVOKE_PATH, "POST", 400, "invalid_request"): "revoke_invalid_request",
        (REVOKE_PATH, "POST", 401, "invalid_client"): "revoke_invalid_client",
        (REVOKE_PATH, "POST", 413, "invalid_request"): "revoke_too_large",
        (REVOKE_PATH, "POST", 503, "temporarily_unavailable"): "revoke_unavailable",
        (INTROSPECT_PATH, "POST", 200, None): "introspect_ok",
        (INTROSPECT_PATH, "POST", 400, "invalid_request"): "introspect_invalid_request",
        (INTROSPECT_PATH, "POST", 401, "invalid_client"): "introspect_invalid_client",
        (INTROSPECT_PATH, "POST", 403, "unauthorized_client"): "introspect_not_allowed",
        (INTROSPECT_PATH, "POST", 413, "invalid_request"): "introspect_too_large",
        (INTROSPECT_PATH, "POST", 503, "temporarily_unavailable"): "introspect_unavailable",
        (FEED_PATH, "GET", 200, None): "feed_ok",
        (FEED_PATH, "GET", 400, "invalid_request"): "feed_invalid_request",
        (FEED_PATH, "GET", 401, "invalid_client"): "feed_invalid_client",
        (FEED_PATH, "GET", 403, "unauthorized_client"): "feed_not_allowed",
        (FEED_PATH, "GET", 503, "temporarily_unavailable"): "feed_unavailable",
        (TOKEN_PATH, "OPTIONS", 204, None): "preflight_token",
        (REVOKE_PATH, "OPTIONS", 204, None): "preflight_revoke",
        (USERINFO_PATH, "OPTIONS", 204, None): "preflight_userinfo",
        (JWKS_PATH, "OPTIONS", 204, None): "preflight_jwks",
        (METADATA_PATHS[0], "OPTIONS", 204, None): "preflight_metadata",
        (METADATA_PATHS[1], "OPTIONS", 204, None): "preflight_openid_configuration",
        (ACCOUNT_PATH, "POST", 200, None): "account_ok",
        (ACCOUNT_PATH, "POST", 400, "invalid_request"): "account_invalid_request",
        (ACCOUNT_PATH, "POST", 400, "invalid_grant"): "account_invalid_grant",
        (ACCOUNT_PATH, "POST", 401, "invalid_request"): "account_no_token",
        (ACCOUNT_PATH, "POST", 401, "invalid_token"): "account_invalid_token",
        (ACCOUNT_PATH, "POST", 403, "insufficient_scope"): "account_client_token",
        (ACCOUNT_PATH, "POST", 413, "invalid_request"): "account_too_large",
        (ACCOUNT_PATH, "POST", 429, "slow_down"): "account_throttled",
        (ACCOUNT_PATH, "POST", 503, "temporarily_unavailable"): "account_unavailable",
        (JWKS_PATH, "GET", 200, None): "jwks_ok",
        (JWKS_PATH, "GET", 304, None): "jwks_not_modified",
        (METADATA_PATHS[0], "GET", 200, None): "metadata_ok",
        (METADATA_PATHS[1], "GET", 200, None): "openid_configuration_ok",
        (HEALTH_PATH, "GET", 200, None): "health_ok",
        (HEALTH_PATH, "GET", 503, None): "health_unavailable",
        (USERINFO_PATH, "GET", 200, None): "userinfo_ok",
        (USERINFO_PATH, "GET", 400, "invalid_request"): "userinfo_two_headers",
        (USERINFO_PATH, "GET", 401, "invalid_request"): "userinfo_no_token",
        (USERINFO_PATH, "GET", 401, "invalid_token"): "userinfo_invalid_token",
        (USERINFO_PATH, "GET", 403, "insufficient_scope"): "userinfo_no_openid",
        (USERINFO_PATH, "GET", 503, "temporarily_unavailable"): "userinfo_unavailable",
        (USERINFO_PATH, "POST", 200, None): "userinfo_post_ok",
        (USERINFO_PATH, "POST", 400, "invalid_request"): "userinfo_post_two_tokens",
        (USERINFO_PATH, "POST", 401, "invalid_request"): "userinfo_post_no_token",
        (USERINFO_PATH, "POST", 401, "invalid_token"): "userinfo_post_invalid_token",
        (USERINFO_PATH, "POST", 403, "insufficient_scope"): "userinfo_post_no_openid",
        (USERINFO_PATH, "POST", 413, "invalid_request"): "userinfo_post_too_large",
        (USERINFO_PATH, "POST", 503, "temporarily_unavailable"): "userinfo_post_unavailable",
        (LOGOUT_PATH, "GET", 200, None): "logout_ok",
        (LOGOUT_PATH, "GET", 302, None): "logout_redirect",
        (LOGOUT_PATH, "GET", 400, None): "logout_bad_request",
        (LOGOUT_PATH, "GET", 503, None): "logout_unavailable",
        (LOGOUT_PATH, "POST", 200, None): "logout_post_ok",
        (LOGOUT_PATH, "POST", 303, None): "logout_post_redirect",
        (LOGOUT_PATH, "POST", 400, None): "logout_post_bad_request",
        (LOGOUT_PATH, "POST", 413, "invalid_request"): "logout_post_too_large",
        (LOGOUT_PATH, "POST", 503, None): "logout_post_unavailable",
        (AUTHORIZE_PATH, "GET", 200, None): "authorize_page",
        (AUTHORIZE_PATH, "GET", 302, None): "authorize_redirect",
        (AUTHORIZE_PATH, "GET", 400, None): "authorize_error_page",
        (AUTHORIZE_PATH, "GET", 503, None): "authorize_unavailable",
        (AUTHORIZE_PATH, "POST", 200, None): "authorize_post_page",
        (AUTHORIZE_PATH, "POST", 303, None): "authorize_post_redirect",
        (AUTHORIZE_PATH, "POST", 400, None): "authorize_post_error_page",
        (AUTHORIZE_PATH, "POST", 413, "invalid_request"): "authorize_too_large",
        (AUTHORIZE_PATH, "POST", 503, None): "authorize_post_unavailable",
        (LOGIN_CSS_PATH, "GET", 200, None): "login_css_ok",
        (LIVE_PATH, "GET", 200, None): "live_ok",
        (READY_PATH, "GET", 200, None): "ready_ok",
        (READY_PATH, "GET", 503, None): "ready_unavailable",
    }

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.passwords = dict(cls.users)  # the current ones: account_ok changes carol's
        # The second server: same key directory and issuer (so it accepts the first one's tokens), and a
        # database in a Unix-socket directory that does not exist, so every connection attempt fails at once.
        cls.down_server, cls.down_http = cls.start_another_server(
            "the server without a database", conninfo=f"host={cls.workdir}/no-such-socket-dir dbname=authsvc",
            extra_args=["--db-timeout", "2000"])

    # -- helpers ------------------------------------------------------------------------------------------

    def token(self, fields, client=None, method=None, http=None, path=TOKEN_PATH, **kwargs):
        """A form POST to the token endpoint (or `path`) in which `client` authenticates with `method`
        (harness.client_auth). Returns (response, the form fields sent)."""
        return (http or self.http).post_form_as(path, client, fields, method=method, **kwargs)

    def login(self, username="alice", client_id="web"):
        """A password grant that must succeed; returns the token response body."""
        response, _ = self.token({"grant_type": "password", "username": username,
                                  "password": self.passwords[username]}, self.client[client_id])
        return self.assertOperation(TOKEN_PATH, "POST", response, 200)

    def service_token(self):
        response, _ = self.token({"grant_type": "client_credentials"}, self.client["backend"])
        return self.assertOperation(TOKEN_PATH, "POST", response, 200)["access_token"]

    def account(self, fields, access_token=None, http=None, headers=()):
        headers = list(headers)
        if access_token is not None:
            headers.append(f"Authorization: Bearer {access_token}")
        return (http or self.http).post_form(ACCOUNT_PATH, fields, headers=headers)

    def oversized(self, path):
        response, _ = self.token({"grant_type": "client_credentials", "token": "x", "pad": "a" * OVERSIZED},
                                 self.client["backend"], path=path)
        return response

    # -- triggers: one per documented answer --------------------------------------------------------------

    def token_ok(self):
        return self.token({"grant_type": "client_credentials"}, self.client["backend"])[0]

    def token_invalid_request(self):
        return self.token({"scope": "read"}, self.client["backend"])[0]  # no grant_type

    def token_invalid_grant(self):
        return self.token({"grant_type": "password", "username": "alice", "password": "wrong"}, self.client["web"])[0]

    def token_unauthorized_client(self):
        return self.token({"grant_type": "password", "username": "alice", "password": self.passwords["alice"]},
                          self.client["backend"])[0]

    def token_throttled(self):
        # a user nobody else here logs in as, blocked as many failures would have it
        self.db.query("INSERT INTO login_failures (key, failures, blocked_until)"
                      " VALUES ('u:throttled|127.0.0.1', 9, now() + interval '1 hour') ON CONFLICT DO NOTHING")
        return self.token({"grant_type": "password", "username": "throttled", "password": "any"}, self.client["mobile"])[0]

    def token_unsupported_grant_type(self):
        return self.token({"grant_type": "urn:ietf:params:oauth:grant-type:device_code", "device_code": "x"},
                          self.client["web"])[0]

    def token_invalid_scope(self):
        return self.token({"grant_type": "client_credentials", "scope": "admin"}, self.client["backend"])[0]

    def token_invalid_client(self):
        return self.http.token({"grant_type": "client_credentials"}, basic=("backend", "not-the-secret"))

    def token_too_large(self):
        return self.oversized(TOKEN_PATH)

    def token_unavailable(self):
        return self.token({"grant_type": "client_credentials"}, self.client["backend"], http=self.down_http)[0]

    def revoke_ok(self):
        refresh_token = self.login()["refresh_token"]
        return self.token({"token": refresh_token, "token_type_hint": "refresh_token"}, self.client["web"],
                          path=REVOKE_PATH)[0]

    def revoke_invalid_request(self):
        return self.token({"token_type_hint": "refresh_token"}, self.client["web"], path=REVOKE_PATH)[0]

    def revoke_invalid_client(self):
        return self.http.post_form(REVOKE_PATH, {"token": "x"}, basic=("web", "not-the-secret"))

    def revoke_too_large(self):
        return self.oversized(REVOKE_PATH)

    def revoke_unavailable(self):
        return self.token({"token": "x"}, self.client["web"], path=REVOKE_PATH, http=self.down_http)[0]

    def introspect_ok(self):
        return self.token({"token": self.login()["access_token"]}, self.client["backend"], path=INTROSPECT_PATH)[0]

    def introspect_invalid_request(self):
        return self.token({}, self.client["backend"], path=INTROSPECT_PATH)[0]

    def introspect_invalid_client(self):
        return self.http.post_form(INTROSPECT_PATH, {"token": "x"}, basic=("backend", "not-the-secret"))

    def introspect_not_allowed(self):
        return self.token({"token": "x"}, self.client["bare"], path=INTROSPECT_PATH)[0]  # granted no introspection

    def introspect_too_large(self):
        return self.oversized(INTROSPECT_PATH)

    def introspect_unavailable(self):
        return self.token({"token": "x"}, self.client["backend"], path=INTROSPECT_PATH, http=self.down_http)[0]

    def feed(self, query="", http=None, basic=True):
        return (http or self.http).get(FEED_PATH + query, basic=self.client["backend"].basic if basic else None)

    def feed_ok(self):
        return self.feed()

    def feed_until(self, query, predicate):
        """The feed (documented) once `predicate(feed)` holds: its horizon waits for running transactions."""
        seen = []

        def feed():
            seen.append(self.assertOperation(FEED_PATH, "GET", self.feed(query), 200))
            return seen[-1] if predicate(seen[-1]) else None

        return harness.wait_for(f"the feed {query!r} to list the change", feed, context=lambda: f"last feed: {seen[-1]}")

    def feed_invalid_request(self):
        return self.feed("?since=abc")

    def feed_invalid_client(self):
        return self.feed(basic=False)

    def feed_not_allowed(self):
        return self.http.get(FEED_PATH, basic=self.client["bare"].basic)  # granted no feed

    def feed_unavailable(self):
        return self.feed(http=self.down_http)

    def account_ok(self):
        token = self.login("carol")["access_token"]
        new_password = "carol-password-" + secrets.token_hex(4)
        response = self.account({"current_password": self.passwords["carol"], "new_password": new_password}, token)
        if response.status == 200:
            self.passwords["carol"] = new_password
        return response

    def account_invalid_request(self):
        return self.account({"current_password": self.passwords["alice"]}, self.login()["access_token"])

    def account_invalid_grant(self):
        return self.account({"current_password": "wrong", "new_password": "new-password-1"},
                            self.login()["access_token"])

    def account_throttled(self):
        # the current password is checked as a login is: tess, from this address, blocked as many failures would have it
        token = self.login("tess")["access_token"]
        self.db.query("INSERT INTO login_failures (key, failures, blocked_until)"
                      " VALUES ('u:tess|127.0.0.1', 9, now() + interval '1 hour') ON CONFLICT DO NOTHING")
        return self.account({"current_password": self.passwords["tess"], "new_password": "new-password-1"}, token)

    def preflight(self, path):
        return self.http.request("OPTIONS", path, headers=["Origin: https://spa.example", "Access-Control-Request-Method: POST",
                                                           "Access-Control-Request-Headers: authorization, content-type"])

    preflight_token = functools.partialmethod(preflight, TOKEN_PATH)
    preflight_revoke = functools.partialmethod(preflight, REVOKE_PATH)
    preflight_userinfo = functools.partialmethod(preflight, USERINFO_PATH)
    preflight_jwks = functools.partialmethod(preflight, JWKS_PATH)
    preflight_metadata = functools.partialmethod(preflight, METADATA_PATHS[0])
    preflight_openid_configuration = functools.partialmethod(preflight, METADATA_PATHS[1])

    def account_no_token(self):
        return self.account({"current_password": "x", "new_password": "new-password-1"})

    def account_invalid_token(self):
        return self.account({"current_password": "x", "new_password": "new-password-1"}, "not.a.token")

    def account_client_token(self):
        return self.account({"current_password": "x", "new_password": "new-password-1"}, self.service_token())

    def account_too_large(self):
        return self.account({"current_password": "x", "new_password": "a" * OVERSIZED}, "not.a.token")

    def account_unavailable(self):
        return self.account({"current_password": self.passwords["alice"], "new_password": "new-password-1"},
                            self.login()["access_token"], http=self.down_http)

    def jwks_ok(self):
        return self.http.get(JWKS_PATH)

    def jwks_not_modified(self):
        etag = self.http.get(JWKS_PATH).header("etag")
        return self.http.get(JWKS_PATH, headers=[f"If-None-Match: {etag}"])

    def metadata_ok(self):
        return self.http.get(METADATA_PATHS[0])

    def openid_configuration_ok(self):
        return self.http.get(METADATA_PATHS[1])

    def health_ok(self):
        return self.http.get(HEALTH_PATH)

    def health_unavailable(self):
        return self.down_http.get(HEALTH_PATH)

    def userinfo(self, token=None, *, method="GET", fields=None, headers=(), http=None):
        headers = list(headers) + ([f"Authorization: Bearer {token}"] if token is not None else [])
        if method == "POST":
            return (http or self.http).post_form(USERINFO_PATH, fields or {}, headers=headers)
        return (http or self.http).get(USERINFO_PATH, headers=headers)

    def openid_token(self):
        return self.login(client_id="oidc")["access_token"]

    def userinfo_ok(self):
        return self.userinfo(self.openid_token())

    def userinfo_two_headers(self):
        return self.userinfo(headers=["Authorization: Bearer a.b.c", "Authorization: Bearer d.e.f"])

    def userinfo_no_token(self):
        return self.userinfo()

    def userinfo_invalid_token(self):
        return self.userinfo("not.a.token")

    def userinfo_no_openid(self):
        return self.userinfo(self.login()["access_token"])

    def userinfo_unavailable(self):
        return self.userinfo(self.openid_token(), http=self.down_http)

    def userinfo_post_ok(self):
        return self.userinfo(method="POST", fields={"access_token": self.openid_token()})

    def userinfo_post_two_tokens(self):
        token = self.openid_token()
        return self.userinfo(token, method="POST", fields={"access_token": token})

    def userinfo_post_no_token(self):
        return self.userinfo(method="POST")

    def userinfo_post_invalid_token(self):
        return self.userinfo("not.a.token", method="POST")

    def userinfo_post_no_openid(self):
        return self.userinfo(method="POST", fields={"access_token": self.login()["access_token"]})

    def userinfo_post_too_large(self):
        return self.userinfo(method="POST", fields={"access_token": "x", "pad": "a" * OVERSIZED})

    def userinfo_post_unavailable(self):
        return self.userinfo(self.openid_token(), method="POST", http=self.down_http)

    def logout(self, params=None, *, method="GET", http=None, cookie=None):
        headers = [f"Cookie: authsvc-session={cookie}"] if cookie is not None else []
        if method == "POST":
            return (http or self.http).post_form(LOGOUT_PATH, params or {}, headers=headers)
        query = "?" + urllib.parse.urlencode(params) if params else ""
        return (http or self.http).get(LOGOUT_PATH + query, headers=headers)

    def hint(self):
        """An id_token of the browser client (no sid: the redirect needs no session here)."""
        return self.key_directory.id_token(sub=self.user_id("alice"), aud="browser")

    def logout_ok(self):
        return self.logout()

    def logout_redirect(self):
        return self.logout({"id_token_hint": self.hint(), "post_logout_redirect_uri": "https://app.example/bye",
                            "state": "s"})

    def logout_bad_request(self):
        return self.logout({"post_logout_redirect_uri": "https://app.example/bye"})

    def logout_unavailable(self):
        return self.logout(http=self.down_http, cookie=harness.b64url_encode(secrets.token_bytes(32)))

    def logout_post_ok(self):
        return self.logout(method="POST")

    def logout_post_redirect(self):
        return self.logout({"id_token_hint": self.hint(), "post_logout_redirect_uri": "https://app.example/bye"},
                           method="POST")

    def logout_post_bad_request(self):
        return self.logout({"id_token_hint": "not.a.token"}, method="POST")

    def logout_post_too_large(self):
        return self.logout({"state": "a" * OVERSIZED}, method="POST")

    def logout_post_unavailable(self):
        return self.logout(method="POST", http=self.down_http, cookie=harness.b64url_encode(secrets.token_bytes(32)))

    def authorization_request(self, **overrides):
        """A well-formed authorization request of the browser client (a fresh PKCE challenge)."""
        verifier = harness.b64url_encode(secrets.token_bytes(32))
        challenge = harness.b64url_encode(hashlib.sha256(verifier.encode()).digest())
        params = {"client_id": "browser", "redirect_uri": BROWSER_REDIRECT_URI, "response_type": "code",
                  "scope": "openid", "state": "s1", "code_challenge": challenge, "code_challenge_method": "S256"}
        params.update(overrides)
        return params

    def authorize_get(self, params, http=None):
        return (http or self.http).get(AUTHORIZE_PATH + "?" + urllib.parse.urlencode(params))

    def authorize_post(self, params, http=None):
        return (http or self.http).post_form(AUTHORIZE_PATH, params)

    def authorize_page(self):
        return self.authorize_get(self.authorization_request())

    def authorize_redirect(self):
        return self.authorize_get(self.authorization_request(response_type="token"))

    def authorize_error_page(self):
        return self.authorize_get(self.authorization_request(redirect_uri="https://elsewhere.test/cb"))

    def authorize_unavailable(self):
        return self.authorize_get(self.authorization_request(), http=self.down_http)

    def authorize_post_page(self):
        return self.authorize_post(self.authorization_request())

    def authorize_post_redirect(self):
        return self.authorize_post(self.authorization_request(response_type="token"))

    def authorize_post_error_page(self):
        return self.authorize_post({})

    def authorize_too_large(self):
        return self.authorize_post(self.authorization_request(pad="a" * OVERSIZED))

    def authorize_post_unavailable(self):
        return self.authorize_post(self.authorization_request(), http=self.down_http)

    def login_css_ok(self):
        return self.http.get(LOGIN_CSS_PATH)

    def live_ok(self):
        return self.down_http.get(LIVE_PATH)  # liveness needs no database

    def ready_ok(self):
        return self.http.get(READY_PATH)

    def ready_unavailable(self):
        return self.down_http.get(READY_PATH)

    def test_every_documented_outcome_is_produced(self):
        for (path, method, status, error), trigger in sorted(self.TRIGGERS.items(), key=str):
            with self.subTest(path=path, method=method, status=status, error=error):
                self.assertOperation(path, method, getattr(self, trigger)(), status, error)

    # -- the token endpoint in more detail ----------------------------------------------------------------

    def test_each_grant_and_client_authentication_method(self):
        jwks = self.jwks()
        cases = [
            ("client_credentials, client_secret_basic", "backend", "basic",
             {"grant_type": "client_credentials"}, False),
            ("client_credentials, client_secret_post", "backend", "post",
             {"grant_type": "client_credentials", "scope": "read"}, False),
            ("password, client_secret_post", "web", "post",
             {"grant_type": "password", "username": "alice", "password": self.passwords["alice"]}, True),
            ("password, none", "mobile", "none",
             {"grant_type": "password", "username": "alice", "password": self.passwords["alice"]}, True),
            ("password, a client without the refresh grant", "login-only", "basic",
             {"grant_type": "password", "username": "alice", "password": self.passwords["alice"]}, False),
        ]
        for label, client_id, method, fields, refresh in cases:
            with self.subTest(label):
                client = self.client[client_id]
                response, sent = self.token(fields, client, method)
                body = self.assertOperation(TOKEN_PATH, "POST", response, 200)
                self.assertRequestDocumented(TOKEN_PATH, sent)
                self.assertEqual("refresh_token" in body, refresh, response)
                _, claims = self.assertAccessTokenDocumented(body, jwks, audience=client.audiences)
                self.assertEqual("ver" in claims, fields["grant_type"] != "client_credentials", claims)
                if not refresh:
                    continue
                # the refresh_token grant, with the same client authentication: a new refresh token
                refreshed, sent = self.token({"grant_type": "refresh_token", "refresh_token": body["refresh_token"]},
                                             client, method)
                refreshed_body = self.assertOperation(TOKEN_PATH, "POST", refreshed, 200)
                self.assertRequestDocumented(TOKEN_PATH, sent)
                self.assertIn("refresh_token", refreshed_body, refreshed)
                self.assertNotEqual(refreshed_body["refresh_token"], body["refresh_token"], refreshed)
                self.assertAccessTokenDocumented(refreshed_body, jwks, audience=client.audiences)

    def test_audience_shapes(self):
        """aud: a string for one audience, an array for several, the issuer for a client without any."""
        jwks = self.jwks()
        for client_id, audience, expected in (("backend", [API], API), ("multi", [API, API2], [API, API2]),
                                              ("bare", [ISSUER], ISSUER)):
            with self.subTest(client_id):
                response, sent = self.token({"grant_type": "client_credentials"}, self.client[client_id])
                body = self.assertOperation(TOKEN_PATH, "POST", response, 200)
                self.assertRequestDocumented(TOKEN_PATH, sent)
                _, claims = self.assertAccessTokenDocumented(body, jwks, audience=audience)
                self.assertEqual(claims["aud"], expected, claims)
                if client_id == "bare":  # no scope configured: no scope member, no scope claim
                    self.assertNotIn("scope", body, response)

    def test_more_invalid_requests(self):
        backend = self.client["backend"]
        for label, body in (("repeated parameter", b"grant_type=client_credentials&grant_type=client_credentials"),
                            ("malformed percent-encoding", b"grant_type=client_credentials&scope=%zz"),
                            ("control character", b"grant_type=client_credentials&scope=read%0a")):
            with self.subTest(label):
                self.assertOperation(TOKEN_PATH, "POST", self.http.token(body, basic=backend.basic), 400,
                                     "invalid_request")
        with self.subTest("JSON body"):
            response = self.http.request("POST", TOKEN_PATH, body=b'{"grant_type":"client_credentials"}',
                                         headers=["Content-Type: application/json"], basic=backend.basic)
            self.assertOperation(TOKEN_PATH, "POST", response, 400, "invalid_request")
        with self.subTest("Basic and client_secret in the body"):
            response = self.http.token({"grant_type": "client_credentials", "client_secret": backend.secret},
                                       basic=backend.basic)
            self.assertOperation(TOKEN_PATH, "POST", response, 400, "invalid_request")
        with self.subTest("missing password"):
            response, _ = self.token({"grant_type": "password", "username": "alice"}, self.client["web"])
            self.assertOperation(TOKEN_PATH, "POST", response, 400, "invalid_request")
        with self.subTest("missing refresh_token"):
            response, _ = self.token({"grant_type": "refresh_token"}, self.client["web"])
            self.assertOperation(TOKEN_PATH, "POST", response, 400, "invalid_request")

    def test_more_invalid_grants(self):
        for label, fields in (("unknown user", {"grant_type": "password", "username": "nobody", "password": "x"}),
                              ("malformed refresh token", {"grant_type": "refresh_token", "refresh_token": "x"}),
                              ("unknown refresh token", {"grant_type": "refresh_token", "refresh_token": "A" * 43})):
            with self.subTest(label):
                response, _ = self.token(fields, self.client["web"])
                self.assertOperation(TOKEN_PATH, "POST", response, 400, "invalid_grant")

    def test_every_way_of_failing_client_authentication_is_401(self):
        password = self.passwords["alice"]
        cases = [
            ("unknown client", {"client_id": "nobody", "client_secret": "x"}, []),
            ("wrong secret, client_secret_post", {"client_id": "backend", "client_secret": "wrong"}, []),
            ("confidential client without a secret", {"client_id": "backend"}, []),
            ("public client with a secret", {"client_id": "mobile", "client_secret": "x"}, []),
            ("no client identification", {}, []),
            ("Bearer instead of Basic", {}, ["Authorization: Bearer abc"]),
            ("malformed Basic", {}, ["Authorization: Basic !!!"]),
        ]
        for path, fields in ((TOKEN_PATH, {"grant_type": "password", "username": "alice", "password": password}),
                             (REVOKE_PATH, {"token": "x"}), (INTROSPECT_PATH, {"token": "x"})):
            for label, credentials, headers in cases:
                with self.subTest(path=path, case=label):
                    response = self.http.post_form(path, {**fields, **credentials}, headers=headers)
                    self.assertOperation(path, "POST", response, 401, "invalid_client")
        with self.subTest(path=FEED_PATH, case="a public client"):
            response = self.http.get(FEED_PATH, basic=("mobile", ""))
            self.assertOperation(FEED_PATH, "GET", response, 401, "invalid_client")

    # -- revocation, introspection, the feed, the account ---------------------------------------------------

    def test_introspection_answers(self):
        web, mobile = self.client["web"], self.client["mobile"]
        login = self.login()
        cases = [
            ("a user's access token, by a resource server", self.client["backend"], "basic",
             login["access_token"], True),
            ("a client's access token", self.client["backend"], "basic", self.service_token(), True),
            ("own refresh token", web, "basic", login["refresh_token"], True),
            ("another client's refresh token", self.client["backend"], "basic", login["refresh_token"], False),
            ("another client's access token, by a public client", mobile, "none", login["access_token"], False),
            ("garbage", web, "post", "not-a-token", False),
        ]
        for label, client, method, token, active in cases:
            with self.subTest(label):
                response, sent = self.token({"token": token}, client, method, path=INTROSPECT_PATH)
                body = self.assertOperation(INTROSPECT_PATH, "POST", response, 200)
                self.assertRequestDocumented(INTROSPECT_PATH, sent)
                self.assertIs(body["active"], active, response)
                if not active:
                    self.assertEqual(body, {"active": False}, response)

    def test_revocation_reaches_introspection_and_the_feed(self):
        web = self.client["web"]
        login = self.login()
        access_claims = harness.verify_access_token(login["access_token"], self.jwks(), audience=web.audiences)[1]
        cursor = self.assertOperation(FEED_PATH, "GET", self.feed(), 200)["cursor"]
        for token in (login["access_token"], login["refresh_token"]):
            response, sent = self.token({"token": token}, web, path=REVOKE_PATH)
            self.assertOperation(REVOKE_PATH, "POST", response, 200)
            self.assertRequestDocumented(REVOKE_PATH, sent)
            response, _ = self.token({"token": token}, web, path=INTROSPECT_PATH)
            self.assertEqual(self.assertOperation(INTROSPECT_PATH, "POST", response, 200), {"active": False})
        revoked = lambda feed: access_claims["jti"] in [entry["jti"] for entry in feed["jtis"]]
        feed = self.feed_until(f"?since={cursor}", revoked)
        self.assertFalse(feed["reset"], feed)
        self.assertTrue(revoked(feed), feed)
        snapshot = self.assertOperation(FEED_PATH, "GET", self.feed(), 200)
        self.assertTrue(snapshot["reset"], snapshot)
        # a revoked access token cannot change the password any more
        response = self.account({"current_password": self.passwords["alice"], "new_password": "new-password-1"},
                                login["access_token"])
        self.assertOperation(ACCOUNT_PATH, "POST", response, 401, "invalid_token")

    def test_feed_cursor_rules(self):
        cursor = self.assertOperation(FEED_PATH, "GET", self.feed(), 200)["cursor"]
        self.assertFalse(self.assertOperation(FEED_PATH, "GET", self.feed(f"?since={cursor}"), 200)["reset"])
        self.assertTrue(self.assertOperation(FEED_PATH, "GET", self.feed("?since=" + "9" * 19), 200)["reset"],
                        "a cursor above the horizon gets a full snapshot")
        self.assertOperation(FEED_PATH, "GET", self.feed(f"?other=1&since={cursor}"), 200)
        for query in ("?since=", "?since", "?since=-1", "?since=1e3", "?since=" + "1" * 20, f"?since={cursor}&since=1"):
            with self.subTest(query=query):
                self.assertOperation(FEED_PATH, "GET", self.feed(query), 400, "invalid_request")

    def test_password_change(self):
        response = self.account_ok()
        body = self.assertOperation(ACCOUNT_PATH, "POST", response, 200)
        self.assertIn("refresh_token", body, response)  # web may refresh
        _, claims = self.assertAccessTokenDocumented(body, self.jwks(), audience=self.client["web"].audiences)
        self.assertEqual(claims["ver"], body["token_version"], claims)
        entry = {"sub": claims["sub"], "min_ver": body["token_version"]}
        feed = self.feed_until("", lambda feed: entry in feed["subjects"])
        self.assertIn(entry, feed["subjects"], feed)
        self.login("carol")  # the new password works

    def test_payload_too_large_everywhere(self):
        for path, method, _ in operations():
            with self.subTest(path=path, method=method):
                if method == "POST":
                    response = self.oversized(path)
                else:
                    response = self.http.request(method, path, body=b"a" * OVERSIZED)
                self.assertComponentResponse("PayloadTooLarge", response, 413)
        with self.subTest("HTTP/1.1"):
            response = self.http.token({"grant_type": "client_credentials", "pad": "a" * OVERSIZED},
                                       basic=self.client["backend"].basic, proto="h1")
            self.assertOperation(TOKEN_PATH, "POST", response, 413, "invalid_request")

    # -- every path, every method ---------------------------------------------------------------------------

    def test_every_documented_operation_is_served(self):
        for path, method, _ in operations():
            with self.subTest(path=path, method=method):
                body = b"" if method == "POST" else None
                headers = [f"Content-Type: {harness.FORM_TYPE}"] if body is not None else []
                response = self.http.request(method, path, body=body, headers=headers)
                self.assertNotIn(response.status, (0, 404, 405), response)
                self.assertOperation(path, method, response)

    def test_other_methods_get_the_documented_405(self):
        for path in DOC["paths"]:
            allowed = {method for p, method, _ in operations() if p == path}
            if "GET" in allowed:
                allowed.add("HEAD")  # RFC 9110 §9.1: served wherever GET is
            for method in METHODS:
                if method in allowed:
                    continue
                with self.subTest(path=path, method=method):
                    response = self.http.request(method, path)
                    self.assertComponentResponse("MethodNotAllowed", response, 405)
                    self.assertEqual({m.strip() for m in response.header("allow").split(",")}, allowed, response)

    def test_head_is_served_wherever_get_is(self):
        for path, method, _ in operations():
            if method != "GET":
                continue
            with self.subTest(path=path):
                basic = self.client["backend"].basic if path == FEED_PATH else None  # the feed authenticates
                headers = [f"Authorization: Bearer {self.openid_token()}"] if path == USERINFO_PATH else []
                if path == AUTHORIZE_PATH:  # a request that gets the sign-in page
                    path += "?" + urllib.parse.urlencode(self.authorization_request())
                get = self.http.request("GET", path, basic=basic, headers=headers)
                head = self.http.request("HEAD", path, basic=basic, headers=headers)
                self.assertStatus(get, 200)
                self.assertEqual(head.status, get.status, head)
                self.assertEqual(head.body, b"", head)
                self.assertEqual(head.header("content-type"), get.header("content-type"), head)

    def test_unknown_paths_get_the_documented_404(self):
        for path in ("/", "/nope", TOKEN_PATH + "/", "/.well-known/jwks", AUTHORIZE_PATH + "/", "/userinfo"):
            self.assertNotIn(path, DOC["paths"])
            for method in ("GET", "POST"):
                with self.subTest(path=path, method=method):
                    response = self.http.request(method, path, body=b"" if method == "POST" else None)
                    self.assertComponentResponse("NotFound", response, 404)

    # -- the documents ----------------------------------------------------------------------------------------

    def test_jwks_conditional_requests(self):
        response = self.http.get(JWKS_PATH)
        self.assertOperation(JWKS_PATH, "GET", response, 200)
        etag = response.header("etag")
        for proto in ("h2", "h1"):
            for value in (etag, "W/" + etag, f'"other", {etag}', "*"):
                with self.subTest(proto=proto, if_none_match=value):
                    response = self.http.get(JWKS_PATH, headers=[f"If-None-Match: {value}"], proto=proto)
                    self.assertOperation(JWKS_PATH, "GET", response, 304)
                    self.assertEqual(response.header("etag"), etag, response)
        with self.subTest(if_none_match="another tag"):
            response = self.http.get(JWKS_PATH, headers=['If-None-Match: "another"'])
            self.assertOperation(JWKS_PATH, "GET", response, 200)

    def test_metadata_agrees_with_the_document(self):
        responses = {path: self.http.get(path) for path in METADATA_PATHS}
        self.assertEqual(len({response.body for response in responses.values()}), 1, "the metadata documents differ")
        token_request, _ = resolve(request_schema(TOKEN_PATH))
        grants = {grant for branch in token_request["oneOf"]
                  for grant in resolve(branch)[0]["properties"]["grant_type"]["enum"]}
        for path, response in responses.items():
            with self.subTest(path=path):
                metadata = self.assertOperation(path, "GET", response, 200)
                self.assertEqual(metadata["issuer"], ISSUER)
                for member, endpoint, method in (("token_endpoint", TOKEN_PATH, "POST"),
                                                 ("jwks_uri", JWKS_PATH, "GET"),
                                                 ("revocation_endpoint", REVOKE_PATH, "POST"),
                                                 ("introspection_endpoint", INTROSPECT_PATH, "POST"),
                                                 ("revocation_feed_endpoint", FEED_PATH, "GET"),
                                                 ("userinfo_endpoint", USERINFO_PATH, "GET"),
                                                 ("end_session_endpoint", LOGOUT_PATH, "GET")):
                    self.assertEqual(metadata[member], ISSUER + endpoint, metadata)
                    self.assertIn(method.lower(), DOC["paths"][endpoint], f"{member} is not a documented endpoint")
                self.assertEqual(set(metadata["grant_types_supported"]), grants, metadata)

    def test_documents_need_no_database(self):
        for path in (JWKS_PATH, *METADATA_PATHS):
            with self.subTest(path=path):
                self.assertOperation(path, "GET", self.down_http.get(path), 200)


class _OpenApiAlgorithmTests(DocumentAssertions, harness.ServiceTestCase):
    """The JWKS and an access token of another signing algorithm (ES256: above) against the document."""

    clients = [Client("backend", grants=["client_credentials"], audiences=[API], scope="read")]

    def test_jwks_and_token(self):
        jwks = self.assertOperation(JWKS_PATH, "GET", self.http.get(JWKS_PATH), 200)
        self.assertEqual({key["alg"] for key in jwks["keys"]}, {self.key_alg}, jwks)
        response = self.http.token({"grant_type": "client_credentials"}, basic=self.client["backend"].basic)
        body = self.assertOperation(TOKEN_PATH, "POST", response, 200)
        header, _ = self.assertAccessTokenDocumented(body, jwks, audience=[API])
        self.assertEqual(header["alg"], self.key_alg, header)


class EdDSAOpenApiTests(_OpenApiAlgorithmTests):
    key_alg = "EdDSA"


class RS256OpenApiTests(_OpenApiAlgorithmTests):
    key_alg = "RS256"


del _OpenApiAlgorithmTests  # only its subclasses run


if __name__ == "__main__":
    harness.main()
