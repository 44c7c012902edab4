/*
 * oauth/issue — signs an access token (and an OpenID Connect id_token after a
 * browser login) and writes the RFC 6749 §5.1 token response around it
 * (interface in issue.h).
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "authsvc/as.h"
#include "authsvc/http/respond.h"
#include "authsvc/oauth/issue.h"
#include "authsvc/token/jwt.h"

/** Signs the access token (with `jti`, or a fresh one), and the id_token when `login` is given; answers. */
static void send_tokens(h2o_req_t *req, const as_oauth_config_t *cfg, const as_keyset_t *keys, const as_client_t *client,
                        const char *subject, int64_t token_version, const char *scope, const uint8_t refresh[AS_REFRESH_RAW_LEN],
                        const char *given_jti, const as_oauth_login_t *login, json_t *extra)
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
        .jti = given_jti,
    };
    char *jwt, *id_token = NULL, jti[AS_JTI_LEN + 1];
    json_t *body;

    if (as_jwt_mint_access(signer->key, signer->kid, &claims, &jwt, jti) != 0) {
        as_error("signing an access token with key %s failed", signer->kid);
        json_decref(extra);
        as_http_oauth_error(req, AS_OAUTH_SERVER_ERROR, "internal error", 0);
        return;
    }
    if (login != NULL) {
        as_id_claims_t id = {
            .issuer = cfg->issuer,
            .subject = subject,
            .audience = client->client_id,
            .nonce = login->nonce,
            .sid = login->sid,
            .access_token = jwt,
            .auth_time = login->auth_time,
            .issued_at = claims.issued_at,
            .lifetime = ttl,
        };
        if (as_jwt_mint_id(signer->key, signer->kid, &id, &id_token) != 0) {
            as_error("signing an id_token with key %s failed", signer->kid);
            as_wipe(jwt, strlen(jwt));
            free(jwt);
            json_decref(extra);
            as_http_oauth_error(req, AS_OAUTH_SERVER_ERROR, "internal error", 0);
            return;
        }
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
    if (id_token != NULL) {
        json_object_set_new(body, "id_token", json_string(id_token));
        as_wipe(id_token, strlen(id_token));
        free(id_token);
    }
    if (extra != NULL) {
        json_object_update(body, extra);
        json_decref(extra);
    }
    as_debug("issued access token jti=%s client=%s sub=%s", jti, client->client_id, subject);
    as_http_send_json(req, 200, body, AS_RESP_NO_STORE);
}

void as_oauth_send_tokens(h2o_req_t *req, const as_oauth_config_t *cfg, const as_keyset_t *keys, const as_client_t *client,
                          const char *subject, int64_t token_version, const char *scope, const uint8_t refresh[AS_REFRESH_RAW_LEN],
                          json_t *extra)
{
    send_tokens(req, cfg, keys, client, subject, token_version, scope, refresh, NULL, NULL, extra);
}

void as_oauth_send_code_tokens(h2o_req_t *req, const as_oauth_config_t *cfg, const as_keyset_t *keys, const as_client_t *client,
                               const char *subject, int64_t token_version, const char *scope,
                               const uint8_t refresh[AS_REFRESH_RAW_LEN], const char *jti, const as_oauth_login_t *login)
{
    send_tokens(req, cfg, keys, client, subject, token_version, scope, refresh, jti, login, NULL);
}
