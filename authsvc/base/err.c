/*
 * base/err — the reasons behind as_err_t codes (interface in authsvc/as.h).
 */
#include "authsvc/as.h"

const char *as_strerror(int err)
{
    switch ((as_err_t)err) {
    case AS_OK:
        return "ok";
    case AS_ERR_INTERNAL:
        return "internal error";
    case AS_ERR_DB_UNAVAILABLE:
        return "the database is unavailable";
    case AS_ERR_DB_TIMEOUT:
        return "the database did not answer in time";
    case AS_ERR_DB_QUERY:
        return "the database refused the statement";
    case AS_ERR_NOT_FOUND:
        return "not found";
    case AS_ERR_CONFLICT:
        return "conflict";
    case AS_ERR_BAD_INPUT:
        return "malformed input";
    case AS_ERR_DUPLICATE:
        return "repeated";
    case AS_ERR_TOO_LARGE:
        return "too large or too many";
    case AS_ERR_BUSY:
        return "busy";
    case AS_ERR_IO:
        return "input/output error";
    case AS_ERR_UNSUPPORTED:
        return "unsupported";
    case AS_ERR_TOKEN_MALFORMED:
        return "malformed token";
    case AS_ERR_TOKEN_BAD_ALGORITHM:
        return "unacceptable signing algorithm";
    case AS_ERR_TOKEN_BAD_TYPE:
        return "not an access token (typ must be at+jwt)";
    case AS_ERR_TOKEN_UNKNOWN_KEY:
        return "unknown signing key";
    case AS_ERR_TOKEN_BAD_SIGNATURE:
        return "bad signature";
    case AS_ERR_TOKEN_EXPIRED:
        return "the token has expired";
    case AS_ERR_TOKEN_NOT_YET_VALID:
        return "the token is not yet valid";
    case AS_ERR_TOKEN_WRONG_ISSUER:
        return "wrong issuer";
    case AS_ERR_TOKEN_WRONG_AUDIENCE:
        return "wrong audience";
    case AS_ERR_TOKEN_MISSING_CLAIM:
        return "a required claim is missing";
    }
    return "unknown error";
}
