/*
 * oauth/issue — signs an access token (and an id_token) and writes the RFC
 * 6749 §5.1 token response around it (interface in issue.h). No JSON tree and
 * no heap memory that outlives the call: the token and the body are in the
 * request's pool, and whatever held a secret on the way is wiped.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "authsvc/as.h"
#include "authsvc/base/jsonw.h"
#include "authsvc/http/respond.h"
#include "authsvc/oauth/issue.h"
#include "authsvc/token/jwt.h"

void as_oauth_send_tokens(h2o_req_t *req, const as_oauth_config_t *cfg, const as_keyset_t *keys, const as_client_t *client,
                          const as_token_response_t *r)
{
    const as_keyset_entry_t *signer = keys->entries + keys->active;
    int ttl = client->access_ttl > 0 ? client->access_ttl : cfg->access_ttl;
    const char *issuer_only[] = {cfg->issuer};
    int64_t now = (int64_t)time(NULL);
    as_access_claims_t claims = {
        .issuer = cfg->issuer,
        .subject = r->subject,
        .client_id = client->client_id,
        .scope = r->scope,
        /* a client with no audience of its own gets tokens for authsvc itself (e.g. /account/password) */
        .audiences = client->audiences.len != 0 ? client->audiences.items : issuer_only,
        .num_audiences = client->audiences.len != 0 ? client->audiences.len : 1,
        .token_version = r->token_version,
        .issued_at = now,
        .lifetime = ttl,
        .jti = r->jti,
    };
    char jti[AS_JTI_LEN + 1], *id_token = NULL;
    char refresh[AS_REFRESH_TEXT_MAX + 1];
    h2o_iovec_t access;

    if (as_jwt_mint_access_pool(&req->pool, signer->key, signer->kid, &claims, &access, jti) != 0)
        goto SignFailed;
    if (r->id_token) {
        as_id_claims_t id = {.issuer = cfg->issuer,
                             .subject = r->subject,
                             .audience = client->client_id,
                             .nonce = r->nonce,
                             .sid = r->sid,
                             .access_token = access.base,
                             .auth_time = r->auth_time,
                             .issued_at = now,
                             .lifetime = ttl};
        if (as_jwt_mint_id(signer->key, signer->kid, &id, &id_token) != 0)
            goto SignFailed;
    }
    if (r->refresh != NULL)
        as_refresh_format(keys->refresh_key, r->refresh, refresh);

    /* every member's length is bounded: the tokens are base64url, the scope was checked (printable ASCII) */
    size_t cap = access.len + (id_token != NULL ? strlen(id_token) : 0) + (r->scope != NULL ? strlen(r->scope) * 6 : 0) +
                 sizeof(refresh) + 256;
    as_jsonw_t w;
    as_jsonw_init(&w, h2o_mem_alloc_pool(&req->pool, cap), cap);
    /* JWS compact form is base64url and dots: nothing in it needs escaping */
    as_jsonw_raw(&w, H2O_STRLIT("{\"access_token\":\""));
    as_jsonw_raw(&w, access.base, access.len);
    as_jsonw_raw(&w, "\"", 1);
    as_jsonw_raw(&w, H2O_STRLIT(",\"token_type\":\"Bearer\""));
    as_jsonw_member_int(&w, "expires_in", ttl);
    if (r->scope != NULL && r->scope[0] != '\0') {
        as_jsonw_member_str(&w, "scope", r->scope);
    }
    if (r->refresh != NULL) {
        as_jsonw_member_str(&w, "refresh_token", refresh);
        as_wipe(refresh, sizeof(refresh));
    }
    if (id_token != NULL) {
        as_jsonw_member_str(&w, "id_token", id_token);
        as_wipe(id_token, strlen(id_token));
        free(id_token);
    }
    if (r->token_version_member > 0) {
        as_jsonw_member_int(&w, "token_version", r->token_version_member);
    }
    as_jsonw_raw(&w, "}", 1);
    if (w.failed) {
        as_error("the token response for client %s did not fit its buffer", client->client_id);
        as_http_oauth_error(req, AS_OAUTH_SERVER_ERROR, "internal error", 0);
        return;
    }
    as_debug("issued access token jti=%s client=%s sub=%s", jti, client->client_id, r->subject);
    as_http_send_json_text(req, 200, w.buf, w.len, AS_RESP_NO_STORE);
    return;

SignFailed:
    as_error("signing a token with key %s failed", signer->kid);
    free(id_token);
    as_http_oauth_error(req, AS_OAUTH_SERVER_ERROR, "internal error", 0);
}
