/*
 * crypto/tls — the TLS server context (certificate chain, private key,
 * TLS 1.2 at least); ALPN is registered by the HTTP layer.
 */
#include <openssl/err.h>
#include <stdlib.h>
#include <openssl/ssl.h>
#include "authsvc/as.h"
#include "authsvc/crypto/crypto.h"

SSL_CTX *as_tls_server_ctx(const char *cert_file, const char *key_file)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL)
        abort();
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
    if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1 || SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
        char buf[256];
        ERR_error_string_n(ERR_get_error(), buf, sizeof(buf));
        ERR_clear_error();
        as_error("cannot load the TLS certificate %s or key %s: %s", cert_file, key_file, buf);
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

void as_tls_ctx_free(struct ssl_ctx_st *ctx)
{
    if (ctx != NULL)
        SSL_CTX_free(ctx);
}
