/*
 * token/refresh — the opaque refresh-token formats.
 *
 * Every refresh token carries a 32-byte secret. The first token of a family
 * (one login) has a random secret; each successor's is HMAC-SHA256(refresh
 * key, parent's secret), so that a retry within the grace window can be
 * answered with the same successor while the database keeps only SHA-256
 * hashes of secrets.
 *
 * Format 2 (91 base64url characters, 68 bytes): family id (16 bytes, the
 * uuid) ‖ generation (4 bytes, big-endian; 0 for the login's first token) ‖
 * secret (32) ‖ tag (16: HMAC-SHA256(refresh key, "authsvc-refresh2" ‖ the 52
 * bytes before it), truncated). The family's row holds its current token's
 * hash and generation, so a rotation updates that one row. The tag proves a
 * token was issued here: an older generation presented again is reuse of a
 * genuine token, and a forged one is refused before any database work.
 *
 * Format 1 (43 characters): the secret alone, one refresh_tokens row per
 * token. Families born in format 1 keep it until they expire; new ones are
 * born in format 1 only while an operator asks for it (rolling upgrades from
 * versions that cannot read format 2). Thread-safe.
 */
#ifndef AS_TOKEN_REFRESH_H
#define AS_TOKEN_REFRESH_H

#include <stdint.h>
#include "authsvc/crypto/crypto.h"

#define AS_REFRESH_SECRET_LEN 32
#define AS_REFRESH_KEY_LEN 32
#define AS_REFRESH_FAMILY_LEN 16
#define AS_REFRESH_TAG_LEN 16
#define AS_REFRESH_V2_RAW_LEN (AS_REFRESH_FAMILY_LEN + 4 + AS_REFRESH_SECRET_LEN + AS_REFRESH_TAG_LEN)
#define AS_REFRESH_V1_TEXT_LEN AS_B64URL_ENCLEN(AS_REFRESH_SECRET_LEN)
#define AS_REFRESH_V2_TEXT_LEN AS_B64URL_ENCLEN(AS_REFRESH_V2_RAW_LEN)
#define AS_REFRESH_TEXT_MAX AS_REFRESH_V2_TEXT_LEN
/** The last generation a format-2 token may have (the database column is a signed 32-bit integer): it cannot rotate. */
#define AS_REFRESH_GEN_MAX 0x7fffffff

typedef struct st_as_refresh_token_t {
    int format;                             /* 1 or 2 */
    uint8_t family[AS_REFRESH_FAMILY_LEN];  /* the family's uuid (format 1: only when we created the family) */
    uint32_t gen;                           /* format 2: the generation */
    uint8_t secret[AS_REFRESH_SECRET_LEN];
} as_refresh_token_t;

/** The first token of a new family: a random secret and a random (version 4) family id, generation 0. */
void as_refresh_first(int format, as_refresh_token_t *t);

/** The successor of `parent` under the server's refresh key: same family and format, the next generation. */
void as_refresh_next(const uint8_t key[AS_REFRESH_KEY_LEN], const as_refresh_token_t *parent, as_refresh_token_t *child);

/**
 * Parses either text form; 0, or AS_ERR_BAD_INPUT when it is neither, when
 * a format-2 tag does not verify under `key`, or its generation is past
 * AS_REFRESH_GEN_MAX. A format-1 token leaves `family` zero.
 */
int as_refresh_parse(const uint8_t key[AS_REFRESH_KEY_LEN], const char *text, size_t len, as_refresh_token_t *t) AS_WUR;

/** The text form, NUL-terminated (AS_REFRESH_V1_TEXT_LEN or AS_REFRESH_V2_TEXT_LEN characters). */
void as_refresh_format(const uint8_t key[AS_REFRESH_KEY_LEN], const as_refresh_token_t *t, char text[AS_REFRESH_TEXT_MAX + 1]);

/** What the database stores: SHA-256 of the secret. */
void as_refresh_hash(const as_refresh_token_t *t, uint8_t hash[AS_SHA256_LEN]);

/** The family id as uuid text (36 characters and a NUL). */
void as_refresh_family_text(const as_refresh_token_t *t, char out[37]);

#endif
