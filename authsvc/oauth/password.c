/*
 * oauth/password — look the user up, verify the password on an argon2 worker
 * (the dummy hash for an unknown user), report the outcome (interface in
 * password.h). The password grant and the login page both come through here.
 */
#include <string.h>
#include "authsvc/as.h"
#include "authsvc/crypto/crypto.h"
#include "authsvc/oauth/password.h"

static void report(as_password_check_t *check, as_password_result_t result, int err)
{
    as_password_outcome_t outcome = {.result = result, .err = err};
    if (result == AS_PASSWORD_OK)
        outcome.user = check->user;
    if (result == AS_PASSWORD_BUSY)
        outcome.retry_after = 1;
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
        report(check, AS_PASSWORD_WRONG, 0);
        return;
    }
    report(check, AS_PASSWORD_OK, 0);
}

static void on_user(void *ctx, int err, const as_user_t *user)
{
    as_password_check_t *check = ctx;
    check->job = NULL;
    if (err != 0 && err != AS_ERR_NOT_FOUND) {
        report(check, AS_PASSWORD_UNAVAILABLE, err);
        return;
    }
    /* an unknown user costs one argon2id verification too, so timing does not reveal which names exist */
    check->user = user;
    check->pwjob = as_pwcheck_verify(check->ctx->pwcheck, check->ctx->pwcheck_receiver, check->address, check->username,
                                     user != NULL ? user->password_hash : check->ctx->config->dummy_hash, check->password,
                                     check->password_len, on_verified, check);
}

void as_password_check(as_password_check_t *check, as_oauth_ctx_t *ctx, h2o_mem_pool_t *mem, const char *username,
                       size_t username_len, const char *password, size_t password_len, const char *address, as_password_cb cb)
{
    *check = (as_password_check_t){.ctx = ctx,
                                   .mem = mem,
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
    as_store_user_by_name(ctx->db, mem, username, on_user, check, &check->job);
}

void as_password_check_cancel(as_password_check_t *check)
{
    as_pool_cancel(check->job);
    check->job = NULL;
    as_pwcheck_cancel(check->pwjob);
    check->pwjob = NULL;
}
