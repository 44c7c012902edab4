/*
 * A JWKS document (RFC 7517 §5) as a set of verification keys by kid. The document is authsvc's and comes
 * over the network: every key is checked by as_key_from_public_jwk (kty, curve, sizes, no private
 * members, on-curve point, RSA sanity) against the "alg" it declares, and a key we cannot use is left out
 * rather than failing the document, so that authsvc can publish algorithms a verifier does not know yet.
 */
#include <stdlib.h>
#include <string.h>
#include "authsvc/as.h"
#include "authsvc/verify/internal.h"

#define MAX_KEYS 64     /* authsvc publishes a few: the next, the active and the retired ones */
#define MAX_KID_LEN 256 /* ours are 43 characters (RFC 7638 thumbprints) */

asv__keyset_t *asv__keyset_new(void)
{
    return as_calloc(1, sizeof(asv__keyset_t));
}

void asv__keyset_free(asv__keyset_t *ks)
{
    if (ks == NULL)
        return;
    for (size_t i = 0; i != ks->count; ++i) {
        free(ks->keys[i].kid);
        as_key_release(ks->keys[i].key);
    }
    free(ks->keys);
    free(ks);
}

as_key_t *asv__keyset_find(const asv__keyset_t *ks, const char *kid)
{
    for (size_t i = 0; i != ks->count; ++i)
        if (strcmp(ks->keys[i].kid, kid) == 0)
            return ks->keys[i].key;
    return NULL;
}

/** The key of one JWK, or NULL if we do not use it. */
static as_key_t *load_jwk(json_t *jwk, const char **kid)
{
    json_t *use = json_object_get(jwk, "use");
    const char *alg_name;
    as_alg_t alg;
    as_key_t *key;

    if (!json_is_object(jwk))
        return NULL;
    *kid = json_string_value(json_object_get(jwk, "kid"));
    if (*kid == NULL || **kid == '\0' || strlen(*kid) != json_string_length(json_object_get(jwk, "kid")) ||
        strlen(*kid) > MAX_KID_LEN)
        return NULL;
    if (use != NULL && !(json_is_string(use) && strcmp(json_string_value(use), "sig") == 0))
        return NULL;
    /* the key's own alg decides what it verifies: a verifier never guesses it from kty, nor from a token */
    if ((alg_name = json_string_value(json_object_get(jwk, "alg"))) == NULL || as_alg_parse(alg_name, &alg) != 0)
        return NULL;
    if (as_key_from_public_jwk(alg, jwk, &key) != 0)
        return NULL;
    return key;
}

int asv__jwks_parse(const char *body, size_t len, asv__keyset_t **out, size_t *ignored, char *reason, size_t reasonlen)
{
    json_t *doc, *keys, *jwk;
    asv__keyset_t *ks;
    size_t i, j;

    *out = NULL;
    *ignored = 0;
    if ((doc = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL)) == NULL || !json_is_object(doc) ||
        !json_is_array(keys = json_object_get(doc, "keys"))) {
        json_decref(doc);
        asv__reason(reason, reasonlen, "the JWKS is not a JSON object with a \"keys\" array");
        return ASV_ERR_BAD_DOCUMENT;
    }
    if (json_array_size(keys) > MAX_KEYS) {
        json_decref(doc);
        asv__reason(reason, reasonlen, "the JWKS has more than %d keys", MAX_KEYS);
        return ASV_ERR_BAD_DOCUMENT;
    }

    ks = asv__keyset_new();
    ks->keys = as_calloc(json_array_size(keys), sizeof(*ks->keys));
    json_array_foreach(keys, i, jwk)
    {
        const char *kid = NULL;
        as_key_t *key = load_jwk(jwk, &kid);
        if (key == NULL) {
            ++*ignored;
            continue;
        }
        ks->keys[ks->count].kid = as_strdup(kid);
        ks->keys[ks->count].key = key;
        ++ks->count;
    }
    /* a kid named twice is ambiguous: use neither key rather than whichever came first */
    for (i = 0; i < ks->count; ++i) {
        int dup = 0;
        for (j = i + 1; j < ks->count; ++j) {
            if (strcmp(ks->keys[i].kid, ks->keys[j].kid) == 0) {
                free(ks->keys[j].kid);
                as_key_release(ks->keys[j].key);
                ks->keys[j--] = ks->keys[--ks->count];
                ++*ignored;
                dup = 1;
            }
        }
        if (dup) {
            free(ks->keys[i].kid);
            as_key_release(ks->keys[i].key);
            ks->keys[i--] = ks->keys[--ks->count];
            ++*ignored;
        }
    }
    json_decref(doc);
    *out = ks;
    return 0;
}
