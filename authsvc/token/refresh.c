/*
 * token/refresh — the refresh-token format: random first tokens, HMAC-derived
 * successors, base64url text, SHA-256 for storage (interface in refresh.h).
 */
#include <string.h>
#include "authsvc/as.h"
#include "authsvc/token/refresh.h"

void as_refresh_new(uint8_t raw[AS_REFRESH_RAW_LEN])
{
    as_random_bytes(raw, AS_REFRESH_RAW_LEN);
}

void as_refresh_successor(const uint8_t key[AS_REFRESH_KEY_LEN], const uint8_t parent[AS_REFRESH_RAW_LEN],
                          uint8_t child[AS_REFRESH_RAW_LEN])
{
    /* domain-separated, so that the key could serve another purpose later without collisions */
    uint8_t msg[16 + AS_REFRESH_RAW_LEN];
    memcpy(msg, "authsvc-refresh\0", 16);
    memcpy(msg + 16, parent, AS_REFRESH_RAW_LEN);
    as_hmac_sha256(key, AS_REFRESH_KEY_LEN, msg, sizeof(msg), child);
    as_wipe(msg, sizeof(msg));
}

int as_refresh_parse(const char *text, size_t len, uint8_t raw[AS_REFRESH_RAW_LEN])
{
    uint8_t buf[AS_B64URL_DECLEN(AS_REFRESH_TOKEN_LEN)];
    if (len != AS_REFRESH_TOKEN_LEN)
        return AS_ERR_BAD_INPUT;
    if (as_b64url_decode(text, len, buf) != AS_REFRESH_RAW_LEN) {
        as_wipe(buf, sizeof(buf));
        return AS_ERR_BAD_INPUT;
    }
    memcpy(raw, buf, AS_REFRESH_RAW_LEN);
    as_wipe(buf, sizeof(buf));
    return 0;
}

void as_refresh_format(const uint8_t raw[AS_REFRESH_RAW_LEN], char text[AS_REFRESH_TOKEN_LEN + 1])
{
    as_b64url_encode(raw, AS_REFRESH_RAW_LEN, text);
}

void as_refresh_hash(const uint8_t raw[AS_REFRESH_RAW_LEN], uint8_t hash[AS_SHA256_LEN])
{
    as_sha256(raw, AS_REFRESH_RAW_LEN, hash);
}
