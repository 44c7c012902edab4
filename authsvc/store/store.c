/*
 * store/store — every statement the event threads run, prepared on each
 * connection, and one function per query that turns its PGresult into a
 * typed result in the caller's memory pool (interface in store.h; the
 * invariants behind the statements are in README.md).
 */
#include <assert.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "authsvc/as.h"
#include "authsvc/store/store.h"

enum {
    STMT_CLIENT_GET,
    STMT_USER_BY_NAME,
    STMT_USER_BY_ID,
    STMT_FAMILY_CREATE,
    STMT_REFRESH_ROTATE,
    STMT_REFRESH_CHECK,
    STMT_REFRESH_CHECK2,
    STMT_REVOKE_REFRESH,
    STMT_REVOKE_REFRESH2,
    STMT_REVOKE_ACCESS,
    STMT_ACCESS_STATUS,
    STMT_REFRESH_INFO,
    STMT_REFRESH_INFO2,
    STMT_FEED,
    STMT_PASSWORD_CHANGE,
    STMT_CLEANUP,
    STMT_PING,
    STMT_SESSION_CREATE,
    STMT_SESSION_USE,
    STMT_SESSION_END,
    STMT_CODE_CREATE,
    STMT_CODE_REDEEM,
    STMT_CODE_CHECK,
    STMT_CONSENT_GET,
    STMT_CONSENT_PUT,
    STMT_FORM_TOKEN_USE,
    STMT_LOGIN_LOOKUP,
    STMT_LOGIN_FAILED,
    STMT_LOGIN_SUCCEEDED,
    STMT__COUNT
};

/* A user as user_from_row reads it (the lookups by name and by id) */
#define USER_SELECT "SELECT id, password_hash, token_version, disabled, username FROM users WHERE "

const as_stmt_t as_store_statements[] = {
    [STMT_CLIENT_GET] = {"client_get",
                         "SELECT client_id, public, secret_hash, array_to_json(grant_types), array_to_json(audiences),"
                         " array_to_json(scopes), coalesce(access_ttl, 0), coalesce(refresh_idle_ttl, 0),"
                         " coalesce(refresh_max_ttl, 0), array_to_json(redirect_uris), array_to_json(post_logout_redirect_uris),"
                         " display_name, consent, logout_revokes_refresh, array_to_json(rights) FROM clients WHERE client_id = $1",
                         1},
    [STMT_USER_BY_NAME] = {"user_by_name", USER_SELECT "username = $1", 1},
    [STMT_USER_BY_ID] = {"user_by_id", USER_SELECT "id = $1::uuid", 1},
    /* $1 user id, $2 client id, $3 token_version seen at login, $4 scope, $5 token hash, $6 idle ttl, $7 absolute ttl,
     * $8 family id, $9 token format: 2 keeps the token in the family's row (gen 0), 1 in a refresh_tokens row */
    [STMT_FAMILY_CREATE] = {"family_create",
                            "WITH f AS ("
                            " INSERT INTO refresh_families (id, user_id, client_id, token_version, scope, expires_at, gen, cur_hash,"
                            " cur_expires)"
                            " SELECT $8::uuid, u.id, $2, u.token_version, $4, now() + $7::integer * interval '1 second',"
                            " CASE WHEN $9::integer = 2 THEN 0 END, CASE WHEN $9::integer = 2 THEN $5::bytea END,"
                            " CASE WHEN $9::integer = 2 THEN now() + least($6::integer, $7::integer) * interval '1 second' END"
                            " FROM users u WHERE u.id = $1::uuid AND u.token_version = $3::bigint AND NOT u.disabled"
                            " RETURNING id, expires_at, gen),"
                            " t AS (INSERT INTO refresh_tokens (hash, family_id, expires_at)"
                            " SELECT $5::bytea, f.id, least(now() + $6::integer * interval '1 second', f.expires_at) FROM f"
                            " WHERE f.gen IS NULL)"
                            " SELECT id FROM f",
                            9},
    /* Rotates a batch of refresh tokens, each row of the arrays one rotation: $1 family id (format 2; NULL: a format-1
     * token), $2 the presented generation (format 2), $3 presented hash, $4 client id, $5 successor hash, $6 idle
     * ttl, $7 requested scope or NULL (must lie within the family's, or nothing is consumed). One durable commit for
     * the batch. Format 2 (migrations/0007): the family's row moves to the successor if it still holds the
     * presented token; format 1: the token's row is marked used and the successor's inserted. Either way, under
     * READ COMMITTED the second of two racing UPDATEs re-checks its condition (gen = $2, used_at IS NULL) on the
     * row the first committed, finds it false, and returns no row. The arrays never hold one hash twice (the
     * rotator sees to it). Returns the ordinal of each rotation that succeeded. */
    [STMT_REFRESH_ROTATE] = {"refresh_rotate",
                             "WITH i AS (SELECT * FROM unnest($1::uuid[], $2::integer[], $3::bytea[], $4::text[], $5::bytea[],"
                             " $6::integer[], $7::text[]) WITH ORDINALITY AS x(fid, gen, old_hash, client_id, new_hash, idle, scope, ord)),"
                             " f2 AS ("
                             " UPDATE refresh_families f SET gen = f.gen + 1, cur_hash = i.new_hash, rotated_at = now(),"
                             " cur_expires = least(now() + i.idle * interval '1 second', f.expires_at)"
                             " FROM i, users u"
                             " WHERE f.id = i.fid AND f.gen = i.gen AND f.cur_hash = i.old_hash AND f.cur_expires > now()"
                             " AND f.client_id = i.client_id AND f.revoked_at IS NULL AND f.expires_at > now()"
                             " AND u.id = f.user_id AND u.token_version = f.token_version AND NOT u.disabled"
                             " AND (i.scope IS NULL OR string_to_array(i.scope, ' ') <@ string_to_array(f.scope, ' '))"
                             " RETURNING i.ord, f.user_id, f.scope, f.token_version),"
                             " old AS ("
                             " UPDATE refresh_tokens t SET used_at = now()"
                             " FROM i, refresh_families f JOIN users u ON u.id = f.user_id"
                             " WHERE i.fid IS NULL AND t.hash = i.old_hash AND t.used_at IS NULL AND t.expires_at > now()"
                             " AND f.id = t.family_id AND f.client_id = i.client_id AND f.revoked_at IS NULL AND f.expires_at > now()"
                             " AND u.token_version = f.token_version AND NOT u.disabled"
                             " AND (i.scope IS NULL OR string_to_array(i.scope, ' ') <@ string_to_array(f.scope, ' '))"
                             " RETURNING i.ord, t.family_id, f.user_id, f.scope, f.token_version, f.expires_at, i.old_hash,"
                             " i.new_hash, i.idle),"
                             " ins AS ("
                             " INSERT INTO refresh_tokens (hash, family_id, parent_hash, expires_at)"
                             " SELECT new_hash, family_id, old_hash, least(now() + idle * interval '1 second', expires_at) FROM old)"
                             " SELECT ord, user_id, scope, token_version FROM f2"
                             " UNION ALL SELECT ord, user_id, scope, token_version FROM old",
                             7},
    /* Why did a rotation find nothing? Run after STMT_REFRESH_ROTATE returned no row, so its snapshot sees whatever
     * a racing winner committed. $1 presented hash, $2 client id, $3 its successor's hash, $4 grace seconds.
     * The grace rule (README "Refresh tokens"): a retry with the token just rotated gets the same successor while
     * that successor has never been used and at most $4 seconds (default 60, Okta-like) have passed. RFC 9700
     * §4.14.2 asks that a consumed token presented again be detected as reuse; a successor never used means nobody
     * but the holder of the parent can have gone on with the family (the successor is derived from the parent), so
     * this is the lost response of the rotation (a timeout, a restart of the client or of this service), not two
     * parties sharing a token. Once either party uses the successor, any later presentation of the parent is reuse
     * and revokes the family, as before; the bound keeps a stolen parent useless after a minute.
     * Verdicts: invalid (revoked, expired, stale version), scope (unused: the requested scope was refused), grace
     * (just rotated, successor still unused: answer with it again), reuse (revokes the family, with an audit event;
     * the statement commits on its own although the request fails). No row: unknown token. */
    [STMT_REFRESH_CHECK] = {"refresh_check",
                            "WITH t AS ("
                            " SELECT t.family_id, t.used_at, t.expires_at AS token_expires, f.user_id, f.scope, f.token_version,"
                            " f.revoked_at, f.expires_at AS family_expires, u.token_version AS current_version, u.disabled"
                            " FROM refresh_tokens t JOIN refresh_families f ON f.id = t.family_id JOIN users u ON u.id = f.user_id"
                            " WHERE t.hash = $1::bytea AND f.client_id = $2),"
                            " v AS (SELECT t.*, CASE"
                            " WHEN t.revoked_at IS NOT NULL OR t.family_expires <= now() OR t.current_version <> t.token_version"
                            " OR t.disabled THEN 'invalid'"
                            " WHEN t.used_at IS NULL AND t.token_expires <= now() THEN 'invalid'"
                            " WHEN t.used_at IS NULL THEN 'scope'"
                            " WHEN t.used_at >= now() - $4::integer * interval '1 second' AND EXISTS (SELECT 1 FROM refresh_tokens s"
                            " WHERE s.hash = $3::bytea AND s.parent_hash = $1::bytea AND s.used_at IS NULL AND s.expires_at > now())"
                            " THEN 'grace'"
                            " ELSE 'reuse' END AS verdict FROM t),"
                            " rev AS (UPDATE refresh_families f SET revoked_at = now(), revoked_reason = 'reuse' FROM v"
                            " WHERE v.verdict = 'reuse' AND f.id = v.family_id AND f.revoked_at IS NULL RETURNING f.id),"
                            " ev AS (INSERT INTO audit_events (kind, user_id, client_id, detail)"
                            " SELECT 'refresh_token_reuse', v.user_id, $2, jsonb_build_object('family_id', v.family_id,"
                            " 'revoked', (SELECT count(*) FROM rev)) FROM v WHERE v.verdict = 'reuse')"
                            " SELECT verdict, user_id, scope, token_version, family_id FROM v",
                            4},
    /* STMT_REFRESH_CHECK for a format-2 token: $1 family id, $2 presented generation, $3 presented hash, $4 client id,
     * $5 successor hash, $6 grace seconds. The token's tag was verified: it was issued here, so a generation older
     * than the family's current one is a consumed token presented again. Its successor is unused exactly while it
     * is the family's current token (gen = $2 + 1): then within the grace window the verdict is grace, as for
     * format 1; any other older generation is reuse. */
    [STMT_REFRESH_CHECK2] = {"refresh_check2",
                             "WITH t AS ("
                             " SELECT f.id AS family_id, f.gen, f.cur_hash, f.cur_expires, f.rotated_at, f.user_id, f.scope,"
                             " f.token_version, f.revoked_at, f.expires_at AS family_expires, u.token_version AS current_version,"
                             " u.disabled FROM refresh_families f JOIN users u ON u.id = f.user_id"
                             " WHERE f.id = $1::uuid AND f.client_id = $4 AND f.gen IS NOT NULL),"
                             " v AS (SELECT t.*, CASE"
                             " WHEN t.revoked_at IS NOT NULL OR t.family_expires <= now() OR t.current_version <> t.token_version"
                             " OR t.disabled THEN 'invalid'"
                             " WHEN t.gen = $2::integer AND t.cur_hash = $3::bytea AND t.cur_expires <= now() THEN 'invalid'"
                             " WHEN t.gen = $2::integer AND t.cur_hash = $3::bytea THEN 'scope'"
                             " WHEN t.gen = $2::integer + 1 AND t.cur_hash = $5::bytea AND t.cur_expires > now()"
                             " AND t.rotated_at >= now() - $6::integer * interval '1 second' THEN 'grace'"
                             " WHEN t.gen > $2::integer THEN 'reuse'"
                             " ELSE 'invalid' END AS verdict FROM t),"
                             " rev AS (UPDATE refresh_families f SET revoked_at = now(), revoked_reason = 'reuse' FROM v"
                             " WHERE v.verdict = 'reuse' AND f.id = v.family_id AND f.revoked_at IS NULL RETURNING f.id),"
                             " ev AS (INSERT INTO audit_events (kind, user_id, client_id, detail)"
                             " SELECT 'refresh_token_reuse', v.user_id, $4, jsonb_build_object('family_id', v.family_id,"
                             " 'revoked', (SELECT count(*) FROM rev)) FROM v WHERE v.verdict = 'reuse')"
                             " SELECT verdict, user_id, scope, token_version, family_id FROM v",
                             6},
    /* RFC 7009 for a refresh token: the whole family goes. $1 token hash, $2 the requesting client (only its own). */
    [STMT_REVOKE_REFRESH] = {"revoke_refresh",
                             "WITH t AS (SELECT t.family_id FROM refresh_tokens t JOIN refresh_families f ON f.id = t.family_id"
                             " WHERE t.hash = $1::bytea AND f.client_id = $2),"
                             " r AS (UPDATE refresh_families f SET revoked_at = now(), revoked_reason = 'revoked_by_client' FROM t"
                             " WHERE f.id = t.family_id AND f.revoked_at IS NULL RETURNING f.id, f.user_id),"
                             " a AS (INSERT INTO audit_events (kind, user_id, client_id, detail)"
                             " SELECT 'refresh_token_revoked', r.user_id, $2, jsonb_build_object('family_id', r.id) FROM r)"
                             " SELECT count(*) FROM r",
                             2},
    /* The same for a format-2 token (its tag verified: issued here): $1 family id, $2 its generation, $3 the client. */
    [STMT_REVOKE_REFRESH2] = {"revoke_refresh2",
                              "WITH r AS (UPDATE refresh_families f SET revoked_at = now(), revoked_reason = 'revoked_by_client'"
                              " WHERE f.id = $1::uuid AND f.client_id = $3 AND f.gen >= $2::integer AND f.revoked_at IS NULL"
                              " RETURNING f.id, f.user_id),"
                              " a AS (INSERT INTO audit_events (kind, user_id, client_id, detail)"
                              " SELECT 'refresh_token_revoked', r.user_id, $3, jsonb_build_object('family_id', r.id) FROM r)"
                              " SELECT count(*) FROM r",
                              3},
    /* RFC 7009 for an access token: listed by jti until it expires, and announced on the feed. */
    [STMT_REVOKE_ACCESS] = {"revoke_access",
                            "WITH i AS (INSERT INTO revoked_tokens (jti, expires_at, client_id)"
                            " VALUES ($1, to_timestamp($2::bigint), $3) ON CONFLICT (jti) DO NOTHING RETURNING jti, expires_at)"
                            " INSERT INTO revocation_events (kind, jti, expires_at) SELECT 'jti', jti, expires_at FROM i",
                            3},
    /* Is a verified access token still good? $1 its subject when it is a user token (else NULL), $2 jti, $3 ver. */
    [STMT_ACCESS_STATUS] = {"access_status",
                            "SELECT NOT EXISTS (SELECT 1 FROM revoked_tokens WHERE jti = $2)"
                            " AND ($1::uuid IS NULL OR EXISTS (SELECT 1 FROM users u WHERE u.id = $1::uuid"
                            " AND u.token_version = $3::bigint AND NOT u.disabled))",
                            3},
    /* RFC 7662 for a refresh token of the requesting client. */
    [STMT_REFRESH_INFO] = {"refresh_info",
                           "SELECT f.user_id, f.scope, extract(epoch FROM least(t.expires_at, f.expires_at))::bigint,"
                           " extract(epoch FROM t.created_at)::bigint, f.token_version"
                           " FROM refresh_tokens t JOIN refresh_families f ON f.id = t.family_id JOIN users u ON u.id = f.user_id"
                           " WHERE t.hash = $1::bytea AND f.client_id = $2 AND t.used_at IS NULL AND t.expires_at > now()"
                           " AND f.revoked_at IS NULL AND f.expires_at > now() AND u.token_version = f.token_version AND NOT u.disabled",
                           2},
    /* The same for a format-2 token: $1 family id, $2 generation, $3 hash, $4 client. Live while it is the current one. */
    [STMT_REFRESH_INFO2] = {"refresh_info2",
                            "SELECT f.user_id, f.scope, extract(epoch FROM least(f.cur_expires, f.expires_at))::bigint,"
                            " extract(epoch FROM coalesce(f.rotated_at, f.created_at))::bigint, f.token_version"
                            " FROM refresh_families f JOIN users u ON u.id = f.user_id"
                            " WHERE f.id = $1::uuid AND f.gen = $2::integer AND f.cur_hash = $3::bytea AND f.client_id = $4"
                            " AND f.cur_expires > now() AND f.revoked_at IS NULL AND f.expires_at > now()"
                            " AND u.token_version = f.token_version AND NOT u.disabled",
                            4},
    /* The revocation feed since horizon $1 (NULL: a full snapshot). See migrations/0002_revocation.sql. */
    [STMT_FEED] = {"feed",
                   "WITH st AS (SELECT s.compacted_xid, pg_snapshot_xmin(pg_current_snapshot()) AS horizon,"
                   " ($1::xid8 IS NULL OR $1::xid8 < s.compacted_xid OR $1::xid8 > pg_snapshot_xmin(pg_current_snapshot())) AS reset"
                   " FROM revocation_feed_state s),"
                   " e AS (SELECT e.* FROM revocation_events e, st"
                   " WHERE e.xid >= CASE WHEN st.reset THEN st.compacted_xid ELSE $1::xid8 END AND e.xid < st.horizon)"
                   " SELECT st.horizon::text, st.reset,"
                   " (SELECT coalesce(json_agg(json_build_object('sub', subject, 'min_ver', v) ORDER BY subject), '[]')"
                   " FROM (SELECT subject, max(min_version) AS v FROM e WHERE kind = 'subject' GROUP BY subject) x)::text,"
                   " (SELECT coalesce(json_agg(json_build_object('jti', jti, 'exp', extract(epoch FROM expires_at)::bigint)"
                   " ORDER BY jti), '[]') FROM e WHERE kind = 'jti' AND expires_at > now())::text"
                   " FROM st",
                   1},
    /* Self-service password change: only if the caller's token is still current ($3), so that two concurrent
     * changes cannot both succeed. $1 user id, $2 new hash. Returns the new token_version. */
    [STMT_PASSWORD_CHANGE] = {"password_change",
                              "SELECT authsvc_revoke_user(u.id, 'password_change', $2, NULL, 'self') FROM users u"
                              " WHERE u.id = $1::uuid AND u.token_version = $3::bigint AND NOT u.disabled",
                              3},
    /* Bounded housekeeping, short locks: expired families (their tokens cascade; a format-2 family also once its
     * current token has been idle-expired a day: nothing can use it again), idle-expired tokens, expired revoked
     * jtis, and feed rows older than $1 seconds (the longest access-token lifetime, plus margin). */
    [STMT_CLEANUP] = {"cleanup",
                      "WITH f AS (DELETE FROM refresh_families WHERE id IN (SELECT id FROM refresh_families"
                      " WHERE expires_at < now() OR revoked_at < now() - interval '1 day'"
                      " OR cur_expires < now() - interval '1 day' LIMIT 1000) RETURNING 1),"
                      " t AS (DELETE FROM refresh_tokens WHERE hash IN (SELECT hash FROM refresh_tokens"
                      " WHERE used_at IS NULL AND expires_at < now() - interval '1 day' LIMIT 1000) RETURNING 1),"
                      " j AS (DELETE FROM revoked_tokens WHERE jti IN (SELECT jti FROM revoked_tokens"
                      " WHERE expires_at < now() LIMIT 1000) RETURNING 1),"
                      " e AS (DELETE FROM revocation_events WHERE seq IN (SELECT seq FROM revocation_events"
                      " WHERE at < now() - (greatest($1::integer, (SELECT max(access_ttl) FROM clients)) + 60) * interval '1 second'"
                      " ORDER BY seq LIMIT 1000) RETURNING xid),"
                      " s AS (UPDATE revocation_feed_state SET compacted_xid = greatest(compacted_xid,"
                      " (SELECT (max(xid)::text::numeric + 1)::text::xid8 FROM e)) WHERE EXISTS (SELECT 1 FROM e)),"
                      /* used codes stay a day, so that a late replay still revokes what was issued from them */
                      " c AS (DELETE FROM authorization_codes WHERE hash IN (SELECT hash FROM authorization_codes"
                      " WHERE expires_at < now() - interval '1 day' LIMIT 1000) RETURNING 1),"
                      " x AS (DELETE FROM sessions WHERE id IN (SELECT id FROM sessions WHERE expires_at < now()"
                      " OR ended_at < now() - interval '1 day' OR idle_expires_at < now() - interval '1 day' LIMIT 1000)"
                      " RETURNING 1),"
                      " l AS (DELETE FROM login_failures WHERE key IN (SELECT key FROM login_failures"
                      " WHERE blocked_until < now() - interval '1 day' LIMIT 1000) RETURNING 1),"
                      " k AS (DELETE FROM form_tokens WHERE hash IN (SELECT hash FROM form_tokens"
                      " WHERE expires_at < now() LIMIT 1000) RETURNING 1)"
                      " SELECT (SELECT count(*) FROM f), (SELECT count(*) FROM t), (SELECT count(*) FROM j), (SELECT count(*) FROM e),"
                      " (SELECT count(*) FROM c), (SELECT count(*) FROM x), (SELECT count(*) FROM l), (SELECT count(*) FROM k)",
                      1},
    [STMT_PING] = {"ping", "SELECT 1", 0},
    /* $1 cookie hash, $2 user id, $3 the token_version its password was checked against, $4 idle ttl, $5 max ttl,
     * $6 the hash of the session cookie the browser came with, or NULL: that session ends, replaced (session fixation);
     * if it was the same user's, the refresh families born in it move to the new one, so that signing out still ends them */
    [STMT_SESSION_CREATE] = {"session_create",
                             "WITH old AS (UPDATE sessions SET ended_at = now(), ended_reason = 'replaced'"
                             " WHERE hash = $6::bytea AND ended_at IS NULL RETURNING id, user_id),"
                             " a AS (INSERT INTO audit_events (kind, user_id, detail)"
                             " SELECT 'session_replaced', old.user_id, jsonb_build_object('session', old.id) FROM old),"
                             " n AS (INSERT INTO sessions (hash, user_id, token_version, idle_expires_at, expires_at)"
                             " SELECT $1::bytea, u.id, u.token_version,"
                             " now() + least($4::integer, $5::integer) * interval '1 second', now() + $5::integer * interval '1 second'"
                             " FROM users u WHERE u.id = $2::uuid AND u.token_version = $3::bigint AND NOT u.disabled"
                             " RETURNING id, user_id, auth_time, token_version),"
                             " m AS (UPDATE refresh_families f SET session_id = n.id FROM n, old"
                             " WHERE f.session_id = old.id AND old.user_id = n.user_id AND f.revoked_at IS NULL)"
                             " SELECT n.id, n.user_id, (SELECT username FROM users WHERE id = $2::uuid),"
                             " floor(extract(epoch FROM n.auth_time))::bigint, n.token_version FROM n",
                             6},
    /* $1 cookie hash, $2 idle ttl: a live session, its idle expiry moved on */
    [STMT_SESSION_USE] = {"session_use",
                          "UPDATE sessions s SET last_used_at = now(),"
                          " idle_expires_at = least(now() + $2::integer * interval '1 second', s.expires_at)"
                          " FROM users u"
                          " WHERE s.hash = $1::bytea AND u.id = s.user_id AND s.ended_at IS NULL AND s.expires_at > now()"
                          " AND s.idle_expires_at > now() AND u.token_version = s.token_version AND NOT u.disabled"
                          " RETURNING s.id, s.user_id, u.username, floor(extract(epoch FROM s.auth_time))::bigint, s.token_version",
                          2},
    /* $1 cookie hash or NULL, $2 session id or NULL, $3 reason */
    [STMT_SESSION_END] = {"session_end",
                          "WITH s AS (UPDATE sessions SET ended_at = now(), ended_reason = $3"
                          " WHERE (hash = $1::bytea OR id = $2::uuid) AND ended_at IS NULL RETURNING id, user_id),"
                          " f AS (UPDATE refresh_families f SET revoked_at = now(), revoked_reason = $3 FROM s, clients c"
                          " WHERE f.session_id = s.id AND f.revoked_at IS NULL AND c.client_id = f.client_id"
                          " AND c.logout_revokes_refresh RETURNING f.id),"
                          " a AS (INSERT INTO audit_events (kind, user_id, detail) SELECT $3, s.user_id,"
                          " jsonb_build_object('session', s.id, 'families_revoked', (SELECT count(*) FROM f)) FROM s)"
                          " SELECT count(*) FROM s",
                          3},
    /* $1 hash, $2 client, $3 session, $4 user, $5 redirect uri, $6 challenge, $7 scope, $8 nonce, $9 ttl */
    [STMT_CODE_CREATE] = {"code_create",
                          "INSERT INTO authorization_codes (hash, client_id, session_id, user_id, redirect_uri, code_challenge,"
                          " scope, nonce, expires_at)"
                          " VALUES ($1::bytea, $2, $3::uuid, $4::uuid, $5, $6, $7, $8, now() + $9::integer * interval '1 second')",
                          9},
    /* $1 code hash, $2 client, $3 redirect uri, $4 challenge, $5 family id or NULL, $6 refresh hash, $7 idle ttl,
     * $8 max ttl, $9 access jti, $10 access ttl. Consumes the code only if everything it is bound to matches and its
     * session and user are still good; under READ COMMITTED the second of two racing exchanges finds used_at set
     * and consumes nothing. The family and its first token are created in the same statement. */
    [STMT_CODE_REDEEM] = {"code_redeem",
                          "WITH c AS ("
                          " UPDATE authorization_codes a SET used_at = now(), family_id = $5::uuid, access_jti = $9,"
                          " access_exp = now() + $10::integer * interval '1 second'"
                          " FROM sessions s JOIN users u ON u.id = s.user_id"
                          " WHERE a.hash = $1::bytea AND a.used_at IS NULL AND a.expires_at > now() AND a.client_id = $2"
                          " AND a.redirect_uri = $3 AND a.code_challenge = $4"
                          " AND s.id = a.session_id AND s.ended_at IS NULL AND s.expires_at > now()"
                          " AND u.token_version = s.token_version AND NOT u.disabled"
                          " RETURNING a.user_id, a.scope, a.nonce, a.session_id, s.auth_time, u.token_version),"
                          " f AS (INSERT INTO refresh_families (id, user_id, client_id, token_version, scope, expires_at, session_id,"
                          " gen, cur_hash, cur_expires)"
                          " SELECT $5::uuid, c.user_id, $2, c.token_version, c.scope, now() + $8::integer * interval '1 second',"
                          " c.session_id, CASE WHEN $11::integer = 2 THEN 0 END, CASE WHEN $11::integer = 2 THEN $6::bytea END,"
                          " CASE WHEN $11::integer = 2 THEN now() + least($7::integer, $8::integer) * interval '1 second' END"
                          " FROM c WHERE $5::uuid IS NOT NULL RETURNING id, expires_at, gen),"
                          " t AS (INSERT INTO refresh_tokens (hash, family_id, expires_at)"
                          " SELECT $6::bytea, f.id, least(now() + $7::integer * interval '1 second', f.expires_at) FROM f"
                          " WHERE f.gen IS NULL)"
                          " SELECT user_id, scope, nonce, session_id, floor(extract(epoch FROM auth_time))::bigint, token_version FROM c",
                          11},
    /* Why did a redemption consume nothing? $1 code hash, $2 client. A used code is a replay: the family and the access
     * token issued from it are revoked (feed entry, audit event) and the statement commits although the request fails. */
    [STMT_CODE_CHECK] = {"code_check",
                         "WITH a AS (SELECT * FROM authorization_codes WHERE hash = $1::bytea AND client_id = $2),"
                         " r AS (SELECT * FROM a WHERE used_at IS NOT NULL),"
                         " f AS (UPDATE refresh_families SET revoked_at = now(), revoked_reason = 'code_replay'"
                         " WHERE id = (SELECT family_id FROM r) AND revoked_at IS NULL RETURNING id),"
                         " j AS (INSERT INTO revoked_tokens (jti, expires_at, client_id)"
                         " SELECT access_jti, access_exp, client_id FROM r WHERE access_jti IS NOT NULL AND access_exp > now()"
                         " ON CONFLICT (jti) DO NOTHING RETURNING jti, expires_at),"
                         " e AS (INSERT INTO revocation_events (kind, jti, expires_at) SELECT 'jti', jti, expires_at FROM j),"
                         " v AS (INSERT INTO audit_events (kind, user_id, client_id, detail)"
                         " SELECT 'code_replay', user_id, client_id,"
                         " jsonb_build_object('families_revoked', (SELECT count(*) FROM f), 'jtis_revoked', (SELECT count(*) FROM j))"
                         " FROM r)"
                         " SELECT CASE WHEN used_at IS NOT NULL THEN 'replay' ELSE 'invalid' END FROM a",
                         2},
    /* A password login's user and its throttle, in the one statement the login needs anyway: $1 username, $2 the
     * key of (username, address), $3 the key of the address. Always one row: the user's columns are NULL for an
     * unknown user, who is throttled all the same (a 429 must not tell which names exist). */
    [STMT_LOGIN_LOOKUP] = {"login_lookup",
                           "SELECT u.id, u.password_hash, u.token_version, u.disabled, u.username,"
                           " coalesce(greatest(0, ceil(extract(epoch FROM greatest(fu.blocked_until, fa.blocked_until) - now()))),"
                           " 0)::integer, fu.key IS NOT NULL"
                           " FROM (SELECT 1) one LEFT JOIN users u ON u.username = $1"
                           " LEFT JOIN login_failures fu ON fu.key = $2 LEFT JOIN login_failures fa ON fa.key = $3",
                           3},
    /* A failed password check: both keys count one more failure (a count quiet for an hour starts again) and are
     * blocked for 2^(n - free - 1) seconds once past their free failures (3 per username and address, 20 per
     * address), at most 15 minutes; with an audit event. $1 (username, address) key, $2 address key, $3 username,
     * $4 client id, $5 address. */
    [STMT_LOGIN_FAILED] = {"login_failed",
                           "WITH up AS (INSERT INTO login_failures AS l (key, failures, last_at, blocked_until)"
                           " SELECT k, 1, now(), now() FROM unnest(ARRAY[$1::text, $2::text]) AS k"
                           " ON CONFLICT (key) DO UPDATE SET"
                           " failures = CASE WHEN l.last_at < now() - interval '1 hour' THEN 1 ELSE l.failures + 1 END,"
                           " last_at = now(),"
                           " blocked_until = now() + least(900, CASE WHEN l.last_at >= now() - interval '1 hour'"
                           " AND l.failures + 1 > CASE WHEN left(l.key, 2) = 'u:' THEN 3 ELSE 20 END"
                           " THEN power(2, least(20, l.failures - CASE WHEN left(l.key, 2) = 'u:' THEN 3 ELSE 20 END))"
                           " ELSE 0 END) * interval '1 second'"
                           " RETURNING 1),"
                           " a AS (INSERT INTO audit_events (kind, client_id, detail) VALUES ('login_failure', $4,"
                           " jsonb_build_object('username', $3::text, 'address', $5::text)))"
                           " SELECT count(*) FROM up",
                           5},
    /* A good password from an address that had failed for the username: its count starts again. */
    [STMT_LOGIN_SUCCEEDED] = {"login_succeeded", "DELETE FROM login_failures WHERE key = $1", 1},
    [STMT_CONSENT_GET] = {"consent_get", "SELECT scope FROM consents WHERE user_id = $1::uuid AND client_id = $2", 2},
    [STMT_CONSENT_PUT] = {"consent_put",
                          "INSERT INTO consents (user_id, client_id, scope) VALUES ($1::uuid, $2, $3)"
                          /* what was approved before stays approved: the union of the scopes, each once */
                          " ON CONFLICT (user_id, client_id) DO UPDATE SET scope = (SELECT coalesce(string_agg(t, ' ' ORDER BY t), '')"
                          " FROM (SELECT DISTINCT t FROM unnest(string_to_array(consents.scope, ' ')"
                          " || string_to_array(EXCLUDED.scope, ' ')) t WHERE t <> '') u), granted_at = now()",
                          3},
    /* $1 token hash, $2 its expiry (UNIX seconds): a row only the first time; of racing uses, one inserts */
    [STMT_FORM_TOKEN_USE] = {"form_token_use",
                             "INSERT INTO form_tokens (hash, expires_at) VALUES ($1::bytea, to_timestamp($2::bigint))"
                             " ON CONFLICT (hash) DO NOTHING RETURNING 1",
                             2},
};
const size_t as_store_num_statements = STMT__COUNT;

/* The adapter between the pool's generic callback and a typed one. Lives in the caller's memory pool. */
typedef struct st_call_t {
    h2o_mem_pool_t *mem;
    void (*cb)(void);
    void *ctx;
    int none; /* what "no row" means, for the callbacks that serve several statements */
} call_t;

static call_t *call_new(h2o_mem_pool_t *mem, void (*cb)(void), void *ctx)
{
    call_t *c = h2o_mem_alloc_pool(mem, sizeof(*c));
    c->mem = mem;
    c->cb = cb;
    c->ctx = ctx;
    c->none = AS_ERR_NOT_FOUND;
    return c;
}

static const char *dup_value(h2o_mem_pool_t *mem, const PGresult *res, int row, int col)
{
    int len = PQgetlength(res, row, col);
    char *s = h2o_mem_alloc_pool(mem, len + 1);
    memcpy(s, PQgetvalue(res, row, col), len);
    s[len] = '\0';
    return s;
}

static int parse_strlist(h2o_mem_pool_t *mem, const char *json, as_strlist_t *out)
{
    json_error_t jerr;
    json_t *arr = json_loads(json, JSON_REJECT_DUPLICATES, &jerr);
    int ret = -1;

    out->items = NULL;
    out->len = 0;
    if (json_is_null(arr)) { /* array_to_json of an empty array is [], of NULL is null */
        ret = 0;
        goto Exit;
    }
    if (!json_is_array(arr))
        goto Exit;
    out->items = h2o_mem_alloc_pool(mem, sizeof(*out->items) * (json_array_size(arr) + 1));
    for (size_t i = 0; i != json_array_size(arr); ++i) {
        const char *s = json_string_value(json_array_get(arr, i));
        if (s == NULL)
            goto Exit;
        size_t len = strlen(s);
        char *copy = h2o_mem_alloc_pool(mem, len + 1);
        memcpy(copy, s, len + 1);
        out->items[out->len++] = copy;
    }
    ret = 0;
Exit:
    json_decref(arr);
    return ret;
}

static int result_err(int err, const PGresult *res, const char *what)
{
    if (err == AS_ERR_DB_QUERY)
        as_error("%s failed: %s", what, PQresultErrorMessage(res));
    return err;
}

/** 0 if the statement succeeded with exactly one row; else its error, or `none` when it returned no row. */
static int one_row(int err, const PGresult *res, const char *what, int none)
{
    if ((err = result_err(err, res, what)) != 0)
        return err;
    return PQntuples(res) == 1 ? 0 : none;
}

/**
 * The start of a callback whose statement answers one row read into a struct: the struct, zeroed, in the
 * request's pool; or NULL with *err set (the statement's error, or `none` when it found no row).
 */
static void *row_new(const call_t *c, int *err, const PGresult *res, const char *what, int none, size_t size)
{
    if ((*err = one_row(*err, res, what, none)) != 0)
        return NULL;
    void *row = h2o_mem_alloc_pool(c->mem, size);
    memset(row, 0, size);
    return row;
}

/** The most parameters a statement takes. */
#define MAX_PARAMS 12

/**
 * Queues statement `stmt` for `call` (its callback `on_result`). `kinds` says what follows, one letter a parameter:
 * 't' a string (const char *; NULL is SQL NULL), 'h' a SHA-256 hash sent as bytea (const uint8_t *; NULL is SQL
 * NULL), 'i' an int, 'l' an int64_t. The pool copies the values.
 */
static void send_stmt(as_pool_t *pool, size_t stmt, as_pool_cb on_result, void *call, as_pool_job_t **handle, const char *kinds,
                      ...)
{
    const char *values[MAX_PARAMS];
    int lengths[MAX_PARAMS], formats[MAX_PARAMS], n = 0;
    char numbers[MAX_PARAMS][24];
    va_list ap;

    va_start(ap, kinds);
    for (const char *k = kinds; *k != '\0'; ++k, ++n) {
        assert(n < MAX_PARAMS);
        lengths[n] = 0;
        formats[n] = 0;
        switch (*k) {
        case 't':
            values[n] = va_arg(ap, const char *);
            break;
        case 'h':
            values[n] = (const char *)va_arg(ap, const uint8_t *);
            lengths[n] = values[n] != NULL ? AS_SHA256_LEN : 0;
            formats[n] = 1;
            break;
        case 'u': /* a uuid's 16 bytes (uuid_recv) */
            values[n] = (const char *)va_arg(ap, const uint8_t *);
            lengths[n] = values[n] != NULL ? 16 : 0;
            formats[n] = 1;
            break;
        case 'i':
            snprintf(numbers[n], sizeof(numbers[n]), "%d", va_arg(ap, int));
            values[n] = numbers[n];
            break;
        case 'l':
            snprintf(numbers[n], sizeof(numbers[n]), "%lld", (long long)va_arg(ap, int64_t));
            values[n] = numbers[n];
            break;
        default:
            assert(!"unknown parameter kind");
        }
    }
    va_end(ap);
    as_pool_query(pool, stmt, n, values, lengths, formats, on_result, call, handle);
}

/** A user's columns id, password_hash, token_version, disabled, username (USER_SELECT's), from column `col` of row 0. */
static as_user_t *user_from_row(h2o_mem_pool_t *mem, const PGresult *res, int col)
{
    as_user_t *user = h2o_mem_alloc_pool(mem, sizeof(*user));
    user->id = dup_value(mem, res, 0, col);
    user->password_hash = dup_value(mem, res, 0, col + 1);
    user->token_version = strtoll(PQgetvalue(res, 0, col + 2), NULL, 10);
    user->disabled = PQgetvalue(res, 0, col + 3)[0] == 't';
    user->username = dup_value(mem, res, 0, col + 4);
    return user;
}

/* --- clients ---------------------------------------------------------------- */

static void on_client(void *ctx, int err, const PGresult *res)
{
    call_t *c = ctx;
    as_store_client_cb cb = (as_store_client_cb)c->cb;
    as_client_t *client;

    if ((err = one_row(err, res, "client lookup", AS_ERR_NOT_FOUND)) != 0) {
        cb(c->ctx, err, NULL);
        return;
    }
    client = h2o_mem_alloc_pool(c->mem, sizeof(*client));
    memset(client, 0, sizeof(*client));
    client->client_id = dup_value(c->mem, res, 0, 0);
    client->is_public = PQgetvalue(res, 0, 1)[0] == 't';
    if (!client->is_public) {
        size_t len;
        unsigned char *raw = PQunescapeBytea((const unsigned char *)PQgetvalue(res, 0, 2), &len);
        if (raw == NULL || len != AS_SHA256_LEN) {
            PQfreemem(raw);
            as_error("client %s has a malformed secret hash", client->client_id);
            cb(c->ctx, AS_ERR_INTERNAL, NULL);
            return;
        }
        memcpy(client->secret_hash, raw, AS_SHA256_LEN);
        PQfreemem(raw);
    }
    as_strlist_t grants;
    if (parse_strlist(c->mem, PQgetvalue(res, 0, 3), &grants) != 0 ||
        parse_strlist(c->mem, PQgetvalue(res, 0, 4), &client->audiences) != 0 ||
        parse_strlist(c->mem, PQgetvalue(res, 0, 5), &client->scopes) != 0) {
        as_error("client %s has malformed lists", client->client_id);
        cb(c->ctx, AS_ERR_INTERNAL, NULL);
        return;
    }
    for (size_t i = 0; i != grants.len; ++i)
        client->grants |= as_grant_parse(grants.items[i], strlen(grants.items[i]));
    client->access_ttl = atoi(PQgetvalue(res, 0, 6));
    client->refresh_idle_ttl = atoi(PQgetvalue(res, 0, 7));
    client->refresh_max_ttl = atoi(PQgetvalue(res, 0, 8));
    if (parse_strlist(c->mem, PQgetvalue(res, 0, 9), &client->redirect_uris) != 0 ||
        parse_strlist(c->mem, PQgetvalue(res, 0, 10), &client->post_logout_redirect_uris) != 0) {
        as_error("client %s has malformed redirect URIs", client->client_id);
        cb(c->ctx, AS_ERR_INTERNAL, NULL);
        return;
    }
    client->display_name = PQgetisnull(res, 0, 11) ? NULL : dup_value(c->mem, res, 0, 11);
    client->consent = PQgetvalue(res, 0, 12)[0] == 't';
    client->logout_revokes_refresh = PQgetvalue(res, 0, 13)[0] == 't';
    as_strlist_t rights;
    if (parse_strlist(c->mem, PQgetvalue(res, 0, 14), &rights) != 0) {
        as_error("client %s has a malformed list of rights", client->client_id);
        cb(c->ctx, AS_ERR_INTERNAL, NULL);
        return;
    }
    for (size_t i = 0; i != rights.len; ++i) /* a right this build does not know grants nothing */
        client->rights |= strcmp(rights.items[i], "introspection") == 0     ? AS_CLIENT_RIGHT_INTROSPECTION
                          : strcmp(rights.items[i], "revocation-feed") == 0 ? AS_CLIENT_RIGHT_REVOCATION_FEED
                                                                            : 0;
    cb(c->ctx, 0, client);
}

void as_store_client_get(as_pool_t *pool, h2o_mem_pool_t *mem, const char *client_id, as_store_client_cb cb, void *ctx,
                         as_pool_job_t **handle)
{
    send_stmt(pool, STMT_CLIENT_GET, on_client, call_new(mem, (void (*)(void))cb, ctx), handle, "t", client_id);
}

/* --- users ------------------------------------------------------------------ */

static void on_user(void *ctx, int err, const PGresult *res)
{
    call_t *c = ctx;
    err = one_row(err, res, "user lookup", AS_ERR_NOT_FOUND);
    ((as_store_user_cb)c->cb)(c->ctx, err, err == 0 ? user_from_row(c->mem, res, 0) : NULL);
}

void as_store_user_by_name(as_pool_t *pool, h2o_mem_pool_t *mem, const char *username, as_store_user_cb cb, void *ctx,
                           as_pool_job_t **handle)
{
    send_stmt(pool, STMT_USER_BY_NAME, on_user, call_new(mem, (void (*)(void))cb, ctx), handle, "t", username);
}

/* --- refresh tokens ---------------------------------------------------------- */

typedef struct st_family_call_t {
    call_t call;
    as_refresh_t result;
} family_call_t;

static void on_family_created(void *ctx, int err, const PGresult *res)
{
    family_call_t *fc = ctx;
    err = one_row(err, res, "family creation", AS_ERR_CONFLICT);
    ((as_store_refresh_cb)fc->call.cb)(fc->call.ctx, err, err == 0 ? &fc->result : NULL);
}

void as_store_family_create(as_pool_t *pool, h2o_mem_pool_t *mem, const char *family_id, int format, const char *user_id,
                            const char *client_id, int64_t token_version, const char *scope, const uint8_t token_hash[AS_SHA256_LEN],
                            int idle_ttl, int max_ttl, as_store_refresh_cb cb, void *ctx, as_pool_job_t **handle)
{
    family_call_t *fc = h2o_mem_alloc_pool(mem, sizeof(*fc));
    fc->call = (call_t){mem, (void (*)(void))cb, ctx, AS_ERR_NOT_FOUND};
    fc->result = (as_refresh_t){user_id, scope, token_version, AS_REFRESH_ROTATED};
    send_stmt(pool, STMT_FAMILY_CREATE, on_family_created, fc, handle, "ttlthiiti", user_id, client_id, token_version, scope,
              token_hash, idle_ttl, max_ttl, family_id, format);
}

/*
 * Refresh rotation, in batches. Every rotation goes through STMT_REFRESH_ROTATE over arrays; a rotator (one per
 * event thread) gathers the rotations that arrive while its batches are in flight and sends them together, so
 * that under load one durable commit serves many. A request is answered only from the result of the commit
 * that holds its rotation. A rotation that consumed nothing goes on alone with STMT_REFRESH_CHECK (format 1) or
 * STMT_REFRESH_CHECK2 (format 2).
 */
typedef struct st_batch_t batch_t;

typedef struct st_rotate_call_t {
    call_t call;
    as_pool_t *pool;
    as_pool_job_t **handle; /* the caller's: set to the check statement's job, if one is needed */
    int has_family;         /* format 2 */
    uint8_t family[16];     /* format 2: the family's uuid */
    int64_t gen;            /* format 2: the presented generation */
    uint8_t old_hash[AS_SHA256_LEN];
    uint8_t new_hash[AS_SHA256_LEN];
    char client_id[256];
    const char *scope; /* requested, in the caller's memory pool; NULL: the family's */
    int idle;
    int grace;
    /* while waiting in a rotator or in flight in a batch */
    struct st_as_store_rotator_t *rot;
    struct st_rotate_call_t *next; /* the rotator's pending list */
    batch_t *batch;                /* the batch it is in flight in, or NULL */
    size_t ord;                    /* its index there */
} rotate_call_t;

struct st_batch_t {
    struct st_as_store_rotator_t *rot; /* NULL: a rotation sent alone (as_store_refresh_rotate), in the caller's pool */
    as_pool_t *pool;
    unsigned attempts;
    size_t n;
    rotate_call_t *calls[]; /* NULL once cancelled */
};

struct st_as_store_rotator_t {
    as_pool_t *pool;
    h2o_loop_t *loop;
    size_t max_inflight, max_batch, inflight;
    rotate_call_t *pending, **pending_tail;
    int closing;
    /* a 0 ms timeout runs once the loop has handled this turn's I/O: the rotations that arrive in one turn (the
     * streams of one read, the requests of every connection that was ready) leave together */
    h2o_timeout_t turn_end;
    h2o_timeout_entry_t flush_entry;
    as_store_rotator_stats_t stats;
};

static as_refresh_t *refresh_from_row(h2o_mem_pool_t *mem, const PGresult *res, int row, int first_col, int outcome)
{
    as_refresh_t *r = h2o_mem_alloc_pool(mem, sizeof(*r));
    r->user_id = dup_value(mem, res, row, first_col);
    r->scope = dup_value(mem, res, row, first_col + 1);
    r->token_version = strtoll(PQgetvalue(res, row, first_col + 2), NULL, 10);
    r->outcome = outcome;
    return r;
}

static void on_checked(void *ctx, int err, const PGresult *res)
{
    rotate_call_t *rc = ctx;
    as_store_refresh_cb cb = (as_store_refresh_cb)rc->call.cb;
    const char *verdict;

    if ((err = one_row(err, res, "refresh check", AS_ERR_NOT_FOUND)) != 0) {
        cb(rc->call.ctx, err, NULL);
        return;
    }
    verdict = PQgetvalue(res, 0, 0);
    if (strcmp(verdict, "grace") == 0) {
        cb(rc->call.ctx, 0, refresh_from_row(rc->call.mem, res, 0, 1, AS_REFRESH_GRACE));
    } else if (strcmp(verdict, "reuse") == 0) {
        as_warn("refresh token reuse detected: family %s of client %s revoked", PQgetvalue(res, 0, 4), rc->client_id);
        cb(rc->call.ctx, AS_ERR_CONFLICT, NULL);
    } else if (strcmp(verdict, "scope") == 0) {
        cb(rc->call.ctx, AS_ERR_BAD_INPUT, NULL);
    } else {
        cb(rc->call.ctx, AS_ERR_NOT_FOUND, NULL);
    }
}

/** Nothing consumed: find out why, in a statement that sees what a racing winner committed. */
static void check_rotation(rotate_call_t *rc)
{
    if (rc->has_family)
        send_stmt(rc->pool, STMT_REFRESH_CHECK2, on_checked, rc, rc->handle, "ulhthi", rc->family, rc->gen, rc->old_hash,
                  rc->client_id, rc->new_hash, rc->grace);
    else
        send_stmt(rc->pool, STMT_REFRESH_CHECK, on_checked, rc, rc->handle, "hthi", rc->old_hash, rc->client_id, rc->new_hash,
                  rc->grace);
}

/*
 * The batch's arrays go in PostgreSQL's binary array format (array_recv): no quoting, no hex, nothing for the
 * server to parse but lengths. A header (dimensions 1, a has-nulls flag, the element type's OID, the number of
 * elements, lower bound 1), then each element as a 4-byte length (-1: NULL) and its bytes, all big-endian.
 */
enum { OID_BYTEA = 17, OID_INT4 = 23, OID_TEXT = 25, OID_UUID = 2950 };

static uint8_t *put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
    return p + 4;
}

static uint8_t *array_header(uint8_t *p, uint32_t oid, size_t n)
{
    p = put_u32(p, 1); /* dimensions */
    p = put_u32(p, 1); /* may hold NULLs (a flag PostgreSQL reads but does not require to be exact) */
    p = put_u32(p, oid);
    p = put_u32(p, (uint32_t)n);
    return put_u32(p, 1); /* lower bound */
}

/** Appends an element of `len` bytes, or NULL when `b` is NULL. */
static uint8_t *array_put(uint8_t *p, const void *b, size_t len)
{
    if (b == NULL)
        return put_u32(p, UINT32_MAX); /* -1 */
    p = put_u32(p, (uint32_t)len);
    memcpy(p, b, len);
    return p + len;
}

static uint8_t *array_int4(uint8_t *p, int64_t v)
{
    p = put_u32(p, 4);
    return put_u32(p, (uint32_t)v);
}

static void on_batch(void *ctx, int err, const PGresult *res);

/** Sends the rotations of `b` as one statement. */
static void send_batch(batch_t *b, as_pool_job_t **handle)
{
    static const uint32_t oids[7] = {OID_UUID, OID_INT4, OID_BYTEA, OID_TEXT, OID_BYTEA, OID_INT4, OID_TEXT};
    size_t cap = 7 * 20;
    for (size_t i = 0; i != b->n; ++i)
        cap += 7 * 4 + 16 + 4 + 2 * AS_SHA256_LEN + strlen(b->calls[i]->client_id) + 4 +
               (b->calls[i]->scope != NULL ? strlen(b->calls[i]->scope) : 0);
    uint8_t *buf = as_malloc(cap), *p = buf;
    const char *values[7];
    int lengths[7], formats[7];
    for (int a = 0; a != 7; ++a) {
        uint8_t *start = p;
        p = array_header(p, oids[a], b->n);
        for (size_t i = 0; i != b->n; ++i) {
            const rotate_call_t *rc = b->calls[i];
            switch (a) {
            case 0:
                p = array_put(p, rc->has_family ? rc->family : NULL, sizeof(rc->family));
                break;
            case 1:
                p = rc->has_family ? array_int4(p, rc->gen) : array_put(p, NULL, 0);
                break;
            case 2:
                p = array_put(p, rc->old_hash, AS_SHA256_LEN);
                break;
            case 3:
                p = array_put(p, rc->client_id, strlen(rc->client_id));
                break;
            case 4:
                p = array_put(p, rc->new_hash, AS_SHA256_LEN);
                break;
            case 5:
                p = array_int4(p, rc->idle);
                break;
            case 6:
                p = array_put(p, rc->scope, rc->scope != NULL ? strlen(rc->scope) : 0);
                break;
            }
        }
        values[a] = (const char *)start;
        lengths[a] = (int)(p - start);
        formats[a] = 1;
    }
    assert((size_t)(p - buf) <= cap);
    as_pool_query(b->pool, STMT_REFRESH_ROTATE, 7, values, lengths, formats, on_batch, b, handle);
    free(buf);
}

static void rotator_flush(as_store_rotator_t *rot);

/** Sends the waiting rotations at the end of this turn of the loop. */
static void rotator_schedule(as_store_rotator_t *rot)
{
    if (!h2o_timeout_is_linked(&rot->flush_entry))
        h2o_timeout_link(rot->loop, &rot->turn_end, &rot->flush_entry);
}

static void rotator_free(as_store_rotator_t *rot)
{
    h2o_timeout_unlink(&rot->flush_entry);
    h2o_timeout_dispose(rot->loop, &rot->turn_end);
    free(rot);
}

static void rotator_release(as_store_rotator_t *rot)
{
    --rot->inflight;
    if (rot->closing && rot->inflight == 0)
        rotator_free(rot);
    else if (!rot->closing && rot->pending != NULL)
        rotator_schedule(rot);
}

/** 1 if the statement's failure left nothing behind and may be tried again (a deadlock between two batches). */
static int retryable(int err, const PGresult *res)
{
    const char *state = err == AS_ERR_DB_QUERY && res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    return state != NULL && (strcmp(state, "40P01") == 0 || strcmp(state, "40001") == 0);
}

static void on_batch(void *ctx, int err, const PGresult *res)
{
    batch_t *b = ctx;
    as_store_rotator_t *rot = b->rot;

    if (retryable(err, res) && ++b->attempts < 3) {
        /* the whole statement rolled back: nothing of it was committed, so it is sent again, without the rotations
         * cancelled meanwhile (their requests are gone, and their memory with them: their tokens stay unused) */
        as_info("refresh rotation batch of %zu hit %s, sent again", b->n, PQresultErrorField(res, PG_DIAG_SQLSTATE));
        size_t live = 0;
        for (size_t i = 0; i != b->n; ++i) {
            if (b->calls[i] != NULL) {
                b->calls[live] = b->calls[i];
                b->calls[live]->ord = live;
                ++live;
            }
        }
        b->n = live;
        if (live != 0) {
            send_batch(b, rot == NULL ? b->calls[0]->handle : NULL);
            return;
        }
        /* nobody is left to answer: the batch ends here, with its error logged */
    }
    if ((err = result_err(err, res, "refresh rotation")) == 0) {
        /* the rows name the rotations that succeeded; mark them answered first, then answer everyone */
        int rows = PQntuples(res);
        for (int r = 0; r != rows; ++r) {
            size_t ord = strtoull(PQgetvalue(res, r, 0), NULL, 10);
            rotate_call_t *rc = ord >= 1 && ord <= b->n ? b->calls[ord - 1] : NULL;
            if (rc == NULL)
                continue; /* cancelled: its request is gone, its rotation stands (as a lost response's would) */
            b->calls[ord - 1] = NULL;
            rc->batch = NULL;
            ((as_store_refresh_cb)rc->call.cb)(rc->call.ctx, 0, refresh_from_row(rc->call.mem, res, r, 1, AS_REFRESH_ROTATED));
        }
    }
    for (size_t i = 0; i != b->n; ++i) {
        rotate_call_t *rc = b->calls[i];
        if (rc == NULL)
            continue;
        rc->batch = NULL;
        if (err != 0)
            ((as_store_refresh_cb)rc->call.cb)(rc->call.ctx, err, NULL);
        else
            check_rotation(rc);
    }
    if (rot != NULL) {
        free(b);
        rotator_release(rot);
    }
}

/** Sends pending rotations while the rotator has room in flight; a hash already in a batch waits for the next one. */
static void rotator_flush(as_store_rotator_t *rot)
{
    if (rot->closing)
        return;
    while (rot->pending != NULL && rot->inflight < rot->max_inflight) {
        batch_t *b = as_malloc(offsetof(batch_t, calls) + sizeof(b->calls[0]) * rot->max_batch);
        rotate_call_t **link = &rot->pending, *rc;
        *b = (batch_t){.rot = rot, .pool = rot->pool};
        while ((rc = *link) != NULL && b->n != rot->max_batch) {
            int dup = 0;
            for (size_t i = 0; i != b->n && !dup; ++i)
                /* both are hashes we computed, compared to keep a batch free of duplicates: no secret is being
                 * authenticated here, so timing tells nobody anything */
                dup = memcmp(b->calls[i]->old_hash, rc->old_hash, AS_SHA256_LEN) == 0;
            if (dup) {
                link = &rc->next;
                continue;
            }
            *link = rc->next;
            rc->next = NULL;
            rc->rot = NULL; /* out of the pending list: cancelling it now goes through the batch */
            rc->batch = b;
            rc->ord = b->n;
            b->calls[b->n++] = rc;
        }
        rot->pending_tail = &rot->pending;
        while (*rot->pending_tail != NULL)
            rot->pending_tail = &(*rot->pending_tail)->next;
        ++rot->inflight;
        ++rot->stats.batches;
        rot->stats.rotations += b->n;
        if (b->n > rot->stats.largest)
            rot->stats.largest = b->n;
        send_batch(b, NULL);
    }
}

static rotate_call_t *rotate_call_new(as_pool_t *pool, h2o_mem_pool_t *mem, const as_refresh_ref_t *old,
                                      const char *client_id, const uint8_t new_hash[AS_SHA256_LEN], int idle_ttl, int grace,
                                      const char *scope, as_store_refresh_cb cb, void *ctx, as_pool_job_t **handle)
{
    rotate_call_t *rc = h2o_mem_alloc_pool(mem, sizeof(*rc));
    memset(rc, 0, sizeof(*rc));
    rc->call = (call_t){mem, (void (*)(void))cb, ctx, AS_ERR_NOT_FOUND};
    rc->pool = pool;
    rc->handle = handle;
    if ((rc->has_family = old->family != NULL))
        memcpy(rc->family, old->family, sizeof(rc->family));
    rc->gen = old->gen;
    memcpy(rc->old_hash, old->hash, AS_SHA256_LEN);
    memcpy(rc->new_hash, new_hash, AS_SHA256_LEN);
    snprintf(rc->client_id, sizeof(rc->client_id), "%s", client_id);
    rc->scope = scope != NULL ? h2o_strdup(mem, scope, SIZE_MAX).base : NULL;
    rc->idle = idle_ttl;
    rc->grace = grace;
    return rc;
}

void as_store_refresh_rotate(as_pool_t *pool, h2o_mem_pool_t *mem, const as_refresh_ref_t *old, const char *client_id,
                             const uint8_t new_hash[AS_SHA256_LEN], int idle_ttl, int grace, const char *scope,
                             as_store_refresh_cb cb, void *ctx, as_pool_job_t **handle)
{
    rotate_call_t *rc = rotate_call_new(pool, mem, old, client_id, new_hash, idle_ttl, grace, scope, cb, ctx, handle);
    /* a batch of one, in the caller's pool: cancelling the job through `handle` leaves nothing to free */
    batch_t *b = h2o_mem_alloc_pool(mem, offsetof(batch_t, calls) + sizeof(b->calls[0]));
    *b = (batch_t){.rot = NULL, .pool = pool, .n = 1};
    b->calls[0] = rc;
    rc->batch = b;
    send_batch(b, handle);
}

static void on_turn_end(h2o_timeout_entry_t *entry)
{
    rotator_flush(H2O_STRUCT_FROM_MEMBER(as_store_rotator_t, flush_entry, entry));
}

as_store_rotator_t *as_store_rotator_create(h2o_loop_t *loop, as_pool_t *pool, size_t max_inflight, size_t max_batch)
{
    as_store_rotator_t *rot = as_calloc(1, sizeof(*rot));
    rot->pool = pool;
    rot->loop = loop;
    h2o_timeout_init(loop, &rot->turn_end, 0);
    rot->flush_entry.cb = on_turn_end;
    rot->max_inflight = max_inflight != 0 ? max_inflight : 1;
    rot->max_batch = max_batch != 0 ? max_batch : 1;
    rot->pending_tail = &rot->pending;
    return rot;
}

void as_store_rotator_close(as_store_rotator_t *rot)
{
    rotate_call_t *rc;
    rot->closing = 1;
    while ((rc = rot->pending) != NULL) {
        rot->pending = rc->next;
        rc->rot = NULL;
        ((as_store_refresh_cb)rc->call.cb)(rc->call.ctx, AS_ERR_DB_UNAVAILABLE, NULL);
    }
    if (rot->inflight == 0)
        rotator_free(rot);
}

as_store_rotator_stats_t as_store_rotator_stats(const as_store_rotator_t *rot)
{
    return rot->stats;
}

as_store_rotation_t *as_store_rotate(as_store_rotator_t *rot, h2o_mem_pool_t *mem, const as_refresh_ref_t *old,
                                     const char *client_id, const uint8_t new_hash[AS_SHA256_LEN], int idle_ttl, int grace,
                                     const char *scope, as_store_refresh_cb cb, void *ctx, as_pool_job_t **handle)
{
    rotate_call_t *rc = rotate_call_new(rot->pool, mem, old, client_id, new_hash, idle_ttl, grace, scope, cb, ctx, handle);
    rc->rot = rot;
    *rot->pending_tail = rc;
    rot->pending_tail = &rc->next;
    rotator_schedule(rot);
    return (as_store_rotation_t *)rc;
}

void as_store_rotation_cancel(as_store_rotation_t *rotation)
{
    rotate_call_t *rc = (rotate_call_t *)rotation;
    if (rc == NULL)
        return;
    if (rc->batch != NULL) {
        rc->batch->calls[rc->ord] = NULL; /* in flight: its answer is dropped */
        rc->batch = NULL;
    } else if (rc->rot != NULL) {
        /* still waiting: it will not be sent */
        for (rotate_call_t **link = &rc->rot->pending; *link != NULL; link = &(*link)->next) {
            if (*link == rc) {
                *link = rc->next;
                if (rc->rot->pending_tail == &rc->next)
                    rc->rot->pending_tail = link;
                break;
            }
        }
    }
    rc->rot = NULL;
    rc->call.cb = NULL;
}

/* --- health ------------------------------------------------------------------ */

static void on_ping(void *ctx, int err, const PGresult *res)
{
    call_t *c = ctx;
    ((as_store_done_cb)c->cb)(c->ctx, result_err(err, res, "ping"));
}

void as_store_ping(as_pool_t *pool, h2o_mem_pool_t *mem, as_store_done_cb cb, void *ctx, as_pool_job_t **handle)
{
    send_stmt(pool, STMT_PING, on_ping, call_new(mem, (void (*)(void))cb, ctx), handle, "");
}

/* --- revocation, introspection, feed ---------------------------------------------- */

static void on_done(void *ctx, int err, const PGresult *res)
{
    call_t *c = ctx;
    ((as_store_done_cb)c->cb)(c->ctx, result_err(err, res, "statement"));
}

void as_store_revoke_refresh(as_pool_t *pool, h2o_mem_pool_t *mem, const as_refresh_ref_t *token, const char *client_id,
                             as_store_done_cb cb, void *ctx, as_pool_job_t **handle)
{
    call_t *c = call_new(mem, (void (*)(void))cb, ctx);
    if (token->family != NULL)
        send_stmt(pool, STMT_REVOKE_REFRESH2, on_done, c, handle, "ult", token->family, token->gen, client_id);
    else
        send_stmt(pool, STMT_REVOKE_REFRESH, on_done, c, handle, "ht", token->hash, client_id);
}

void as_store_revoke_access(as_pool_t *pool, h2o_mem_pool_t *mem, const char *jti, int64_t exp, const char *client_id,
                            as_store_done_cb cb, void *ctx, as_pool_job_t **handle)
{
    send_stmt(pool, STMT_REVOKE_ACCESS, on_done, call_new(mem, (void (*)(void))cb, ctx), handle, "tlt", jti, exp, client_id);
}

static void on_access_status(void *ctx, int err, const PGresult *res)
{
    call_t *c = ctx;
    as_store_flag_cb cb = (as_store_flag_cb)c->cb;
    if ((err = result_err(err, res, "access-token status")) != 0) {
        cb(c->ctx, err, 0);
        return;
    }
    cb(c->ctx, 0, PQntuples(res) == 1 && PQgetvalue(res, 0, 0)[0] == 't');
}

void as_store_access_status(as_pool_t *pool, h2o_mem_pool_t *mem, const char *user_id, const char *jti, int64_t token_version,
                            as_store_flag_cb cb, void *ctx, as_pool_job_t **handle)
{
    send_stmt(pool, STMT_ACCESS_STATUS, on_access_status, call_new(mem, (void (*)(void))cb, ctx), handle, "ttl", user_id, jti,
              token_version);
}

static void on_refresh_info(void *ctx, int err, const PGresult *res)
{
    call_t *c = ctx;
    as_refresh_info_t *info = row_new(c, &err, res, "refresh-token introspection", AS_ERR_NOT_FOUND, sizeof(*info));
    if (info != NULL) {
        info->user_id = dup_value(c->mem, res, 0, 0);
        info->scope = dup_value(c->mem, res, 0, 1);
        info->exp = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
        info->iat = strtoll(PQgetvalue(res, 0, 3), NULL, 10);
        info->token_version = strtoll(PQgetvalue(res, 0, 4), NULL, 10);
    }
    ((as_store_refresh_info_cb)c->cb)(c->ctx, err, info);
}

void as_store_refresh_info(as_pool_t *pool, h2o_mem_pool_t *mem, const as_refresh_ref_t *token, const char *client_id,
                           as_store_refresh_info_cb cb, void *ctx, as_pool_job_t **handle)
{
    call_t *c = call_new(mem, (void (*)(void))cb, ctx);
    if (token->family != NULL)
        send_stmt(pool, STMT_REFRESH_INFO2, on_refresh_info, c, handle, "ulht", token->family, token->gen, token->hash,
                  client_id);
    else
        send_stmt(pool, STMT_REFRESH_INFO, on_refresh_info, c, handle, "ht", token->hash, client_id);
}

static void on_feed(void *ctx, int err, const PGresult *res)
{
    call_t *c = ctx;
    as_feed_t *feed = row_new(c, &err, res, "revocation feed", AS_ERR_INTERNAL, sizeof(*feed));
    if (feed != NULL) {
        feed->cursor = dup_value(c->mem, res, 0, 0);
        feed->reset = PQgetvalue(res, 0, 1)[0] == 't';
        feed->subjects_json = dup_value(c->mem, res, 0, 2);
        feed->jtis_json = dup_value(c->mem, res, 0, 3);
    }
    ((as_store_feed_cb)c->cb)(c->ctx, err, feed);
}

void as_store_feed(as_pool_t *pool, h2o_mem_pool_t *mem, const char *since, as_store_feed_cb cb, void *ctx, as_pool_job_t **handle)
{
    send_stmt(pool, STMT_FEED, on_feed, call_new(mem, (void (*)(void))cb, ctx), handle, "t", since);
}

void as_store_user_by_id(as_pool_t *pool, h2o_mem_pool_t *mem, const char *user_id, as_store_user_cb cb, void *ctx,
                         as_pool_job_t **handle)
{
    send_stmt(pool, STMT_USER_BY_ID, on_user, call_new(mem, (void (*)(void))cb, ctx), handle, "t", user_id);
}

static void on_password_changed(void *ctx, int err, const PGresult *res)
{
    call_t *c = ctx;
    as_store_version_cb cb = (as_store_version_cb)c->cb;
    if ((err = one_row(err, res, "password change", AS_ERR_CONFLICT)) != 0) {
        cb(c->ctx, err, 0);
        return;
    }
    cb(c->ctx, 0, strtoll(PQgetvalue(res, 0, 0), NULL, 10));
}

void as_store_password_change(as_pool_t *pool, h2o_mem_pool_t *mem, const char *user_id, const char *new_hash,
                              int64_t token_version, as_store_version_cb cb, void *ctx, as_pool_job_t **handle)
{
    send_stmt(pool, STMT_PASSWORD_CHANGE, on_password_changed, call_new(mem, (void (*)(void))cb, ctx), handle, "ttl", user_id,
              new_hash, token_version);
}

static void on_cleanup(void *ctx, int err, const PGresult *res)
{
    call_t *c = ctx;
    if ((err = result_err(err, res, "cleanup")) == 0 && PQntuples(res) == 1) {
        long long n[8], total = 0;
        for (int i = 0; i != 8; ++i)
            total += n[i] = atoll(PQgetvalue(res, 0, i));
        if (total != 0)
            as_info("cleanup: removed %lld families, %lld refresh tokens, %lld revoked jtis, %lld feed entries, %lld codes, "
                    "%lld sessions, %lld login-failure records, %lld used form tokens",
                    n[0], n[1], n[2], n[3], n[4], n[5], n[6], n[7]);
    }
    ((as_store_done_cb)c->cb)(c->ctx, err);
}

void as_store_cleanup(as_pool_t *pool, h2o_mem_pool_t *mem, int feed_retention, as_store_done_cb cb, void *ctx,
                      as_pool_job_t **handle)
{
    send_stmt(pool, STMT_CLEANUP, on_cleanup, call_new(mem, (void (*)(void))cb, ctx), handle, "i", feed_retention);
}

/* --- browser login: sessions, codes, consents ----------------------------------------- */

static void on_session(void *ctx, int err, const PGresult *res)
{
    call_t *c = ctx;
    as_session_t *s = row_new(c, &err, res, "session", c->none, sizeof(*s));
    if (s != NULL) {
        s->id = dup_value(c->mem, res, 0, 0);
        s->user_id = dup_value(c->mem, res, 0, 1);
        s->username = dup_value(c->mem, res, 0, 2);
        s->auth_time = strtoll(PQgetvalue(res, 0, 3), NULL, 10);
        s->token_version = strtoll(PQgetvalue(res, 0, 4), NULL, 10);
    }
    ((as_store_session_cb)c->cb)(c->ctx, err, s);
}

void as_store_session_create(as_pool_t *pool, h2o_mem_pool_t *mem, const uint8_t hash[AS_SHA256_LEN], const uint8_t *replaced,
                             const char *user_id, int64_t token_version, int idle_ttl, int max_ttl, as_store_session_cb cb, void *ctx,
                             as_pool_job_t **handle)
{
    call_t *c = call_new(mem, (void (*)(void))cb, ctx);
    c->none = AS_ERR_CONFLICT;
    send_stmt(pool, STMT_SESSION_CREATE, on_session, c, handle, "htliih", hash, user_id, token_version, idle_ttl, max_ttl, replaced);
}

void as_store_session_use(as_pool_t *pool, h2o_mem_pool_t *mem, const uint8_t hash[AS_SHA256_LEN], int idle_ttl,
                          as_store_session_cb cb, void *ctx, as_pool_job_t **handle)
{
    send_stmt(pool, STMT_SESSION_USE, on_session, call_new(mem, (void (*)(void))cb, ctx), handle, "hi", hash, idle_ttl);
}

static void on_count(void *ctx, int err, const PGresult *res)
{
    call_t *c = ctx;
    void (*cb)(void *, int, int) = (void (*)(void *, int, int))c->cb;
    if ((err = one_row(err, res, "statement", AS_ERR_INTERNAL)) != 0) {
        cb(c->ctx, err, 0);
        return;
    }
    cb(c->ctx, 0, atoi(PQgetvalue(res, 0, 0)) != 0);
}

void as_store_session_end(as_pool_t *pool, h2o_mem_pool_t *mem, const uint8_t *hash, const char *session_id, const char *reason,
                          void (*cb)(void *ctx, int err, int flag), void *ctx, as_pool_job_t **handle)
{
    send_stmt(pool, STMT_SESSION_END, on_count, call_new(mem, (void (*)(void))cb, ctx), handle, "htt", hash,
              session_id != NULL && as_is_uuid(session_id) ? session_id : NULL, reason);
}

void as_store_code_create(as_pool_t *pool, h2o_mem_pool_t *mem, const as_code_t *code, as_store_done_cb cb, void *ctx,
                          as_pool_job_t **handle)
{
    send_stmt(pool, STMT_CODE_CREATE, on_done, call_new(mem, (void (*)(void))cb, ctx), handle, "httttttti", code->hash,
              code->client_id, code->session_id, code->user_id, code->redirect_uri, code->code_challenge, code->scope, code->nonce,
              code->ttl);
}

typedef struct st_code_call_t {
    call_t call;
    as_pool_t *pool;
    as_pool_job_t **handle;
    uint8_t hash[AS_SHA256_LEN];
    char client_id[256];
} code_call_t;

static void on_code_checked(void *ctx, int err, const PGresult *res)
{
    code_call_t *cc = ctx;
    if ((err = one_row(err, res, "code check", AS_ERR_NOT_FOUND)) == 0) { /* a replay, or a code that never matched */
        err = strcmp(PQgetvalue(res, 0, 0), "replay") == 0 ? AS_ERR_CONFLICT : AS_ERR_NOT_FOUND;
        if (err == AS_ERR_CONFLICT)
            as_warn("authorization code replayed by client %s: what was issued from it is revoked", cc->client_id);
    }
    ((as_store_code_cb)cc->call.cb)(cc->call.ctx, err, NULL);
}

static void on_code_redeemed(void *ctx, int err, const PGresult *res)
{
    code_call_t *cc = ctx;
    as_store_code_cb cb = (as_store_code_cb)cc->call.cb;
    h2o_mem_pool_t *mem = cc->call.mem;
    if ((err = one_row(err, res, "code redemption", AS_ERR_NOT_FOUND)) == AS_ERR_NOT_FOUND) {
        /* a fresh statement (its own snapshot) tells a replay from a code that never matched */
        send_stmt(cc->pool, STMT_CODE_CHECK, on_code_checked, cc, cc->handle, "ht", cc->hash, cc->client_id);
        return;
    }
    if (err != 0) {
        cb(cc->call.ctx, err, NULL);
        return;
    }
    as_code_grant_t *g = h2o_mem_alloc_pool(mem, sizeof(*g));
    g->user_id = dup_value(mem, res, 0, 0);
    g->scope = dup_value(mem, res, 0, 1);
    g->nonce = PQgetisnull(res, 0, 2) ? NULL : dup_value(mem, res, 0, 2);
    g->session_id = dup_value(mem, res, 0, 3);
    g->auth_time = strtoll(PQgetvalue(res, 0, 4), NULL, 10);
    g->token_version = strtoll(PQgetvalue(res, 0, 5), NULL, 10);
    cb(cc->call.ctx, 0, g);
}

void as_store_code_redeem(as_pool_t *pool, h2o_mem_pool_t *mem, const uint8_t hash[AS_SHA256_LEN], const char *client_id,
                          const char *redirect_uri, const char *challenge, const as_code_issue_t *issue, as_store_code_cb cb,
                          void *ctx, as_pool_job_t **handle)
{
    code_call_t *cc = h2o_mem_alloc_pool(mem, sizeof(*cc));
    cc->call = (call_t){mem, (void (*)(void))cb, ctx, AS_ERR_NOT_FOUND};
    cc->pool = pool;
    cc->handle = handle;
    memcpy(cc->hash, hash, AS_SHA256_LEN);
    snprintf(cc->client_id, sizeof(cc->client_id), "%s", client_id);
    send_stmt(pool, STMT_CODE_REDEEM, on_code_redeemed, cc, handle, "htttthiitii", hash, client_id, redirect_uri, challenge,
              issue->family_id, issue->family_id != NULL ? issue->refresh_hash : NULL, issue->idle_ttl, issue->max_ttl,
              issue->access_jti, issue->access_ttl, issue->refresh_format);
}

static void on_consent(void *ctx, int err, const PGresult *res)
{
    call_t *c = ctx;
    void (*cb)(void *, int, const char *) = (void (*)(void *, int, const char *))c->cb;
    if ((err = one_row(err, res, "consent lookup", AS_ERR_NOT_FOUND)) != 0) {
        cb(c->ctx, err, "");
        return;
    }
    cb(c->ctx, 0, dup_value(c->mem, res, 0, 0));
}

void as_store_consent_get(as_pool_t *pool, h2o_mem_pool_t *mem, const char *user_id, const char *client_id,
                          void (*cb)(void *ctx, int err, const char *scope), void *ctx, as_pool_job_t **handle)
{
    send_stmt(pool, STMT_CONSENT_GET, on_consent, call_new(mem, (void (*)(void))cb, ctx), handle, "tt", user_id, client_id);
}

void as_store_consent_put(as_pool_t *pool, h2o_mem_pool_t *mem, const char *user_id, const char *client_id, const char *scope,
                          as_store_done_cb cb, void *ctx, as_pool_job_t **handle)
{
    send_stmt(pool, STMT_CONSENT_PUT, on_done, call_new(mem, (void (*)(void))cb, ctx), handle, "ttt", user_id, client_id, scope);
}

/* --- forms of the login pages ------------------------------------------------------------ */

static void on_form_token(void *ctx, int err, const PGresult *res)
{
    call_t *c = ctx;
    ((as_store_done_cb)c->cb)(c->ctx, one_row(err, res, "form token", AS_ERR_CONFLICT));
}

void as_store_form_token_use(as_pool_t *pool, h2o_mem_pool_t *mem, const uint8_t hash[AS_SHA256_LEN], int64_t expires_at,
                             as_store_done_cb cb, void *ctx, as_pool_job_t **handle)
{
    send_stmt(pool, STMT_FORM_TOKEN_USE, on_form_token, call_new(mem, (void (*)(void))cb, ctx), handle, "hl", hash, expires_at);
}

/* --- brute-force throttling ------------------------------------------------------------------ */

/** The throttle's keys: "u:" username "|" address, and "a:" address (pool memory). */
static void throttle_keys(h2o_mem_pool_t *mem, const char *username, const char *address, const char **user_key,
                          const char **addr_key)
{
    size_t ul = strlen(username), al = strlen(address);
    char *u = h2o_mem_alloc_pool(mem, ul + al + 4), *a = h2o_mem_alloc_pool(mem, al + 3);
    sprintf(u, "u:%s|%s", username, address);
    sprintf(a, "a:%s", address);
    *user_key = u;
    *addr_key = a;
}

static void on_login_lookup(void *ctx, int err, const PGresult *res)
{
    call_t *c = ctx;
    as_login_lookup_t *l = row_new(c, &err, res, "login lookup", AS_ERR_INTERNAL, sizeof(*l));
    if (l != NULL) {
        l->user = PQgetisnull(res, 0, 0) ? NULL : user_from_row(c->mem, res, 0);
        l->retry_after = atoi(PQgetvalue(res, 0, 5));
        l->had_failures = PQgetvalue(res, 0, 6)[0] == 't';
    }
    ((as_store_login_cb)c->cb)(c->ctx, err, l);
}

void as_store_login_lookup(as_pool_t *pool, h2o_mem_pool_t *mem, const char *username, const char *address, as_store_login_cb cb,
                           void *ctx, as_pool_job_t **handle)
{
    const char *user_key, *addr_key;
    throttle_keys(mem, username, address, &user_key, &addr_key);
    send_stmt(pool, STMT_LOGIN_LOOKUP, on_login_lookup, call_new(mem, (void (*)(void))cb, ctx), handle, "ttt", username, user_key,
              addr_key);
}

/* What is recorded after a login is answered needs no answer: its job outlives the request, so it points at this. */
static void on_recorded(void *ctx, int err, const PGresult *res)
{
    (void)ctx;
    result_err(err, res, "recording a login outcome");
}

void as_store_login_failed(as_pool_t *pool, const char *username, const char *address, const char *client_id)
{
    h2o_mem_pool_t mem;
    const char *user_key, *addr_key;
    h2o_mem_init_pool(&mem);
    throttle_keys(&mem, username, address, &user_key, &addr_key);
    send_stmt(pool, STMT_LOGIN_FAILED, on_recorded, NULL, NULL, "ttttt", user_key, addr_key, username, client_id, address);
    h2o_mem_clear_pool(&mem); /* the pool copied the values */
}

void as_store_login_succeeded(as_pool_t *pool, const char *username, const char *address)
{
    h2o_mem_pool_t mem;
    const char *user_key, *addr_key;
    h2o_mem_init_pool(&mem);
    throttle_keys(&mem, username, address, &user_key, &addr_key);
    send_stmt(pool, STMT_LOGIN_SUCCEEDED, on_recorded, NULL, NULL, "t", user_key);
    h2o_mem_clear_pool(&mem);
}
