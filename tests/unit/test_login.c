/* login: HTML escaping and pages, the forms' CSRF tokens, the authorization request's checks, the redirect. */
#include <check.h>
#include <string.h>
#include "authsvc/login/authz.h"
#include "authsvc/login/csrf.h"
#include "authsvc/login/page.h"
#include "authsvc/token/grants.h"

static h2o_mem_pool_t pool;

static void setup(void)
{
    h2o_mem_init_pool(&pool);
}

static void teardown(void)
{
    h2o_mem_clear_pool(&pool);
}

/** Parses a query string into a form (pool memory); fails the test if it is malformed. */
static as_form_t *params(const char *query)
{
    as_form_t *form = h2o_mem_alloc_pool(&pool, sizeof(*form));
    ck_assert_int_eq(as_form_parse(&pool, query, strlen(query), form, NULL), 0);
    return form;
}

/** `prefix` followed by `n` times 'a' (pool memory). */
static const char *padded(const char *prefix, size_t n)
{
    size_t len = strlen(prefix);
    char *s = h2o_mem_alloc_pool(&pool, len + n + 1);
    memcpy(s, prefix, len);
    memset(s + len, 'a', n);
    s[len + n] = '\0';
    return s;
}

/* An S256 challenge of the right shape (43 base64url characters of a SHA-256). */
#define CHALLENGE "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
#define GOOD                                                                                                                       \
    "client_id=web&redirect_uri=https%3A%2F%2Fapp.test%2Fcb&response_type=code&code_challenge=" CHALLENGE                          \
    "&code_challenge_method=S256&state=s%201&nonce=n1"

static const char *allowed_scopes[] = {"openid", "profile", "read"};
static const as_strlist_t scopes = {allowed_scopes, 3};

/** Runs the check of a request; returns its result and, on failure, the error code's name. */
static int check(const char *query, as_authz_t *a, const char **error_name)
{
    as_authz_error_t error = AS_AUTHZ_SERVER_ERROR;
    const char *why = NULL;
    int ret =
        as_login__authz_check(&pool, params(query), AS_GRANT_AUTHORIZATION_CODE | AS_GRANT_REFRESH_TOKEN, &scopes, a, &error, &why);
    *error_name = ret == 0 ? NULL : as_login__authz_error_name(error);
    if (ret != 0)
        ck_assert_ptr_nonnull(why);
    return ret;
}

/* --- HTML ------------------------------------------------------------------------------- */

START_TEST(html_escape_neutralises_markup)
{
    h2o_iovec_t e = as_login__html_escape(&pool, H2O_STRLIT("<script>alert('x\")&</script>"));
    ck_assert_str_eq(e.base, "&lt;script&gt;alert(&#39;x&#34;)&amp;&lt;/script&gt;");
    ck_assert_uint_eq(e.len, strlen(e.base));
    e = as_login__html_escape(&pool, H2O_STRLIT("plain é text"));
    ck_assert_str_eq(e.base, "plain é text");
    e = as_login__html_escape(&pool, "", 0);
    ck_assert_str_eq(e.base, "");
}
END_TEST

START_TEST(html_fmt_escapes_each_argument_and_nothing_else)
{
    as_login__html_t h;
    as_login__html_begin(&h, &pool, "<T>");
    size_t head = h.len;
    as_login__html_fmt(&h, "<p class=\"x\">%s and <b>%s</b></p>%", "a<b", "\"q'&");
    as_login__html_fmt(&h, "<br>");
    as_login__html_fmt(&h, "%s%s", "", "&");
    ck_assert_str_eq(h.base + head, "<p class=\"x\">a&lt;b and <b>&#34;q&#39;&amp;</b></p>%<br>&amp;");
    h2o_iovec_t page = as_login__html_end(&h);
    ck_assert_ptr_nonnull(strstr(page.base, "<title>&lt;T&gt;</title>"));
    ck_assert_ptr_nonnull(strstr(page.base, "</main>\n</body>\n</html>\n"));
    ck_assert_uint_eq(page.len, strlen(page.base));
}
END_TEST

START_TEST(pages_escape_what_they_print)
{
    as_form_t *req = params("client_id=web&state=%22%3E%3Cscript%3E&redirect_uri=https%3A%2F%2Fa.test%2Fcb&other=%3Cb%3E");
    as_login_page_t page = {.client_name = "<App & Co>", .request = req, .csrf = "tok", .error = "<bad>", .username = "\"bob"};
    h2o_iovec_t html = as_login__page_signin(&pool, &page);
    ck_assert_ptr_null(strstr(html.base, "<script>"));
    ck_assert_ptr_null(strstr(html.base, "<App"));
    ck_assert_ptr_null(strstr(html.base, "<bad>"));
    ck_assert_ptr_nonnull(strstr(html.base, "&lt;App &amp; Co&gt;"));
    ck_assert_ptr_nonnull(strstr(html.base, "value=\"&#34;&gt;&lt;script&gt;\""));
    ck_assert_ptr_nonnull(strstr(html.base, "value=\"&#34;bob\""));
    /* only the authorization request's own parameters go back in the form */
    ck_assert_ptr_null(strstr(html.base, "name=\"other\""));
    /* accessible: labelled fields with autocomplete hints, the error announced */
    ck_assert_ptr_nonnull(strstr(html.base, "<label for=\"username\">"));
    ck_assert_ptr_nonnull(strstr(html.base, "<label for=\"password\">"));
    ck_assert_ptr_nonnull(strstr(html.base, "autocomplete=\"username\""));
    ck_assert_ptr_nonnull(strstr(html.base, "autocomplete=\"current-password\""));
    ck_assert_ptr_nonnull(strstr(html.base, "role=\"alert\" id=\"form-error\">&lt;bad&gt;</p>"));
    ck_assert_ptr_nonnull(strstr(html.base, "name=\"viewport\""));
    ck_assert_ptr_null(strstr(html.base, "<script"));
    ck_assert_ptr_null(strstr(html.base, " style="));

    page.scope = "openid <x>";
    html = as_login__page_consent(&pool, &page);
    ck_assert_ptr_null(strstr(html.base, "<x>"));
    ck_assert_ptr_nonnull(strstr(html.base, "<code>&lt;x&gt;</code>"));
    ck_assert_ptr_nonnull(strstr(html.base, "value=\"approve\""));
    ck_assert_ptr_nonnull(strstr(html.base, "value=\"deny\""));

    html = as_login__page_error(&pool, "T<", "M>");
    ck_assert_ptr_nonnull(strstr(html.base, "T&lt;"));
    ck_assert_ptr_nonnull(strstr(html.base, "M&gt;"));
}
END_TEST

/* --- CSRF tokens ------------------------------------------------------------------------- */

START_TEST(csrf_token_binds_attempt_form_session_and_request)
{
    uint8_t refresh_key[AS_REFRESH_KEY_LEN] = {1}, key[AS_LOGIN_CSRF_KEY_LEN], other_key[AS_LOGIN_CSRF_KEY_LEN];
    uint8_t attempt[AS_LOGIN_ATTEMPT_RAW_LEN] = {2}, other_attempt[AS_LOGIN_ATTEMPT_RAW_LEN] = {3};
    uint8_t request[AS_SHA256_LEN] = {4}, other_request[AS_SHA256_LEN] = {5};
    char token[AS_LOGIN_CSRF_LEN + 1], again[AS_LOGIN_CSRF_LEN + 1];
    int64_t exp = 0;

    as_login__csrf_key(refresh_key, key);
    refresh_key[0] = 9;
    as_login__csrf_key(refresh_key, other_key);
    as_csrf_binding_t b = {.form = AS_CSRF_LOGIN, .attempt = attempt, .request = request};
    as_login__csrf_mint(key, &b, 1000, token);
    ck_assert_uint_eq(strlen(token), AS_LOGIN_CSRF_LEN);
    ck_assert_int_eq(as_login__csrf_verify(key, &b, 999, token, strlen(token), &exp), 0);
    ck_assert_int_eq(exp, 1000);
    /* a fresh nonce every time: two forms never share a token */
    as_login__csrf_mint(key, &b, 1000, again);
    ck_assert_str_ne(token, again);

    ck_assert_int_eq(as_login__csrf_verify(key, &b, 1000, token, strlen(token), &exp), AS_ERR_TOKEN_EXPIRED);
    ck_assert_int_eq(as_login__csrf_verify(other_key, &b, 999, token, strlen(token), &exp), AS_ERR_BAD_INPUT);
    as_csrf_binding_t other = b;
    other.attempt = other_attempt; /* another browser's attempt cookie: login CSRF */
    ck_assert_int_eq(as_login__csrf_verify(key, &other, 999, token, strlen(token), &exp), AS_ERR_BAD_INPUT);
    other = b;
    other.request = other_request; /* another authorization request */
    ck_assert_int_eq(as_login__csrf_verify(key, &other, 999, token, strlen(token), &exp), AS_ERR_BAD_INPUT);
    other = b;
    other.form = AS_CSRF_CONSENT; /* the sign-in form's token on the consent form */
    ck_assert_int_eq(as_login__csrf_verify(key, &other, 999, token, strlen(token), &exp), AS_ERR_BAD_INPUT);
    other.session_id = "0b0e6a3e-7f4b-4c52-9a3c-1a2b3c4d5e6f";
    as_login__csrf_mint(key, &other, 1000, again);
    ck_assert_int_eq(as_login__csrf_verify(key, &other, 999, again, strlen(again), &exp), 0);
    other.session_id = "0b0e6a3e-7f4b-4c52-9a3c-1a2b3c4d5e60"; /* another session */
    ck_assert_int_eq(as_login__csrf_verify(key, &other, 999, again, strlen(again), &exp), AS_ERR_BAD_INPUT);

    /* tampering, truncation, another encoding of the same bytes, garbage */
    char tampered[AS_LOGIN_CSRF_LEN + 1];
    memcpy(tampered, token, sizeof(tampered));
    tampered[30] = tampered[30] == 'A' ? 'B' : 'A';
    ck_assert_int_eq(as_login__csrf_verify(key, &b, 999, tampered, strlen(tampered), &exp), AS_ERR_BAD_INPUT);
    ck_assert_int_eq(as_login__csrf_verify(key, &b, 999, token, strlen(token) - 1, &exp), AS_ERR_BAD_INPUT);
    ck_assert_int_eq(as_login__csrf_verify(key, &b, 999, "", 0, &exp), AS_ERR_BAD_INPUT);
    memset(tampered, '!', AS_LOGIN_CSRF_LEN);
    ck_assert_int_eq(as_login__csrf_verify(key, &b, 999, tampered, AS_LOGIN_CSRF_LEN, &exp), AS_ERR_BAD_INPUT);
}
END_TEST

/* --- the authorization request --------------------------------------------------------------- */

START_TEST(target_needs_client_and_redirect_uri)
{
    as_authz_t a;
    const char *why;
    ck_assert_int_eq(as_login__authz_target(params(GOOD), &a, &why), 0);
    ck_assert_str_eq(a.client_id, "web");
    ck_assert_str_eq(a.redirect_uri, "https://app.test/cb");
    ck_assert_int_eq(as_login__authz_target(params("redirect_uri=https%3A%2F%2Fa.test"), &a, &why), AS_ERR_BAD_INPUT);
    ck_assert_int_eq(as_login__authz_target(params("client_id=web"), &a, &why), AS_ERR_BAD_INPUT);
    ck_assert_int_eq(as_login__authz_target(params("client_id=web&redirect_uri=https%3A%2F%2Fa.test%2Fcb%23frag"), &a, &why),
                     AS_ERR_BAD_INPUT);
    ck_assert_int_eq(as_login__authz_target(params(padded("redirect_uri=x&client_id=", 256)), &a, &why), AS_ERR_BAD_INPUT);
    ck_assert_int_eq(as_login__authz_target(params(padded("client_id=web&redirect_uri=https://a.test/", 2048)), &a, &why),
                     AS_ERR_BAD_INPUT);
}
END_TEST

START_TEST(a_good_request)
{
    as_authz_t a;
    const char *error;
    ck_assert_int_eq(check(GOOD "&scope=read+openid&prompt=login+consent&max_age=300&login_hint=bob", &a, &error), 0);
    ck_assert_str_eq(a.state, "s 1");
    ck_assert_str_eq(a.nonce, "n1");
    ck_assert_str_eq(a.code_challenge, CHALLENGE);
    ck_assert_str_eq(a.scope, "openid read"); /* in the client's order */
    ck_assert_uint_eq(a.prompt, AS_PROMPT_LOGIN | AS_PROMPT_CONSENT);
    ck_assert_int_eq(a.max_age, 300);
    ck_assert_str_eq(a.login_hint, "bob");
    /* no scope asked: everything the client may have; no prompt, no max_age */
    ck_assert_int_eq(check(GOOD, &a, &error), 0);
    ck_assert_str_eq(a.scope, "openid profile read");
    ck_assert_uint_eq(a.prompt, 0);
    ck_assert_int_eq(a.max_age, -1);
    ck_assert_int_eq(check(GOOD "&prompt=none&max_age=0&response_mode=query", &a, &error), 0);
    ck_assert_uint_eq(a.prompt, AS_PROMPT_NONE);
    ck_assert_int_eq(a.max_age, 0);
}
END_TEST

START_TEST(errors_of_rfc6749_and_oidc)
{
    static const struct {
        const char *query, *error;
    } cases[] = {
        {"client_id=web&redirect_uri=x&code_challenge=" CHALLENGE "&code_challenge_method=S256&state=s", "invalid_request"},
        {GOOD "&response_type=token", NULL}, /* repeated: the parser refuses it (checked below) */
        {"client_id=web&redirect_uri=x&response_type=token&state=s", "unsupported_response_type"},
        {"client_id=web&redirect_uri=x&response_type=code+id_token&state=s", "unsupported_response_type"},
        {"client_id=web&redirect_uri=x&response_type=code&state=s", "invalid_request"},                              /* no PKCE */
        {"client_id=web&redirect_uri=x&response_type=code&code_challenge=" CHALLENGE "&state=s", "invalid_request"}, /* plain */
        {"client_id=web&redirect_uri=x&response_type=code&code_challenge=" CHALLENGE "&code_challenge_method=plain",
         "invalid_request"},
        {"client_id=web&redirect_uri=x&response_type=code&code_challenge=short&code_challenge_method=S256", "invalid_request"},
        {GOOD "&scope=admin", "invalid_scope"},
        {GOOD "&scope=read+%22q%22", "invalid_scope"},
        {GOOD "&prompt=none+login", "invalid_request"},
        {GOOD "&prompt=none+consent", "invalid_request"},
        {GOOD "&prompt=sometimes", "invalid_request"},
        {GOOD "&max_age=-1", "invalid_request"},
        {GOOD "&max_age=12345678901", "invalid_request"},
        {GOOD "&max_age=1e3", "invalid_request"},
        {GOOD "&response_mode=fragment", "invalid_request"},
        {GOOD "&request=eyJ", "request_not_supported"},
        {GOOD "&request_uri=https%3A%2F%2Fx", "request_uri_not_supported"},
        {GOOD "&registration=%7B%7D", "registration_not_supported"},
    };
    for (size_t i = 0; i != sizeof(cases) / sizeof(cases[0]); ++i) {
        as_authz_t a;
        const char *error;
        if (cases[i].error == NULL) {
            as_form_t form;
            ck_assert_int_eq(as_form_parse(&pool, cases[i].query, strlen(cases[i].query), &form, NULL), AS_ERR_DUPLICATE);
            continue;
        }
        ck_assert_msg(check(cases[i].query, &a, &error) == AS_ERR_BAD_INPUT, "case %zu accepted", i);
        ck_assert_msg(strcmp(error, cases[i].error) == 0, "case %zu: %s, expected %s", i, error, cases[i].error);
    }
    /* the state is echoed in errors too */
    as_authz_t a;
    const char *error;
    ck_assert_int_eq(check(GOOD "&scope=admin", &a, &error), AS_ERR_BAD_INPUT);
    ck_assert_str_eq(a.state, "s 1");
    /* a client without the grant */
    as_authz_error_t e;
    const char *why;
    ck_assert_int_eq(as_login__authz_check(&pool, params(GOOD), AS_GRANT_PASSWORD, &scopes, &a, &e, &why), AS_ERR_BAD_INPUT);
    ck_assert_int_eq(e, AS_AUTHZ_UNAUTHORIZED_CLIENT);
}
END_TEST

START_TEST(limits)
{
    as_authz_t a;
    const char *error;
    ck_assert_int_eq(check(padded(GOOD "&nonce2=x&state2=", 1025), &a, &error), 0); /* unknown parameters are ignored */
    ck_assert_int_eq(check(padded("client_id=web&redirect_uri=x&response_type=code&state=", 1025), &a, &error), AS_ERR_BAD_INPUT);
    ck_assert_str_eq(error, "invalid_request");
    ck_assert_ptr_null(a.state); /* too long to echo */
    ck_assert_int_eq(check(padded(GOOD "&nonce2=", 1) /* the nonce of GOOD is fine */, &a, &error), 0);
    ck_assert_int_eq(check(padded("client_id=web&redirect_uri=x&response_type=code&code_challenge=" CHALLENGE
                                  "&code_challenge_method=S256&nonce=",
                                  513),
                           &a, &error),
                     AS_ERR_BAD_INPUT);
    ck_assert_int_eq(check(padded("client_id=web&redirect_uri=x&response_type=code&code_challenge=" CHALLENGE
                                  "&code_challenge_method=S256&prompt=login+",
                                  64),
                           &a, &error),
                     AS_ERR_BAD_INPUT);
    ck_assert_int_eq(check(padded(GOOD "&login_hint=", 256), &a, &error), 0);
    ck_assert_ptr_null(a.login_hint); /* too long to use: ignored */
}
END_TEST

START_TEST(digest_covers_the_request_only)
{
    uint8_t d1[AS_SHA256_LEN], d2[AS_SHA256_LEN], d3[AS_SHA256_LEN], d4[AS_SHA256_LEN];
    as_login__authz_digest(params(GOOD), d1);
    as_login__authz_digest(params(GOOD "&username=bob&password=x&csrf_token=t&step=login&display=page"), d2);
    ck_assert_mem_eq(d1, d2, sizeof(d1));
    as_login__authz_digest(params(GOOD "&scope=openid"), d3);
    ck_assert_mem_ne(d1, d3, sizeof(d1));
    /* moving bytes between parameters changes it */
    as_login__authz_digest(params("client_id=ab&state=c"), d3);
    as_login__authz_digest(params("client_id=a&state=bc"), d4);
    ck_assert_mem_ne(d3, d4, sizeof(d3));
}
END_TEST

START_TEST(redirect_urls)
{
    const char *names[] = {"code", "state", "iss"};
    const char *values[] = {"abc-_", "a b&c=d/é", "http://127.0.0.1:8080"};
    ck_assert_str_eq(as_login__redirect_url(&pool, "https://app.test/cb", names, values, 3),
                     "https://app.test/cb?code=abc-_&state=a%20b%26c%3Dd%2F%C3%A9&iss=http%3A%2F%2F127.0.0.1%3A8080");
    values[1] = NULL; /* no state: not sent */
    ck_assert_str_eq(as_login__redirect_url(&pool, "https://app.test/cb?x=1", names, values, 3),
                     "https://app.test/cb?x=1&code=abc-_&iss=http%3A%2F%2F127.0.0.1%3A8080");
}
END_TEST

START_TEST(form_targets)
{
    ck_assert_str_eq(as_login__form_target(&pool, "https://app.test/cb?x=1"), "https://app.test");
    ck_assert_str_eq(as_login__form_target(&pool, "http://127.0.0.1:9000/cb"), "http://127.0.0.1:9000");
    ck_assert_str_eq(as_login__form_target(&pool, "https://app.test"), "https://app.test");
    ck_assert_str_eq(as_login__form_target(&pool, "com.example.app:/oauth"), "com.example.app:");
    ck_assert_str_eq(as_login__form_target(&pool, "http://[::1]:9000/cb"), "http:");
    ck_assert_str_eq(as_login__form_target(&pool, "https://user@evil.test/cb"), "https:");
    ck_assert_str_eq(as_login__form_target(&pool, "https://a.test;script-src/cb"), "https:");
    ck_assert_ptr_null(as_login__form_target(&pool, "/relative"));
    ck_assert_ptr_null(as_login__form_target(&pool, "1http://x"));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("login");
    TCase *tc = tcase_create("login");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, html_escape_neutralises_markup);
    tcase_add_test(tc, html_fmt_escapes_each_argument_and_nothing_else);
    tcase_add_test(tc, pages_escape_what_they_print);
    tcase_add_test(tc, csrf_token_binds_attempt_form_session_and_request);
    tcase_add_test(tc, target_needs_client_and_redirect_uri);
    tcase_add_test(tc, a_good_request);
    tcase_add_test(tc, errors_of_rfc6749_and_oidc);
    tcase_add_test(tc, limits);
    tcase_add_test(tc, digest_covers_the_request_only);
    tcase_add_test(tc, redirect_urls);
    tcase_add_test(tc, form_targets);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
