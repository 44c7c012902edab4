/*
 * crypto/ — the only module that includes <openssl/...> and <argon2.h>.
 *
 * A libsodium-like surface: fixed sizes as macros, 0 / -1 returns, and
 * warn_unused_result on everything that verifies, so that callers never
 * compare tags themselves. Every function here is thread-safe and may be
 * called from any thread; nothing here blocks on I/O. Password hashing is
 * CPU-heavy (tens of milliseconds): call it from a worker thread, never from
 * an event loop.
 */
#ifndef AS_CRYPTO_H
#define AS_CRYPTO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <jansson.h>

#define AS_WUR __attribute__((warn_unused_result))

#define AS_SHA256_LEN 32
#define AS_HMAC_SHA256_LEN 32
/** Length of the base64url (no padding) encoding of n bytes, without the NUL. */
#define AS_B64URL_ENCLEN(n) ((((n) / 3) * 4) + (((n) % 3) ? ((n) % 3) + 1 : 0))
/** Upper bound of the decoded size of n base64url characters. */
#define AS_B64URL_DECLEN(n) ((((n) + 3) / 4) * 3)
/** A kid is the RFC 7638 JWK thumbprint: base64url(SHA-256) = 43 characters. */
#define AS_KID_LEN AS_B64URL_ENCLEN(AS_SHA256_LEN)
/** Large enough for any signature we make (RSA up to 4096 bits). */
#define AS_SIG_MAX 512
/** Large enough for an argon2id PHC string with our parameters, NUL included. */
#define AS_PWHASH_MAX 128
/** Longest password accepted by as_pwhash / as_pwhash_verify (bytes). */
#define AS_PASSWORD_MAX 1024

/* --- process ------------------------------------------------------------ */

/**
 * Gives OpenSSL a per-thread cache of freed small blocks (crypto/mem.c): an ES256 signature allocates and frees
 * some forty. Call it first thing in main(), before anything uses OpenSSL (it must be the first allocation OpenSSL
 * makes); a library must not call it (the setting is process-wide). Returns 0, or -1 when it is too late, or
 * under AddressSanitizer (which must see every free): OpenSSL then uses malloc as before.
 */
int as_crypto_mem_init(void);

/**
 * Hands the calling thread's cached blocks back to malloc. A cached block keeps its page resident, and the blocks
 * that stay at the bottom of the cache for good hold pages that malloc_trim could otherwise return: RSS crept up
 * by a megabyte or two over millions of requests. Each event thread calls it once a second, just before the
 * process trims its arenas; the cache refills on the next signature.
 */
void as_crypto_mem_release(void);

/* --- encoding ----------------------------------------------------------- */

/**
 * Encodes `len` bytes as base64url without padding into `out`, which must hold
 * AS_B64URL_ENCLEN(len) + 1 bytes; NUL-terminates. Returns the length written.
 */
size_t as_b64url_encode(const void *in, size_t len, char *out);

/**
 * The same encoding through a lookup table, several times faster: for data that is public anyway (a JWT's
 * header, claims and signature), never for a secret (memory accesses depend on the data).
 */
size_t as_b64url_encode_public(const void *in, size_t len, char *out);

/**
 * Strict base64url decoding (RFC 7515 §2): no padding, no whitespace, only the
 * URL-safe alphabet, a length of 1 mod 4 refused, and non-zero unused trailing
 * bits refused (so every byte string has exactly one accepted encoding).
 * `out` must hold AS_B64URL_DECLEN(len) bytes. Returns the decoded length, or -1.
 */
ssize_t as_b64url_decode(const char *in, size_t len, void *out) AS_WUR;

/* --- primitives --------------------------------------------------------- */

/** Fills `buf` from the OpenSSL CSPRNG; aborts the process if it fails. */
void as_random_bytes(void *buf, size_t len);

/** Constant-time equality of two buffers of the same length: 0 if equal, -1 if not. */
int as_memeq(const void *a, const void *b, size_t len) AS_WUR;

/** Overwrites `len` bytes at `p` in a way the compiler may not elide. */
void as_wipe(void *p, size_t len);

void as_sha256(const void *data, size_t len, uint8_t out[AS_SHA256_LEN]);

#define AS_SHA512_LEN 64
void as_sha512(const void *data, size_t len, uint8_t out[AS_SHA512_LEN]);

void as_hmac_sha256(const void *key, size_t keylen, const void *data, size_t len, uint8_t out[AS_HMAC_SHA256_LEN]);

/* --- signing keys and JWS ----------------------------------------------- */

typedef enum en_as_alg_t {
    AS_ALG_ES256 = 0, /* ECDSA P-256 + SHA-256, JWS signature is raw r||s (64 bytes) */
    AS_ALG_EDDSA,     /* Ed25519 (RFC 8037) */
    AS_ALG_RS256,     /* RSASSA-PKCS1-v1_5 + SHA-256, 2048-bit keys by default */
} as_alg_t;

/** "ES256", "EdDSA", "RS256". */
const char *as_alg_name(as_alg_t alg);
/** Parses a JWS alg name (case-sensitive). Returns 0, or -1 if unsupported. */
int as_alg_parse(const char *name, as_alg_t *alg) AS_WUR;

/**
 * A signing or verification key. Immutable once made and reference counted,
 * so that one key can be used by several threads at once and dropped by the
 * last one holding it.
 */
typedef struct st_as_key_t as_key_t;

/** Generates a new private key for `alg`. Returns 0 or -1. Owner: the caller (as_key_release). */
int as_key_generate(as_alg_t alg, as_key_t **out);

/**
 * Loads a private key from PEM (PKCS#8) text. The algorithm is `alg` and must
 * fit the key type (P-256 for ES256, Ed25519 for EdDSA, RSA >= 2048 bits for
 * RS256). Returns 0 or -1.
 */
int as_key_load_private_pem(as_alg_t alg, const char *pem, size_t len, as_key_t **out);

/**
 * Makes a public-only key from a JWK object (kty/crv/x/y, kty/crv/x, kty/n/e)
 * with algorithm `alg`. Returns 0 or -1 (including when the JWK does not match
 * `alg`, or holds private members we refuse to read).
 */
int as_key_from_public_jwk(as_alg_t alg, json_t *jwk, as_key_t **out);

/** Writes the private key as unencrypted PKCS#8 PEM into a malloc'd, NUL-terminated string. */
int as_key_private_pem(const as_key_t *key, char **pem, size_t *len);

as_alg_t as_key_alg(const as_key_t *key);
int as_key_is_private(const as_key_t *key);

/**
 * The public JWK of the key, with kty and the curve/modulus members, plus
 * "kid" (as_key_thumbprint), "alg" and "use":"sig". New reference: json_decref it.
 */
json_t *as_key_public_jwk(const as_key_t *key);

/** RFC 7638 SHA-256 JWK thumbprint, base64url, NUL-terminated (AS_KID_LEN + 1 bytes). */
int as_key_thumbprint(const as_key_t *key, char out[AS_KID_LEN + 1]);

/**
 * Signs `len` bytes (the JWS signing input) with the key's algorithm and
 * writes the JWS signature bytes (raw r||s for ES256) to `sig`, which holds
 * AS_SIG_MAX bytes. Returns 0 and sets *siglen, or -1.
 */
int as_jws_sign(const as_key_t *key, const void *input, size_t len, uint8_t *sig, size_t *siglen);

/** Verifies a JWS signature made by as_jws_sign (or anyone else). 0 if valid, -1 otherwise. */
int as_jws_verify(const as_key_t *key, const void *input, size_t len, const uint8_t *sig, size_t siglen) AS_WUR;

as_key_t *as_key_retain(as_key_t *key);
void as_key_release(as_key_t *key);

/* --- passwords (argon2id) ------------------------------------------------- */

/** Our argon2id cost: t=2, m=19 MiB, p=1 (OWASP's minimum). */
#define AS_ARGON2_T_COST 2
#define AS_ARGON2_M_COST_KIB 19456
#define AS_ARGON2_PARALLELISM 1

/**
 * Hashes a password with argon2id and a fresh 16-byte salt; writes the PHC
 * string into `out`. Returns 0, or -1 (empty or over-long password). CPU-heavy.
 */
int as_pwhash(const char *pw, size_t len, char out[AS_PWHASH_MAX]) AS_WUR;

/**
 * Verifies a password against a PHC string (argon2id only; costs are read from
 * the string but bounded so that a hostile hash cannot exhaust memory).
 * Returns 0 if it matches, -1 otherwise. CPU-heavy.
 */
int as_pwhash_verify(const char *phc, const char *pw, size_t len) AS_WUR;

/**
 * Makes the calling thread keep argon2's working memory (19 MiB with our cost) from one hash to the next, until it
 * ends: for the threads that do nothing else (the hashing workers). Other threads map it for each hash and unmap it
 * after.
 */
void as_pwhash_keep_memory(void);

/* --- TLS ------------------------------------------------------------------------ */

struct ssl_ctx_st;

/**
 * A server TLS context (TLS 1.2+, no compression or renegotiation) with the
 * certificate chain and key of these PEM files; the caller adds ALPN. NULL
 * (logged) if the files do not load or do not match. Owner: the caller (SSL_CTX_free).
 */
struct ssl_ctx_st *as_tls_server_ctx(const char *cert_file, const char *key_file);

/** Frees a context of as_tls_server_ctx (NULL is fine). */
void as_tls_ctx_free(struct ssl_ctx_st *ctx);

#endif
