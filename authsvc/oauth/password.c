/*
 * oauth/password — look the user up, verify the password on an argon2 worker
 * (the dummy hash for an unknown user), report the outcome (interface in
 * password.h). The password grant and the login page both come through here.
 *
 * Brute-force throttling rides on the lookup: one statement returns the user
 * and how long (username, address) and the address must still wait. A
 * throttled attempt is answered at once, with no argon2 verification; a
 * wrong password is recorded (back-off, audit) after the answer is decided; a
 * good one clears the (username, address) count only if it had failures, so
 * a clean login costs no extra round trip. Another address is never held back
 * by a username's failures elsewhere.
 */
#include <string.h>
#include "authsvc/as.h"
#include "authsvc/crypto/crypto.h"
#include "authsvc/metrics/metrics.h"
#include "authsvc/oauth/password.h"

static void report(as_password_check_t *check, as_password_result_t result, int err)
{
    as_password_outcome_t outcome = {.result = result, .err = err};
    AS_METRICS_INC(logins[result]); /* metrics.h's AS_ML_* follow as_password_result_t */
    if (result == AS_PASSWORD_OK)
        outcome.user = check->user;
    if (result == AS_PASSWORD_BUSY)
        outcome.retry_after = 1;
    if (result == AS_PASSWORD_THROTTLED)
        outcome.retry_after = check->retry_after;
    check->cb(check, &outcome);
}

static void on_verified(void *ctx, int err, int match, const char *phc)
{
    as_password_check_t *check = ctx;
    (void)phc;
    check->pwjob = NULL;
    if (err != 0) {
        report(check, AS_PASSWORD_BUSY, err);
        return;
    }
    if (!match || check->user == NULL || check->user->disabled) {
        as_warn("login failure: username %s, client %s, address %s", check->username, check->client_id, check->address);
        as_store_login_failed(check->ctx->db, check->username, check->address, check->client_id);
        report(check, AS_PASSWORD_WRONG, 0);
        return;
    }
    if (check->had_failures)
        as_store_login_succeeded(check->ctx->db, check->username, check->address);
    report(check, AS_PASSWORD_OK, 0);
}

static void on_lookup(void *ctx, int err, const as_login_lookup_t *lookup)
{
    as_password_check_t *check = ctx;
    check->job = NULL;
    if (err != 0) {
        report(check, AS_PASSWORD_UNAVAILABLE, err);
        return;
    }
    if (lookup->retry_after > 0) {
        as_warn("login throttled: username %s, client %s, address %s, %d s to wait", check->username, check->client_id,
                check->address, lookup->retry_after);
        check->retry_after = lookup->retry_after;
        report(check, AS_PASSWORD_THROTTLED, 0);
        return;
    }
    check->had_failures = lookup->had_failures;
    /* an unknown user costs one argon2id verification too, so timing does not reveal which names exist */
    const as_user_t *user = lookup->user;
    check->user = user;
    check->pwjob = as_pwcheck_verify(check->ctx->pwcheck, check->ctx->pwcheck_receiver, check->address, check->username,
                                     user != NULL ? user->password_hash : check->ctx->config->dummy_hash, check->password,
                                     check->password_len, on_verified, check);
}

void as_password_check(as_password_check_t *check, as_oauth_ctx_t *ctx, h2o_mem_pool_t *mem, const char *client_id,
                       const char *username, size_t username_len, const char *password, size_t password_len, const char *address,
                       as_password_cb cb)
{
    *check = (as_password_check_t){.ctx = ctx,
                                   .mem = mem,
                                   .client_id = client_id,
                                   .username = username,
                                   .address = address,
                                   .password = password,
                                   .password_len = password_len,
                                   .cb = cb};
    if (username_len == 0 || username_len > AS_USERNAME_MAX || memchr(username, '\0', username_len) != NULL || password_len == 0 ||
        password_len > AS_PASSWORD_MAX) {
        report(check, AS_PASSWORD_WRONG, 0);
        return;
    }
    /* fair use of the argon2 workers: per address and per username (work/pwcheck) */
    if (as_pwcheck_saturated(ctx->pwcheck, address, username)) {
        report(check, AS_PASSWORD_BUSY, AS_ERR_BUSY);
        return;
    }
    as_store_login_lookup(ctx->db, mem, username, address, on_lookup, check, &check->job);
}

void as_password_check_cancel(as_password_check_t *check)
{
    as_pool_cancel(check->job);
    check->job = NULL;
    as_pwcheck_cancel(check->pwjob);
    check->pwjob = NULL;
}
