/*
 * keys/keyset — the signing keys of a key directory, loaded off the event loop
 * and shared read-only by every thread.
 *
 * Directory layout (see keys/README.md): for each key, KID.pem (PKCS#8 private
 * key, mode 0600) and KID.json ({"kid", "alg", "created_at", "active_at"}, UNIX
 * seconds); plus refresh.key, the 32-byte secret (base64url) that derives
 * refresh-token successors, shared by every instance.
 */
#ifndef AS_KEYS_KEYSET_H
#define AS_KEYS_KEYSET_H

#include <stddef.h>
#include <stdint.h>
#include "authsvc/crypto/crypto.h"
#include "authsvc/token/refresh.h"

typedef struct st_as_keyset_entry_t {
    as_key_t *key;
    char kid[AS_KID_LEN + 1];
    int64_t created_at;
    int64_t active_at;
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
 * Loads every key of `dir`. Fails (-1, with a message in `err`) if the
 * directory cannot be read, a file is corrupt or group/world-readable, there
 * is no refresh key, or no key is active at `now`. Blocking file I/O: never on
 * an event loop. Owner: the caller (as_keyset_release).
 */
int as_keyset_load(const char *dir, int64_t now, as_keyset_t **out, char *err, size_t errlen);

/** The key of `kid` in the set `ks` (an as_keyset_t *), or NULL: an as_jwt_key_lookup. */
const as_key_t *as_keyset_find(void *ks, const char *kid);

/** Adds a reference (any thread). */
as_keyset_t *as_keyset_retain(as_keyset_t *ks);
/** Drops a reference; the last one frees the set (any thread; NULL is fine). */
void as_keyset_release(as_keyset_t *ks);

/**
 * The process-wide current key set, for every event thread. as_keys_current()
 * returns a new reference (release it when the request is done), so that a
 * request keeps the set it started with while as_keys_install() swaps in a new
 * one atomically.
 */
as_keyset_t *as_keys_current(void);
/** Installs `ks` (reference taken over) as the current set. */
void as_keys_install(as_keyset_t *ks);

/**
 * Generates a key of `alg` in `dir` (created 0700 if missing), active at once,
 * and the refresh key if the directory has none. Writes the new kid to `kid`.
 */
int as_keys_generate(const char *dir, as_alg_t alg, int64_t now, char kid[AS_KID_LEN + 1], char *err, size_t errlen);

#endif
