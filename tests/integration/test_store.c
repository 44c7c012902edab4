/*
 * store/ against a real PostgreSQL (the cluster named by PG* that tests/run starts): the
 * asynchronous pool on a real h2o loop, the queries, the atomic rotation, outages and deadlines.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "authsvc/as.h"
#include "authsvc/store/admin.h"
#include "authsvc/store/store.h"
#include "authsvc/token/refresh.h"

static char dbname[64], conninfo[128];
static PGconn *admin; /* blocking connection to the test database */
static h2o_loop_t *loop;
static h2o_mem_pool_t mem;

static void sql(const char *q)
{
    PGresult *r = PQexec(admin, q);
    ck_assert_msg(PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK, "%s: %s", q,
                  PQresultErrorMessage(r));
    PQclear(r);
}

static void create_database(void)
{
    PGconn *pg = PQconnectdb("dbname=postgres");
    char q[128];
    ck_assert_ptr_nonnull(pg);
    snprintf(dbname, sizeof(dbname), "authsvc_it_%d", (int)getpid());
    snprintf(q, sizeof(q), "DROP DATABASE IF EXISTS %s", dbname);
    PQclear(PQexec(pg, q));
    snprintf(q, sizeof(q), "CREATE DATABASE %s", dbname);
    PGresult *r = PQexec(pg, q);
    ck_assert_int_eq(PQresultStatus(r), PGRES_COMMAND_OK);
    PQclear(r);
    PQfinish(pg);
    snprintf(conninfo, sizeof(conninfo), "dbname=%s", dbname);
    admin = PQconnectdb(conninfo);
    ck_assert_int_eq(PQstatus(admin), CONNECTION_OK);
    as_admin_t *migrator;
    ck_assert_int_eq(as_admin_connect(conninfo, &migrator, NULL, 0), 0);
    ck_assert_int_eq(as_admin_migrate(migrator, AS_MIGRATIONS_DIR, NULL, NULL, NULL, 0), 0);
    as_admin_close(migrator);
}

static void setup(void)
{
    if (admin == NULL)
        create_database();
    sql("TRUNCATE users, clients, refresh_families, refresh_tokens, audit_events, sessions, authorization_codes, consents,"
        " login_failures");
    sql("INSERT INTO clients (client_id, secret_hash, public, grant_types, audiences, scopes, access_ttl)"
        " VALUES ('svc', sha256('s3cret'), false, '{client_credentials,refresh_token}', '{api,\"other api\"}', '{read,write}', 60)");
    sql("INSERT INTO users (id, username, password_hash) VALUES"
        " ('11111111-1111-1111-1111-111111111111', 'alice', '$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA')");
    loop = h2o_evloop_create();
    h2o_mem_init_pool(&mem);
}

static void teardown(void)
{
    h2o_mem_clear_pool(&mem);
    /* h2o 2.2.5 has no h2o_evloop_destroy: the loop is leaked per test, by design of the library */
}

static as_pool_t *new_pool(const char *ci, size_t conns, uint64_t timeout, const as_stmt_t *stmts, size_t nstmts)
{
    as_pool_config_t cfg = {.conninfo = ci, .num_connections = conns, .query_timeout = timeout, .retry_interval = 50,
                            .max_inflight = 64, .max_waiting = 1024};
    return as_pool_create(loop, &cfg, stmts != NULL ? stmts : as_store_statements, stmts != NULL ? nstmts : as_store_num_statements);
}

/** Runs the loop until *done reaches `want`. The loop's own deadlines bound every wait. */
static void run_until(int *done, int want)
{
    for (int i = 0; *done < want && i < 100000; ++i)
        h2o_evloop_run(loop, 100);
    ck_assert_int_ge(*done, want);
}

static void wait_ready(as_pool_t *pool)
{
    for (int i = 0; !as_pool_is_ready(pool) && i < 100000; ++i)
        h2o_evloop_run(loop, 100);
    ck_assert(as_pool_is_ready(pool));
}

/* --- clients and users ----------------------------------------------------------- */

static int done;
static int last_err;
static const as_client_t *last_client;
static const as_user_t *last_user;

static void on_client(void *ctx, int err, const as_client_t *c)
{
    (void)ctx;
    last_err = err;
    last_client = c;
    ++done;
}

static void on_user(void *ctx, int err, const as_user_t *u)
{
    (void)ctx;
    last_err = err;
    last_user = u;
    ++done;
}

START_TEST(client_lookup)
{
    as_pool_t *pool = new_pool(conninfo, 1, 5000, NULL, 0);
    done = 0;
    as_store_client_get(pool, &mem, "svc", on_client, NULL, NULL);
    run_until(&done, 1);
    ck_assert_int_eq(last_err, 0);
    ck_assert_str_eq(last_client->client_id, "svc");
    ck_assert(!last_client->is_public);
    ck_assert_uint_eq(last_client->grants, AS_GRANT_CLIENT_CREDENTIALS | AS_GRANT_REFRESH_TOKEN);
    ck_assert_uint_eq(last_client->audiences.len, 2);
    ck_assert_str_eq(last_client->audiences.items[1], "other api");
    ck_assert_uint_eq(last_client->scopes.len, 2);
    ck_assert_int_eq(last_client->access_ttl, 60);
    uint8_t want[AS_SHA256_LEN];
    as_sha256("s3cret", 6, want);
    ck_assert_mem_eq(last_client->secret_hash, want, sizeof(want));

    as_store_client_get(pool, &mem, "nobody", on_client, NULL, NULL);
    run_until(&done, 2);
    ck_assert_int_eq(last_err, AS_ERR_NOT_FOUND);
    ck_assert_ptr_null(last_client);
    as_pool_dispose(pool);
}
END_TEST

START_TEST(user_lookup)
{
    as_pool_t *pool = new_pool(conninfo, 1, 5000, NULL, 0);
    done = 0;
    as_store_user_by_name(pool, &mem, "alice", on_user, NULL, NULL);
    run_until(&done, 1);
    ck_assert_int_eq(last_err, 0);
    ck_assert_str_eq(last_user->id, "11111111-1111-1111-1111-111111111111");
    ck_assert_int_eq(last_user->token_version, 1);
    ck_assert(!last_user->disabled);
    ck_assert_str_eq(last_user->username, "alice");
    as_store_user_by_name(pool, &mem, "bob", on_user, NULL, NULL);
    run_until(&done, 2);
    ck_assert_int_eq(last_err, AS_ERR_NOT_FOUND);
    /* by id, as userinfo looks the user up: the username comes along (preferred_username) */
    as_store_user_by_id(pool, &mem, "11111111-1111-1111-1111-111111111111", on_user, NULL, NULL);
    run_until(&done, 3);
    ck_assert_int_eq(last_err, 0);
    ck_assert_str_eq(last_user->username, "alice");
    ck_assert_int_eq(last_user->token_version, 1);
    as_store_user_by_id(pool, &mem, "22222222-2222-2222-2222-222222222222", on_user, NULL, NULL);
    run_until(&done, 4);
    ck_assert_int_eq(last_err, AS_ERR_NOT_FOUND);
    as_pool_dispose(pool);
}
END_TEST

/* --- refresh families and rotation ------------------------------------------------------ */

static int successes, not_found, other, graces, reuses, scope_refused;

static void on_refresh(void *ctx, int err, const as_refresh_t *r)
{
    (void)ctx;
    if (err == 0) {
        ++successes;
        graces += r->outcome == AS_REFRESH_GRACE;
    } else if (err == AS_ERR_NOT_FOUND || err == AS_ERR_CONFLICT) {
        ++not_found;
        reuses += err == AS_ERR_CONFLICT;
    } else if (err == AS_ERR_BAD_INPUT) {
        ++scope_refused;
    } else {
        ++other;
    }
    ++done;
}

static int count(const char *q)
{
    PGresult *r = PQexec(admin, q);
    ck_assert_int_eq(PQresultStatus(r), PGRES_TUPLES_OK);
    int n = atoi(PQgetvalue(r, 0, 0));
    PQclear(r);
    return n;
}

/*
 * The refresh tests run once per token format (Check loop tests: _i = 0 for format 1, 1 for format 2). A tok_t is
 * a token as the server would hold it: the token, its hash and the reference the store takes.
 */
static int fmt;

typedef struct st_tok_t {
    as_refresh_token_t t;
    uint8_t hash[AS_SHA256_LEN];
    char family[37];
    as_refresh_ref_t ref; /* points into this tok_t: never copy one */
} tok_t;

static void tok_fill(tok_t *k)
{
    as_refresh_hash(&k->t, k->hash);
    as_refresh_family_text(&k->t, k->family);
    k->ref = (as_refresh_ref_t){.family = k->t.format == 2 ? k->t.family : NULL, .gen = k->t.gen, .hash = k->hash};
}

static void tok_first(tok_t *k, int format)
{
    as_refresh_first(format, &k->t);
    tok_fill(k);
}

static void tok_next(const uint8_t key[AS_REFRESH_KEY_LEN], const tok_t *parent, tok_t *child)
{
    as_refresh_next(key, &parent->t, &child->t);
    tok_fill(child);
}

/** Rotates family `f` of the arrays (grace 60 s, the family's scope) through `rot`. */
static as_store_rotation_t *rotate_nth(as_store_rotator_t *rot, tok_t first[], tok_t succ[], int f)
{
    return as_store_rotate(rot, &mem, &first[f].ref, "svc", succ[f].hash, 3600, 60, NULL, on_refresh, NULL, NULL);
}

/** Rotations committed so far, whatever the format: used format-1 rows, generations of format-2 families. */
static int rotations_committed(void)
{
    return count("SELECT (SELECT count(*) FROM refresh_tokens WHERE used_at IS NOT NULL)"
                 " + (SELECT coalesce(sum(gen), 0) FROM refresh_families)");
}

/** Moves every rotation `seconds` into the past, instead of waiting. */
static void rotations_back(int seconds)
{
    char q[256];
    snprintf(q, sizeof(q), "UPDATE %s SET %s = %s - interval '%d seconds' WHERE %s IS NOT NULL",
             fmt == 1 ? "refresh_tokens" : "refresh_families", fmt == 1 ? "used_at" : "rotated_at",
             fmt == 1 ? "used_at" : "rotated_at", seconds, fmt == 1 ? "used_at" : "rotated_at");
    sql(q);
}

static void create_family_as(as_pool_t *pool, const tok_t *k, int64_t version)
{
    done = successes = not_found = other = graces = reuses = 0;
    as_store_family_create(pool, &mem, k->family, k->t.format, "11111111-1111-1111-1111-111111111111", "svc", version, "read write",
                           k->hash, 3600, 86400, on_refresh, NULL, NULL);
    run_until(&done, 1);
}

static void create_family(as_pool_t *pool, const tok_t *k, int64_t version)
{
    create_family_as(pool, k, version);
}

START_TEST(rotation_race_has_one_winner)
{
    /* many connections, so that the statements really run concurrently in the server */
    as_pool_t *pool = new_pool(conninfo, 8, 10000, NULL, 0);
    tok_t first;
    fmt = _i + 1;
    wait_ready(pool);
    tok_first(&first, fmt);
    create_family(pool, &first, 1);
    ck_assert_int_eq(successes, 1);

    done = successes = not_found = other = 0;
    for (int i = 0; i != 50; ++i) {
        /* every racer presents the same token; give each a distinct successor to see any double win */
        tok_t succ;
        tok_first(&succ, fmt);
        as_store_refresh_rotate(pool, &mem, &first.ref, "svc", succ.hash, 3600, 0, NULL, on_refresh, NULL, NULL);
    }
    run_until(&done, 50);
    ck_assert_int_eq(successes, 1);
    ck_assert_int_eq(not_found, 49);
    ck_assert_int_eq(other, 0);
    ck_assert_int_eq(rotations_committed(), 1); /* one successor, never two */
    if (fmt == 1)
        ck_assert_int_eq(count("SELECT count(*) FROM refresh_tokens WHERE used_at IS NULL"), 1);
    /* without a grace window the losers are indistinguishable from a thief: the family is revoked */
    ck_assert_int_eq(count("SELECT count(*) FROM refresh_families WHERE revoked_reason = 'reuse'"), 1);
    ck_assert_int_ge(count("SELECT count(*) FROM audit_events WHERE kind = 'refresh_token_reuse'"), 1);
    as_pool_dispose(pool);
}
END_TEST

/* With a grace window, racers presenting the same token (as several tabs do) all get its one derived successor. */
START_TEST(rotation_race_within_grace_shares_one_successor)
{
    as_pool_t *pool = new_pool(conninfo, 8, 10000, NULL, 0);
    uint8_t key[AS_REFRESH_KEY_LEN];
    tok_t first, succ, third, fourth;
    fmt = _i + 1;
    as_random_bytes(key, sizeof(key));
    wait_ready(pool);
    tok_first(&first, fmt);
    create_family(pool, &first, 1);
    tok_next(key, &first, &succ);
    done = successes = not_found = other = graces = reuses = 0;
    for (int i = 0; i != 50; ++i)
        as_store_refresh_rotate(pool, &mem, &first.ref, "svc", succ.hash, 3600, 60, NULL, on_refresh, NULL, NULL);
    run_until(&done, 50);
    ck_assert_int_eq(successes, 50);
    ck_assert_int_eq(graces, 49);
    ck_assert_int_eq(rotations_committed(), 1);
    ck_assert_int_eq(count("SELECT count(*) FROM refresh_families WHERE revoked_at IS NOT NULL"), 0);

    /* once the successor itself is used, presenting the first token again is reuse: the family dies,
     * and with it the newest token */
    tok_next(key, &succ, &third);
    as_store_refresh_rotate(pool, &mem, &succ.ref, "svc", third.hash, 3600, 60, NULL, on_refresh, NULL, NULL);
    run_until(&done, 51);
    ck_assert_int_eq(successes, 51);
    as_store_refresh_rotate(pool, &mem, &first.ref, "svc", succ.hash, 3600, 60, NULL, on_refresh, NULL, NULL);
    run_until(&done, 52);
    ck_assert_int_eq(reuses, 1);
    tok_next(key, &third, &fourth);
    as_store_refresh_rotate(pool, &mem, &third.ref, "svc", fourth.hash, 3600, 60, NULL, on_refresh, NULL, NULL);
    run_until(&done, 53);
    ck_assert_int_eq(successes, 51);
    ck_assert_int_eq(not_found, 2);
    as_pool_dispose(pool);
}
END_TEST

/* The rotator commits rotations in batches; every race keeps exactly its one-at-a-time outcome, whether the racers
 * land in one batch (where the rotator must keep a hash out twice) or in batches in flight together. */
START_TEST(batched_rotation_races_within_and_across_batches)
{
    enum { FAMILIES = 30, RACERS = 3 };
    as_pool_t *pool = new_pool(conninfo, 8, 10000, NULL, 0);
    as_store_rotator_t *rot = as_store_rotator_create(loop, pool, 2, 64);
    uint8_t key[AS_REFRESH_KEY_LEN];
    static tok_t first[FAMILIES], succ[FAMILIES];
    fmt = _i + 1;
    as_random_bytes(key, sizeof(key));
    wait_ready(pool);
    for (int f = 0; f != FAMILIES; ++f) {
        tok_first(&first[f], fmt);
        create_family(pool, &first[f], 1);
        tok_next(key, &first[f], &succ[f]);
    }
    done = successes = not_found = other = graces = reuses = 0;
    /* every family raced by three tabs, interleaved, all submitted in one turn of the loop: they leave at its end
     * in batches, a token never twice in one */
    for (int r = 0; r != RACERS; ++r)
        for (int f = 0; f != FAMILIES; ++f)
            rotate_nth(rot, first, succ, f);
    run_until(&done, FAMILIES * RACERS);
    ck_assert_int_eq(other, 0);
    ck_assert_int_eq(successes, FAMILIES * RACERS);
    ck_assert_int_eq(graces, FAMILIES * (RACERS - 1)); /* one rotation per family, the others got the same successor */
    ck_assert_int_eq(rotations_committed(), FAMILIES);
    ck_assert_int_eq(count("SELECT count(*) FROM refresh_families WHERE revoked_at IS NOT NULL"), 0);
    as_store_rotator_stats_t st = as_store_rotator_stats(rot);
    ck_assert_uint_lt(st.batches, FAMILIES * RACERS); /* batching happened */
    ck_assert_uint_gt(st.largest, 1);
    ck_assert_uint_le(st.largest, FAMILIES); /* a hash never twice in one batch */

    /* without a grace window, the racers that lose are reuse: each family revoked, exactly one winner each */
    for (int f = 0; f != FAMILIES; ++f) {
        tok_first(&first[f], fmt);
        create_family(pool, &first[f], 1);
    }
    done = successes = not_found = other = graces = reuses = 0;
    for (int r = 0; r != RACERS; ++r) {
        for (int f = 0; f != FAMILIES; ++f) {
            tok_t other_succ;
            tok_first(&other_succ, fmt);
            as_store_rotate(rot, &mem, &first[f].ref, "svc", other_succ.hash, 3600, 0, NULL, on_refresh, NULL, NULL);
        }
    }
    run_until(&done, FAMILIES * RACERS);
    ck_assert_int_eq(other, 0);
    ck_assert_int_eq(successes, FAMILIES);
    /* a loser is reuse, or (once its family is revoked) simply invalid: every family was caught at least once */
    ck_assert_int_eq(not_found, FAMILIES * (RACERS - 1));
    ck_assert_int_ge(reuses, FAMILIES);
    ck_assert_int_eq(count("SELECT count(*) FROM refresh_families WHERE revoked_reason = 'reuse'"), FAMILIES);
    as_store_rotator_close(rot);
    as_pool_dispose(pool);
}
END_TEST

/* Both formats in the same batches (a rolling upgrade: format-1 families live on beside new format-2 ones), raced
 * across generations: each rotation has its one-at-a-time outcome, whichever format its family has. */
START_TEST(batched_rotation_mixes_formats)
{
    enum { FAMILIES = 20 };
    as_pool_t *pool = new_pool(conninfo, 4, 10000, NULL, 0);
    as_store_rotator_t *rot = as_store_rotator_create(loop, pool, 1, 64);
    uint8_t key[AS_REFRESH_KEY_LEN];
    static tok_t first[FAMILIES], second[FAMILIES], third[FAMILIES];
    as_random_bytes(key, sizeof(key));
    wait_ready(pool);
    for (int f = 0; f != FAMILIES; ++f) {
        tok_first(&first[f], 1 + f % 2);
        create_family_as(pool, &first[f], 1);
        ck_assert_int_eq(successes, 1);
        tok_next(key, &first[f], &second[f]);
        tok_next(key, &second[f], &third[f]);
    }
    ck_assert_int_eq(count("SELECT count(*) FROM refresh_families WHERE gen = 0"), FAMILIES / 2);
    ck_assert_int_eq(count("SELECT count(*) FROM refresh_tokens"), FAMILIES / 2);
    done = successes = not_found = other = graces = reuses = 0;
    for (int f = 0; f != FAMILIES; ++f)
        as_store_rotate(rot, &mem, &first[f].ref, "svc", second[f].hash, 3600, 60, NULL, on_refresh, NULL, NULL);
    run_until(&done, FAMILIES);
    ck_assert_int_eq(successes, FAMILIES);
    ck_assert_int_eq(graces, 0);
    ck_assert_int_eq(count("SELECT count(*) FROM refresh_families WHERE gen = 1"), FAMILIES / 2);
    ck_assert_int_eq(count("SELECT count(*) FROM refresh_tokens WHERE used_at IS NULL"), FAMILIES / 2);
    /* the second generation, each followed by its parent again: the parent is checked once the batch that holds
     * it has committed, when its successor has been used (in that batch or before): reuse, for either format */
    for (int f = 0; f != FAMILIES; ++f) {
        as_store_rotate(rot, &mem, &second[f].ref, "svc", third[f].hash, 3600, 60, NULL, on_refresh, NULL, NULL);
        as_store_rotate(rot, &mem, &first[f].ref, "svc", second[f].hash, 3600, 60, NULL, on_refresh, NULL, NULL);
    }
    run_until(&done, 3 * FAMILIES);
    ck_assert_int_eq(other, 0);
    ck_assert_int_eq(successes, 2 * FAMILIES);
    ck_assert_int_eq(reuses, FAMILIES);
    ck_assert_int_eq(count("SELECT count(*) FROM refresh_families WHERE revoked_reason = 'reuse'"), FAMILIES);
    ck_assert_int_eq(count("SELECT count(*) FROM refresh_families WHERE gen = 2"), FAMILIES / 2);
    ck_assert_int_eq(count("SELECT count(*) FROM refresh_tokens WHERE used_at IS NOT NULL"), FAMILIES);
    as_store_rotator_close(rot);
    as_pool_dispose(pool);
}
END_TEST

/** A ready pool's three new families: their first tokens and successors; the counters reset. */
static void three_families(as_pool_t *pool, tok_t first[3], tok_t succ[3])
{
    uint8_t key[AS_REFRESH_KEY_LEN];
    as_random_bytes(key, sizeof(key));
    wait_ready(pool);
    for (int f = 0; f != 3; ++f) {
        tok_first(&first[f], fmt);
        create_family(pool, &first[f], 1);
        tok_next(key, &first[f], &succ[f]);
    }
    done = successes = not_found = other = graces = reuses = 0;
}

/** A 2-connection pool, a rotator with `inflight` batches in flight, and three new families of `format`. */
static as_store_rotator_t *rotator_and_three(as_pool_t **pool, size_t inflight, int format, tok_t first[3], tok_t succ[3])
{
    *pool = new_pool(conninfo, 2, 10000, NULL, 0);
    fmt = format;
    three_families(*pool, first, succ);
    return as_store_rotator_create(loop, *pool, inflight, 64);
}

/* A batch that hits a deadlock or a serialization failure rolls back whole and is sent again; a rotation cancelled
 * while the first attempt was in flight (its request gone, its memory with it) is left out of the retry, and its
 * token stays unused. The failure is made once, deterministically, by a trigger on the second batch's first row. */
START_TEST(batched_rotation_retry_leaves_out_the_cancelled)
{
    char q[256];
    fmt = _i + 1;
    const char *table = fmt == 1 ? "refresh_tokens" : "refresh_families";
    sql("DROP SEQUENCE IF EXISTS fail_once_seq");
    sql("CREATE SEQUENCE fail_once_seq");
    sql("CREATE OR REPLACE FUNCTION fail_once() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
        " IF nextval('fail_once_seq') = 2 THEN RAISE EXCEPTION 'made to fail' USING ERRCODE = '40001'; END IF;"
        " RETURN NEW; END $$");
    snprintf(q, sizeof(q), "CREATE TRIGGER fail_once BEFORE UPDATE ON %s FOR EACH ROW EXECUTE FUNCTION fail_once()", table);
    sql(q);
    as_pool_t *pool;
    static tok_t first[3], succ[3];
    as_store_rotator_t *rot = rotator_and_three(&pool, 1, fmt, first, succ);
    /* one in flight at a time: the first leaves alone at the end of its turn of the loop, the other two together
     * once it has committed */
    rotate_nth(rot, first, succ, 0);
    h2o_evloop_run(loop, 0);
    ck_assert_uint_eq(as_store_rotator_stats(rot).batches, 1);
    as_store_rotation_t *gone = rotate_nth(rot, first, succ, 1);
    rotate_nth(rot, first, succ, 2);
    run_until(&done, 1); /* the first answered; in the same turn of the loop the second batch was sent */
    ck_assert_uint_eq(as_store_rotator_stats(rot).batches, 2);
    as_store_rotation_cancel(gone);
    run_until(&done, 2);
    ck_assert_int_eq(successes, 2);
    ck_assert_int_eq(other, 0);
    ck_assert_int_eq(count("SELECT last_value FROM fail_once_seq"), 3); /* 1: first batch, 2: failed, 3: the retry */
    ck_assert_int_eq(rotations_committed(), 2);
    snprintf(q, sizeof(q), "DROP TRIGGER fail_once ON %s", table);
    sql(q);
    sql("DROP FUNCTION fail_once()");
    sql("DROP SEQUENCE fail_once_seq");
    as_store_rotator_close(rot);
    as_pool_dispose(pool);
}
END_TEST

/* A rotation cancelled while it waits is never sent; one cancelled in flight stands but does not call back. */
START_TEST(batched_rotation_cancel)
{
    as_pool_t *pool;
    static tok_t first[3], succ[3];
    as_store_rotator_t *rot = rotator_and_three(&pool, 1, _i + 1, first, succ);
    as_store_rotation_t *in_flight = rotate_nth(rot, first, succ, 0);
    h2o_evloop_run(loop, 0); /* the end of this turn sends it */
    ck_assert_uint_eq(as_store_rotator_stats(rot).batches, 1);
    as_store_rotation_t *waiting = rotate_nth(rot, first, succ, 1);
    rotate_nth(rot, first, succ, 2);
    as_store_rotation_cancel(in_flight);
    as_store_rotation_cancel(waiting);
    run_until(&done, 1);
    ck_assert_int_eq(successes, 1);
    /* the first batch (the cancelled token alone) committed before the second was sent */
    ck_assert_int_eq(rotations_committed(), 2);
    ck_assert_int_eq(done, 1);
    as_store_rotator_close(rot);
    as_pool_dispose(pool);
}
END_TEST

/* Rotations that arrive in one turn of the loop leave in one batch, even with room for more batches in flight:
 * under load a thread's rotations come in bursts (one read holds many streams), and one commit should carry them. */
START_TEST(batched_rotation_gathers_one_turn)
{
    as_pool_t *pool;
    static tok_t first[3], succ[3];
    as_store_rotator_t *rot = rotator_and_three(&pool, 2, _i + 1, first, succ);
    for (int f = 0; f != 3; ++f)
        rotate_nth(rot, first, succ, f);
    ck_assert_uint_eq(as_store_rotator_stats(rot).batches, 0); /* nothing leaves before the turn ends */
    run_until(&done, 3);
    ck_assert_int_eq(successes, 3);
    ck_assert_uint_eq(as_store_rotator_stats(rot).batches, 1);
    ck_assert_uint_eq(as_store_rotator_stats(rot).largest, 3);
    as_store_rotator_close(rot);
    as_pool_dispose(pool);
}
END_TEST

/* Outside the window a retry is reuse, even while the successor is unused. */
START_TEST(retry_after_grace_is_reuse)
{
    as_pool_t *pool = new_pool(conninfo, 1, 5000, NULL, 0);
    uint8_t key[AS_REFRESH_KEY_LEN];
    tok_t first, succ;
    fmt = _i + 1;
    as_random_bytes(key, sizeof(key));
    tok_first(&first, fmt);
    create_family(pool, &first, 1);
    tok_next(key, &first, &succ);
    done = successes = not_found = other = graces = reuses = 0;
    as_store_refresh_rotate(pool, &mem, &first.ref, "svc", succ.hash, 3600, 10, NULL, on_refresh, NULL, NULL);
    run_until(&done, 1);
    ck_assert_int_eq(successes, 1);
    /* inside the window: the same successor again */
    as_store_refresh_rotate(pool, &mem, &first.ref, "svc", succ.hash, 3600, 10, NULL, on_refresh, NULL, NULL);
    run_until(&done, 2);
    ck_assert_int_eq(graces, 1);
    rotations_back(11);
    as_store_refresh_rotate(pool, &mem, &first.ref, "svc", succ.hash, 3600, 10, NULL, on_refresh, NULL, NULL);
    run_until(&done, 3);
    ck_assert_int_eq(reuses, 1);
    ck_assert_int_eq(count("SELECT count(*) FROM refresh_families WHERE revoked_reason = 'reuse'"), 1);
    as_pool_dispose(pool);
}
END_TEST

START_TEST(rotation_refuses_what_it_must)
{
    as_pool_t *pool = new_pool(conninfo, 1, 5000, NULL, 0);
    uint8_t key[AS_REFRESH_KEY_LEN];
    tok_t tok, next, next2;
    fmt = _i + 1;
    as_random_bytes(key, sizeof(key));
    tok_first(&tok, fmt);
    tok_next(key, &tok, &next);
    create_family(pool, &tok, 1);
    ck_assert_int_eq(successes, 1);

    /* another client cannot use it, and a scope beyond the family's is refused, both without consuming it */
    done = successes = not_found = scope_refused = 0;
    as_store_refresh_rotate(pool, &mem, &tok.ref, "web", next.hash, 3600, 0, NULL, on_refresh, NULL, NULL);
    as_store_refresh_rotate(pool, &mem, &tok.ref, "svc", next.hash, 3600, 0, "read admin", on_refresh, NULL, NULL);
    run_until(&done, 2);
    ck_assert_int_eq(not_found, 1);
    ck_assert_int_eq(scope_refused, 1);
    ck_assert_int_eq(rotations_committed(), 0);

    /* a narrower scope is fine */
    as_store_refresh_rotate(pool, &mem, &tok.ref, "svc", next.hash, 3600, 0, "read", on_refresh, NULL, NULL);
    run_until(&done, 3);
    ck_assert_int_eq(successes, 1);

    /* a password change (token_version bump) kills the family */
    sql("UPDATE users SET token_version = token_version + 1");
    tok_next(key, &next, &next2);
    as_store_refresh_rotate(pool, &mem, &next.ref, "svc", next2.hash, 3600, 0, NULL, on_refresh, NULL, NULL);
    run_until(&done, 4);
    ck_assert_int_eq(not_found, 2);

    /* a login that raced the change (it saw version 1) stores nothing */
    tok_t late;
    tok_first(&late, fmt);
    create_family(pool, &late, 1);
    ck_assert_int_eq(not_found, 1);
    ck_assert_int_eq(count("SELECT count(*) FROM refresh_families"), 1);
    as_pool_dispose(pool);
}
END_TEST

START_TEST(idle_expiry)
{
    as_pool_t *pool = new_pool(conninfo, 1, 5000, NULL, 0);
    uint8_t key[AS_REFRESH_KEY_LEN];
    tok_t tok, next;
    fmt = _i + 1;
    as_random_bytes(key, sizeof(key));
    tok_first(&tok, fmt);
    tok_next(key, &tok, &next);
    create_family(pool, &tok, 1);
    /* move the token's expiry into the past instead of waiting for it */
    sql(fmt == 1 ? "UPDATE refresh_tokens SET expires_at = now() - interval '1 second'"
                 : "UPDATE refresh_families SET cur_expires = now() - interval '1 second'");
    done = successes = not_found = 0;
    as_store_refresh_rotate(pool, &mem, &tok.ref, "svc", next.hash, 3600, 0, NULL, on_refresh, NULL, NULL);
    run_until(&done, 1);
    ck_assert_int_eq(not_found, 1);
    ck_assert_int_eq(reuses, 0);
    ck_assert_int_eq(rotations_committed(), 0);
    as_pool_dispose(pool);
}
END_TEST

/* --- housekeeping ------------------------------------------------------------------------- */

static void on_cleaned(void *ctx, int err)
{
    *(int *)ctx = err;
    ++done;
}

START_TEST(cleanup_removes_only_what_is_dead)
{
    as_pool_t *pool = new_pool(conninfo, 1, 5000, NULL, 0);
    tok_t live, dead, idle2, idle2_recent;
    int err = 1;
    sql("TRUNCATE revoked_tokens, revocation_events");
    sql("UPDATE revocation_feed_state SET compacted_xid = '0'");
    tok_first(&live, 1);
    create_family(pool, &live, 1);
    tok_first(&dead, 1);
    create_family(pool, &dead, 1);
    sql("UPDATE refresh_families SET expires_at = now() - interval '1 second'"
        " WHERE id = (SELECT family_id FROM refresh_tokens ORDER BY created_at DESC LIMIT 1)");
    /* format 2: a family whose token has been idle-expired for more than a day goes; one expired an hour ago stays
     * a little longer (its row is all the check has to say "invalid" rather than "unknown") */
    tok_first(&idle2, 2);
    create_family(pool, &idle2, 1);
    tok_first(&idle2_recent, 2);
    create_family(pool, &idle2_recent, 1);
    char q[256];
    snprintf(q, sizeof(q), "UPDATE refresh_families SET cur_expires = now() - interval '25 hours' WHERE id = '%s'", idle2.family);
    sql(q);
    snprintf(q, sizeof(q), "UPDATE refresh_families SET cur_expires = now() - interval '1 hour' WHERE id = '%s'",
             idle2_recent.family);
    sql(q);
    sql("INSERT INTO revoked_tokens (jti, expires_at) VALUES ('gone', now() - interval '1 second'), ('kept', now() + interval '1 hour')");
    sql("INSERT INTO revocation_events (kind, subject, min_version, at) VALUES ('subject', 'old', 2, now() - interval '2 days')");
    sql("INSERT INTO revocation_events (kind, subject, min_version) VALUES ('subject', 'new', 3)");
    done = 0;
    as_store_cleanup(pool, &mem, 300, on_cleaned, &err, NULL);
    run_until(&done, 1);
    ck_assert_int_eq(err, 0);
    ck_assert_int_eq(count("SELECT count(*) FROM refresh_families WHERE gen IS NULL"), 1); /* the expired family went */
    snprintf(q, sizeof(q), "SELECT count(*) FROM refresh_families WHERE id = '%s'", idle2.family);
    ck_assert_int_eq(count(q), 0);
    snprintf(q, sizeof(q), "SELECT count(*) FROM refresh_families WHERE id = '%s'", idle2_recent.family);
    ck_assert_int_eq(count(q), 1);
    ck_assert_int_eq(count("SELECT count(*) FROM refresh_tokens"), 1);          /* with its token (cascade) */
    ck_assert_int_eq(count("SELECT count(*) FROM revoked_tokens WHERE jti = 'kept'"), 1);
    ck_assert_int_eq(count("SELECT count(*) FROM revoked_tokens"), 1);
    ck_assert_int_eq(count("SELECT count(*) FROM revocation_events WHERE subject = 'new'"), 1);
    ck_assert_int_eq(count("SELECT count(*) FROM revocation_events"), 1);
    /* the horizon moved past the deleted entry (a cursor from before it must resynchronise), not past the kept one */
    ck_assert_int_eq(count("SELECT (compacted_xid::text::numeric > 0)::int FROM revocation_feed_state"), 1);
    ck_assert_int_eq(count("SELECT (compacted_xid <= (SELECT xid FROM revocation_events WHERE subject = 'new'))::int"
                           " FROM revocation_feed_state"), 1);
    as_pool_dispose(pool);
}
END_TEST

/* --- the login pages' form tokens ------------------------------------------------------------ */

static void on_form_token(void *ctx, int err)
{
    int *errs = ctx;
    errs[done++] = err;
}

START_TEST(form_tokens_are_single_use)
{
    as_pool_t *pool = new_pool(conninfo, 4, 5000, NULL, 0);
    uint8_t a[AS_SHA256_LEN], b[AS_SHA256_LEN];
    int errs[16];
    int64_t exp = (int64_t)time(NULL) + 900;
    wait_ready(pool);
    sql("TRUNCATE form_tokens");
    as_random_bytes(a, sizeof(a));
    as_random_bytes(b, sizeof(b));
    done = 0;
    /* eight submissions of one token at once, over four connections: exactly one goes through */
    for (int i = 0; i != 8; ++i)
        as_store_form_token_use(pool, &mem, a, exp, on_form_token, errs, NULL);
    run_until(&done, 8);
    int ok = 0, replayed = 0;
    for (int i = 0; i != 8; ++i) {
        ok += errs[i] == 0;
        replayed += errs[i] == AS_ERR_CONFLICT;
    }
    ck_assert_int_eq(ok, 1);
    ck_assert_int_eq(replayed, 7);
    /* another token is its own; a used one stays used */
    as_store_form_token_use(pool, &mem, b, exp, on_form_token, errs, NULL);
    as_store_form_token_use(pool, &mem, a, exp, on_form_token, errs, NULL);
    run_until(&done, 10);
    ck_assert_int_eq(errs[8] + errs[9], AS_ERR_CONFLICT); /* one 0, one conflict, in either order of arrival */
    ck_assert_int_eq(count("SELECT count(*) FROM form_tokens WHERE expires_at > now() + interval '800 seconds'"), 2);
    /* cleanup forgets them once they expired (the token itself is refused by then) */
    sql("UPDATE form_tokens SET expires_at = now() - interval '1 second' WHERE hash = (SELECT hash FROM form_tokens LIMIT 1)");
    int err = 1;
    as_store_cleanup(pool, &mem, 300, on_cleaned, &err, NULL);
    run_until(&done, 11);
    ck_assert_int_eq(err, 0);
    ck_assert_int_eq(count("SELECT count(*) FROM form_tokens"), 1);
    as_pool_dispose(pool);
}
END_TEST

/* --- failures ------------------------------------------------------------------------------ */

static const as_stmt_t test_stmts[] = {
    {"sleep", "SELECT pg_sleep($1::float8)", 1},
    {"one", "SELECT 1", 0},
};

static void on_raw(void *ctx, int err, const PGresult *res)
{
    (void)res;
    *(int *)ctx = err;
    ++done;
}

START_TEST(deadline_turns_a_hung_query_into_a_timeout)
{
    as_pool_t *pool = new_pool(conninfo, 1, 300, test_stmts, 2);
    const char *secs[] = {"30"};
    int err = 1, err2 = 1;
    wait_ready(pool);
    done = 0;
    as_pool_query(pool, 0, 1, secs, NULL, NULL, on_raw, &err, NULL);
    run_until(&done, 1);
    ck_assert_int_eq(err, AS_ERR_DB_TIMEOUT);
    /* the pool reconnects and serves again */
    wait_ready(pool);
    as_pool_query(pool, 1, 0, NULL, NULL, NULL, on_raw, &err2, NULL);
    run_until(&done, 2);
    ck_assert_int_eq(err2, 0);
    as_pool_dispose(pool);
}
END_TEST

START_TEST(terminated_backend_fails_in_flight_then_recovers)
{
    /* one connection: the second sleep is pipelined behind the first, so killing one backend fails both */
    as_pool_t *pool = new_pool(conninfo, 1, 10000, test_stmts, 2);
    const char *secs[] = {"30"};
    int errs[2] = {1, 1}, after = 1;
    wait_ready(pool);
    done = 0;
    as_pool_query(pool, 0, 1, secs, NULL, NULL, on_raw, &errs[0], NULL);
    as_pool_query(pool, 0, 1, secs, NULL, NULL, on_raw, &errs[1], NULL);
    h2o_evloop_run(loop, 10); /* let them reach the server */
    char q[256];
    snprintf(q, sizeof(q),
             "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '%s' AND pid <> pg_backend_pid()"
             " AND query LIKE '%%pg_sleep%%'",
             dbname);
    /* wait until the first sleep is running, then kill its backend */
    for (int i = 0; i < 1000; ++i) {
        PGresult *r = PQexec(admin, "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep%' AND state = 'active'");
        int n = atoi(PQgetvalue(r, 0, 0));
        PQclear(r);
        if (n >= 1) /* ours (an earlier test's abandoned sleep may still run too: it is killed as well) */
            break;
        h2o_evloop_run(loop, 10);
    }
    sql(q);
    run_until(&done, 2);
    ck_assert_int_eq(errs[0], AS_ERR_DB_UNAVAILABLE);
    ck_assert_int_eq(errs[1], AS_ERR_DB_UNAVAILABLE);
    wait_ready(pool);
    as_pool_query(pool, 1, 0, NULL, NULL, NULL, on_raw, &after, NULL);
    run_until(&done, 3);
    ck_assert_int_eq(after, 0);
    as_pool_dispose(pool);
}
END_TEST

START_TEST(unreachable_database_fails_fast)
{
    as_pool_t *pool = new_pool("host=/nonexistent-authsvc-socket-dir dbname=x", 2, 60000, test_stmts, 2);
    int err = 1;
    /* let the first connection attempts fail */
    for (int i = 0; i < 10 && as_pool_is_ready(pool) == 0; ++i)
        h2o_evloop_run(loop, 1);
    done = 0;
    as_pool_query(pool, 1, 0, NULL, NULL, NULL, on_raw, &err, NULL);
    run_until(&done, 1); /* answered long before the 60 s deadline */
    ck_assert_int_eq(err, AS_ERR_DB_UNAVAILABLE);
    as_pool_dispose(pool);
}
END_TEST

START_TEST(cancelled_jobs_do_not_call_back)
{
    as_pool_t *pool = new_pool(conninfo, 1, 5000, test_stmts, 2);
    int cancelled = 1, kept = 1;
    as_pool_job_t *job;
    done = 0;
    as_pool_query(pool, 1, 0, NULL, NULL, NULL, on_raw, &cancelled, &job);
    ck_assert_ptr_nonnull(job);
    as_pool_cancel(job);
    as_pool_query(pool, 1, 0, NULL, NULL, NULL, on_raw, &kept, &job);
    run_until(&done, 1);
    ck_assert_ptr_null(job); /* the pool clears the handle before calling back */
    ck_assert_int_eq(kept, 0);
    ck_assert_int_eq(cancelled, 1);
    ck_assert_int_eq(done, 1);
    as_pool_dispose(pool);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("store");
    TCase *tc = tcase_create("postgresql");
    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, client_lookup);
    tcase_add_test(tc, user_lookup);
    tcase_add_loop_test(tc, rotation_race_has_one_winner, 0, 2);
    tcase_add_loop_test(tc, rotation_race_within_grace_shares_one_successor, 0, 2);
    tcase_add_loop_test(tc, batched_rotation_races_within_and_across_batches, 0, 2);
    tcase_add_test(tc, batched_rotation_mixes_formats);
    tcase_add_loop_test(tc, batched_rotation_cancel, 0, 2);
    tcase_add_loop_test(tc, batched_rotation_gathers_one_turn, 0, 2);
    tcase_add_loop_test(tc, batched_rotation_retry_leaves_out_the_cancelled, 0, 2);
    tcase_add_loop_test(tc, retry_after_grace_is_reuse, 0, 2);
    tcase_add_loop_test(tc, rotation_refuses_what_it_must, 0, 2);
    tcase_add_loop_test(tc, idle_expiry, 0, 2);
    tcase_add_test(tc, cleanup_removes_only_what_is_dead);
    tcase_add_test(tc, form_tokens_are_single_use);
    tcase_add_test(tc, deadline_turns_a_hung_query_into_a_timeout);
    tcase_add_test(tc, terminated_backend_fails_in_flight_then_recovers);
    tcase_add_test(tc, unreachable_database_fails_fast);
    tcase_add_test(tc, cancelled_jobs_do_not_call_back);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_NOFORK); /* one database, created once */
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    if (admin != NULL) {
        PQfinish(admin);
        PGconn *pg = PQconnectdb("dbname=postgres");
        char q[128];
        snprintf(q, sizeof(q), "DROP DATABASE IF EXISTS %s WITH (FORCE)", dbname);
        PQclear(PQexec(pg, q));
        PQfinish(pg);
    }
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
