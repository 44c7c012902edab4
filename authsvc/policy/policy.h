/*
 * policy/ — the password policy (NIST SP 800-63B §5.1.1.2): what a new password must be, and the one
 * normal form (Unicode NFKC) in which passwords are hashed and compared.
 *
 * A policy is built once at start (it reads the blocklist of common passwords) and is read-only afterwards:
 * any thread may check passwords against it without a lock.
 */
#ifndef AS_POLICY_H
#define AS_POLICY_H

#include <stddef.h>

/** Fewest characters (Unicode code points, after NFKC) of a new password unless configured otherwise. */
#define AS_POLICY_MIN_LENGTH_DEFAULT 8
/** Most bytes of a password, as received and after normalisation (= AS_PASSWORD_MAX of crypto/). */
#define AS_POLICY_MAX_BYTES 1024
/** The blocklist's file name, in the share directory beside the migrations (cli/paths.h). */
#define AS_POLICY_BLOCKLIST_NAME "common-passwords.txt"

typedef struct st_as_policy_t as_policy_t;

/**
 * Reads the blocklist at `path` (one password a line; lines starting with "#!comment:" and empty lines are
 * skipped), each entry normalised (NFKC) and case-folded, into a sorted set. `min_length` is in characters
 * (1 to AS_POLICY_MAX_BYTES). Returns 0 and the policy in `*out` (the caller disposes of it), or AS_ERR_IO
 * (unreadable file, logged) or AS_ERR_BAD_INPUT (bad min_length). Blocking file I/O: at start only.
 */
int as_policy_create(const char *path, size_t min_length, as_policy_t **out);

/** A policy with no blocklist (tests, and as_policy_create's building block); never fails. */
as_policy_t *as_policy_create_empty(size_t min_length);

/** Adds one entry to the blocklist of a policy not yet shared with other threads (tests). */
void as_policy_block(as_policy_t *p, const char *word, size_t len);

/** Frees the policy (NULL is fine). */
void as_policy_dispose(as_policy_t *p);

/** The minimum length the policy was built with. */
size_t as_policy_min_length(const as_policy_t *p);

/** The number of distinct entries in the blocklist. */
size_t as_policy_blocklist_size(const as_policy_t *p);

/**
 * Checks a new password: valid UTF-8 without NUL, at most AS_POLICY_MAX_BYTES bytes (as given and once
 * normalised), at least the minimum number of characters once normalised, and not in the blocklist
 * (compared normalised and case-folded). Returns 0, or AS_ERR_BAD_INPUT with `*why` set to a static English
 * sentence naming the rule that failed (never the password), valid while the policy lives. Any thread.
 */
int as_policy_check(const as_policy_t *p, const char *pw, size_t len, const char **why);

/**
 * Writes the NFKC form of `pw` to `out` (`outsize` bytes; AS_POLICY_MAX_BYTES fits every password this
 * policy accepts) and its length to `*outlen`; `out` is not NUL-terminated. Returns 0, AS_ERR_BAD_INPUT (not
 * valid UTF-8, or a NUL) or AS_ERR_TOO_LARGE (the normal form does not fit). Temporary copies are wiped.
 * Any thread; needs no policy.
 */
int as_policy_normalize(const char *pw, size_t len, char *out, size_t outsize, size_t *outlen);

#endif
