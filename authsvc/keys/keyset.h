/*
 * keys/keyset — the signing keys of a key directory, loaded off the event loop
 * and shared read-only by every thread.
 *
 * Directory layout (see keys/README.md): for each key, KID.pem (PKCS#8 private
 * key, mode 0600) and KID.json (as_keymeta_t: its algorithm and lifecycle
 * times, UNIX seconds); plus refresh.key, the 32-byte secret (base64url) that
 * derives refresh-token successors, shared by every instance.
 *
 * A key's state follows from the clock, so that every instance reading the
 * same directory agrees without talking to the others:
 *   published_at <= now            the key is in the JWKS
 *   active_at <= now < retired_at  the key may sign (the newest such key does)
 *   unpublish_at <= now            the key has left the JWKS (prune deletes it)
 */
#ifndef AS_KEYS_KEYSET_H
#define AS_KEYS_KEYSET_H

#include <stddef.h>
#include <stdint.h>
#include "authsvc/crypto/crypto.h"
#include "authsvc/token/refresh.h"

/** A key's metadata file. 0 for retired_at / unpublish_at: not scheduled. */
typedef struct st_as_keymeta_t {
    char kid[AS_KID_LEN + 1];
    as_alg_t alg;
    int64_t created_at;
    int64_t published_at;
    int64_t active_at;
    int64_t retired_at;
    int64_t unpublish_at;
} as_keymeta_t;

typedef enum en_as_key_state_t {
    AS_KEY_PENDING,     /* not yet published */
    AS_KEY_NEXT,        /* published, not yet signing: verifiers learn it before they meet it */
    AS_KEY_ACTIVE,      /* may sign */
    AS_KEY_RETIRED,     /* published until the tokens it signed have expired, no longer signing */
    AS_KEY_EXPIRED,     /* unpublished: prune deletes it */
} as_key_state_t;

as_key_state_t as_keymeta_state(const as_keymeta_t *meta, int64_t now);
const char *as_key_state_name(as_key_state_t state);

/** Reads DIR/KID.json. Returns 0, or AS_ERR_IO with a message. */
int as_keymeta_read(const char *dir, const char *kid, as_keymeta_t *meta, char *err, size_t errlen);
/** Writes DIR/KID.json atomically (a temporary file renamed over it). */
int as_keymeta_write(const char *dir, const as_keymeta_t *meta, char *err, size_t errlen);

/**
 * Loads and checks one key: DIR/KID.json and DIR/KID.pem (private, not group-
 * or world-readable, of the metadata's algorithm, named after its thumbprint).
 * Returns 0 and a new key reference, or AS_ERR_IO with a message.
 */
int as_keys_load_one(const char *dir, const char *kid, as_keymeta_t *meta, as_key_t **key, char *err, size_t errlen);

typedef struct st_as_keyset_entry_t {
    as_key_t *key;
    char kid[AS_KID_LEN + 1];
    as_keymeta_t meta;
} as_keyset_entry_t;

typedef struct st_as_keyset_t {
    _Atomic long refcnt;
    as_keyset_entry_t *entries;
    size_t num_entries;
    size_t active;             /* index of the signing key */
    char *jwks;                /* the serialized JWKS document, built once */
    size_t jwks_len;
    char jwks_etag[32];        /* strong ETag of that document: quoted base64url of its SHA-256, truncated */
    uint8_t refresh_key[AS_REFRESH_KEY_LEN];
} as_keyset_t;

/**
 * Loads the keys of `dir` that are published at `now` (their JWKS is built
 * here, once) and picks the signing key. Fails (AS_ERR_IO, with a message in `err`)
 * if the directory cannot be read, a file is corrupt or group/world-readable,
 * there is no refresh key, or no key may sign at `now`. Blocking file I/O:
 * never on an event loop. Owner: the caller (as_keyset_release).
 */
int as_keyset_load(const char *dir, int64_t now, as_keyset_t **out, char *err, size_t errlen);

/** The key of `kid` in the set `ks` (an as_keyset_t *), or NULL: an as_jwt_key_lookup. */
const as_key_t *as_keyset_find(void *ks, const char *kid);

/** Adds a reference (any thread). */
as_keyset_t *as_keyset_retain(as_keyset_t *ks);
/** Drops a reference; the last one frees the set (any thread; NULL is fine). */
void as_keyset_release(as_keyset_t *ks);

/**
 * One event thread's view of the current key set, with no lock and no atomic
 * on the request path. The thread that owns the view swaps in a new set when
 * the wiring layer hands it one (after a reload); a request holds the version
 * it started with through a hold, counted by that thread alone, and the set
 * is released when it is no longer current and its last hold goes.
 */
typedef struct st_as_keyhold_t {
    as_keyset_t *set; /* read-only for the holder */
    size_t holds;
    int current;
} as_keyhold_t;

typedef struct st_as_keyview_t {
    as_keyhold_t *current;
} as_keyview_t;

/** Starts a view on `ks` (reference taken over). */
void as_keyview_init(as_keyview_t *view, as_keyset_t *ks);
/** Makes `ks` (reference taken over) current; requests holding the old set keep it until they release it. */
void as_keyview_swap(as_keyview_t *view, as_keyset_t *ks);
/** Drops the view's reference (holds still out release theirs later). */
void as_keyview_dispose(as_keyview_t *view);
/** The current set, held until as_keyhold_release (owner's thread only). */
as_keyhold_t *as_keyview_hold(as_keyview_t *view);
/** Releases a hold (NULL is fine; owner's thread only). */
void as_keyhold_release(as_keyhold_t *hold);

/** 1 if both sets publish the same keys and sign with the same one. */
int as_keyset_same(const as_keyset_t *a, const as_keyset_t *b);

/**
 * Generates a key of `alg` in `dir` (created 0700 if missing), published at
 * `now` and active at `active_at`, and the refresh key if the directory has
 * none. Writes the new kid to `kid`.
 */
int as_keys_generate(const char *dir, as_alg_t alg, int64_t now, int64_t active_at, char kid[AS_KID_LEN + 1], char *err,
                     size_t errlen);

#endif
