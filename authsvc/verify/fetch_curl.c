/*
 * The built-in fetcher: one libcurl easy handle per request, so that any thread may fetch. A poll every few
 * seconds does not need connection reuse, and a fresh handle keeps no credentials around between polls.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>
#include "authsvc/as.h"
#include "authsvc/verify/internal.h"

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init(void)
{
    /* never undone: curl_global_cleanup would pull libcurl from under the application's own use of it */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        abort();
}

void asv__curl_init_once(void)
{
    pthread_once(&curl_once, curl_init);
}

typedef struct st_body_t {
    char *data;
    size_t len, cap, max;
} body_t;

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *p)
{
    body_t *b = p;
    size_t n = size * nmemb;
    if (n > b->max - b->len)
        return 0; /* too large: curl stops with CURLE_WRITE_ERROR */
    if (b->len + n > b->cap) {
        size_t cap = b->cap == 0 ? 16384 : b->cap;
        while (cap < b->len + n)
            cap *= 2;
        char *d = realloc(b->data, cap);
        if (d == NULL)
            abort();
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, ptr, n);
    b->len += n;
    return n;
}

int asv__curl_fetch(int timeout_ms, size_t max_body, const char *url, const char *user, const char *password, char **body,
                    size_t *len, char *err, size_t errlen)
{
    char errbuf[CURL_ERROR_SIZE] = "";
    char *euser = NULL, *epassword = NULL;
    struct curl_slist *headers = NULL;
    body_t b = {.max = max_body};
    long status = 0;
    CURLcode cr;
    CURL *c;
    int ret = -1;

    *body = NULL;
    *len = 0;
    if ((c = curl_easy_init()) == NULL) {
        asv__reason(err, errlen, "curl_easy_init failed");
        return -1;
    }
    headers = curl_slist_append(headers, "Accept: application/json");
    curl_easy_setopt(c, CURLOPT_URL, url);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(c, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L); /* credentials go to the URL configured, nowhere else */
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);       /* we run on the application's threads */
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "authsvc-verify");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    if (user != NULL) {
        /* RFC 6749 §2.3.1: the client id and secret are form-urlencoded before they go into Basic */
        if ((euser = curl_easy_escape(c, user, 0)) == NULL || (epassword = curl_easy_escape(c, password, 0)) == NULL)
            abort();
        curl_easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(c, CURLOPT_USERNAME, euser);
        curl_easy_setopt(c, CURLOPT_PASSWORD, epassword);
    }

    if ((cr = curl_easy_perform(c)) != CURLE_OK) {
        if (cr == CURLE_WRITE_ERROR)
            asv__reason(err, errlen, "the answer is larger than %zu bytes", max_body);
        else
            asv__reason(err, errlen, "%s", errbuf[0] != '\0' ? errbuf : curl_easy_strerror(cr));
        goto Exit;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    if (status != 200) {
        ret = status > 0 && status < 1000 ? (int)status : -1;
        goto Exit;
    }
    *body = b.data != NULL ? b.data : as_malloc(1);
    *len = b.len;
    b.data = NULL;
    ret = 0;
Exit:
    if (epassword != NULL) {
        as_wipe(epassword, strlen(epassword));
        curl_free(epassword);
    }
    curl_free(euser);
    curl_slist_free_all(headers);
    curl_easy_cleanup(c);
    free(b.data);
    return ret;
}
