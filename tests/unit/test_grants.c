/* token/grants: grant-type names, the RFC 6749 §3.3 scope rules, and the user-subject test. */
#include <check.h>
#include <string.h>
#include "authsvc/token/grants.h"
#include "check_run.h"

static h2o_mem_pool_t pool;

static void setup(void)
{
    h2o_mem_init_pool(&pool);
}

static void teardown(void)
{
    h2o_mem_clear_pool(&pool);
}

/** Resolves `requested` (NULL: none given) against the allowed list; returns the error code, the result in *out. */
static int resolve(const char *requested, const char *const *allowed, size_t n, const char **out)
{
    as_strlist_t list = {(const char **)allowed, n};
    h2o_iovec_t req = requested != NULL ? h2o_iovec_init(requested, strlen(requested)) : h2o_iovec_init(NULL, 0);
    *out = NULL;
    return as_scope_resolve(&pool, requested != NULL ? &req : NULL, &list, out);
}

START_TEST(grant_names)
{
    ck_assert_uint_eq(as_grant_parse(H2O_STRLIT("client_credentials")), AS_GRANT_CLIENT_CREDENTIALS);
    ck_assert_uint_eq(as_grant_parse(H2O_STRLIT("password")), AS_GRANT_PASSWORD);
    ck_assert_uint_eq(as_grant_parse(H2O_STRLIT("refresh_token")), AS_GRANT_REFRESH_TOKEN);
    /* exact and case-sensitive (RFC 6749 §5.2 names them so); a prefix or an implicit grant is unknown */
    ck_assert_uint_eq(as_grant_parse(H2O_STRLIT("Password")), 0);
    ck_assert_uint_eq(as_grant_parse(H2O_STRLIT("password ")), 0);
    ck_assert_uint_eq(as_grant_parse(H2O_STRLIT("refresh")), 0);
    ck_assert_uint_eq(as_grant_parse(H2O_STRLIT("authorization_code")), AS_GRANT_AUTHORIZATION_CODE);
    ck_assert_uint_eq(as_grant_parse(H2O_STRLIT("implicit")), 0);
    ck_assert_uint_eq(as_grant_parse("", 0), 0);
    /* the bits are distinct: a client's grant set can hold any combination */
    ck_assert_uint_eq(AS_GRANT_CLIENT_CREDENTIALS & AS_GRANT_PASSWORD, 0);
    ck_assert_uint_eq(AS_GRANT_PASSWORD & AS_GRANT_REFRESH_TOKEN, 0);
}
END_TEST

START_TEST(no_scope_requested_gets_everything_allowed)
{
    const char *allowed[] = {"read", "write", "admin"}, *out;
    ck_assert_int_eq(resolve(NULL, allowed, 3, &out), 0);
    ck_assert_str_eq(out, "read write admin");
    ck_assert_int_eq(resolve(NULL, allowed, 0, &out), 0);
    ck_assert_str_eq(out, "");
}
END_TEST

START_TEST(requested_scope_is_narrowed_in_allowed_order)
{
    const char *allowed[] = {"read", "write", "admin"}, *out;
    ck_assert_int_eq(resolve("admin read", allowed, 3, &out), 0);
    ck_assert_str_eq(out, "read admin");
    /* a token asked for twice is granted once */
    ck_assert_int_eq(resolve("write write", allowed, 3, &out), 0);
    ck_assert_str_eq(out, "write");
}
END_TEST

START_TEST(scope_outside_the_allowed_set_is_refused)
{
    const char *allowed[] = {"read", "write"}, *out;
    ck_assert_int_eq(resolve("read delete", allowed, 2, &out), AS_ERR_BAD_INPUT);
    ck_assert_ptr_null(out);
    /* no prefix or case games */
    ck_assert_int_eq(resolve("rea", allowed, 2, &out), AS_ERR_BAD_INPUT);
    ck_assert_int_eq(resolve("READ", allowed, 2, &out), AS_ERR_BAD_INPUT);
}
END_TEST

START_TEST(malformed_scope_is_refused)
{
    const char *allowed[] = {"read", "write", "a\"b"}, *out;
    /* empty tokens: doubled, leading or trailing spaces */
    ck_assert_int_eq(resolve("read  write", allowed, 2, &out), AS_ERR_BAD_INPUT);
    ck_assert_int_eq(resolve(" read", allowed, 2, &out), AS_ERR_BAD_INPUT);
    /* characters outside %x21 / %x23-5B / %x5D-7E, even if the client's list were to hold them */
    ck_assert_int_eq(resolve("a\"b", allowed, 3, &out), AS_ERR_BAD_INPUT);
    ck_assert_int_eq(resolve("read\twrite", allowed, 2, &out), AS_ERR_BAD_INPUT);
    /* over the length limit, even made of allowed tokens */
    char big[AS_SCOPE_MAX_LEN + 8];
    size_t n = 0;
    while (n + 5 < sizeof(big) - 1) {
        memcpy(big + n, "read ", 5);
        n += 5;
    }
    memcpy(big + n - 1, "", 1);
    ck_assert_uint_gt(strlen(big), AS_SCOPE_MAX_LEN);
    ck_assert_int_eq(resolve(big, allowed, 2, &out), AS_ERR_BAD_INPUT);
}
END_TEST

START_TEST(scope_token_syntax)
{
    ck_assert(as_scope_token_valid(H2O_STRLIT("read:all")));
    ck_assert(as_scope_token_valid(H2O_STRLIT("https://api.example/x")));
    ck_assert(as_scope_token_valid(H2O_STRLIT("!#[]~")));
    ck_assert(!as_scope_token_valid("", 0));
    ck_assert(!as_scope_token_valid(H2O_STRLIT("a b")));
    ck_assert(!as_scope_token_valid(H2O_STRLIT("a\\b")));
    ck_assert(!as_scope_token_valid(H2O_STRLIT("caf\xc3\xa9")));
}
END_TEST

START_TEST(split_skips_empty_tokens)
{
    as_strlist_t l = as_scope_split(&pool, "  read  write ");
    ck_assert_uint_eq(l.len, 2);
    ck_assert_str_eq(l.items[0], "read");
    ck_assert_str_eq(l.items[1], "write");
    ck_assert_uint_eq(as_scope_split(&pool, "").len, 0);
}
END_TEST

START_TEST(user_subjects_are_uuids)
{
    ck_assert(as_is_uuid("0b6f6bd4-8f0e-4c1e-9a55-1f2d3c4b5a69"));
    ck_assert(as_is_uuid("0B6F6BD4-8F0E-4C1E-9A55-1F2D3C4B5A69"));
    /* a client id as subject, a truncated or over-long uuid, misplaced dashes */
    ck_assert(!as_is_uuid("demo-service"));
    ck_assert(!as_is_uuid(""));
    ck_assert(!as_is_uuid("0b6f6bd4-8f0e-4c1e-9a55-1f2d3c4b5a6"));
    ck_assert(!as_is_uuid("0b6f6bd4-8f0e-4c1e-9a55-1f2d3c4b5a690"));
    ck_assert(!as_is_uuid("0b6f6bd48-f0e-4c1e-9a55-1f2d3c4b5a69"));
    ck_assert(!as_is_uuid("0b6f6bd4-8f0e-4c1e-9a55-1f2d3c4b5a6g"));
}
END_TEST

START_TEST(pkce_s256_matches_rfc7636_appendix_b)
{
    static const char verifier[] = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    char challenge[AS_PKCE_CHALLENGE_LEN + 1];
    as_pkce_s256(verifier, strlen(verifier), challenge);
    ck_assert_str_eq(challenge, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
    ck_assert(as_pkce_challenge_valid(challenge, strlen(challenge)));
    ck_assert(as_pkce_verifier_valid(verifier, strlen(verifier)));
}
END_TEST

START_TEST(pkce_verifier_and_challenge_syntax)
{
    char v[AS_PKCE_VERIFIER_MAX + 2];
    memset(v, 'a', sizeof(v));
    ck_assert(as_pkce_verifier_valid(v, AS_PKCE_VERIFIER_MIN));
    ck_assert(as_pkce_verifier_valid(v, AS_PKCE_VERIFIER_MAX));
    ck_assert(!as_pkce_verifier_valid(v, AS_PKCE_VERIFIER_MIN - 1));
    ck_assert(!as_pkce_verifier_valid(v, AS_PKCE_VERIFIER_MAX + 1));
    ck_assert(as_pkce_verifier_valid(H2O_STRLIT("0123456789-._~ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef")));
    ck_assert(!as_pkce_verifier_valid(H2O_STRLIT("0123456789+/=ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef")));
    ck_assert(!as_pkce_verifier_valid(H2O_STRLIT("0123456789 ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghi")));
    /* a challenge is the base64url of 32 bytes: 43 characters, no padding, canonical last character */
    ck_assert(!as_pkce_challenge_valid(H2O_STRLIT("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGlSTFbrqI=")));
    ck_assert(!as_pkce_challenge_valid(H2O_STRLIT("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGlSTFbrq")));
    ck_assert(!as_pkce_challenge_valid(H2O_STRLIT("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGlSTFbrqJ")));
    ck_assert(!as_pkce_challenge_valid(H2O_STRLIT("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGlSTFb+qI")));
    /* "plain" would make the challenge the verifier itself: a verifier is not a valid S256 challenge unless it
     * happens to be 43 base64url characters, which the authorize endpoint cannot tell apart; the method decides */
}
END_TEST

static int allowed(const char *uri, const char *const *registered, size_t n)
{
    as_strlist_t list = {(const char **)registered, n};
    return as_redirect_uri_allowed(&list, uri, strlen(uri));
}

START_TEST(redirect_uris_match_exactly)
{
    const char *reg[] = {"https://app.example/cb", "com.example.app:/oauth2redirect"};
    ck_assert(allowed("https://app.example/cb", reg, 2));
    ck_assert(allowed("com.example.app:/oauth2redirect", reg, 2));
    /* no prefix, suffix, query, fragment, case, trailing-slash or port games (RFC 9700 §2.1) */
    ck_assert(!allowed("https://app.example/cb/", reg, 2));
    ck_assert(!allowed("https://app.example/cb?x=1", reg, 2));
    ck_assert(!allowed("https://app.example/cb#x", reg, 2));
    ck_assert(!allowed("https://APP.example/cb", reg, 2));
    ck_assert(!allowed("https://app.example:443/cb", reg, 2));
    ck_assert(!allowed("https://app.example.evil/cb", reg, 2));
    ck_assert(!allowed("http://app.example/cb", reg, 2));
    ck_assert(!allowed("https://app.example/c", reg, 2));
    ck_assert(!allowed("", reg, 2));
    ck_assert(!allowed("https://app.example/cb", reg, 0));
}
END_TEST

START_TEST(loopback_redirect_uris_may_change_port)
{
    const char *reg[] = {"http://127.0.0.1/callback", "http://[::1]:8000/cb?app=1"};
    /* RFC 8252 §7.3: any port on the loopback IP literal, the rest exact */
    ck_assert(allowed("http://127.0.0.1:51234/callback", reg, 2));
    ck_assert(allowed("http://127.0.0.1/callback", reg, 2));
    ck_assert(allowed("http://[::1]:9/cb?app=1", reg, 2));
    ck_assert(allowed("http://[::1]/cb?app=1", reg, 2));
    ck_assert(!allowed("http://127.0.0.1:51234/callback2", reg, 2));
    ck_assert(!allowed("http://127.0.0.1:51234/other", reg, 2));
    ck_assert(!allowed("http://[::1]:9/cb?app=2", reg, 2));
    ck_assert(!allowed("http://127.0.0.1:/callback", reg, 2));
    ck_assert(!allowed("http://127.0.0.1:123456/callback", reg, 2));
    ck_assert(!allowed("http://127.0.0.1.evil/callback", reg, 2));
    ck_assert(!allowed("http://127.0.0.1@evil/callback", reg, 2));
    ck_assert(!allowed("https://127.0.0.1:51234/callback", reg, 2));
    /* "localhost" is not a loopback literal: no port freedom for it */
    const char *local[] = {"http://localhost/cb"};
    ck_assert(!allowed("http://localhost:8080/cb", local, 1));
    ck_assert(allowed("http://localhost/cb", local, 1));
    /* the port freedom is for registered loopback URIs only */
    const char *web[] = {"https://app.example/cb"};
    ck_assert(!allowed("http://127.0.0.1:8080/cb", web, 1));
}
END_TEST

static int registrable(const char *uri)
{
    const char *why = NULL;
    int err = as_redirect_uri_check(uri, strlen(uri), &why);
    ck_assert(err == 0 ? why == NULL : why != NULL && err == AS_ERR_BAD_INPUT);
    return err == 0;
}

START_TEST(registrable_redirect_uris)
{
    /* what a web app, a native app on the loopback interface and a native app with its own scheme register */
    ck_assert(registrable("https://app.example/cb"));
    ck_assert(registrable("https://app.example:8443/oauth/callback?tenant=a%2Fb"));
    ck_assert(registrable("https://[2001:db8::1]/cb"));
    ck_assert(registrable("http://127.0.0.1/callback"));
    ck_assert(registrable("http://127.0.0.1:8080/callback"));
    ck_assert(registrable("http://[::1]:9000/cb"));
    ck_assert(registrable("com.example.app:/oauth2redirect"));
    ck_assert(registrable("com.example.app://callback"));
    /* not absolute, fragments, wildcards, characters no URI has */
    ck_assert(!registrable(""));
    ck_assert(!registrable("/callback"));
    ck_assert(!registrable("app.example/cb"));
    ck_assert(!registrable("https://app.example/cb#frag"));
    ck_assert(!registrable("https://app.example/cb#"));
    ck_assert(!registrable("https://*.app.example/cb"));
    ck_assert(!registrable("https://app.example/*"));
    ck_assert(!registrable("https://app.example/c b"));
    ck_assert(!registrable("https://app.example/\"cb\""));
    ck_assert(!registrable("https://app.example/cb\n"));
    ck_assert(!registrable("https://app.example/caf\xc3\xa9"));
    ck_assert(!registrable("https://app.example/%zz"));
    ck_assert(!registrable("https://app.example/%4"));
    /* https needs a host, and no user information that a reader could take for one */
    ck_assert(!registrable("https:/app.example/cb"));
    ck_assert(!registrable("https:///cb"));
    ck_assert(!registrable("https://"));
    ck_assert(!registrable("https://app.example@evil.example/cb"));
    ck_assert(!registrable("https://app.example:/cb"));
    ck_assert(!registrable("https://app.example:123456/cb"));
    ck_assert(!registrable("https://app.example:80a/cb"));
    ck_assert(!registrable("https://[::1/cb"));
    ck_assert(!registrable("https://[]/cb"));
    ck_assert(!registrable("HTTPS://app.example/cb"));
    /* http only on a loopback literal (RFC 8252 §7.3, §8.3) */
    ck_assert(!registrable("http://app.example/cb"));
    ck_assert(!registrable("http://localhost:8080/cb"));
    ck_assert(!registrable("http://127.0.0.2/cb"));
    ck_assert(!registrable("http://127.0.0.1.evil.example/cb"));
    /* private-use schemes are reverse domain names; nothing that runs script or reads files */
    ck_assert(!registrable("myapp:/cb"));
    ck_assert(!registrable("javascript:alert(1)"));
    ck_assert(!registrable("data:text/html,x"));
    ck_assert(!registrable("file:///etc/passwd"));
    ck_assert(!registrable("com.example.app:"));
    /* a length limit */
    char long_uri[AS_REDIRECT_URI_MAX + 2];
    memset(long_uri, 'a', sizeof(long_uri) - 1);
    memcpy(long_uri, "https://a.example/", 18);
    long_uri[AS_REDIRECT_URI_MAX] = '\0';
    ck_assert(registrable(long_uri));
    long_uri[AS_REDIRECT_URI_MAX] = 'a';
    long_uri[AS_REDIRECT_URI_MAX + 1] = '\0';
    ck_assert(!registrable(long_uri));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("grants");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, grant_names);
    tcase_add_test(tc, no_scope_requested_gets_everything_allowed);
    tcase_add_test(tc, requested_scope_is_narrowed_in_allowed_order);
    tcase_add_test(tc, scope_outside_the_allowed_set_is_refused);
    tcase_add_test(tc, malformed_scope_is_refused);
    tcase_add_test(tc, scope_token_syntax);
    tcase_add_test(tc, split_skips_empty_tokens);
    tcase_add_test(tc, user_subjects_are_uuids);
    tcase_add_test(tc, pkce_s256_matches_rfc7636_appendix_b);
    tcase_add_test(tc, pkce_verifier_and_challenge_syntax);
    tcase_add_test(tc, redirect_uris_match_exactly);
    tcase_add_test(tc, loopback_redirect_uris_may_change_port);
    tcase_add_test(tc, registrable_redirect_uris);
    suite_add_tcase(s, tc);
    return as_check_run_suite(s);
}
