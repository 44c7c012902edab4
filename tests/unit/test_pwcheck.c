/* work/pwcheck: fair use of the argon2 workers. Built without workers, so that jobs stay queued and what is
 * admitted, refused or turned away is decided by the rules alone, deterministically. */
#include <check.h>
#include <stdlib.h>
#include "authsvc/as.h"
#include "authsvc/work/pwcheck.h"
#include "check_run.h"

static h2o_loop_t *loop;
static h2o_multithread_queue_t *queue;
static h2o_multithread_receiver_t receiver;
static int busy[64];

static void on_result(void *ctx, int err, int match, const char *phc)
{
    (void)match;
    (void)phc;
    busy[(intptr_t)ctx] += err == AS_ERR_BUSY;
}

static void setup(void)
{
    loop = h2o_evloop_create();
    queue = h2o_multithread_create_queue(loop);
    h2o_multithread_register_receiver(queue, &receiver, as_pwcheck_on_messages);
    memset(busy, 0, sizeof(busy));
}

/** Delivers the answers sent to the loop. */
static void deliver(void)
{
    for (int i = 0; i != 4; ++i)
        h2o_evloop_run(loop, 0);
}

static as_pwcheck_job_t *verify(as_pwcheck_t *pw, const char *source, const char *user, int id)
{
    return as_pwcheck_verify(pw, &receiver, source, user, "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaA", "pw", 2, on_result,
                             (void *)(intptr_t)id);
}

START_TEST(a_source_holds_at_most_a_quarter)
{
    as_pwcheck_t *pw = as_pwcheck_create(0, 8, 60000, 0);
    ck_assert_ptr_nonnull(verify(pw, "10.0.0.1", "a", 0));
    ck_assert_ptr_nonnull(verify(pw, "10.0.0.1", "b", 1));
    ck_assert(as_pwcheck_saturated(pw, "10.0.0.1", "c"));
    ck_assert_ptr_null(verify(pw, "10.0.0.1", "c", 2)); /* refused at once */
    ck_assert_int_eq(busy[2], 1);
    ck_assert(!as_pwcheck_saturated(pw, "10.0.0.2", "c")); /* another address is welcome */
    ck_assert_ptr_nonnull(verify(pw, "10.0.0.2", "c", 3));
    as_pwcheck_dispose(pw);
    deliver();
    ck_assert_int_eq(busy[0] + busy[1] + busy[3], 3); /* nothing was hashed: dispose answered the queue */
}
END_TEST

START_TEST(a_username_has_at_most_four)
{
    as_pwcheck_t *pw = as_pwcheck_create(0, 64, 60000, 0);
    char addr[32];
    for (int i = 0; i != 4; ++i) {
        snprintf(addr, sizeof(addr), "10.0.1.%d", i);
        ck_assert_ptr_nonnull(verify(pw, addr, "alice", i));
    }
    ck_assert_ptr_null(verify(pw, "10.0.1.9", "alice", 4)); /* guessing one user from many addresses */
    ck_assert_ptr_nonnull(verify(pw, "10.0.1.9", "bob", 5));
    as_pwcheck_dispose(pw);
    deliver();
}
END_TEST

START_TEST(a_full_queue_turns_away_the_heaviest_source)
{
    as_pwcheck_t *pw = as_pwcheck_create(0, 8, 60000, 0);
    char addr[32];
    /* four sources, two jobs each: full */
    for (int i = 0; i != 8; ++i) {
        snprintf(addr, sizeof(addr), "10.0.2.%d", i / 2);
        ck_assert_ptr_nonnull(verify(pw, addr, NULL, i));
    }
    /* a newcomer gets in: the newest job of a heaviest source (10.0.2.0's second) is turned away */
    ck_assert(!as_pwcheck_saturated(pw, "10.0.2.9", NULL));
    ck_assert_ptr_nonnull(verify(pw, "10.0.2.9", NULL, 8));
    deliver();
    ck_assert_int_eq(busy[1], 1);
    for (int i = 0; i != 9; ++i)
        if (i != 1)
            ck_assert_int_eq(busy[i], 0);
    /* the source that just lost a job is now lighter than the others, but not lighter by enough to take one back */
    ck_assert_ptr_null(verify(pw, "10.0.2.0", NULL, 9));
    ck_assert_int_eq(busy[9], 1);
    as_pwcheck_dispose(pw);
    deliver();
}
END_TEST

START_TEST(a_cancelled_job_never_calls_back)
{
    as_pwcheck_t *pw = as_pwcheck_create(0, 8, 60000, 0);
    as_pwcheck_job_t *job = verify(pw, "10.0.3.1", "a", 0);
    as_pwcheck_cancel(job);
    as_pwcheck_dispose(pw);
    deliver();
    ck_assert_int_eq(busy[0], 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("pwcheck");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, a_source_holds_at_most_a_quarter);
    tcase_add_test(tc, a_username_has_at_most_four);
    tcase_add_test(tc, a_full_queue_turns_away_the_heaviest_source);
    tcase_add_test(tc, a_cancelled_job_never_calls_back);
    suite_add_tcase(s, tc);
    return as_check_run_suite(s);
}
