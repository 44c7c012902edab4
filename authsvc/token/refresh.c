/*
 * token/refresh — the refresh-token formats: random first tokens, HMAC-derived
 * successors, format-2 tags, base64url text, SHA-256 for storage (interface in
 * refresh.h).
 */
#include <stdio.h>
#include <string.h>
#include "authsvc/as.h"
#include "authsvc/token/refresh.h"

void as_refresh_first(int format, as_refresh_token_t *t)
{
    memset(t, 0, sizeof(*t));
    t->format = format;
    as_random_bytes(t->family, sizeof(t->family));
    t->family[6] = (t->family[6] & 0x0f) | 0x40; /* RFC 9562 version 4 */
    t->family[8] = (t->family[8] & 0x3f) | 0x80;
    as_random_bytes(t->secret, sizeof(t->secret));
}

void as_refresh_next(const uint8_t key[AS_REFRESH_KEY_LEN], const as_refresh_token_t *parent, as_refresh_token_t *child)
{
    /* domain-separated, so that the key can serve other purposes (format-2 tags, CSRF keys) without collisions */
    uint8_t msg[16 + AS_REFRESH_SECRET_LEN], secret[AS_HMAC_SHA256_LEN];
    memcpy(msg, "authsvc-refresh\0", 16);
    memcpy(msg + 16, parent->secret, AS_REFRESH_SECRET_LEN);
    as_hmac_sha256(key, AS_REFRESH_KEY_LEN, msg, sizeof(msg), secret);
    child->format = parent->format;
    memcpy(child->family, parent->family, sizeof(child->family));
    child->gen = parent->gen + 1;
    memcpy(child->secret, secret, AS_REFRESH_SECRET_LEN);
    as_wipe(msg, sizeof(msg));
    as_wipe(secret, sizeof(secret));
}

/** Lays out the first 52 bytes of a format-2 token and appends its tag. */
static void v2_raw(const uint8_t key[AS_REFRESH_KEY_LEN], const as_refresh_token_t *t, uint8_t raw[AS_REFRESH_V2_RAW_LEN])
{
    uint8_t msg[16 + AS_REFRESH_V2_RAW_LEN - AS_REFRESH_TAG_LEN], mac[AS_HMAC_SHA256_LEN];
    uint8_t *p = raw;
    memcpy(p, t->family, AS_REFRESH_FAMILY_LEN);
    p += AS_REFRESH_FAMILY_LEN;
    *p++ = (uint8_t)(t->gen >> 24);
    *p++ = (uint8_t)(t->gen >> 16);
    *p++ = (uint8_t)(t->gen >> 8);
    *p++ = (uint8_t)t->gen;
    memcpy(p, t->secret, AS_REFRESH_SECRET_LEN);
    p += AS_REFRESH_SECRET_LEN;
    memcpy(msg, "authsvc-refresh2", 16);
    memcpy(msg + 16, raw, (size_t)(p - raw));
    as_hmac_sha256(key, AS_REFRESH_KEY_LEN, msg, sizeof(msg), mac);
    memcpy(p, mac, AS_REFRESH_TAG_LEN);
    as_wipe(msg, sizeof(msg));
    as_wipe(mac, sizeof(mac));
}

int as_refresh_parse(const uint8_t key[AS_REFRESH_KEY_LEN], const char *text, size_t len, as_refresh_token_t *t)
{
    uint8_t buf[AS_B64URL_DECLEN(AS_REFRESH_V2_TEXT_LEN)], expect[AS_REFRESH_V2_RAW_LEN];
    int ret = AS_ERR_BAD_INPUT;

    memset(t, 0, sizeof(*t));
    if (len == AS_REFRESH_V1_TEXT_LEN) {
        if (as_b64url_decode(text, len, buf) == AS_REFRESH_SECRET_LEN) {
            t->format = 1;
            memcpy(t->secret, buf, AS_REFRESH_SECRET_LEN);
            ret = 0;
        }
    } else if (len == AS_REFRESH_V2_TEXT_LEN && as_b64url_decode(text, len, buf) == AS_REFRESH_V2_RAW_LEN) {
        const uint8_t *p = buf + AS_REFRESH_FAMILY_LEN;
        t->format = 2;
        memcpy(t->family, buf, AS_REFRESH_FAMILY_LEN);
        t->gen = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
        memcpy(t->secret, p + 4, AS_REFRESH_SECRET_LEN);
        v2_raw(key, t, expect);
        /* the tag authenticates the token: compared in constant time */
        if (as_memeq(expect + AS_REFRESH_V2_RAW_LEN - AS_REFRESH_TAG_LEN, buf + AS_REFRESH_V2_RAW_LEN - AS_REFRESH_TAG_LEN,
                     AS_REFRESH_TAG_LEN) == 0 &&
            t->gen <= AS_REFRESH_GEN_MAX)
            ret = 0;
        as_wipe(expect, sizeof(expect));
    }
    as_wipe(buf, sizeof(buf));
    if (ret != 0)
        as_wipe(t, sizeof(*t));
    return ret;
}

void as_refresh_format(const uint8_t key[AS_REFRESH_KEY_LEN], const as_refresh_token_t *t, char text[AS_REFRESH_TEXT_MAX + 1])
{
    if (t->format == 1) {
        as_b64url_encode(t->secret, AS_REFRESH_SECRET_LEN, text);
    } else {
        uint8_t raw[AS_REFRESH_V2_RAW_LEN];
        v2_raw(key, t, raw);
        as_b64url_encode(raw, sizeof(raw), text);
        as_wipe(raw, sizeof(raw));
    }
}

void as_refresh_hash(const as_refresh_token_t *t, uint8_t hash[AS_SHA256_LEN])
{
    as_sha256(t->secret, AS_REFRESH_SECRET_LEN, hash);
}

void as_refresh_family_text(const as_refresh_token_t *t, char out[37])
{
    static const char hex[] = "0123456789abcdef";
    char *p = out;
    for (size_t i = 0; i != AS_REFRESH_FAMILY_LEN; ++i) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            *p++ = '-';
        *p++ = hex[t->family[i] >> 4];
        *p++ = hex[t->family[i] & 15];
    }
    *p = '\0';
}
