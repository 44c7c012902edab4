/* http/request: --trusted-proxy networks and the client address behind trusted proxies (X-Forwarded-For). */
#include <arpa/inet.h>
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include "authsvc/as.h"
#include "authsvc/http/request.h"
#include "check_run.h"

START_TEST(parses_networks)
{
    as_http_cidr_t c;
    ck_assert_int_eq(as_http_cidr_parse("10.0.0.0/8", &c), 0);
    ck_assert_uint_eq(c.family, 4);
    ck_assert_uint_eq(c.bits, 8);
    ck_assert_int_eq(as_http_cidr_parse("127.0.0.1", &c), 0);
    ck_assert_uint_eq(c.bits, 32);
    ck_assert_int_eq(as_http_cidr_parse("0.0.0.0/0", &c), 0);
    ck_assert_uint_eq(c.bits, 0);
    ck_assert_int_eq(as_http_cidr_parse("2001:db8::/32", &c), 0);
    ck_assert_uint_eq(c.family, 6);
    ck_assert_uint_eq(c.bits, 32);
    ck_assert_int_eq(as_http_cidr_parse("::1", &c), 0);
    ck_assert_uint_eq(c.bits, 128);
    /* an IPv4-mapped network is the IPv4 one */
    ck_assert_int_eq(as_http_cidr_parse("::ffff:10.0.0.0/104", &c), 0);
    ck_assert_uint_eq(c.family, 4);
    ck_assert_uint_eq(c.bits, 8);
}
END_TEST

START_TEST(rejects_malformed_networks)
{
    static const char *const bad[] = {"", "/8", "10.0.0.0/", "10.0.0.0/33", "10.0.0.0/-1", "10.0.0.0/8x", "10.0.0/8",
                                      "10.1.2.3/8", "2001:db8::1/32", "::/129", "example.com", "10.0.0.0/0008",
                                      "::ffff:10.0.0.0/8", "1.2.3.4 ", " 1.2.3.4", "[::1]", "fe80::1%eth0"};
    as_http_cidr_t c;
    for (size_t i = 0; i != sizeof(bad) / sizeof(bad[0]); ++i)
        ck_assert_msg(as_http_cidr_parse(bad[i], &c) == AS_ERR_BAD_INPUT, "accepted \"%s\"", bad[i]);
}
END_TEST

START_TEST(matches_prefixes)
{
    as_http_cidr_t nets[2];
    uint8_t a[16] = {0};
    ck_assert_int_eq(as_http_cidr_parse("192.168.4.0/22", nets), 0);
    ck_assert_int_eq(as_http_cidr_parse("2001:db8:1::/48", nets + 1), 0);
    inet_pton(AF_INET, "192.168.7.255", a);
    ck_assert(as_http_cidr_match(nets, 2, 4, a));
    inet_pton(AF_INET, "192.168.8.0", a);
    ck_assert(!as_http_cidr_match(nets, 2, 4, a));
    inet_pton(AF_INET6, "2001:db8:1:ffff::1", a);
    ck_assert(as_http_cidr_match(nets, 2, 6, a));
    inet_pton(AF_INET6, "2001:db8:2::1", a);
    ck_assert(!as_http_cidr_match(nets, 2, 6, a));
    /* a family never matches the other's network */
    ck_assert(!as_http_cidr_match(nets + 1, 1, 4, a));
    ck_assert(!as_http_cidr_match(nets, 0, 4, a));
}
END_TEST

/** The client address for peer `peer` (text) with X-Forwarded-For headers `h1` (and `h2`, may be NULL). */
static const char *client(const char *trusted, const char *peer, const char *h1, const char *h2)
{
    static char out[AS_HTTP_ADDRESS_MAX];
    as_http_cidr_t nets[4];
    size_t n = 0;
    char list[128], *save = NULL;
    strcpy(list, trusted);
    for (char *t = strtok_r(list, " ", &save); t != NULL; t = strtok_r(NULL, " ", &save))
        ck_assert_int_eq(as_http_cidr_parse(t, nets + n++), 0);
    uint8_t addr[16] = {0};
    int family = inet_pton(AF_INET, peer, addr) == 1 ? 4 : 6;
    if (family == 6)
        ck_assert_int_eq(inet_pton(AF_INET6, peer, addr), 1);
    h2o_iovec_t xff[2];
    size_t num_xff = 0;
    if (h1 != NULL)
        xff[num_xff++] = h2o_iovec_init(h1, strlen(h1));
    if (h2 != NULL)
        xff[num_xff++] = h2o_iovec_init(h2, strlen(h2));
    as_http_forwarded_client(nets, n, family, addr, xff, num_xff, out);
    return out;
}

START_TEST(walks_x_forwarded_for)
{
    /* an untrusted peer: the header is ignored */
    ck_assert_str_eq(client("10.0.0.0/8", "203.0.113.9", "198.51.100.1", NULL), "203.0.113.9");
    /* one trusted proxy: the right-most element */
    ck_assert_str_eq(client("10.0.0.0/8", "10.0.0.1", "198.51.100.1", NULL), "198.51.100.1");
    /* what the client wrote itself is left of what the proxy appended, and is not believed */
    ck_assert_str_eq(client("10.0.0.0/8", "10.0.0.1", "1.1.1.1, 198.51.100.1", NULL), "198.51.100.1");
    /* a chain of trusted proxies is walked through */
    ck_assert_str_eq(client("10.0.0.0/8", "10.0.0.1", "1.1.1.1,198.51.100.1 , 10.2.3.4,\t10.9.9.9", NULL), "198.51.100.1");
    /* two headers are one list, the second one's elements last */
    ck_assert_str_eq(client("10.0.0.0/8", "10.0.0.1", "198.51.100.1", "10.2.3.4"), "198.51.100.1");
    ck_assert_str_eq(client("10.0.0.0/8", "10.0.0.1", "10.2.3.4", "198.51.100.7"), "198.51.100.7");
    /* every hop trusted: the left-most */
    ck_assert_str_eq(client("10.0.0.0/8", "10.0.0.1", "10.0.0.5, 10.0.0.6", NULL), "10.0.0.5");
    /* no header: the peer */
    ck_assert_str_eq(client("10.0.0.0/8", "10.0.0.1", NULL, NULL), "10.0.0.1");
    /* malformed elements stop the walk at the last trusted hop */
    ck_assert_str_eq(client("10.0.0.0/8", "10.0.0.1", "198.51.100.1, unknown", NULL), "10.0.0.1");
    ck_assert_str_eq(client("10.0.0.0/8", "10.0.0.1", "198.51.100.1:80, 10.0.0.2", NULL), "10.0.0.2");
    ck_assert_str_eq(client("10.0.0.0/8", "10.0.0.1", "198.51.100.1, 10.0.0.2, 1.2.3.4:80", NULL), "10.0.0.1");
    ck_assert_str_eq(client("10.0.0.0/8", "10.0.0.1", "198.51.100.1,,10.0.0.2", NULL), "10.0.0.2");
    ck_assert_str_eq(client("10.0.0.0/8", "10.0.0.1", "", NULL), "10.0.0.1");
    ck_assert_str_eq(client("10.0.0.0/8", "10.0.0.1", "_hidden", NULL), "10.0.0.1");
    /* IPv6, bracketed or not, and IPv4-mapped written as IPv4 */
    ck_assert_str_eq(client("::1 10.0.0.0/8", "::1", "2001:db8::7", NULL), "2001:db8::7");
    ck_assert_str_eq(client("::1 10.0.0.0/8", "::1", "[2001:db8::8]", NULL), "2001:db8::8");
    ck_assert_str_eq(client("::1 10.0.0.0/8", "::1", "198.51.100.1, ::ffff:10.1.1.1", NULL), "198.51.100.1");
    ck_assert_str_eq(client("2001:db8::/32", "2001:db8::1", "::FFFF:198.51.100.2", NULL), "198.51.100.2");
}
END_TEST

AS_CHECK_MAIN("proxy",
              parses_networks,
              rejects_malformed_networks,
              matches_prefixes,
              walks_x_forwarded_for)
