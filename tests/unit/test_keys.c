/* keys/keyset: the lifecycle state a key is in at a given time, and the per-thread views that let a request keep
 * the key set it started with while a reload swaps in another. */
#include <check.h>
#include <stdlib.h>
#include "authsvc/keys/keyset.h"
#include "check_run.h"

/** A key published at 100, signing from 200, retired at 300 and unpublished at 400 (0: not scheduled). */
static as_keymeta_t meta(int64_t retired_at, int64_t unpublish_at)
{
    return (as_keymeta_t){.alg = AS_ALG_ES256, .created_at = 90, .published_at = 100, .active_at = 200,
                          .retired_at = retired_at, .unpublish_at = unpublish_at};
}

START_TEST(states_follow_the_clock)
{
    as_keymeta_t m = meta(300, 400);
    ck_assert_int_eq(as_keymeta_state(&m, 0), AS_KEY_PENDING);
    ck_assert_int_eq(as_keymeta_state(&m, 99), AS_KEY_PENDING);
    /* each boundary belongs to the later state: published_at, active_at, retired_at, unpublish_at are inclusive */
    ck_assert_int_eq(as_keymeta_state(&m, 100), AS_KEY_NEXT);
    ck_assert_int_eq(as_keymeta_state(&m, 199), AS_KEY_NEXT);
    ck_assert_int_eq(as_keymeta_state(&m, 200), AS_KEY_ACTIVE);
    ck_assert_int_eq(as_keymeta_state(&m, 299), AS_KEY_ACTIVE);
    ck_assert_int_eq(as_keymeta_state(&m, 300), AS_KEY_RETIRED);
    ck_assert_int_eq(as_keymeta_state(&m, 399), AS_KEY_RETIRED);
    ck_assert_int_eq(as_keymeta_state(&m, 400), AS_KEY_EXPIRED);
    ck_assert_int_eq(as_keymeta_state(&m, INT64_MAX), AS_KEY_EXPIRED);
}
END_TEST

START_TEST(unscheduled_keys_stay_active)
{
    as_keymeta_t m = meta(0, 0);
    ck_assert_int_eq(as_keymeta_state(&m, 1000000000), AS_KEY_ACTIVE);
    /* retired but with no unpublish time: published for ever, never signing */
    m = meta(300, 0);
    ck_assert_int_eq(as_keymeta_state(&m, 1000000000), AS_KEY_RETIRED);
}
END_TEST

START_TEST(key_published_and_active_at_once)
{
    /* `keys generate`: published and active at the same second, no publish lead */
    as_keymeta_t m = {.alg = AS_ALG_ES256, .published_at = 100, .active_at = 100};
    ck_assert_int_eq(as_keymeta_state(&m, 99), AS_KEY_PENDING);
    ck_assert_int_eq(as_keymeta_state(&m, 100), AS_KEY_ACTIVE);
}
END_TEST

START_TEST(state_names)
{
    ck_assert_str_eq(as_key_state_name(AS_KEY_PENDING), "pending");
    ck_assert_str_eq(as_key_state_name(AS_KEY_NEXT), "next");
    ck_assert_str_eq(as_key_state_name(AS_KEY_ACTIVE), "active");
    ck_assert_str_eq(as_key_state_name(AS_KEY_RETIRED), "retired");
    ck_assert_str_eq(as_key_state_name(AS_KEY_EXPIRED), "expired");
}
END_TEST

/** An empty key set with one reference, for the test, and one more for the view it is handed to. */
static as_keyset_t *empty_set(void)
{
    as_keyset_t *ks = calloc(1, sizeof(*ks));
    ks->refcnt = 2;
    return ks;
}

START_TEST(a_swap_without_holds_releases_the_old_set)
{
    as_keyset_t *a = empty_set(), *b = empty_set();
    as_keyview_t view;

    as_keyview_init(&view, a);
    ck_assert_ptr_eq(view.current->set, a);
    as_keyview_swap(&view, b);
    ck_assert_ptr_eq(view.current->set, b);
    ck_assert_int_eq(a->refcnt, 1); /* the view let go of it at once */
    as_keyview_dispose(&view);
    ck_assert_int_eq(b->refcnt, 1);
    as_keyset_release(a);
    as_keyset_release(b);
}
END_TEST

START_TEST(a_request_keeps_the_set_it_started_with)
{
    as_keyset_t *a = empty_set(), *b = empty_set();
    as_keyview_t view;

    as_keyview_init(&view, a);
    as_keyhold_t *h1 = as_keyview_hold(&view), *h2 = as_keyview_hold(&view);
    ck_assert_ptr_eq(h1->set, a);
    as_keyview_swap(&view, b);
    /* two requests still hold the old set: it stays alive, and new requests get the new one */
    ck_assert_int_eq(a->refcnt, 2);
    as_keyhold_t *h3 = as_keyview_hold(&view);
    ck_assert_ptr_eq(h3->set, b);
    ck_assert_ptr_eq(h1->set, a);
    as_keyhold_release(h1);
    ck_assert_int_eq(a->refcnt, 2);
    as_keyhold_release(h2); /* the last hold of a superseded set releases it */
    ck_assert_int_eq(a->refcnt, 1);
    /* the current set is not released when its holds drop to zero */
    as_keyhold_release(h3);
    ck_assert_int_eq(b->refcnt, 2);
    h3 = as_keyview_hold(&view);
    ck_assert_ptr_eq(h3->set, b);
    as_keyhold_release(h3);
    /* disposing the view while a request holds the set defers the release to that request */
    as_keyhold_t *h4 = as_keyview_hold(&view);
    as_keyview_dispose(&view);
    ck_assert_int_eq(b->refcnt, 2);
    as_keyhold_release(h4);
    ck_assert_int_eq(b->refcnt, 1);
    as_keyhold_release(NULL);
    as_keyset_release(a);
    as_keyset_release(b);
}
END_TEST

AS_CHECK_MAIN("keys",
              states_follow_the_clock,
              unscheduled_keys_stay_active,
              key_published_and_active_at_once,
              state_names,
              a_swap_without_holds_releases_the_old_set,
              a_request_keeps_the_set_it_started_with)
