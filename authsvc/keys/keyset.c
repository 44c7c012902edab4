/*
 * keys/keyset — reading and writing a key directory, the key states, the
 * JWKS built once per set, and the per-thread views (interface in keyset.h).
 * Every function that reads or writes a file returns 0 or AS_ERR_IO with the
 * reason (the file, what is wrong with it) in its message buffer.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <jansson.h>
#include "authsvc/as.h"
#include "authsvc/keys/keyset.h"

#define MAX_KEY_FILE (64 * 1024)
#define MAX_KEYS 64

/** Reads a whole small file, refusing group/world-readable ones when `private_file`. */
static int read_file(const char *path, int private_file, char **out, size_t *outlen, char *err, size_t errlen)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    char *buf = NULL;
    ssize_t n;

    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return AS_ERR_IO;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > MAX_KEY_FILE) {
        snprintf(err, errlen, "%s: not a regular file of at most %d bytes", path, MAX_KEY_FILE);
        goto Error;
    }
    if (private_file && (st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
        snprintf(err, errlen, "%s: readable by group or others (mode %03o); chmod 600 it", path, (unsigned)(st.st_mode & 0777));
        goto Error;
    }
    buf = as_malloc(st.st_size + 1);
    n = read(fd, buf, st.st_size);
    if (n != st.st_size) {
        snprintf(err, errlen, "%s: short read", path);
        goto Error;
    }
    buf[n] = '\0';
    close(fd);
    *out = buf;
    *outlen = n;
    return 0;
Error:
    if (buf != NULL) {
        as_wipe(buf, st.st_size);
        free(buf);
    }
    close(fd);
    return AS_ERR_IO;
}

static int write_file(const char *path, mode_t mode, const void *data, size_t len, char *err, size_t errlen)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return AS_ERR_IO;
    }
    if (write(fd, data, len) != (ssize_t)len || fsync(fd) != 0) {
        snprintf(err, errlen, "%s: write failed: %s", path, strerror(errno));
        close(fd);
        unlink(path);
        return AS_ERR_IO;
    }
    close(fd);
    return 0;
}

static int load_refresh_key(const char *dir, uint8_t key[AS_REFRESH_KEY_LEN], char *err, size_t errlen)
{
    char path[4096], *text;
    size_t len;
    uint8_t buf[AS_B64URL_DECLEN(64)];
    int ret = AS_ERR_IO;

    snprintf(path, sizeof(path), "%s/refresh.key", dir);
    if (read_file(path, 1, &text, &len, err, errlen) != 0)
        return AS_ERR_IO;
    while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r'))
        --len;
    if (len != AS_B64URL_ENCLEN(AS_REFRESH_KEY_LEN) || as_b64url_decode(text, len, buf) != AS_REFRESH_KEY_LEN) {
        snprintf(err, errlen, "%s: not a base64url-encoded 32-byte key", path);
        goto Exit;
    }
    memcpy(key, buf, AS_REFRESH_KEY_LEN);
    ret = 0;
Exit:
    as_wipe(buf, sizeof(buf));
    as_wipe(text, len);
    free(text);
    return ret;
}

as_key_state_t as_keymeta_state(const as_keymeta_t *m, int64_t now)
{
    if (now < m->published_at)
        return AS_KEY_PENDING;
    if (m->unpublish_at != 0 && m->unpublish_at <= now)
        return AS_KEY_EXPIRED;
    if (m->retired_at != 0 && m->retired_at <= now)
        return AS_KEY_RETIRED;
    return m->active_at <= now ? AS_KEY_ACTIVE : AS_KEY_NEXT;
}

const char *as_key_state_name(as_key_state_t state)
{
    static const char *const names[] = {"pending", "next", "active", "retired", "expired"};
    return names[state];
}

int as_keymeta_read(const char *dir, const char *kid, as_keymeta_t *m, char *err, size_t errlen)
{
    char path[4096], *text = NULL;
    size_t len;
    json_t *meta = NULL, *v;
    json_error_t jerr;
    const char *alg_name, *meta_kid;
    json_int_t created_at, published_at, active_at;
    int ret = AS_ERR_IO;

    memset(m, 0, sizeof(*m));
    snprintf(path, sizeof(path), "%s/%s.json", dir, kid);
    if (read_file(path, 0, &text, &len, err, errlen) != 0)
        goto Exit;
    if ((meta = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr)) == NULL ||
        json_unpack(meta, "{s:s, s:s, s:I, s:I}", "kid", &meta_kid, "alg", &alg_name, "created_at", &created_at, "active_at",
                    &active_at) != 0 ||
        strcmp(meta_kid, kid) != 0 || strlen(kid) != AS_KID_LEN || as_alg_parse(alg_name, &m->alg) != 0) {
        snprintf(err, errlen, "%s: malformed key metadata", path);
        goto Exit;
    }
    published_at = json_is_integer(v = json_object_get(meta, "published_at")) ? json_integer_value(v) : created_at;
    strcpy(m->kid, kid);
    m->created_at = created_at;
    m->published_at = published_at;
    m->active_at = active_at;
    m->retired_at = json_is_integer(v = json_object_get(meta, "retired_at")) ? json_integer_value(v) : 0;
    m->unpublish_at = json_is_integer(v = json_object_get(meta, "unpublish_at")) ? json_integer_value(v) : 0;
    if (m->active_at < m->published_at || (m->retired_at != 0 && m->retired_at < m->active_at) ||
        (m->unpublish_at != 0 && m->unpublish_at < m->retired_at)) {
        snprintf(err, errlen, "%s: lifecycle times out of order", path);
        goto Exit;
    }
    ret = 0;
Exit:
    free(text);
    json_decref(meta);
    return ret;
}

int as_keymeta_write(const char *dir, const as_keymeta_t *m, char *err, size_t errlen)
{
    char path[4096], tmp[4200], *text;
    json_t *meta = json_pack("{s:s, s:s, s:I, s:I, s:I}", "kid", m->kid, "alg", as_alg_name(m->alg), "created_at",
                             (json_int_t)m->created_at, "published_at", (json_int_t)m->published_at, "active_at",
                             (json_int_t)m->active_at);
    int ret = AS_ERR_IO;

    if (m->retired_at != 0)
        json_object_set_new(meta, "retired_at", json_integer(m->retired_at));
    if (m->unpublish_at != 0)
        json_object_set_new(meta, "unpublish_at", json_integer(m->unpublish_at));
    text = json_dumps(meta, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    snprintf(path, sizeof(path), "%s/%s.json", dir, m->kid);
    snprintf(tmp, sizeof(tmp), "%s/.%s.json.tmp", dir, m->kid);
    unlink(tmp);
    if (write_file(tmp, 0644, text, strlen(text), err, errlen) == 0) {
        if (rename(tmp, path) == 0) {
            ret = 0;
        } else {
            snprintf(err, errlen, "%s: %s", path, strerror(errno));
            unlink(tmp);
        }
    }
    free(text);
    json_decref(meta);
    return ret;
}

int as_keys_load_one(const char *dir, const char *kid, as_keymeta_t *meta, as_key_t **key, char *err, size_t errlen)
{
    char path[4096], *pem = NULL, thumb[AS_KID_LEN + 1];
    size_t pem_len;
    int ret = AS_ERR_IO;

    *key = NULL;
    if (as_keymeta_read(dir, kid, meta, err, errlen) != 0)
        goto Exit;
    snprintf(path, sizeof(path), "%s/%s.pem", dir, kid);
    if (read_file(path, 1, &pem, &pem_len, err, errlen) != 0)
        goto Exit;
    if (as_key_load_private_pem(meta->alg, pem, pem_len, key) != 0) {
        snprintf(err, errlen, "%s: not a valid %s private key", path, as_alg_name(meta->alg));
        goto Exit;
    }
    if (as_key_thumbprint(*key, thumb) != 0 || strcmp(thumb, kid) != 0) {
        snprintf(err, errlen, "%s: the key's thumbprint does not match its name", path);
        goto Exit;
    }
    ret = 0;
Exit:
    if (ret != 0 && *key != NULL) {
        as_key_release(*key);
        *key = NULL;
    }
    if (pem != NULL) {
        as_wipe(pem, pem_len);
        free(pem);
    }
    return ret;
}

static int build_jwks(as_keyset_t *ks)
{
    json_t *keys = json_array(), *doc;
    for (size_t i = 0; i != ks->num_entries; ++i)
        json_array_append_new(keys, as_key_public_jwk(ks->entries[i].key));
    doc = json_pack("{s:o}", "keys", keys);
    ks->jwks = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(doc);
    if (ks->jwks == NULL)
        return AS_ERR_IO;
    ks->jwks_len = strlen(ks->jwks);
    uint8_t digest[AS_SHA256_LEN];
    char b64[AS_B64URL_ENCLEN(AS_SHA256_LEN) + 1];
    as_sha256(ks->jwks, ks->jwks_len, digest);
    as_b64url_encode(digest, sizeof(digest), b64);
    snprintf(ks->jwks_etag, sizeof(ks->jwks_etag), "\"%.22s\"", b64);
    return 0;
}

static int cmp_entries(const void *a, const void *b)
{
    const as_keyset_entry_t *x = a, *y = b;
    if (x->meta.published_at != y->meta.published_at)
        return x->meta.published_at < y->meta.published_at ? -1 : 1;
    return strcmp(x->kid, y->kid);
}

int as_keyset_same(const as_keyset_t *a, const as_keyset_t *b)
{
    if (a->num_entries != b->num_entries || strcmp(a->entries[a->active].kid, b->entries[b->active].kid) != 0)
        return 0;
    for (size_t i = 0; i != a->num_entries; ++i)
        if (strcmp(a->entries[i].kid, b->entries[i].kid) != 0)
            return 0;
    return as_memeq(a->refresh_key, b->refresh_key, sizeof(a->refresh_key)) == 0;
}

static int has_suffix(const char *s, const char *suffix)
{
    size_t l = strlen(s), sl = strlen(suffix);
    return l > sl && strcmp(s + l - sl, suffix) == 0;
}

int as_keyset_load(const char *dir, int64_t now, as_keyset_t **out, char *err, size_t errlen)
{
    as_keyset_t *ks = as_calloc(1, sizeof(*ks));
    DIR *d = opendir(dir);

    ks->refcnt = 1;
    struct dirent *de;
    int have_active = 0;

    if (d == NULL) {
        snprintf(err, errlen, "%s: %s", dir, strerror(errno));
        goto Error;
    }
    ks->entries = as_calloc(MAX_KEYS, sizeof(*ks->entries));
    while ((de = readdir(d)) != NULL) {
        char kid[256];
        if (!has_suffix(de->d_name, ".pem"))
            continue;
        size_t len = strlen(de->d_name) - 4;
        if (len != AS_KID_LEN) {
            snprintf(err, errlen, "%s/%s: not named after its key thumbprint", dir, de->d_name);
            goto Error;
        }
        if (ks->num_entries == MAX_KEYS) {
            snprintf(err, errlen, "%s: more than %d keys", dir, MAX_KEYS);
            goto Error;
        }
        memcpy(kid, de->d_name, len);
        kid[len] = '\0';
        as_keyset_entry_t *e = ks->entries + ks->num_entries;
        if (as_keys_load_one(dir, kid, &e->meta, &e->key, err, errlen) != 0)
            goto Error;
        as_key_state_t state = as_keymeta_state(&e->meta, now);
        if (state == AS_KEY_PENDING || state == AS_KEY_EXPIRED) {
            as_key_release(e->key); /* not in the JWKS: neither published yet nor any more */
            e->key = NULL;
            continue;
        }
        strcpy(e->kid, kid);
        ++ks->num_entries;
    }
    closedir(d);
    d = NULL;
    /* a stable order (the JWKS, its ETag and as_keyset_same depend on it), then the signing key: the newest active */
    qsort(ks->entries, ks->num_entries, sizeof(*ks->entries), cmp_entries);
    for (size_t i = 0; i != ks->num_entries; ++i) {
        as_keyset_entry_t *e = ks->entries + i;
        if (as_keymeta_state(&e->meta, now) == AS_KEY_ACTIVE &&
            (!have_active || e->meta.active_at > ks->entries[ks->active].meta.active_at)) {
            ks->active = i;
            have_active = 1;
        }
    }
    if (!have_active) {
        snprintf(err, errlen, "%s: no key may sign now (run `authsvc keys generate --keys %s`, or see `authsvc keys list`)", dir,
                 dir);
        goto Error;
    }
    if (load_refresh_key(dir, ks->refresh_key, err, errlen) != 0)
        goto Error;
    if (build_jwks(ks) != 0) {
        snprintf(err, errlen, "cannot serialize the JWKS");
        goto Error;
    }
    *out = ks;
    return 0;
Error:
    if (d != NULL)
        closedir(d);
    as_keyset_release(ks);
    return AS_ERR_IO;
}

const as_key_t *as_keyset_find(void *p, const char *kid)
{
    as_keyset_t *ks = p;
    for (size_t i = 0; i != ks->num_entries; ++i)
        if (strcmp(ks->entries[i].kid, kid) == 0)
            return ks->entries[i].key;
    return NULL;
}

as_keyset_t *as_keyset_retain(as_keyset_t *ks)
{
    ++ks->refcnt;
    return ks;
}

void as_keyset_release(as_keyset_t *ks)
{
    if (ks == NULL || --ks->refcnt != 0)
        return;
    for (size_t i = 0; i != ks->num_entries; ++i)
        as_key_release(ks->entries[i].key);
    free(ks->entries);
    free(ks->jwks);
    as_wipe(ks->refresh_key, sizeof(ks->refresh_key));
    free(ks);
}

int as_keys_generate(const char *dir, as_alg_t alg, int64_t now, int64_t active_at, char kid[AS_KID_LEN + 1], char *err,
                     size_t errlen)
{
    char path[4096], *pem = NULL;
    size_t pem_len;
    as_key_t *key = NULL;
    as_keymeta_t meta;
    int ret = AS_ERR_IO;

    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "%s: %s", dir, strerror(errno));
        return AS_ERR_IO;
    }
    snprintf(path, sizeof(path), "%s/refresh.key", dir);
    if (access(path, F_OK) != 0) {
        uint8_t rk[AS_REFRESH_KEY_LEN];
        char text[AS_B64URL_ENCLEN(AS_REFRESH_KEY_LEN) + 2];
        as_random_bytes(rk, sizeof(rk));
        size_t n = as_b64url_encode(rk, sizeof(rk), text);
        text[n++] = '\n';
        int r = write_file(path, 0600, text, n, err, errlen);
        as_wipe(rk, sizeof(rk));
        as_wipe(text, sizeof(text));
        if (r != 0)
            return AS_ERR_IO;
    }
    if (as_key_generate(alg, &key) != 0 || as_key_private_pem(key, &pem, &pem_len) != 0 || as_key_thumbprint(key, kid) != 0) {
        snprintf(err, errlen, "cannot generate a %s key", as_alg_name(alg));
        goto Exit;
    }
    meta = (as_keymeta_t){.alg = alg, .created_at = now, .published_at = now, .active_at = active_at};
    strcpy(meta.kid, kid);
    /* the private key first, then the metadata that makes the loader take it (a key without metadata is skipped
     * by nobody: the loader reports it, so a crash in between is visible, never silently half-installed) */
    snprintf(path, sizeof(path), "%s/%s.pem", dir, kid);
    if (write_file(path, 0600, pem, pem_len, err, errlen) != 0)
        goto Exit;
    if (as_keymeta_write(dir, &meta, err, errlen) != 0) {
        unlink(path);
        goto Exit;
    }
    ret = 0;
Exit:
    if (pem != NULL) {
        as_wipe(pem, pem_len);
        free(pem);
    }
    if (key != NULL)
        as_key_release(key);
    return ret;
}

/* --- per-thread views -------------------------------------------------------------- */

static as_keyhold_t *hold_new(as_keyset_t *ks)
{
    as_keyhold_t *h = as_malloc(sizeof(*h));
    *h = (as_keyhold_t){.set = ks, .holds = 0, .current = 1};
    return h;
}

/** The view lets go of `h`: freed now if no request holds it, else by the last release. */
static void hold_retire(as_keyhold_t *h)
{
    if (h == NULL)
        return;
    h->current = 0;
    if (h->holds == 0) {
        as_keyset_release(h->set);
        free(h);
    }
}

void as_keyview_init(as_keyview_t *view, as_keyset_t *ks)
{
    view->current = hold_new(ks);
}

void as_keyview_swap(as_keyview_t *view, as_keyset_t *ks)
{
    as_keyhold_t *old = view->current;
    view->current = hold_new(ks);
    hold_retire(old);
}

void as_keyview_dispose(as_keyview_t *view)
{
    hold_retire(view->current);
    view->current = NULL;
}

as_keyhold_t *as_keyview_hold(as_keyview_t *view)
{
    ++view->current->holds;
    return view->current;
}

void as_keyhold_release(as_keyhold_t *hold)
{
    if (hold == NULL)
        return;
    if (--hold->holds == 0 && !hold->current) {
        as_keyset_release(hold->set);
        free(hold);
    }
}
