/*
 * oauth/issue — signs an access token and writes the RFC 6749 §5.1 token
 * response around it (interface in issue.h).
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "authsvc/as.h"
#include "authsvc/http/respond.h"
#include "authsvc/oauth/issue.h"
#include "authsvc/token/jwt.h"

void as_oauth_send_tokens(h2o_req_t *req, const as_oauth_config_t *cfg, const as_keyset_t *keys, const as_client_t *client,
                          const char *subject, int64_t token_version, const char *scope,
                          const uint8_t refresh[AS_REFRESH_RAW_LEN], json_t *extra)
{
    const as_keyset_entry_t *signer = keys->entries + keys->active;
    int ttl = client->access_ttl > 0 ? client->access_ttl : cfg->access_ttl;
    const char *issuer_only[] = {cfg->issuer};
    as_access_claims_t claims = {
        .issuer = cfg->issuer,
        .subject = subject,
        .client_id = client->client_id,
        .scope = scope,
        /* a client with no audience of its own gets tokens for authsvc itself (e.g. /account/password) */
        .audiences = client->audiences.len != 0 ? client->audiences.items : issuer_only,
        .num_audiences = client->audiences.len != 0 ? client->audiences.len : 1,
        .token_version = token_version,
        .issued_at = (int64_t)time(NULL),
        .lifetime = ttl,
    };
    char *jwt, jti[AS_JTI_LEN + 1];
    json_t *body;

    if (as_jwt_mint_access(signer->key, signer->kid, &claims, &jwt, jti) != 0) {
        as_error("signing an access token with key %s failed", signer->kid);
        json_decref(extra);
        as_http_oauth_error(req, AS_OAUTH_SERVER_ERROR, "internal error", 0);
        return;
    }
    body = json_pack("{s:s, s:s, s:i}", "access_token", jwt, "token_type", "Bearer", "expires_in", ttl);
    as_wipe(jwt, strlen(jwt));
    free(jwt);
    if (scope != NULL && scope[0] != '\0')
        json_object_set_new(body, "scope", json_string(scope));
    if (refresh != NULL) {
        char text[AS_REFRESH_TOKEN_LEN + 1];
        as_refresh_format(refresh, text);
        json_object_set_new(body, "refresh_token", json_string(text));
        as_wipe(text, sizeof(text));
    }
    if (extra != NULL) {
        json_object_update(body, extra);
        json_decref(extra);
    }
    as_debug("issued access token jti=%s client=%s sub=%s", jti, client->client_id, subject);
    as_http_send_json(req, 200, body, AS_RESP_NO_STORE);
}
