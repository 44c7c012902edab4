/*
 * base64url without padding (RFC 4648 §5, RFC 7515 §2).
 *
 * The alphabet is mapped with branch-free arithmetic instead of a lookup
 * table (as libsodium's sodium_bin2base64 does), so that encoding or decoding
 * a secret (a client secret, a refresh token) does not leak it through
 * data-dependent memory accesses. Only the position of an invalid character
 * can be learned from timing, and invalid input is not secret.
 */
#include <endian.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>
#include "authsvc/crypto/crypto.h"

/* Masks on values 0..255: 0xFF when the relation holds, 0 otherwise. */
#define EQ(x, y) ((((0U - ((unsigned)(x) ^ (unsigned)(y))) >> 8) & 0xFF) ^ 0xFF)
#define GT(x, y) ((((unsigned)(y) - (unsigned)(x)) >> 8) & 0xFF)
#define GE(x, y) (GT(y, x) ^ 0xFF)
#define LT(x, y) GT(y, x)
#define LE(x, y) GE(y, x)

/* 0..63 -> A-Z a-z 0-9 - _ */
static unsigned sextet_to_char(unsigned x)
{
    return (LT(x, 26) & (x + 'A')) | (GE(x, 26) & LT(x, 52) & (x + ('a' - 26))) | (GE(x, 52) & LT(x, 62) & (x - (52 - '0'))) |
           (EQ(x, 62) & '-') | (EQ(x, 63) & '_');
}

/* A-Z a-z 0-9 - _ -> 0..63; anything else (including '+', '/', '=', whitespace, NUL) -> 0xFF */
static unsigned char_to_sextet(unsigned c)
{
    unsigned x = (GE(c, 'A') & LE(c, 'Z') & (c - 'A')) | (GE(c, 'a') & LE(c, 'z') & (c - ('a' - 26))) |
                 (GE(c, '0') & LE(c, '9') & (c + (52 - '0'))) | (EQ(c, '-') & 62) | (EQ(c, '_') & 63);
    return x | (EQ(x, 0) & (EQ(c, 'A') ^ 0xFF));
}

size_t as_b64url_encode(const void *in, size_t len, char *out)
{
    const uint8_t *src = in;
    size_t o = 0, i = 0;

    /* whole groups of 3 bytes -> 4 characters; then the 1 or 2 bytes left -> 2 or 3 characters */
    for (; len - i >= 3; i += 3) {
        unsigned v = (unsigned)src[i] << 16 | (unsigned)src[i + 1] << 8 | src[i + 2];
        out[o++] = (char)sextet_to_char(v >> 18);
        out[o++] = (char)sextet_to_char((v >> 12) & 0x3F);
        out[o++] = (char)sextet_to_char((v >> 6) & 0x3F);
        out[o++] = (char)sextet_to_char(v & 0x3F);
    }
    if (len - i == 1) {
        unsigned v = src[i];
        out[o++] = (char)sextet_to_char(v >> 2);
        out[o++] = (char)sextet_to_char((v << 4) & 0x3F);
    } else if (len - i == 2) {
        unsigned v = (unsigned)src[i] << 8 | src[i + 1];
        out[o++] = (char)sextet_to_char(v >> 10);
        out[o++] = (char)sextet_to_char((v >> 4) & 0x3F);
        out[o++] = (char)sextet_to_char((v << 2) & 0x3F);
    }
    out[o] = '\0';
    return o;
}

size_t as_b64url_encode_public(const void *in, size_t len, char *out)
{
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const uint8_t *src = in;
    size_t o = 0, i = 0;

    /* four characters are stored at once: byte stores through `out` would make the compiler reload `src` after each */
    for (; len - i >= 3; i += 3, o += 4) {
        unsigned v = (unsigned)src[i] << 16 | (unsigned)src[i + 1] << 8 | src[i + 2];
        char quad[4] = {alphabet[v >> 18], alphabet[(v >> 12) & 0x3F], alphabet[(v >> 6) & 0x3F], alphabet[v & 0x3F]};
        memcpy(out + o, quad, 4);
    }
    if (len - i == 1) {
        out[o++] = alphabet[src[i] >> 2];
        out[o++] = alphabet[(src[i] << 4) & 0x3F];
    } else if (len - i == 2) {
        unsigned v = (unsigned)src[i] << 8 | src[i + 1];
        out[o++] = alphabet[v >> 10];
        out[o++] = alphabet[(v >> 4) & 0x3F];
        out[o++] = alphabet[(v << 2) & 0x3F];
    }
    out[o] = '\0';
    return o;
}

/*
 * Eight characters at a time, as one 64-bit word (SWAR): each byte is classified by range with additions whose bit 7
 * tells the comparison (no carry crosses a byte once the input is known to be ASCII), shifted by its range's offset
 * with a carry-less per-byte addition, and the eight sextets packed into six bytes. No branch and no memory access
 * depends on a character, except that an invalid word (invalid input is not secret) ends the decoding.
 */
#define SWAR_ONES 0x0101010101010101ULL
#define SWAR_HIGH 0x8080808080808080ULL
#define SWAR_GE(x, lo) (((x) + SWAR_ONES * (0x80U - (lo))) & SWAR_HIGH)  /* bit 7 of each byte: byte >= lo */
#define SWAR_LE(x, hi) (~((x) + SWAR_ONES * (0x7FU - (hi))) & SWAR_HIGH) /* bit 7 of each byte: byte <= hi */
#define SWAR_FULL(m) (((m) >> 7) * 0xFF)                                 /* bit 7 of each byte -> the whole byte */

/** Decodes in[0..8) into out[0..6); 0, or -1 if a character is not of the alphabet. */
static int decode8(const char *in, uint8_t *out)
{
    uint64_t x;
    memcpy(&x, in, 8);
    x = le64toh(x); /* in[k] is byte k: the packing below reads them in that order */
    if ((x & SWAR_HIGH) != 0)
        return -1;
    uint64_t upper = SWAR_GE(x, 'A') & SWAR_LE(x, 'Z'), lower = SWAR_GE(x, 'a') & SWAR_LE(x, 'z'),
             digit = SWAR_GE(x, '0') & SWAR_LE(x, '9'), dash = SWAR_GE(x, '-') & SWAR_LE(x, '-'),
             under = SWAR_GE(x, '_') & SWAR_LE(x, '_');
    if ((upper | lower | digit | dash | under) != SWAR_HIGH)
        return -1;
    /* the offset of each range, modulo 256: 'A' -> 0, 'a' -> 26, '0' -> 52, '-' -> 62, '_' -> 63 */
    uint64_t off = (SWAR_FULL(upper) & SWAR_ONES * (uint8_t)(0 - 'A')) | (SWAR_FULL(lower) & SWAR_ONES * (uint8_t)(26 - 'a')) |
                   (SWAR_FULL(digit) & SWAR_ONES * (uint8_t)(52 - '0')) | (SWAR_FULL(dash) & SWAR_ONES * (uint8_t)(62 - '-')) |
                   (SWAR_FULL(under) & SWAR_ONES * (uint8_t)(63 - '_'));
    uint64_t v = ((x & ~SWAR_HIGH) + (off & ~SWAR_HIGH)) ^ ((x ^ off) & SWAR_HIGH); /* bytewise x + off */
    for (int g = 0; g != 2; ++g, v >>= 32) {
        uint32_t bits = (uint32_t)(v & 0x3F) << 18 | (uint32_t)(v >> 8 & 0x3F) << 12 | (uint32_t)(v >> 16 & 0x3F) << 6 |
                        (uint32_t)(v >> 24 & 0x3F);
        out[3 * g] = (uint8_t)(bits >> 16);
        out[3 * g + 1] = (uint8_t)(bits >> 8);
        out[3 * g + 2] = (uint8_t)bits;
    }
    return 0;
}

ssize_t as_b64url_decode(const char *in, size_t len, void *out)
{
    uint8_t *dst = out;
    unsigned acc = 0, acc_bits = 0;
    size_t o = 0, i = 0;

    /* one character carries 6 bits, not a whole byte; a length of 1 mod 4 is never produced by an encoder */
    if (len % 4 == 1 || len / 4 * 3 > (size_t)SSIZE_MAX)
        goto Error;
    for (; len - i >= 8; i += 8, o += 6)
        if (decode8(in + i, dst + o) != 0)
            goto Error;
    for (; i != len; ++i) {
        unsigned v = char_to_sextet((unsigned char)in[i]);
        if (v == 0xFF)
            goto Error;
        acc = (acc << 6) | v;
        acc_bits += 6;
        if (acc_bits >= 8) {
            acc_bits -= 8;
            dst[o++] = (uint8_t)(acc >> acc_bits);
        }
        acc &= (1U << acc_bits) - 1;
    }
    /* 2 or 4 unused bits are left after a final group of 3 or 2 characters: they must be zero (RFC 4648 §3.5) */
    if (acc != 0)
        goto Error;
    return (ssize_t)o;

Error:
    as_wipe(dst, o);
    return -1;
}
