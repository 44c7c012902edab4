/*
 * token/refresh — the opaque refresh-token format.
 *
 * A refresh token is 32 bytes, sent as 43 base64url characters. The first
 * token of a family is random; each successor is HMAC-SHA256(refresh key,
 * parent), so a retry within the grace window can be answered with the same
 * successor while the database keeps only SHA-256 hashes. Thread-safe.
 */
#ifndef AS_TOKEN_REFRESH_H
#define AS_TOKEN_REFRESH_H

#include <stdint.h>
#include "authsvc/crypto/crypto.h"

#define AS_REFRESH_RAW_LEN 32
#define AS_REFRESH_TOKEN_LEN AS_B64URL_ENCLEN(AS_REFRESH_RAW_LEN)
#define AS_REFRESH_KEY_LEN 32

/** A fresh random token (the first of a family). */
void as_refresh_new(uint8_t raw[AS_REFRESH_RAW_LEN]);

/** The successor of `parent` under the server's refresh key. */
void as_refresh_successor(const uint8_t key[AS_REFRESH_KEY_LEN], const uint8_t parent[AS_REFRESH_RAW_LEN],
                          uint8_t child[AS_REFRESH_RAW_LEN]);

/** Parses the text form; 0 or AS_ERR_BAD_INPUT (wrong length or encoding). */
int as_refresh_parse(const char *text, size_t len, uint8_t raw[AS_REFRESH_RAW_LEN]) AS_WUR;

/** The text form, NUL-terminated. */
void as_refresh_format(const uint8_t raw[AS_REFRESH_RAW_LEN], char text[AS_REFRESH_TOKEN_LEN + 1]);

/** What the database stores: SHA-256 of the raw token. */
void as_refresh_hash(const uint8_t raw[AS_REFRESH_RAW_LEN], uint8_t hash[AS_SHA256_LEN]);

#endif
