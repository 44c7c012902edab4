/*
 * Unit tests for authsvc/crypto: published test vectors (RFC 4648, FIPS 180-2, RFC 4231, RFC 7515, RFC 7638, RFC 8037)
 * plus the refusals callers rely on (strict base64url, fixed-length JWS signatures, key types, bounded argon2id costs).
 *
 * <argon2.h> is included only to make argon2i / foreign argon2id hashes that as_pwhash cannot make, and <openssl/err.h>
 * only to check that crypto/ leaves nothing in OpenSSL's per-thread error queue.
 */
#include <check.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <malloc.h>
#include <argon2.h>
#include <openssl/err.h>
#include "authsvc/crypto/crypto.h"
#include "authsvc/crypto/thread.h"
#include "check_run.h"

/* --- helpers -------------------------------------------------------------- */

static size_t unhex(const char *hex, uint8_t *out)
{
    size_t n = strlen(hex) / 2;
    for (size_t i = 0; i != n; ++i) {
        unsigned v;
        ck_assert_int_eq(sscanf(hex + 2 * i, "%2x", &v), 1);
        out[i] = (uint8_t)v;
    }
    return n;
}

static double now_sec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/** Base64url of a signature, for comparing with the strings the RFCs print. */
static void sig_b64(const uint8_t *sig, size_t len, char *out)
{
    ck_assert_uint_le(len, AS_SIG_MAX);
    as_b64url_encode(sig, len, out);
}

static const char *jwk_get(json_t *jwk, const char *name)
{
    json_t *v = json_object_get(jwk, name);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/** A DER INTEGER of the unsigned big-endian `v`, as ECDSA signatures in X.509 / OpenSSL carry r and s. */
static size_t der_int(const uint8_t *v, size_t len, uint8_t *out)
{
    size_t o = 0;
    while (len > 1 && v[0] == 0)
        ++v, --len;
    out[o++] = 0x02;
    out[o++] = (uint8_t)(len + ((v[0] & 0x80) ? 1 : 0));
    if (v[0] & 0x80)
        out[o++] = 0;
    memcpy(out + o, v, len);
    return o + len;
}

/** The same ES256 signature in the DER form (SEQUENCE { r, s }) that JWS forbids. */
static size_t es256_raw_to_der(const uint8_t raw[64], uint8_t out[72])
{
    uint8_t body[70];
    size_t n = der_int(raw, 32, body);
    n += der_int(raw + 32, 32, body + n);
    out[0] = 0x30;
    out[1] = (uint8_t)n;
    memcpy(out + 2, body, n);
    return n + 2;
}

/* --- fixtures: RFC keys as PKCS#8 PEM -------------------------------------- */

/*
 * The RSA key of RFC 7515 Appendix A.2.1, as PKCS#8. Produced once from the JWK the RFC prints (n, e, d, p, q, dp, dq,
 * qi, base64url-decoded to hex) with
 *     openssl asn1parse -genconf rsa.cnf -out rsa.der -noout     # rsa.cnf: asn1=SEQUENCE:k / [k] version=INTEGER:0,
 *                                                                #   n=INTEGER:0x..., e=..., d=..., p=..., q=..., dp=...
 *     openssl pkey -inform DER -in rsa.der -out rfc7515_rsa.pem  # RSAPrivateKey -> PKCS#8
 * and `openssl pkey -check` called it valid. The test below also checks that its public JWK has the RFC's n and e.
 */
static const char RFC7515_RSA_PEM[] = "-----BEGIN PRIVATE KEY-----\n"
                                      "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQCh+BYK4uPJtGXO\n"
                                      "jS1lYmM2K5J9vinh8CR3/BYlzJChNuOL2TSXxbbqY913EeZ8dCn5VrD7io8ImtxL\n"
                                      "aYk8wTM/U+3QGbh3hCUv7JFP5IV3aVlL6kKA0ywPVb9ilE8TA5a8bpvfbr3SvaNn\n"
                                      "juygxmj3AbONv/s4yDQs4v5tJ/reSlpIdJed1LnPmt7Ex1sFhSwsD174pcF1A5L5\n"
                                      "ROjtZMEQxrZHYJqkeDrrnGya11UxMFBji4NmXG9veoKjlnAqH2QbgtPr8jkiGUkf\n"
                                      "toaHLFcW9Qr4NY2ai50Xw0Byj3+H2JoY2PyrZ62EWQwuz3WTOTY8BwNNb2BvniHg\n"
                                      "VFbK5emhAgMBAAECggEAEq5xpGnNCivDflJsRQBXHx1hdR1k6Ulwe2JZD50LpXyW\n"
                                      "PEAeP88vLNO97IjlA7/GQ5sLKMgvfTeXZx9SE+7YwVol2NXOoAJe46sui395IW/G\n"
                                      "O+pWJ1O0BkTGoVEn2bKVRUCgu+GjBVaYLU6f3l9kJfFNS3E0QbVdxzubSu3Mkqzj\n"
                                      "kn439X0M/V51gfpRLI9JYanrC4D4qAdGcopV/0ZHHzQlBjudU2QvXt4ehNYTCBr6\n"
                                      "XCLQUShb1juUO1ZdiYoFaFQT5Tw8bGUl/x/jTj3ccPDVZFD9pIuhLhBOneufuBiB\n"
                                      "4cS98l2SR/RQyGWSeWjnczT0QU91p1DhOVRuOopznQKBgQDgHMQQ60imZV1URk0K\n"
                                      "pLttoLhyt3SmqdEf/kgHePDdtzEafpAu+cS191R2JiuoF2yzWXnwFDcqGigp5BNr\n"
                                      "0AHQfD8/Lk8l1Mk09jxxCfui5nYooNyac8YFjm3vItzVCVDnEd3BbVWG8qf6deqE\n"
                                      "lMGAg+C2V0L4oNXnP7LZcPAZRwKBgQC5A8R+CZW2MvRTLLHzwZkUXV866cff7tx6\n"
                                      "kqa0finGG0KgeqlaZPxgCZnFp7AeAcCMtiynVlJ7vMVgePsLq6XtON4tB5kP9jAP\n"
                                      "rq3rbAOal78eUH5OcED6eNuCV8ixEu1eWcPNCS/l1OW1EnXUEoEHKl54Xrrz2uNw\n"
                                      "kgMTP1FZ1wKBgAcCn1dwJKufzBWQxWQp1vsM5fggqPN1qGb5y0MAk3g7/Ls5bkUp\n"
                                      "5u9SN0Ai3Ya6hNnvWJMb7sXQX6U/zyO2M/hTip7tUeh7CXgwo59dkpN75gJLVds2\n"
                                      "9+DAncu3KXU4f2Fa+7bLNrur53k8KwPOq2bbuTG69QtV7Jr5MR0AHWKNAoGBAIf/\n"
                                      "evpitUf+4JYbLpvNXWcY052Mpz22aR84mY3nh3F2LF2mjMJDpTg7FmuyPcVw6EcG\n"
                                      "yoAe9fa65iNqCq+jdw6PVNGo2hxfjSiZ8IIzHdsPXI89//pMjZcQK9r+CCoRjaZj\n"
                                      "OYiIDktVWZzmevJuv6WywUqd57LE3Zar3dLSIkx1AoGAIYd7DHOhrWvxkwPQsRM2\n"
                                      "tOgrjbcrfvtQJipd+DlcxyVuuM9sQLdgjVk2oy26F0EmpScGLq2MowX7fhd/QJQ3\n"
                                      "ydy5cY7YIBi87w93IKLEdfnbJtoOPLUW0ITrJReOgo1cq9SbsxYawBgfp/gh6A56\n"
                                      "03k2+ZQwVK0JKSHuLFkuQ3U=\n"
                                      "-----END PRIVATE KEY-----\n";

static const char RFC7515_N[] =
    "ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-"
    "SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-"
    "KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-"
    "DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ";

/*
 * The Ed25519 key of RFC 8037 Appendix A.1 (d = nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A) as PKCS#8, produced with
 *     openssl asn1parse -genconf ed.cnf -out ed.der -noout   # SEQUENCE { INTEGER 0, SEQUENCE { OID 1.3.101.112 },
 *     openssl pkey -inform DER -in ed.der -out ed.pem        #            OCTET STRING { OCTET STRING d } }
 * The base64 above visibly ends in d (9d61b19d...ae7f60); the test checks that its public key is the RFC's x.
 */
static const char RFC8037_ED25519_PEM[] = "-----BEGIN PRIVATE KEY-----\n"
                                          "MC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g\n"
                                          "-----END PRIVATE KEY-----\n";

/* Refusal fixtures, from `openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384` and `... RSA rsa_keygen_bits:1024`. */
static const char P384_PEM[] = "-----BEGIN PRIVATE KEY-----\n"
                               "MIG2AgEAMBAGByqGSM49AgEGBSuBBAAiBIGeMIGbAgEBBDCy/Qf3qd49anSipSgy\n"
                               "wYXB99WfZD1LDxsO8ZBZKzQ4JkU4VCTrMkLYkw2XdfAd1GuhZANiAATfDGcL1YYr\n"
                               "cMHXYaz7HZRcArarQivf58EQsi3G5HHqECP1/PGNV8NWcXmGpIL+VLGQJ+thN7s6\n"
                               "gnR/RYEbD1RaGyOcWrDY9Wc697rN/15fJkzXyNEeQZk7oQoyjhvxTaE=\n"
                               "-----END PRIVATE KEY-----\n";

static const char RSA1024_PEM[] = "-----BEGIN PRIVATE KEY-----\n"
                                  "MIICdgIBADANBgkqhkiG9w0BAQEFAASCAmAwggJcAgEAAoGBANRv2fCXwzbWni8v\n"
                                  "onjC8w+EY/TAsYBDOhJTTP6058KIO2G4OycsYxdVmA6TYZJfWj4U390iQanfy4we\n"
                                  "xOyM3MN9iM/RgS4xtGZq4vmHBXfus8OoU9N7lMd8nBHCa+N3ApVm6AVSvyCzMH2R\n"
                                  "jPvRD7Pp/4aBa+5hYuS2YoFNuvXLAgMBAAECgYAeaIhUxRR/dAcej/38tUMflH7O\n"
                                  "WQrPZlAYsW3TA8gs8100pq9o8xSYEXt7kqMj1ZxQSKKmv7GQhGVZgEoF5j/vRMxv\n"
                                  "hmMpr9kB1Ixfz6U9tECp3T7x+LmYQoz5qkBldSOr32lf4T0iTjKSbv3Ev0otGkdm\n"
                                  "R1o3T69pQynyfqO3wQJBAPnAoOUcAw9NCRURbbqg9pC4MvyWupB7DstfqJDeLZ/k\n"
                                  "9s4JSIWcHJhCMLKle0jaqrrli1yHhHbKqsnudFP9JOECQQDZwEK2ge3lqpYw1gn7\n"
                                  "rvDUfVlwoqzqrPlyFRTPJaMh8G2jV6XjkXDJ/pMgAsVojcUHypTe9rvlVdxAXKVX\n"
                                  "qkQrAkAURCNKNBmzdibUhNOIn2Miny/T+08sRjAPJLYC+2RsYyH72hj+boqLeGOH\n"
                                  "O5JjeQr9m37RhVWkZhGxzR23awVBAkEAsJgqApWw99e24nhTtFgWXF4kUSK9Fb2e\n"
                                  "t5S9QZoGiRnR8Oy+Tqa/UDIz43wb2UVQi5cR0RlNHRra+x+nwEcH7QJAUuvJZGgm\n"
                                  "D8nd/wwAXTYWvDvb0A4R9/XGyDYlAGTlB2tMHTB7gHoOEmFVuI0oWkvVVEDLLpKK\n"
                                  "rFx5e/VVz4NrKw==\n"
                                  "-----END PRIVATE KEY-----\n";

static as_key_t *load_pem(as_alg_t alg, const char *pem)
{
    as_key_t *key = NULL;
    ck_assert_int_eq(as_key_load_private_pem(alg, pem, strlen(pem), &key), 0);
    ck_assert_ptr_nonnull(key);
    return key;
}

static int try_load_pem(as_alg_t alg, const char *pem)
{
    as_key_t *key = NULL;
    int ret = as_key_load_private_pem(alg, pem, strlen(pem), &key);
    if (ret == 0)
        as_key_release(key);
    return ret;
}

/* --- base64url -------------------------------------------------------------- */

START_TEST(test_b64url_rfc4648_vectors)
{
    /* RFC 4648 §10, without the padding; the last two exercise the two characters where base64url differs */
    static const struct {
        const char *bin;
        size_t len;
        const char *enc;
    } v[] = {
        {"", 0, ""},
        {"f", 1, "Zg"},
        {"fo", 2, "Zm8"},
        {"foo", 3, "Zm9v"},
        {"foob", 4, "Zm9vYg"},
        {"fooba", 5, "Zm9vYmE"},
        {"foobar", 6, "Zm9vYmFy"},
        {"\xfb\xff\xbf", 3, "-_-_"}, /* "+/+/" in base64 */
        {"\xfb\xf0", 2, "-_A"},      /* "+/A=" in base64 */
    };
    for (size_t i = 0; i != sizeof(v) / sizeof(v[0]); ++i) {
        char enc[16];
        uint8_t dec[16];
        ck_assert_uint_eq(as_b64url_encode(v[i].bin, v[i].len, enc), strlen(v[i].enc));
        ck_assert_uint_eq(AS_B64URL_ENCLEN(v[i].len), strlen(v[i].enc));
        ck_assert_str_eq(enc, v[i].enc);
        ck_assert_int_eq(as_b64url_decode(v[i].enc, strlen(v[i].enc), dec), (ssize_t)v[i].len);
        ck_assert_mem_eq(dec, v[i].bin, v[i].len);
    }
}
END_TEST

START_TEST(test_b64url_roundtrip)
{
    for (size_t len = 0; len <= 64; ++len) {
        uint8_t bin[64], dec[AS_B64URL_DECLEN(AS_B64URL_ENCLEN(64))];
        char enc[AS_B64URL_ENCLEN(64) + 1];
        as_random_bytes(bin, len);
        ck_assert_uint_eq(as_b64url_encode(bin, len, enc), AS_B64URL_ENCLEN(len));
        ck_assert_uint_eq(strlen(enc), AS_B64URL_ENCLEN(len));
        ck_assert_uint_eq(strspn(enc, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"), strlen(enc));
        ck_assert_int_eq(as_b64url_decode(enc, strlen(enc), dec), (ssize_t)len);
        ck_assert_mem_eq(dec, bin, len);
    }
}
END_TEST

START_TEST(test_b64url_rejects)
{
    /* each is one defect away from an accepted string: Zg, Zm8, Zm9v, -w (0xfb), _w (0xff), Zm9vZg */
    static const struct {
        const char *s;
        size_t len;
    } bad[] = {
        {"Zg==", 4},       {"Zm8=", 4},                /* padding */
        {"+w", 2},         {"/w", 2},                  /* the base64 (not url) alphabet */
        {" Zm8", 4},       {"Zm8 ", 4},  {"Zm\t8", 4}, /* whitespace */
        {"Zm9v\r\nZg", 8},                             /* a line break */
        {"Z", 1},          {"Zm9vY", 5},               /* a length of 1 mod 4 */
        {"Zh", 2},         {"Zm9", 3},                 /* non-zero unused bits: "Zg" and "Zm8" are the canonical forms */
        {"Zm\0v", 4},                                  /* an embedded NUL */
        {"Zm\xc3\xa9", 4},                             /* non-ASCII */
    };
    uint8_t out[16];

    for (size_t i = 0; i != sizeof(bad) / sizeof(bad[0]); ++i)
        ck_assert_msg(as_b64url_decode(bad[i].s, bad[i].len, out) == -1, "accepted bad input #%zu", i);
    /* and their neighbours are fine */
    ck_assert_int_eq(as_b64url_decode("-w", 2, out), 1);
    ck_assert_uint_eq(out[0], 0xfb);
    ck_assert_int_eq(as_b64url_decode("_w", 2, out), 1);
    ck_assert_uint_eq(out[0], 0xff);
    ck_assert_int_eq(as_b64url_decode("Zm9vZg", 6, out), 4);
    ck_assert_mem_eq(out, "foof", 4);
}
END_TEST

/** A plain reference decoder (RFC 4648 §5 without padding, strict as as_b64url_decode is): its length, or -1. */
static ssize_t reference_decode(const char *in, size_t len, uint8_t *out)
{
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    unsigned acc = 0, bits = 0;
    size_t o = 0;
    if (len % 4 == 1)
        return -1;
    for (size_t i = 0; i != len; ++i) {
        const char *at = in[i] != '\0' ? strchr(alphabet, in[i]) : NULL;
        if (at == NULL)
            return -1;
        acc = acc << 6 | (unsigned)(at - alphabet);
        if ((bits += 6) >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(acc >> bits);
        }
        acc &= (1U << bits) - 1;
    }
    return acc == 0 ? (ssize_t)o : -1;
}

START_TEST(decoder_agrees_with_a_reference)
{
    /* the word-at-a-time decoder against the plain one: every length to 80 (whole words, tails, both), valid text,
     * text with one byte replaced by anything (each byte value, at each position of a word and of the tail), and
     * non-canonical final characters */
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    char in[80];
    uint8_t got[64], want[64], r[2];

    for (size_t len = 0; len <= sizeof(in); ++len) {
        for (int round = 0; round != 200; ++round) {
            for (size_t i = 0; i != len; ++i) {
                as_random_bytes(r, 1);
                in[i] = alphabet[r[0] & 63];
            }
            if (round % 2 == 1 && len != 0) { /* one byte of any value somewhere */
                as_random_bytes(r, 2);
                in[r[0] % len] = (char)r[1];
            }
            ssize_t a = as_b64url_decode(in, len, got), b = reference_decode(in, len, want);
            ck_assert_msg(a == b, "length %zu round %d: %zd vs %zd", len, round, a, b);
            if (a > 0)
                ck_assert_mem_eq(got, want, (size_t)a);
        }
    }
    /* each byte value at each position of one word */
    for (unsigned c = 0; c != 256; ++c) {
        for (size_t at = 0; at != 8; ++at) {
            memcpy(in, "Zm9vYmFy", 8);
            in[at] = (char)c;
            ck_assert_int_eq(as_b64url_decode(in, 8, got), reference_decode(in, 8, want));
        }
    }
}
END_TEST

/* --- primitives ----------------------------------------------------------- */

START_TEST(test_sha256_abc)
{
    uint8_t got[AS_SHA256_LEN], want[AS_SHA256_LEN];
    unhex("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", want); /* FIPS 180-2 B.1 */
    as_sha256("abc", 3, got);
    ck_assert_mem_eq(got, want, sizeof(want));
}
END_TEST

START_TEST(test_hmac_sha256_rfc4231)
{
    uint8_t key[131], got[AS_HMAC_SHA256_LEN], want[AS_HMAC_SHA256_LEN];
    static const char tc6_data[] = "Test Using Larger Than Block-Size Key - Hash Key First";

    /* test case 1 */
    memset(key, 0x0b, 20);
    as_hmac_sha256(key, 20, "Hi There", 8, got);
    unhex("b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7", want);
    ck_assert_mem_eq(got, want, sizeof(want));
    /* test case 2 */
    as_hmac_sha256("Jefe", 4, "what do ya want for nothing?", 28, got);
    unhex("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843", want);
    ck_assert_mem_eq(got, want, sizeof(want));
    /* test case 6: a key longer than the block size is hashed first */
    memset(key, 0xaa, sizeof(key));
    as_hmac_sha256(key, sizeof(key), tc6_data, strlen(tc6_data), got);
    unhex("60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54", want);
    ck_assert_mem_eq(got, want, sizeof(want));
    /* the empty key (value from Python's hmac module) */
    as_hmac_sha256("", 0, "", 0, got);
    unhex("b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad", want);
    ck_assert_mem_eq(got, want, sizeof(want));
}
END_TEST

/* as_random_bytes serves small draws from a per-thread buffer: every draw is fresh, of any size, and a forked
 * child never hands out the bytes its parent hands out next (the buffer is wiped in the child) */
START_TEST(test_random_draws_and_fork)
{
    uint8_t seen[200][16], big[5000], zero[sizeof(big)] = {0}, mine[16], childs[16];
    int fds[2];
    pid_t pid;

    for (size_t i = 0; i != 200; ++i) { /* more than one buffer's worth */
        as_random_bytes(seen[i], sizeof(seen[i]));
        for (size_t j = 0; j != i; ++j)
            ck_assert_int_ne(memcmp(seen[i], seen[j], sizeof(seen[i])), 0);
    }
    for (size_t len = 1; len <= 65; len += 16) {
        uint8_t a[65] = {0}, b[65] = {0};
        as_random_bytes(a, len);
        as_random_bytes(b, len);
        ck_assert_int_ne(memcmp(a, b, len), 0);
    }
    as_random_bytes(big, sizeof(big));
    ck_assert_int_ne(memcmp(big, zero, sizeof(big)), 0);
    ck_assert_int_ne(memcmp(big + sizeof(big) - 64, zero, 64), 0);

    as_random_bytes(mine, sizeof(mine)); /* the buffer holds more bytes now */
    ck_assert_int_eq(pipe(fds), 0);
    ck_assert_int_ne(pid = fork(), -1);
    if (pid == 0) {
        as_random_bytes(childs, sizeof(childs));
        _exit(write(fds[1], childs, sizeof(childs)) == (ssize_t)sizeof(childs) ? 0 : 1);
    }
    as_random_bytes(mine, sizeof(mine));
    ck_assert_int_eq(read(fds[0], childs, sizeof(childs)), (ssize_t)sizeof(childs));
    ck_assert_int_eq(waitpid(pid, NULL, 0), pid);
    close(fds[0]);
    close(fds[1]);
    ck_assert_int_ne(memcmp(mine, childs, sizeof(mine)), 0);
}
END_TEST

START_TEST(test_memeq_wipe_random)
{
    uint8_t a[32], b[32], zero[32] = {0};

    as_random_bytes(a, sizeof(a));
    ck_assert_int_ne(memcmp(a, zero, sizeof(a)), 0); /* 2^-256 */
    memcpy(b, a, sizeof(a));
    ck_assert_int_eq(as_memeq(a, b, sizeof(a)), 0);
    b[31] ^= 1;
    ck_assert_int_eq(as_memeq(a, b, sizeof(a)), -1);
    b[31] ^= 1;
    b[0] ^= 0x80;
    ck_assert_int_eq(as_memeq(a, b, sizeof(a)), -1);
    ck_assert_int_eq(as_memeq(a, b, 0), 0);
    as_wipe(a, sizeof(a));
    ck_assert_mem_eq(a, zero, sizeof(a));
}
END_TEST

START_TEST(test_alg_parse)
{
    static const char *const refused[] = {"none", "HS256", "es256", "ES256 ", "EDDSA", "rs256", "RS384", "PS256", "Ed25519", ""};
    as_alg_t alg = AS_ALG_RS256;

    ck_assert_int_eq(as_alg_parse("ES256", &alg), 0);
    ck_assert_int_eq(alg, AS_ALG_ES256);
    ck_assert_int_eq(as_alg_parse("EdDSA", &alg), 0);
    ck_assert_int_eq(alg, AS_ALG_EDDSA);
    ck_assert_int_eq(as_alg_parse("RS256", &alg), 0);
    ck_assert_int_eq(alg, AS_ALG_RS256);
    for (size_t i = 0; i != sizeof(refused) / sizeof(refused[0]); ++i)
        ck_assert_msg(as_alg_parse(refused[i], &alg) == -1, "accepted \"%s\"", refused[i]);
    ck_assert_int_eq(as_alg_parse(NULL, &alg), -1);
    ck_assert_str_eq(as_alg_name(AS_ALG_ES256), "ES256");
    ck_assert_str_eq(as_alg_name(AS_ALG_EDDSA), "EdDSA");
    ck_assert_str_eq(as_alg_name(AS_ALG_RS256), "RS256");
}
END_TEST

/* --- RFC vectors for JWS and JWK ------------------------------------------ */

/** "<b64url(header)>.<b64url(payload)>", built with our own encoder. */
static void signing_input(const char *header, const char *payload, char *out)
{
    size_t n = as_b64url_encode(header, strlen(header), out);
    out[n++] = '.';
    as_b64url_encode(payload, strlen(payload), out + n);
}

START_TEST(test_rfc7515_a2_rs256)
{
    static const char want_input[] =
        "eyJhbGciOiJSUzI1NiJ9."
        "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ";
    static const char want_sig[] =
        "cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdbF9CUA"
        "r7t1dnZcAcQjbKBYNX4BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K0GarZRmB_eSN9383LcOL"
        "n6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqvhJ1phCnvWh6IeYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlV"
        "mtVrBp0igcN_IoypGlUPQGe77Rw";
    char input[256], got_sig[AS_B64URL_ENCLEN(AS_SIG_MAX) + 1];
    uint8_t sig[AS_SIG_MAX];
    size_t siglen;
    as_key_t *key = load_pem(AS_ALG_RS256, RFC7515_RSA_PEM), *pub = NULL;
    json_t *jwk = as_key_public_jwk(key), *pubjwk;

    /* the embedded PEM is the RFC's key */
    ck_assert_ptr_nonnull(jwk);
    ck_assert_str_eq(jwk_get(jwk, "kty"), "RSA");
    ck_assert_str_eq(jwk_get(jwk, "n"), RFC7515_N);
    ck_assert_str_eq(jwk_get(jwk, "e"), "AQAB");
    ck_assert_str_eq(jwk_get(jwk, "alg"), "RS256");
    ck_assert_ptr_null(json_object_get(jwk, "d"));
    /* A.2.1: header {"alg":"RS256"}, payload of A.1 with its CRLFs */
    signing_input("{\"alg\":\"RS256\"}", "{\"iss\":\"joe\",\r\n \"exp\":1300819380,\r\n \"http://example.com/is_root\":true}",
                  input);
    ck_assert_str_eq(input, want_input);
    /* RSASSA-PKCS1-v1_5 is deterministic: the signature must be the RFC's, byte for byte */
    ck_assert_int_eq(as_jws_sign(key, input, strlen(input), sig, &siglen), 0);
    ck_assert_uint_eq(siglen, 256);
    sig_b64(sig, siglen, got_sig);
    ck_assert_str_eq(got_sig, want_sig);
    ck_assert_int_eq(as_jws_verify(key, input, strlen(input), sig, siglen), 0);

    /* A.2.2: verification with the public JWK alone */
    pubjwk = json_pack("{s:s, s:s, s:s}", "kty", "RSA", "n", RFC7515_N, "e", "AQAB");
    ck_assert_int_eq(as_key_from_public_jwk(AS_ALG_RS256, pubjwk, &pub), 0);
    ck_assert_int_eq(as_jws_verify(pub, input, strlen(input), sig, siglen), 0);
    input[5] ^= 1;
    ck_assert_int_eq(as_jws_verify(pub, input, strlen(input), sig, siglen), -1);
    input[5] ^= 1;
    sig[100] ^= 0x10;
    ck_assert_int_eq(as_jws_verify(pub, input, strlen(input), sig, siglen), -1);
    sig[100] ^= 0x10;
    ck_assert_int_eq(as_jws_verify(pub, input, strlen(input), sig, siglen - 1), -1);

    json_decref(pubjwk);
    json_decref(jwk);
    as_key_release(pub);
    as_key_release(key);
}
END_TEST

START_TEST(test_rfc8037_a_ed25519)
{
    static const char x[] = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
    static const char want_input[] = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc";
    static const char want_sig[] = "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg";
    static const char want_kid[] = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k";
    char input[128], got_sig[AS_B64URL_ENCLEN(AS_SIG_MAX) + 1], kid[AS_KID_LEN + 1];
    uint8_t sig[AS_SIG_MAX];
    size_t siglen;
    as_key_t *key = load_pem(AS_ALG_EDDSA, RFC8037_ED25519_PEM), *pub = NULL;
    json_t *jwk = as_key_public_jwk(key), *pubjwk;

    /* A.1 / A.2: the public key and the JWK members */
    ck_assert_str_eq(jwk_get(jwk, "kty"), "OKP");
    ck_assert_str_eq(jwk_get(jwk, "crv"), "Ed25519");
    ck_assert_str_eq(jwk_get(jwk, "x"), x);
    ck_assert_str_eq(jwk_get(jwk, "use"), "sig");
    ck_assert_str_eq(jwk_get(jwk, "alg"), "EdDSA");
    /* A.3: the RFC 7638 thumbprint, which is our kid */
    ck_assert_int_eq(as_key_thumbprint(key, kid), 0);
    ck_assert_str_eq(kid, want_kid);
    ck_assert_str_eq(jwk_get(jwk, "kid"), want_kid);
    /* A.4: Ed25519 is deterministic */
    signing_input("{\"alg\":\"EdDSA\"}", "Example of Ed25519 signing", input);
    ck_assert_str_eq(input, want_input);
    ck_assert_int_eq(as_jws_sign(key, input, strlen(input), sig, &siglen), 0);
    ck_assert_uint_eq(siglen, 64);
    sig_b64(sig, siglen, got_sig);
    ck_assert_str_eq(got_sig, want_sig);
    /* A.5: verification with the public JWK */
    pubjwk = json_pack("{s:s, s:s, s:s}", "kty", "OKP", "crv", "Ed25519", "x", x);
    ck_assert_int_eq(as_key_from_public_jwk(AS_ALG_EDDSA, pubjwk, &pub), 0);
    ck_assert_int_eq(as_key_is_private(pub), 0);
    ck_assert_int_eq(as_key_thumbprint(pub, kid), 0);
    ck_assert_str_eq(kid, want_kid);
    ck_assert_int_eq(as_jws_verify(pub, input, strlen(input), sig, siglen), 0);
    sig[63] ^= 0x01;
    ck_assert_int_eq(as_jws_verify(pub, input, strlen(input), sig, siglen), -1);
    sig[63] ^= 0x01;
    ck_assert_int_eq(as_jws_verify(pub, input, strlen(input), sig, 63), -1);
    ck_assert_int_eq(as_jws_verify(pub, "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmC", strlen(input), sig, siglen),
                     -1);

    json_decref(pubjwk);
    json_decref(jwk);
    as_key_release(pub);
    as_key_release(key);
}
END_TEST

START_TEST(test_rfc7638_rsa_thumbprint)
{
    /* RFC 7638 §3.1 */
    static const char n[] =
        "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3"
        "oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgd"
        "AZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFC"
        "ur-kEgU8awapJzKnqDKgw";
    json_t *in = json_pack("{s:s, s:s, s:s, s:s, s:s}", "kty", "RSA", "n", n, "e", "AQAB", "alg", "RS256", "kid", "2011-04-29");
    json_t *out;
    as_key_t *key = NULL;
    char kid[AS_KID_LEN + 1];

    ck_assert_int_eq(as_key_from_public_jwk(AS_ALG_RS256, in, &key), 0);
    ck_assert_int_eq(as_key_thumbprint(key, kid), 0);
    ck_assert_str_eq(kid, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
    /* our JWK of the same key: same n and e, and the thumbprint (not the caller's kid) as kid */
    out = as_key_public_jwk(key);
    ck_assert_str_eq(jwk_get(out, "n"), n);
    ck_assert_str_eq(jwk_get(out, "e"), "AQAB");
    ck_assert_str_eq(jwk_get(out, "kid"), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
    ck_assert_str_eq(jwk_get(out, "use"), "sig");

    json_decref(out);
    json_decref(in);
    as_key_release(key);
}
END_TEST

/* --- ES256 ---------------------------------------------------------------- */

static const char ES_INPUT[] = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9";

START_TEST(test_es256_sign_verify)
{
    as_key_t *key = NULL;
    uint8_t sig[AS_SIG_MAX], sig2[AS_SIG_MAX], der[72], zero[64] = {0};
    size_t siglen, siglen2, derlen;
    char input[sizeof(ES_INPUT)];

    ck_assert_int_eq(as_key_generate(AS_ALG_ES256, &key), 0);
    ck_assert_int_eq(as_key_alg(key), AS_ALG_ES256);
    ck_assert_int_eq(as_key_is_private(key), 1);
    ck_assert_int_eq(as_jws_sign(key, ES_INPUT, strlen(ES_INPUT), sig, &siglen), 0);
    ck_assert_uint_eq(siglen, 64);
    ck_assert_int_eq(as_jws_verify(key, ES_INPUT, strlen(ES_INPUT), sig, siglen), 0);
    /* ECDSA is randomized: a second signature differs and verifies too */
    ck_assert_int_eq(as_jws_sign(key, ES_INPUT, strlen(ES_INPUT), sig2, &siglen2), 0);
    ck_assert_int_ne(memcmp(sig, sig2, 64), 0);
    ck_assert_int_eq(as_jws_verify(key, ES_INPUT, strlen(ES_INPUT), sig2, siglen2), 0);

    /* any flipped byte of r || s, or of the input, fails */
    for (size_t i = 0; i != 64; ++i) {
        sig[i] ^= 0x01;
        ck_assert_msg(as_jws_verify(key, ES_INPUT, strlen(ES_INPUT), sig, siglen) == -1, "byte %zu", i);
        sig[i] ^= 0x01;
    }
    memcpy(input, ES_INPUT, sizeof(input));
    for (size_t i = 0; i != strlen(input); ++i) {
        input[i] ^= 0x01;
        ck_assert_msg(as_jws_verify(key, input, strlen(input), sig, siglen) == -1, "input byte %zu", i);
        input[i] ^= 0x01;
    }
    ck_assert_int_eq(as_jws_verify(key, ES_INPUT, strlen(ES_INPUT), sig, siglen), 0);

    /* the same (r, s) DER-encoded, as OpenSSL and X.509 carry it, is not a JWS signature */
    derlen = es256_raw_to_der(sig, der);
    ck_assert_uint_ge(derlen, 8);
    ck_assert_uint_ne(derlen, 64);
    ck_assert_int_eq(as_jws_verify(key, ES_INPUT, strlen(ES_INPUT), der, derlen), -1);
    /* nor is anything but exactly 64 bytes */
    ck_assert_int_eq(as_jws_verify(key, ES_INPUT, strlen(ES_INPUT), sig, 63), -1);
    sig[64] = 0;
    ck_assert_int_eq(as_jws_verify(key, ES_INPUT, strlen(ES_INPUT), sig, 65), -1);
    ck_assert_int_eq(as_jws_verify(key, ES_INPUT, strlen(ES_INPUT), sig, 0), -1);
    ck_assert_int_eq(as_jws_verify(key, ES_INPUT, strlen(ES_INPUT), zero, 64), -1); /* r = s = 0 */

    as_key_release(key);
}
END_TEST

/* The signature comes out of OpenSSL as DER and is turned into r || s: a coordinate with leading zero octets
 * (one signature in 128 has one) is left-padded, and every signature verifies. Keys are interleaved past the
 * per-thread cache of signing contexts, so each signature must be made with its own key. */
START_TEST(test_es256_many_signatures_padding_and_keys)
{
    enum { NKEYS = 6, NSIGS = 3000 };
    as_key_t *keys[NKEYS];
    size_t padded = 0;

    for (size_t k = 0; k != NKEYS; ++k)
        ck_assert_int_eq(as_key_generate(AS_ALG_ES256, &keys[k]), 0);
    for (size_t i = 0; i != NSIGS; ++i) {
        uint8_t sig[AS_SIG_MAX];
        size_t siglen = 0;
        as_key_t *key = keys[i * 7 % NKEYS];
        ck_assert_int_eq(as_jws_sign(key, ES_INPUT, strlen(ES_INPUT), sig, &siglen), 0);
        ck_assert_uint_eq(siglen, 64);
        ck_assert_msg(as_jws_verify(key, ES_INPUT, strlen(ES_INPUT), sig, siglen) == 0, "signature %zu", i);
        ck_assert_int_eq(as_jws_verify(keys[(i * 7 + 1) % NKEYS], ES_INPUT, strlen(ES_INPUT), sig, siglen), -1);
        if (sig[0] == 0 || sig[32] == 0)
            ++padded;
    }
    /* about 23 expected; none in 3000 has a probability of e^-23 */
    ck_assert_uint_gt(padded, 0);
    for (size_t k = 0; k != NKEYS; ++k)
        as_key_release(keys[k]);
}
END_TEST

START_TEST(test_es256_public_jwk_roundtrip)
{
    as_key_t *key = NULL, *pub = NULL;
    uint8_t sig[AS_SIG_MAX];
    size_t siglen;
    char kid[AS_KID_LEN + 1], pubkid[AS_KID_LEN + 1], *pem = NULL;
    size_t pemlen;
    json_t *jwk;

    ck_assert_int_eq(as_key_generate(AS_ALG_ES256, &key), 0);
    jwk = as_key_public_jwk(key);
    ck_assert_str_eq(jwk_get(jwk, "kty"), "EC");
    ck_assert_str_eq(jwk_get(jwk, "crv"), "P-256");
    ck_assert_uint_eq(strlen(jwk_get(jwk, "x")), 43); /* 32 bytes, even when the top byte is zero */
    ck_assert_uint_eq(strlen(jwk_get(jwk, "y")), 43);
    ck_assert_str_eq(jwk_get(jwk, "alg"), "ES256");
    ck_assert_str_eq(jwk_get(jwk, "use"), "sig");
    ck_assert_ptr_null(json_object_get(jwk, "d"));
    ck_assert_int_eq(as_key_thumbprint(key, kid), 0);
    ck_assert_uint_eq(strlen(kid), AS_KID_LEN);
    ck_assert_str_eq(jwk_get(jwk, "kid"), kid);

    /* the published JWK verifies what the private key signs */
    ck_assert_int_eq(as_key_from_public_jwk(AS_ALG_ES256, jwk, &pub), 0);
    ck_assert_int_eq(as_key_is_private(pub), 0);
    ck_assert_int_eq(as_key_thumbprint(pub, pubkid), 0);
    ck_assert_str_eq(pubkid, kid);
    ck_assert_int_eq(as_jws_sign(key, ES_INPUT, strlen(ES_INPUT), sig, &siglen), 0);
    ck_assert_int_eq(as_jws_verify(pub, ES_INPUT, strlen(ES_INPUT), sig, siglen), 0);
    /* and a public key cannot sign or be exported as a private one */
    ck_assert_int_eq(as_jws_sign(pub, ES_INPUT, strlen(ES_INPUT), sig, &siglen), -1);
    ck_assert_int_eq(as_key_private_pem(pub, &pem, &pemlen), -1);

    json_decref(jwk);
    as_key_release(pub);
    as_key_release(key);
}
END_TEST

START_TEST(test_es256_pem_roundtrip)
{
    as_key_t *key = NULL, *again = NULL;
    char *pem = NULL, kid[AS_KID_LEN + 1], kid2[AS_KID_LEN + 1];
    size_t pemlen;
    uint8_t sig[AS_SIG_MAX];
    size_t siglen;

    ck_assert_int_eq(as_key_generate(AS_ALG_ES256, &key), 0);
    ck_assert_int_eq(as_key_private_pem(key, &pem, &pemlen), 0);
    ck_assert_uint_eq(strlen(pem), pemlen);
    ck_assert_int_eq(strncmp(pem, "-----BEGIN PRIVATE KEY-----\n", 28), 0); /* PKCS#8, unencrypted */
    ck_assert_int_eq(as_key_load_private_pem(AS_ALG_ES256, pem, pemlen, &again), 0);
    ck_assert_int_eq(as_key_thumbprint(key, kid), 0);
    ck_assert_int_eq(as_key_thumbprint(again, kid2), 0);
    ck_assert_str_eq(kid, kid2);
    /* the reloaded key signs tokens the original verifies */
    ck_assert_int_eq(as_jws_sign(again, ES_INPUT, strlen(ES_INPUT), sig, &siglen), 0);
    ck_assert_int_eq(as_jws_verify(key, ES_INPUT, strlen(ES_INPUT), sig, siglen), 0);
    /* the same PEM is not an Ed25519 or RSA key */
    ck_assert_int_eq(try_load_pem(AS_ALG_EDDSA, pem), -1);
    ck_assert_int_eq(try_load_pem(AS_ALG_RS256, pem), -1);

    as_wipe(pem, pemlen);
    free(pem);
    as_key_release(again);
    as_key_release(key);
}
END_TEST

START_TEST(test_load_pem_refuses_wrong_types)
{
    char truncated[sizeof(RFC8037_ED25519_PEM)];
    as_key_t *key = NULL;

    ck_assert_int_eq(try_load_pem(AS_ALG_ES256, P384_PEM), -1);        /* EC, but not P-256 */
    ck_assert_int_eq(try_load_pem(AS_ALG_ES256, RFC7515_RSA_PEM), -1); /* RSA */
    ck_assert_int_eq(try_load_pem(AS_ALG_ES256, RFC8037_ED25519_PEM), -1);
    ck_assert_int_eq(try_load_pem(AS_ALG_EDDSA, RFC7515_RSA_PEM), -1);
    ck_assert_int_eq(try_load_pem(AS_ALG_RS256, RFC8037_ED25519_PEM), -1);
    ck_assert_int_eq(try_load_pem(AS_ALG_RS256, P384_PEM), -1);
    ck_assert_int_eq(try_load_pem(AS_ALG_RS256, RSA1024_PEM), -1); /* RSA below 2048 bits */
    ck_assert_int_eq(try_load_pem(AS_ALG_ES256, "not a key"), -1);
    memcpy(truncated, RFC8037_ED25519_PEM, sizeof(truncated));
    truncated[40] = '\0';
    ck_assert_int_eq(try_load_pem(AS_ALG_EDDSA, truncated), -1);
    ck_assert_int_eq(as_key_load_private_pem(AS_ALG_EDDSA, RFC8037_ED25519_PEM, 0, &key), -1);
    /* and the right pairings load */
    ck_assert_int_eq(try_load_pem(AS_ALG_RS256, RFC7515_RSA_PEM), 0);
    ck_assert_int_eq(try_load_pem(AS_ALG_EDDSA, RFC8037_ED25519_PEM), 0);
}
END_TEST

/** A copy of `jwk` with `name` set to `value` (NULL: removed). */
static json_t *jwk_with(json_t *jwk, const char *name, const char *value)
{
    json_t *copy = json_deep_copy(jwk);
    if (value != NULL)
        json_object_set_new(copy, name, json_string(value));
    else
        json_object_del(copy, name);
    return copy;
}

static int try_jwk(as_alg_t alg, json_t *jwk)
{
    as_key_t *key = NULL;
    int ret = as_key_from_public_jwk(alg, jwk, &key);
    if (ret == 0)
        as_key_release(key);
    json_decref(jwk);
    return ret;
}

START_TEST(test_public_jwk_refusals)
{
    as_key_t *ec = NULL, *ed = NULL, *rsa = NULL;
    json_t *ecjwk, *edjwk, *rsajwk;
    char x[64], y[64];

    ck_assert_int_eq(as_key_generate(AS_ALG_ES256, &ec), 0);
    ck_assert_int_eq(as_key_generate(AS_ALG_EDDSA, &ed), 0);
    ck_assert_int_eq(as_key_generate(AS_ALG_RS256, &rsa), 0);
    ecjwk = as_key_public_jwk(ec);
    edjwk = as_key_public_jwk(ed);
    rsajwk = as_key_public_jwk(rsa);

    /* as published they load, also without the optional members */
    ck_assert_int_eq(try_jwk(AS_ALG_ES256, json_deep_copy(ecjwk)), 0);
    ck_assert_int_eq(try_jwk(AS_ALG_EDDSA, json_deep_copy(edjwk)), 0);
    ck_assert_int_eq(try_jwk(AS_ALG_RS256, json_deep_copy(rsajwk)), 0);
    {
        json_t *bare = json_pack("{s:O, s:O, s:O, s:O}", "kty", json_object_get(ecjwk, "kty"), "crv", json_object_get(ecjwk, "crv"),
                                 "x", json_object_get(ecjwk, "x"), "y", json_object_get(ecjwk, "y"));
        ck_assert_int_eq(try_jwk(AS_ALG_ES256, bare), 0);
    }

    /* private members */
    ck_assert_int_eq(try_jwk(AS_ALG_ES256, jwk_with(ecjwk, "d", "jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI")), -1);
    ck_assert_int_eq(try_jwk(AS_ALG_EDDSA, jwk_with(edjwk, "d", "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A")), -1);
    ck_assert_int_eq(try_jwk(AS_ALG_RS256, jwk_with(rsajwk, "d", "AQAB")), -1);
    ck_assert_int_eq(try_jwk(AS_ALG_RS256, jwk_with(rsajwk, "p", "AQAB")), -1);
    /* key type / curve / algorithm mismatches */
    ck_assert_int_eq(try_jwk(AS_ALG_RS256, json_deep_copy(ecjwk)), -1);
    ck_assert_int_eq(try_jwk(AS_ALG_EDDSA, json_deep_copy(ecjwk)), -1);
    ck_assert_int_eq(try_jwk(AS_ALG_ES256, json_deep_copy(edjwk)), -1);
    ck_assert_int_eq(try_jwk(AS_ALG_ES256, json_deep_copy(rsajwk)), -1);
    ck_assert_int_eq(try_jwk(AS_ALG_ES256, jwk_with(ecjwk, "kty", "OKP")), -1);
    ck_assert_int_eq(try_jwk(AS_ALG_ES256, jwk_with(ecjwk, "kty", NULL)), -1);
    ck_assert_int_eq(try_jwk(AS_ALG_ES256, jwk_with(ecjwk, "crv", "P-384")), -1);
    ck_assert_int_eq(try_jwk(AS_ALG_EDDSA, jwk_with(edjwk, "crv", "X25519")), -1);
    ck_assert_int_eq(try_jwk(AS_ALG_ES256, jwk_with(ecjwk, "alg", "RS256")), -1);
    ck_assert_int_eq(try_jwk(AS_ALG_ES256, jwk_with(ecjwk, "use", "enc")), -1);
    /* coordinates of the wrong length or encoding, or off the curve */
    strcpy(x, jwk_get(ecjwk, "x"));
    strcpy(y, jwk_get(ecjwk, "y"));
    x[40] = '\0'; /* 30 bytes */
    ck_assert_int_eq(try_jwk(AS_ALG_ES256, jwk_with(ecjwk, "x", x)), -1);
    strcpy(x, jwk_get(ecjwk, "x"));
    strcat(x, "A"); /* 33 bytes */
    ck_assert_int_eq(try_jwk(AS_ALG_ES256, jwk_with(ecjwk, "x", x)), -1);
    strcpy(x, jwk_get(ecjwk, "x"));
    strcat(x, "="); /* padded */
    ck_assert_int_eq(try_jwk(AS_ALG_ES256, jwk_with(ecjwk, "x", x)), -1);
    y[0] = y[0] == 'A' ? 'B' : 'A'; /* (x, y') is not on the curve */
    ck_assert_int_eq(try_jwk(AS_ALG_ES256, jwk_with(ecjwk, "y", y)), -1);
    ck_assert_int_eq(try_jwk(AS_ALG_EDDSA, jwk_with(edjwk, "x", "AQAB")), -1);
    /* an RSA modulus below 2048 bits, or with a leading zero octet */
    {
        const char *n = jwk_get(rsajwk, "n");
        char n2[AS_B64URL_ENCLEN(258) + 1];
        uint8_t bin[AS_B64URL_DECLEN(342) + 1];
        ck_assert_uint_eq(strlen(n), 342);
        memcpy(n2, n, 168);
        n2[168] = '\0'; /* its first 126 bytes: a 1008-bit modulus */
        ck_assert_int_eq(try_jwk(AS_ALG_RS256, jwk_with(rsajwk, "n", n2)), -1);
        bin[0] = 0; /* the same modulus with a leading zero octet */
        ck_assert_int_eq(as_b64url_decode(n, strlen(n), bin + 1), 256);
        as_b64url_encode(bin, 257, n2);
        ck_assert_int_eq(try_jwk(AS_ALG_RS256, jwk_with(rsajwk, "n", n2)), -1);
        as_b64url_encode(bin + 1, 256, n2); /* and without it, it is fine */
        ck_assert_int_eq(try_jwk(AS_ALG_RS256, jwk_with(rsajwk, "n", n2)), 0);
    }
    ck_assert_int_eq(try_jwk(AS_ALG_RS256, jwk_with(rsajwk, "e", "AAEAAQ")), -1); /* e = 65537 with a leading zero */
    /* not a JSON object */
    ck_assert_int_eq(try_jwk(AS_ALG_ES256, json_string("EC")), -1);

    json_decref(ecjwk);
    json_decref(edjwk);
    json_decref(rsajwk);
    as_key_release(ec);
    as_key_release(ed);
    as_key_release(rsa);
}
END_TEST

START_TEST(test_es256_jwk_fixed_length_coordinates)
{
    /* about one key in 128 has a coordinate below 2^248: its JWK must still carry 32 bytes (RFC 7518 §6.2.1.2), which
     * is also what the thumbprint is computed over */
    int found = 0;

    for (int i = 0; i != 20000 && !found; ++i) {
        as_key_t *key = NULL, *pub = NULL;
        json_t *jwk;
        uint8_t x[AS_B64URL_DECLEN(43)], y[sizeof(x)], sig[AS_SIG_MAX];
        ssize_t xlen, ylen;
        size_t siglen;
        char kid[AS_KID_LEN + 1], pubkid[AS_KID_LEN + 1];

        ck_assert_int_eq(as_key_generate(AS_ALG_ES256, &key), 0);
        jwk = as_key_public_jwk(key);
        xlen = as_b64url_decode(jwk_get(jwk, "x"), strlen(jwk_get(jwk, "x")), x);
        ylen = as_b64url_decode(jwk_get(jwk, "y"), strlen(jwk_get(jwk, "y")), y);
        if (!(xlen == 32 && x[0] == 0) && !(ylen == 32 && y[0] == 0) && xlen == 32 && ylen == 32)
            goto Next; /* both coordinates have a non-zero top byte */
        found = 1;
        ck_assert_uint_eq(strlen(jwk_get(jwk, "x")), 43);
        ck_assert_uint_eq(strlen(jwk_get(jwk, "y")), 43);
        ck_assert_int_eq(xlen, 32);
        ck_assert_int_eq(ylen, 32);
        ck_assert_int_eq(as_key_from_public_jwk(AS_ALG_ES256, jwk, &pub), 0);
        ck_assert_int_eq(as_key_thumbprint(key, kid), 0);
        ck_assert_int_eq(as_key_thumbprint(pub, pubkid), 0);
        ck_assert_str_eq(kid, pubkid);
        ck_assert_int_eq(as_jws_sign(key, ES_INPUT, strlen(ES_INPUT), sig, &siglen), 0);
        ck_assert_int_eq(as_jws_verify(pub, ES_INPUT, strlen(ES_INPUT), sig, siglen), 0);
    Next:
        json_decref(jwk);
        as_key_release(pub);
        as_key_release(key);
    }
    ck_assert_msg(found, "no key with a short coordinate in 20000 tries");
}
END_TEST

START_TEST(test_failures_leave_no_openssl_error)
{
    /* TLS code on the same thread reads OpenSSL's error queue (SSL_get_error): a failure here must not leave
     * anything in it */
    as_key_t *key = NULL, *pub = NULL;
    uint8_t zero[64] = {0};
    json_t *jwk;
    char y[64];

    ERR_clear_error();
    ck_assert_int_eq(as_key_generate(AS_ALG_ES256, &key), 0);
    ck_assert_int_eq(as_jws_verify(key, ES_INPUT, strlen(ES_INPUT), zero, sizeof(zero)), -1);
    ck_assert_uint_eq(ERR_peek_error(), 0);
    ck_assert_int_eq(try_load_pem(AS_ALG_ES256, "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"), -1);
    ck_assert_uint_eq(ERR_peek_error(), 0);
    ck_assert_int_eq(try_load_pem(AS_ALG_ES256, P384_PEM), -1);
    ck_assert_uint_eq(ERR_peek_error(), 0);
    jwk = as_key_public_jwk(key);
    strcpy(y, jwk_get(jwk, "y"));
    y[0] = y[0] == 'A' ? 'B' : 'A';
    json_object_set_new(jwk, "y", json_string(y));
    ck_assert_int_eq(as_key_from_public_jwk(AS_ALG_ES256, jwk, &pub), -1);
    ck_assert_uint_eq(ERR_peek_error(), 0);
    json_decref(jwk);
    as_key_release(key);
}
END_TEST

/* --- EdDSA and RS256 with fresh keys ----------------------------------------- */

START_TEST(test_eddsa_rs256_generated)
{
    static const as_alg_t algs[] = {AS_ALG_EDDSA, AS_ALG_RS256};

    for (size_t i = 0; i != 2; ++i) {
        as_key_t *key = NULL, *pub = NULL, *reloaded = NULL;
        uint8_t sig[AS_SIG_MAX];
        size_t siglen, want = algs[i] == AS_ALG_EDDSA ? 64 : 256;
        json_t *jwk;
        char *pem;
        size_t pemlen;

        ck_assert_int_eq(as_key_generate(algs[i], &key), 0);
        ck_assert_int_eq(as_jws_sign(key, ES_INPUT, strlen(ES_INPUT), sig, &siglen), 0);
        ck_assert_uint_eq(siglen, want);
        jwk = as_key_public_jwk(key);
        ck_assert_int_eq(as_key_from_public_jwk(algs[i], jwk, &pub), 0);
        ck_assert_int_eq(as_jws_verify(pub, ES_INPUT, strlen(ES_INPUT), sig, siglen), 0);
        if (algs[i] == AS_ALG_RS256) {
            ck_assert_str_eq(jwk_get(jwk, "e"), "AQAB");
            ck_assert_uint_eq(strlen(jwk_get(jwk, "n")), 342); /* 2048 bits */
        }
        sig[siglen / 2] ^= 0x20;
        ck_assert_int_eq(as_jws_verify(pub, ES_INPUT, strlen(ES_INPUT), sig, siglen), -1);
        sig[siglen / 2] ^= 0x20;
        ck_assert_int_eq(as_jws_verify(pub, ES_INPUT, strlen(ES_INPUT), sig, siglen - 1), -1);
        ck_assert_int_eq(as_jws_verify(pub, ES_INPUT, strlen(ES_INPUT), sig, siglen + 1), -1);
        /* PEM round trip */
        ck_assert_int_eq(as_key_private_pem(key, &pem, &pemlen), 0);
        ck_assert_int_eq(as_key_load_private_pem(algs[i], pem, pemlen, &reloaded), 0);
        ck_assert_int_eq(as_jws_sign(reloaded, ES_INPUT, strlen(ES_INPUT), sig, &siglen), 0);
        ck_assert_int_eq(as_jws_verify(pub, ES_INPUT, strlen(ES_INPUT), sig, siglen), 0);
        as_wipe(pem, pemlen);
        free(pem);
        json_decref(jwk);
        as_key_release(reloaded);
        as_key_release(pub);
        as_key_release(key);
    }
}
END_TEST

/* --- reference counting and threads -------------------------------------- */

#define THREADS 4
#define ROUNDS 25

static void *on_thread(void *arg)
{
    as_key_t *key = arg; /* this thread's reference */
    long failures = 0;

    for (int i = 0; i != ROUNDS; ++i) {
        uint8_t sig[AS_SIG_MAX];
        size_t siglen;
        if (as_jws_sign(key, ES_INPUT, strlen(ES_INPUT), sig, &siglen) != 0 ||
            as_jws_verify(key, ES_INPUT, strlen(ES_INPUT), sig, siglen) != 0)
            ++failures;
        as_key_release(as_key_retain(key));
    }
    as_key_release(key);
    return (void *)(intptr_t)failures;
}

START_TEST(test_key_shared_across_threads)
{
    as_key_t *key = NULL;
    pthread_t th[THREADS];

    ck_assert_int_eq(as_key_generate(AS_ALG_ES256, &key), 0);
    ck_assert_ptr_eq(as_key_retain(key), key);
    as_key_release(key); /* still alive: one reference left */
    for (int i = 0; i != THREADS; ++i)
        ck_assert_int_eq(pthread_create(&th[i], NULL, on_thread, as_key_retain(key)), 0);
    as_key_release(key); /* the threads now hold the only references; the last one to finish frees the key */
    for (int i = 0; i != THREADS; ++i) {
        void *failures;
        ck_assert_int_eq(pthread_join(th[i], &failures), 0);
        ck_assert_ptr_null(failures);
    }
    as_key_release(NULL);
}
END_TEST

/* --- argon2id ---------------------------------------------------------------- */

START_TEST(test_pwhash_roundtrip)
{
    static const char pw[] = "correct horse battery staple";
    char phc[AS_PWHASH_MAX], phc2[AS_PWHASH_MAX];

    ck_assert_int_eq(as_pwhash(pw, strlen(pw), phc), 0);
    ck_assert_int_eq(strncmp(phc, "$argon2id$v=19$m=19456,t=2,p=1$", 31), 0);
    ck_assert_int_eq(as_pwhash_verify(phc, pw, strlen(pw)), 0);
    ck_assert_int_eq(as_pwhash_verify(phc, "correct horse battery stapler", strlen(pw) + 1), -1);
    ck_assert_int_eq(as_pwhash_verify(phc, pw, strlen(pw) - 1), -1);
    ck_assert_int_eq(as_pwhash_verify(phc, "Correct horse battery staple", strlen(pw)), -1);
    /* a fresh salt each time: same password, different strings, both valid */
    ck_assert_int_eq(as_pwhash(pw, strlen(pw), phc2), 0);
    ck_assert_str_ne(phc, phc2);
    ck_assert_int_eq(as_pwhash_verify(phc2, pw, strlen(pw)), 0);
}
END_TEST

START_TEST(test_pwhash_length_limits)
{
    char phc[AS_PWHASH_MAX], *longpw = malloc(AS_PASSWORD_MAX + 1);

    memset(longpw, 'a', AS_PASSWORD_MAX + 1);
    ck_assert_int_eq(as_pwhash("", 0, phc), -1);
    ck_assert_int_eq(as_pwhash(longpw, AS_PASSWORD_MAX + 1, phc), -1);
    ck_assert_int_eq(as_pwhash(longpw, AS_PASSWORD_MAX, phc), 0);
    ck_assert_int_eq(as_pwhash_verify(phc, longpw, AS_PASSWORD_MAX), 0);
    ck_assert_int_eq(as_pwhash_verify(phc, longpw, AS_PASSWORD_MAX + 1), -1);
    ck_assert_int_eq(as_pwhash_verify(phc, "", 0), -1);
    free(longpw);
}
END_TEST

/** as_pwhash_verify(phc, pw) must be -1, decided without running argon2 (well under the time one hash takes). */
static void assert_refused_fast(const char *phc, const char *pw)
{
    double start = now_sec();
    ck_assert_msg(as_pwhash_verify(phc, pw, strlen(pw)) == -1, "accepted %s", phc);
    /* an argon2id with m=4 GiB would take seconds (or fail to allocate); a refusal takes microseconds */
    ck_assert_msg(now_sec() - start < 0.5, "took %.3fs to refuse %s", now_sec() - start, phc);
}

START_TEST(test_pwhash_refuses_foreign_strings)
{
    static const char pw[] = "hunter2";
    static const char salt[] = "0123456789abcdef";
    char ours[AS_PWHASH_MAX], foreign[256], tampered[256], overlong[400];
    const char *rest;

    ck_assert_int_eq(as_pwhash(pw, strlen(pw), ours), 0);
    rest = ours + strlen("$argon2id$v=19$m=19456,t=2,p=1$"); /* salt$hash */

    /* an argon2id hash made elsewhere with other (bounded) costs is accepted */
    ck_assert_int_eq(argon2id_hash_encoded(1, 1024, 1, pw, strlen(pw), salt, 16, 32, foreign, sizeof(foreign)), ARGON2_OK);
    ck_assert_int_eq(as_pwhash_verify(foreign, pw, strlen(pw)), 0);
    /* a genuine argon2i or argon2d hash of the right password is refused */
    ck_assert_int_eq(argon2i_hash_encoded(2, 1024, 1, pw, strlen(pw), salt, 16, 32, foreign, sizeof(foreign)), ARGON2_OK);
    ck_assert_int_eq(argon2i_verify(foreign, pw, strlen(pw)), ARGON2_OK);
    assert_refused_fast(foreign, pw);
    ck_assert_int_eq(argon2d_hash_encoded(2, 1024, 1, pw, strlen(pw), salt, 16, 32, foreign, sizeof(foreign)), ARGON2_OK);
    assert_refused_fast(foreign, pw);

    /* costs beyond our bounds (m <= 256 MiB, t <= 10, p <= 8) are refused before argon2 allocates anything */
    snprintf(tampered, sizeof(tampered), "$argon2id$v=19$m=4194304,t=2,p=1$%s", rest);
    assert_refused_fast(tampered, pw);
    snprintf(tampered, sizeof(tampered), "$argon2id$v=19$m=262145,t=2,p=1$%s", rest);
    assert_refused_fast(tampered, pw);
    snprintf(tampered, sizeof(tampered), "$argon2id$v=19$m=19456,t=11,p=1$%s", rest);
    assert_refused_fast(tampered, pw);
    snprintf(tampered, sizeof(tampered), "$argon2id$v=19$m=19456,t=2,p=9$%s", rest);
    assert_refused_fast(tampered, pw);
    snprintf(tampered, sizeof(tampered), "$argon2id$v=19$m=99999999999999999999,t=2,p=1$%s", rest);
    assert_refused_fast(tampered, pw);
    snprintf(tampered, sizeof(tampered), "$argon2id$v=19$m=0019456,t=2,p=1$%s", rest);
    assert_refused_fast(tampered, pw);
    /* malformed */
    snprintf(tampered, sizeof(tampered), "$argon2id$m=19456,t=2,p=1$%s", rest); /* no version */
    assert_refused_fast(tampered, pw);
    snprintf(tampered, sizeof(tampered), "$argon2id$v=19$t=2,m=19456,p=1$%s", rest);
    assert_refused_fast(tampered, pw);
    assert_refused_fast("", pw);
    assert_refused_fast("$argon2id$", pw);
    assert_refused_fast("$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW", pw);
    memset(overlong, 'A', sizeof(overlong) - 1);
    overlong[sizeof(overlong) - 1] = '\0';
    memcpy(overlong, ours, strlen(ours)); /* ours with a 300-character tag: not decoded, let alone hashed */
    assert_refused_fast(overlong, pw);
    /* and ours still verifies */
    ck_assert_int_eq(as_pwhash_verify(ours, pw, strlen(pw)), 0);
}
END_TEST

/* as_pwhash writes the string libargon2 itself parses, and verifies what libargon2 writes with any salt and tag length */
START_TEST(test_pwhash_agrees_with_libargon2)
{
    static const char pw[] = "correct horse battery staple";
    static const uint8_t salt[64] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    static const struct {
        size_t salt_len, tag_len;
    } shapes[] = {{8, 4}, {16, 32}, {17, 33}, {18, 31}, {64, 64}, {12, 20}};
    char phc[AS_PWHASH_MAX], foreign[256];

    ck_assert_int_eq(as_pwhash(pw, strlen(pw), phc), 0);
    ck_assert_int_eq(argon2id_verify(phc, pw, strlen(pw)), ARGON2_OK);
    ck_assert_int_eq(argon2id_verify(phc, "correct horse battery stapler", strlen(pw) + 1), ARGON2_VERIFY_MISMATCH);
    for (size_t i = 0; i != sizeof(shapes) / sizeof(shapes[0]); ++i) {
        ck_assert_int_eq(argon2id_hash_encoded(1, 64, 1, pw, strlen(pw), salt, shapes[i].salt_len, shapes[i].tag_len, foreign,
                                               sizeof(foreign)),
                         ARGON2_OK);
        ck_assert_msg(as_pwhash_verify(foreign, pw, strlen(pw)) == 0, "refused %s", foreign);
        ck_assert_msg(as_pwhash_verify(foreign, "hunter2", 7) == -1, "accepted a wrong password for %s", foreign);
    }
    /* two lanes, as a hash made elsewhere may have */
    ck_assert_int_eq(argon2id_hash_encoded(2, 256, 2, pw, strlen(pw), salt, 16, 32, foreign, sizeof(foreign)), ARGON2_OK);
    ck_assert_int_eq(as_pwhash_verify(foreign, pw, strlen(pw)), 0);
    ck_assert_int_eq(as_pwhash_verify(foreign, pw, strlen(pw) - 1), -1);
}
END_TEST

/* the salt and tag are decoded as libargon2 decodes them: standard base64, no padding, one encoding per value */
START_TEST(test_pwhash_refuses_bad_encodings)
{
    static const char pw[] = "hunter2";
    static const uint8_t salt[16] = "0123456789abcdef";
    char good[256], bad[300];
    size_t n;

    ck_assert_int_eq(argon2id_hash_encoded(1, 64, 1, pw, strlen(pw), salt, sizeof(salt), 32, good, sizeof(good)), ARGON2_OK);
    ck_assert_int_eq(as_pwhash_verify(good, pw, strlen(pw)), 0);
    n = strlen(good);
    const char *salt_at = strchr(good + strlen("$argon2id$v=19$"), '$') + 1, *tag_at = strchr(salt_at, '$') + 1;

    /* padding, which PHC strings never carry */
    snprintf(bad, sizeof(bad), "%s=", good);
    ck_assert_int_eq(as_pwhash_verify(bad, pw, strlen(pw)), -1);
    /* a tag (32 bytes: 43 characters, 2 unused bits) whose last character sets an unused bit */
    memcpy(bad, good, n + 1);
    ck_assert_int_eq(strlen(tag_at), 43);
    bad[n - 1] = (char)(bad[n - 1] == 'A' ? 'B' : bad[n - 1] ^ 1);
    ck_assert_int_ne(argon2id_verify(bad, pw, strlen(pw)), ARGON2_OK); /* libargon2 refuses it too */
    ck_assert_int_eq(as_pwhash_verify(bad, pw, strlen(pw)), -1);
    /* base64url's '-' and '_' are refused even where they stand for the same bits as standard base64's '+' and '/'
     * (a salt that encodes to "++++////", and the first tag of a few that holds either character) */
    {
        uint8_t salt2[16] = {0xfb, 0xef, 0xbe, 0xff, 0xff, 0xff};
        char other[256], *at;
        for (salt2[15] = 0; salt2[15] != 255; ++salt2[15]) {
            ck_assert_int_eq(argon2id_hash_encoded(1, 64, 1, pw, strlen(pw), salt2, sizeof(salt2), 32, other, sizeof(other)),
                             ARGON2_OK);
            if (strpbrk(strrchr(other, '$'), "+/") != NULL)
                break;
        }
        ck_assert_int_eq(as_pwhash_verify(other, pw, strlen(pw)), 0);
        ck_assert_ptr_nonnull(strstr(other, "$++++////"));
        for (int field = 0; field != 2; ++field) {
            memcpy(bad, other, strlen(other) + 1);
            at = strpbrk(field == 0 ? strstr(bad, "$++++////") : strrchr(bad, '$'), "+/");
            *at = *at == '+' ? '-' : '_';
            ck_assert_msg(as_pwhash_verify(bad, pw, strlen(pw)) == -1, "accepted %s", bad);
        }
    }
    /* no tag, no salt, an empty tag, a 7-byte salt, a 3-byte tag */
    snprintf(bad, sizeof(bad), "%.*s", (int)(tag_at - 1 - good), good);
    ck_assert_int_eq(as_pwhash_verify(bad, pw, strlen(pw)), -1);
    snprintf(bad, sizeof(bad), "%.*s", (int)(salt_at - 1 - good), good);
    ck_assert_int_eq(as_pwhash_verify(bad, pw, strlen(pw)), -1);
    snprintf(bad, sizeof(bad), "%.*s", (int)(tag_at - good), good);
    ck_assert_int_eq(as_pwhash_verify(bad, pw, strlen(pw)), -1);
    ck_assert_int_eq(argon2id_hash_encoded(1, 64, 1, pw, strlen(pw), salt, 8, 4, good, sizeof(good)), ARGON2_OK);
    ck_assert_int_eq(as_pwhash_verify(good, pw, strlen(pw)), 0);
    salt_at = strchr(good + strlen("$argon2id$v=19$"), '$') + 1;
    tag_at = strchr(salt_at, '$') + 1;
    snprintf(bad, sizeof(bad), "%.*s%.*s$%s", (int)(salt_at - good), good, 10, salt_at, tag_at); /* 10 chars: 7 bytes */
    ck_assert_int_eq(as_pwhash_verify(bad, pw, strlen(pw)), -1);
    snprintf(bad, sizeof(bad), "%.*s%.4s", (int)(tag_at - good), good, tag_at); /* 4 chars: 3 bytes */
    ck_assert_int_eq(as_pwhash_verify(bad, pw, strlen(pw)), -1);
}
END_TEST

static void *hash_on_thread(void *arg)
{
    static const char pw[] = "correct horse battery staple";
    char phc[AS_PWHASH_MAX];
    void **mem = arg;

    as_pwhash_keep_memory();
    ck_assert_int_eq(as_pwhash(pw, strlen(pw), phc), 0);
    *mem = as_crypto__thread()->argon2_mem;
    return NULL;
}

/* a hashing worker maps argon2's 19 MiB once, keeps them for its next hash and unmaps them when it ends; any other
 * thread keeps nothing */
START_TEST(test_pwhash_memory_kept_per_thread)
{
    static const char pw[] = "correct horse battery staple";
    static const uint8_t salt[16] = "0123456789abcdef";
    char phc[AS_PWHASH_MAX], foreign[256];
    unsigned char vec;
    void *mem, *theirs = NULL;
    pthread_t tid;

    ck_assert_int_eq(as_pwhash(pw, strlen(pw), phc), 0);
    ck_assert_ptr_null(as_crypto__thread()->argon2_mem);
    as_pwhash_keep_memory();
    ck_assert_int_eq(as_pwhash(pw, strlen(pw), phc), 0);
    mem = as_crypto__thread()->argon2_mem;
    ck_assert_ptr_nonnull(mem);
    ck_assert_uint_eq(as_crypto__thread()->argon2_len, (size_t)AS_ARGON2_M_COST_KIB * 1024);
    /* what the hash left in it is wiped before the mapping waits for the next one */
    size_t nonzero = 0, len = as_crypto__thread()->argon2_len;
    while (nonzero != len && ((const uint8_t *)mem)[nonzero] == 0)
        ++nonzero; /* a plain loop: ck_assert in it would report every one of the 19 M bytes to Check's parent */
    ck_assert_msg(nonzero == len, "byte %zu of the kept memory is not wiped", nonzero);
    /* a hash of other costs gets a mapping of its own and leaves the kept one alone */
    ck_assert_int_eq(argon2id_hash_encoded(1, 64, 1, pw, strlen(pw), salt, sizeof(salt), 32, foreign, sizeof(foreign)), ARGON2_OK);
    ck_assert_int_eq(as_pwhash_verify(foreign, pw, strlen(pw)), 0);
    ck_assert_ptr_eq(as_crypto__thread()->argon2_mem, mem);
    ck_assert_int_eq(as_pwhash_verify(phc, pw, strlen(pw)), 0);
    ck_assert_ptr_eq(as_crypto__thread()->argon2_mem, mem);

    /* another thread maps its own, and it is gone once that thread has ended */
    ck_assert_int_eq(pthread_create(&tid, NULL, hash_on_thread, &theirs), 0);
    ck_assert_int_eq(pthread_join(tid, NULL), 0);
    ck_assert_ptr_nonnull(theirs);
    ck_assert_ptr_ne(theirs, mem);
    ck_assert_int_eq(mincore(theirs, 4096, &vec), -1); /* ENOMEM: not mapped */
    ck_assert_int_eq(mincore(mem, 4096, &vec), 0);
}
END_TEST

START_TEST(public_encoder_agrees)
{
    /* the table-driven encoder for public data writes exactly what the constant-time one writes */
    uint8_t in[64];
    char a[AS_B64URL_ENCLEN(64) + 1], b[AS_B64URL_ENCLEN(64) + 1];
    for (size_t len = 0; len <= sizeof(in); ++len) {
        for (int round = 0; round != 50; ++round) {
            as_random_bytes(in, len);
            size_t na = as_b64url_encode(in, len, a), nb = as_b64url_encode_public(in, len, b);
            ck_assert_uint_eq(na, nb);
            ck_assert_uint_eq(na, AS_B64URL_ENCLEN(len));
            ck_assert_str_eq(a, b);
        }
    }
}
END_TEST

/* --- OpenSSL's block cache (crypto/mem.c) ----------------------------------------------------------- */

START_TEST(block_cache_sizes_and_reuse)
{
    /* every size to past the largest cached one: a block holds what was asked for (ASan checks the writes), a
     * freed block of a size comes back for the next request of that size (with glibc's block sizes: a sanitizer's
     * allocator reports the size asked for, and fewer blocks match), and blocks go back to free(3) fine */
    void *probe = malloc(1);
    int glibc_sizes = malloc_usable_size(probe) == 24;
    free(probe);
    for (size_t sz = 0; sz <= 600; ++sz) {
        unsigned char *a = as_crypto__cache_malloc(sz);
        ck_assert_ptr_nonnull(a);
        ck_assert_uint_ge(malloc_usable_size(a), sz);
        memset(a, 0xA5, sz);
        as_crypto__cache_free(a);
        unsigned char *b = as_crypto__cache_malloc(sz);
        ck_assert_uint_ge(malloc_usable_size(b), sz);
        memset(b, 0x5A, sz);
        if (glibc_sizes && sz <= 400)
            ck_assert_ptr_eq(a, b); /* cached, and the same size class */
        if (sz % 2 == 0)
            as_crypto__cache_free(b);
        else
            free(b); /* a cached block is malloc's own: free(3) takes it */
    }
    as_crypto__cache_free(NULL);
    /* more blocks of one size than the cache keeps: all come back, the rest go to free(3) */
    void *many[100];
    for (size_t i = 0; i != 100; ++i)
        memset(many[i] = as_crypto__cache_malloc(48), (int)i, 48);
    for (size_t i = 0; i != 100; ++i)
        as_crypto__cache_free(many[i]);
    for (size_t i = 0; i != 100; ++i)
        memset(many[i] = as_crypto__cache_malloc(48), (int)i, 48);
    for (size_t i = 0; i != 100; ++i)
        for (size_t j = i + 1; j != 100; ++j)
            ck_assert_ptr_ne(many[i], many[j]); /* never one block twice */
    for (size_t i = 0; i != 100; ++i)
        as_crypto__cache_free(many[i]);
}
END_TEST

static void *free_on_other_thread(void *p)
{
    void **blocks = p;
    for (size_t i = 0; i != 64; ++i)
        as_crypto__cache_free(blocks[i]); /* into this thread's cache, released when it ends */
    void *mine = as_crypto__cache_malloc(100);
    memset(mine, 1, 100);
    return mine;
}

START_TEST(block_cache_across_threads)
{
    void *blocks[64];
    pthread_t th;
    void *from_thread;
    for (size_t i = 0; i != 64; ++i)
        memset(blocks[i] = as_crypto__cache_malloc(16 + 8 * i), 7, 16 + 8 * i);
    ck_assert_int_eq(pthread_create(&th, NULL, free_on_other_thread, blocks), 0);
    ck_assert_int_eq(pthread_join(th, &from_thread), 0);
    as_crypto__cache_free(from_thread); /* a block of an ended thread, freed here */
    /* OpenSSL was used by this process already: the allocator can no longer be changed, and says so */
    uint8_t d[AS_SHA256_LEN];
    as_sha256("x", 1, d);
    ck_assert_int_eq(as_crypto_mem_init(), -1);
}
END_TEST

static Suite *crypto_suite(void)
{
    Suite *s = suite_create("crypto");
    TCase *tc;

    tc = tcase_create("encoding");
    tcase_add_test(tc, test_b64url_rfc4648_vectors);
    tcase_add_test(tc, test_b64url_roundtrip);
    tcase_add_test(tc, public_encoder_agrees);
    tcase_add_test(tc, test_b64url_rejects);
    tcase_add_test(tc, decoder_agrees_with_a_reference);
    suite_add_tcase(s, tc);

    tc = tcase_create("primitives");
    tcase_add_test(tc, test_sha256_abc);
    tcase_add_test(tc, test_hmac_sha256_rfc4231);
    tcase_add_test(tc, test_memeq_wipe_random);
    tcase_add_test(tc, test_random_draws_and_fork);
    tcase_add_test(tc, test_alg_parse);
    tcase_add_test(tc, block_cache_sizes_and_reuse);
    tcase_add_test(tc, block_cache_across_threads);
    suite_add_tcase(s, tc);

    tc = tcase_create("jws");
    tcase_set_timeout(tc, 120); /* RSA key generation and RSA checks under valgrind */
    tcase_add_test(tc, test_rfc7515_a2_rs256);
    tcase_add_test(tc, test_rfc8037_a_ed25519);
    tcase_add_test(tc, test_rfc7638_rsa_thumbprint);
    tcase_add_test(tc, test_es256_sign_verify);
    tcase_add_test(tc, test_es256_many_signatures_padding_and_keys);
    tcase_add_test(tc, test_es256_public_jwk_roundtrip);
    tcase_add_test(tc, test_es256_pem_roundtrip);
    tcase_add_test(tc, test_load_pem_refuses_wrong_types);
    tcase_add_test(tc, test_es256_jwk_fixed_length_coordinates);
    tcase_add_test(tc, test_public_jwk_refusals);
    tcase_add_test(tc, test_failures_leave_no_openssl_error);
    tcase_add_test(tc, test_eddsa_rs256_generated);
    tcase_add_test(tc, test_key_shared_across_threads);
    suite_add_tcase(s, tc);

    tc = tcase_create("pwhash");
    tcase_set_timeout(tc, 120); /* argon2id at 19 MiB is slow under valgrind */
    tcase_add_test(tc, test_pwhash_roundtrip);
    tcase_add_test(tc, test_pwhash_length_limits);
    tcase_add_test(tc, test_pwhash_refuses_foreign_strings);
    tcase_add_test(tc, test_pwhash_agrees_with_libargon2);
    tcase_add_test(tc, test_pwhash_refuses_bad_encodings);
    tcase_add_test(tc, test_pwhash_memory_kept_per_thread);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return as_check_run_suite(crypto_suite());
}
