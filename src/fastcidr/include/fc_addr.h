/* fc_addr.h - 128-bit addresses: strict parsing, canonical formatting, CIDR arithmetic.
 *
 * Plain C99, header only, no Python API. Shared by _core.pyx and _multi.pyx.
 *
 * Types
 *   fc_addr            {uint64_t hi, lo}: an address as a 128-bit integer. IPv4 lives in lo
 *                      (hi == 0, lo < 2^32); IPv6 uses both words (hi = the first 64 bits).
 *   family             the int 4 or 6.
 *
 * Parsing (buffer + length, need not be NUL terminated; returns FC_OK (0) or a reason code)
 *   int fc_parse_ip_text(const char *s, size_t n, int *family, fc_addr *out)
 *       strict text per docs/api.md. Does NOT refuse IPv4-mapped IPv6 (the caller
 *       decides: parse_ip refuses it with FC_ERR_MAPPED, a CIDR may legitimately hold it).
 *   int fc_parse_ip(const char *s, size_t n, int *family, fc_addr *out)
 *       fc_parse_ip_text + refusal of ::ffff:0:0/96.
 *   int fc_parse_cidr(const char *s, size_t n, int *family, fc_addr *net, int *prefix)
 *       "addr/len"; host bits set -> FC_ERR_HOST_BITS.
 *   const char *fc_reason_text(int reason)     the reason as the pure twin words it
 *   int fc_reason_is_cidr_only(int reason)     (informational)
 *   int fc_fast_ipv4(s, n, &v4), fc_fast_cidr4(s, n, &net4, &prefix)
 *       fast paths for a strict dotted quad (and "quad/len"): 1 when taken, 0 to use the above
 *   Refusals are checked in the same order as the pure twin (_core_twin.py), so both backends
 *   give the same message for the same input.
 *
 * Formatting (buf must hold FC_ADDR_BUFSIZE bytes; no NUL written; returns the length)
 *   size_t fc_format_ipv4(uint32_t v, char *buf)
 *   size_t fc_format_ipv6(fc_addr a, char *buf)       RFC 5952
 *   size_t fc_format_ip(int family, fc_addr a, char *buf)
 *   size_t fc_format_cidr(int family, fc_addr net, int prefix, char *buf)  (FC_CIDR_BUFSIZE)
 *
 * Arithmetic (all total functions; prefix must be valid for the family)
 *   fc_addr_make(hi, lo), fc_addr_eq, fc_addr_cmp (-1/0/1), fc_addr_add_u64 (wraps mod 2^128),
 *   fc_addr_sub_u64, fc_addr_diff_u64 (a - b, low 64 bits; caller knows it fits)
 *   fc_bits(family)                     32 or 128
 *   fc_host_bits(family, prefix)        32-prefix or 128-prefix
 *   fc_mask(family, prefix)             network mask
 *   fc_network_of(family, a, prefix)    a & mask
 *   fc_has_host_bits(family, a, prefix)
 *   fc_last_of(family, net, prefix)     broadcast (IPv4) / last address (IPv6)
 *   fc_in_prefix(family, net, prefix, a)
 *   fc_holds_host(family, net, prefix, a)   docs/behaviour.md §1: in prefix, not the network address,
 *                                           and for IPv4 not the broadcast address
 *   fc_size(family, prefix)             usable addresses per docs/behaviour.md §1, as uint64 (IPv6 capped
 *                                       at 2^64-1)
 *   fc_band_offset(family, prefix)      static band size per docs/behaviour.md §2.1 (Kubernetes quirks)
 *   fc_offset_of(net, a)                a - net - 1 (low 64 bits)
 *   fc_addr_at(net, offset)             net + 1 + offset
 *   fc_is_v4mapped(a)                   a in ::ffff:0:0/96 (IPv6 only)
 *   fc_overlaps_v4mapped(net, prefix)   IPv6 prefix overlaps ::ffff:0:0/96
 *   fc_addr_to_be16(a, out[16]), fc_addr_from_be16(in[16])   big-endian bytes (snapshots)
 */
#ifndef FC_ADDR_H
#define FC_ADDR_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct {
    uint64_t hi, lo;
} fc_addr;

#define FC_ADDR_BUFSIZE 48  /* longest canonical text is 39 chars; 48 leaves room */
#define FC_CIDR_BUFSIZE 56  /* address + "/128" */
#define FC_MAX_TEXT 45      /* "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255" */

enum fc_reason {
    FC_OK = 0,
    FC_ERR_EMPTY,          /* empty string */
    FC_ERR_NON_ASCII,      /* non-ASCII characters are not allowed */
    FC_ERR_NUL,            /* NUL characters are not allowed */
    FC_ERR_WHITESPACE,     /* whitespace and control characters are not allowed */
    FC_ERR_ZONE,           /* zone ids are not allowed */
    FC_ERR_TOO_LONG,       /* too long */
    FC_ERR_NOT_ADDRESS,    /* not an IPv4 or IPv6 address */
    FC_ERR_LEADING_ZERO,   /* leading zeros are not allowed */
    FC_ERR_OCTET_RANGE,    /* IPv4 octet out of range */
    FC_ERR_MAPPED,         /* IPv4-mapped IPv6 addresses are not allowed */
    FC_ERR_NO_PREFIX,      /* missing prefix length */
    FC_ERR_BAD_PREFIX,     /* invalid prefix length */
    FC_ERR_PREFIX_ZERO,    /* leading zeros are not allowed in the prefix length */
    FC_ERR_PREFIX_RANGE,   /* prefix length out of range */
    FC_ERR_HOST_BITS,      /* host bits are set */
    FC_REASON_COUNT
};

static inline const char *fc_reason_text(int reason)
{
    switch (reason) {
    case FC_OK: return "ok";
    case FC_ERR_EMPTY: return "empty string";
    case FC_ERR_NON_ASCII: return "non-ASCII characters are not allowed";
    case FC_ERR_NUL: return "NUL characters are not allowed";
    case FC_ERR_WHITESPACE: return "whitespace and control characters are not allowed";
    case FC_ERR_ZONE: return "zone ids are not allowed";
    case FC_ERR_TOO_LONG: return "too long";
    case FC_ERR_NOT_ADDRESS: return "not an IPv4 or IPv6 address";
    case FC_ERR_LEADING_ZERO: return "leading zeros are not allowed";
    case FC_ERR_OCTET_RANGE: return "IPv4 octet out of range";
    case FC_ERR_MAPPED: return "IPv4-mapped IPv6 addresses are not allowed";
    case FC_ERR_NO_PREFIX: return "missing prefix length";
    case FC_ERR_BAD_PREFIX: return "invalid prefix length";
    case FC_ERR_PREFIX_ZERO: return "leading zeros are not allowed in the prefix length";
    case FC_ERR_PREFIX_RANGE: return "prefix length out of range";
    case FC_ERR_HOST_BITS: return "host bits are set";
    default: return "invalid";
    }
}

static inline int fc_reason_is_cidr_only(int reason)
{
    return reason >= FC_ERR_NO_PREFIX && reason <= FC_ERR_HOST_BITS;
}

/* ---------------------------------------------------------------- arithmetic */

static inline fc_addr fc_addr_make(uint64_t hi, uint64_t lo)
{
    fc_addr a;
    a.hi = hi;
    a.lo = lo;
    return a;
}

static inline int fc_addr_eq(fc_addr a, fc_addr b) { return a.hi == b.hi && a.lo == b.lo; }

static inline int fc_addr_cmp(fc_addr a, fc_addr b)
{
    if (a.hi != b.hi) return a.hi < b.hi ? -1 : 1;
    if (a.lo != b.lo) return a.lo < b.lo ? -1 : 1;
    return 0;
}

static inline fc_addr fc_addr_add_u64(fc_addr a, uint64_t x)
{
    fc_addr r;
    r.lo = a.lo + x;
    r.hi = a.hi + (r.lo < a.lo);
    return r;
}

static inline fc_addr fc_addr_sub_u64(fc_addr a, uint64_t x)
{
    fc_addr r;
    r.lo = a.lo - x;
    r.hi = a.hi - (a.lo < x);
    return r;
}

/* low 64 bits of a - b */
static inline uint64_t fc_addr_diff_u64(fc_addr a, fc_addr b) { return a.lo - b.lo; }

static inline fc_addr fc_addr_and(fc_addr a, fc_addr b) { return fc_addr_make(a.hi & b.hi, a.lo & b.lo); }
static inline fc_addr fc_addr_or(fc_addr a, fc_addr b) { return fc_addr_make(a.hi | b.hi, a.lo | b.lo); }
static inline fc_addr fc_addr_not(fc_addr a) { return fc_addr_make(~a.hi, ~a.lo); }

static inline int fc_bits(int family) { return family == 4 ? 32 : 128; }
static inline int fc_host_bits(int family, int prefix) { return fc_bits(family) - prefix; }

/* all-ones value of the family's width */
static inline fc_addr fc_family_max(int family)
{
    return family == 4 ? fc_addr_make(0, 0xFFFFFFFFULL) : fc_addr_make(~0ULL, ~0ULL);
}

/* mask with the low h bits set (h in 0..128) */
static inline fc_addr fc_low_bits(int h)
{
    if (h <= 0) return fc_addr_make(0, 0);
    if (h < 64) return fc_addr_make(0, (1ULL << h) - 1);
    if (h == 64) return fc_addr_make(0, ~0ULL);
    if (h < 128) return fc_addr_make((1ULL << (h - 64)) - 1, ~0ULL);
    return fc_addr_make(~0ULL, ~0ULL);
}

static inline fc_addr fc_mask(int family, int prefix)
{
    fc_addr hostmask = fc_low_bits(fc_host_bits(family, prefix));
    fc_addr all = fc_family_max(family);
    return fc_addr_make(all.hi & ~hostmask.hi, all.lo & ~hostmask.lo);
}

static inline fc_addr fc_network_of(int family, fc_addr a, int prefix)
{
    return fc_addr_and(a, fc_mask(family, prefix));
}

static inline int fc_has_host_bits(int family, fc_addr a, int prefix)
{
    fc_addr hostmask = fc_low_bits(fc_host_bits(family, prefix));
    return ((a.hi & hostmask.hi) | (a.lo & hostmask.lo)) != 0;
}

static inline fc_addr fc_last_of(int family, fc_addr net, int prefix)
{
    return fc_addr_or(net, fc_low_bits(fc_host_bits(family, prefix)));
}

static inline int fc_in_prefix(int family, fc_addr net, int prefix, fc_addr a)
{
    return fc_addr_eq(fc_network_of(family, a, prefix), net);
}

static inline int fc_holds_host(int family, fc_addr net, int prefix, fc_addr a)
{
    if (!fc_in_prefix(family, net, prefix, a)) return 0;
    if (fc_addr_eq(a, net)) return 0;
    if (family == 4 && fc_addr_eq(a, fc_last_of(family, net, prefix))) return 0;
    return 1;
}

/* usable addresses (docs/behaviour.md §1): IPv4 2^h - 2 (0 for h <= 1), IPv6 2^h - 1 capped at 2^64 - 1 */
static inline uint64_t fc_size(int family, int prefix)
{
    int h = fc_host_bits(family, prefix);
    if (family == 4) {
        if (h <= 1) return 0;
        return (1ULL << h) - 2;
    }
    if (h >= 64) return ~0ULL;
    return (1ULL << h) - 1;
}

/* docs/behaviour.md §2.1: 0 if 2^h <= 16, else clamp(2^h / 16, 16, 256), from the raw size as Kubernetes'
 * RangeSize computes it (0 for IPv4 /0 and /1, saturating for huge IPv6). */
static inline uint64_t fc_band_offset(int family, int prefix)
{
    int h = fc_host_bits(family, prefix);
    if (family == 4 && h >= 31) return 0;
    if (family == 6 && h >= 127) return 0;
    if (h <= 4) return 0;
    if (h >= 12) return 256;
    {
        uint64_t off = (1ULL << h) / 16;
        return off < 16 ? 16 : off;
    }
}

static inline uint64_t fc_offset_of(fc_addr net, fc_addr a) { return a.lo - net.lo - 1; }

static inline fc_addr fc_addr_at(fc_addr net, uint64_t offset)
{
    return fc_addr_add_u64(fc_addr_add_u64(net, 1), offset);
}

static inline int fc_is_v4mapped(fc_addr a) { return a.hi == 0 && (a.lo >> 32) == 0xFFFFULL; }

/* does the IPv6 prefix net/prefix overlap ::ffff:0:0/96? (prefixes nest or are disjoint) */
static inline int fc_overlaps_v4mapped(fc_addr net, int prefix)
{
    fc_addr mapped = fc_addr_make(0, 0xFFFFULL << 32);
    if (prefix <= 96) return fc_in_prefix(6, net, prefix, mapped);
    return fc_in_prefix(6, mapped, 96, net);
}

static inline void fc_addr_to_be16(fc_addr a, unsigned char *out)
{
    int i;
    for (i = 0; i < 8; i++) {
        out[i] = (unsigned char)(a.hi >> (56 - 8 * i));
        out[8 + i] = (unsigned char)(a.lo >> (56 - 8 * i));
    }
}

static inline fc_addr fc_addr_from_be16(const unsigned char *in)
{
    fc_addr a = {0, 0};
    int i;
    for (i = 0; i < 8; i++) {
        a.hi = (a.hi << 8) | in[i];
        a.lo = (a.lo << 8) | in[8 + i];
    }
    return a;
}

/* ---------------------------------------------------------------- parsing */

static inline int fc__is_digit(unsigned char c) { return c >= '0' && c <= '9'; }

static inline int fc__hexval(unsigned char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Refusals that apply to any text, in the pure twin's order of priority. */
static inline int fc__check_text(const char *s, size_t n)
{
    size_t i;
    int nonascii = 0, nul = 0, ws = 0, zone = 0;
    if (n == 0) return FC_ERR_EMPTY;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x80) nonascii = 1;
        else if (c == 0) nul = 1;
        else if (c <= 32 || c == 127) ws = 1;
        else if (c == '%') zone = 1;
    }
    if (nonascii) return FC_ERR_NON_ASCII;
    if (nul) return FC_ERR_NUL;
    if (ws) return FC_ERR_WHITESPACE;
    if (zone) return FC_ERR_ZONE;
    return FC_OK;
}

/* exactly four decimal parts 0..255 without leading zeros */
static inline int fc__parse_ipv4(const char *s, size_t n, uint32_t *out)
{
    size_t i = 0;
    int part;
    uint32_t v = 0;
    /* the number of parts is checked first, like str.split(".") */
    {
        int dots = 0;
        size_t k;
        for (k = 0; k < n; k++) dots += s[k] == '.';
        if (dots != 3) return FC_ERR_NOT_ADDRESS;
    }
    for (part = 0; part < 4; part++) {
        size_t start = i;
        unsigned octet = 0;
        while (i < n && s[i] != '.') i++;
        {
            size_t len = i - start, k;
            if (len == 0 || len > 3) return FC_ERR_NOT_ADDRESS;
            for (k = start; k < i; k++) {
                if (!fc__is_digit((unsigned char)s[k])) return FC_ERR_NOT_ADDRESS;
                octet = octet * 10 + (unsigned)(s[k] - '0');
            }
            if (len > 1 && s[start] == '0') return FC_ERR_LEADING_ZERO;
            if (octet > 255) return FC_ERR_OCTET_RANGE;
        }
        v = (v << 8) | octet;
        i++; /* skip '.' */
    }
    *out = v;
    return FC_OK;
}

/* hex groups of one side of "::" ("" -> none); a trailing dotted quad counts as two groups.
 * Up to 24 groups are collected (more cannot fit in FC_MAX_TEXT characters). */
static inline int fc__parse_groups(const char *s, size_t n, uint16_t *groups, int *count)
{
    size_t i = 0;
    int c = 0;
    *count = 0;
    if (n == 0) return FC_OK;
    for (;;) {
        size_t start = i, k;
        int has_dot = 0;
        while (i < n && s[i] != ':') {
            has_dot |= s[i] == '.';
            i++;
        }
        if (has_dot) {
            uint32_t v4;
            int r;
            if (i != n) return FC_ERR_NOT_ADDRESS;
            r = fc__parse_ipv4(s + start, i - start, &v4);
            if (r) return r;
            if (c + 2 > 24) return FC_ERR_NOT_ADDRESS;
            groups[c++] = (uint16_t)(v4 >> 16);
            groups[c++] = (uint16_t)(v4 & 0xFFFF);
        } else {
            unsigned g = 0;
            size_t len = i - start;
            if (len == 0 || len > 4) return FC_ERR_NOT_ADDRESS;
            for (k = start; k < i; k++) {
                int h = fc__hexval((unsigned char)s[k]);
                if (h < 0) return FC_ERR_NOT_ADDRESS;
                g = (g << 4) | (unsigned)h;
            }
            if (c >= 24) return FC_ERR_NOT_ADDRESS;
            groups[c++] = (uint16_t)g;
        }
        if (i == n) break;
        i++; /* skip ':' */
        if (i == n) { /* trailing ':' leaves an empty last part */
            return FC_ERR_NOT_ADDRESS;
        }
    }
    *count = c;
    return FC_OK;
}

static inline int fc__parse_ipv6(const char *s, size_t n, fc_addr *out)
{
    uint16_t left[24], right[24], groups[8];
    int nl = 0, nr = 0, i, r;
    size_t k, dc = (size_t)-1;
    for (k = 0; k < n; k++) {
        unsigned char c = (unsigned char)s[k];
        if (!(fc__hexval(c) >= 0 || c == ':' || c == '.')) return FC_ERR_NOT_ADDRESS;
    }
    for (k = 0; k + 1 < n; k++) {
        if (s[k] == ':' && s[k + 1] == ':') {
            dc = k;
            break;
        }
    }
    if (dc != (size_t)-1) {
        const char *head = s, *tail = s + dc + 2;
        size_t nh = dc, nt = n - dc - 2;
        for (k = 0; k + 1 < nt; k++)
            if (tail[k] == ':' && tail[k + 1] == ':') return FC_ERR_NOT_ADDRESS;
        if (nt > 0 && tail[0] == ':') return FC_ERR_NOT_ADDRESS;
        if (nh > 0 && head[nh - 1] == ':') return FC_ERR_NOT_ADDRESS;
        for (k = 0; k < nh; k++)
            if (head[k] == '.') return FC_ERR_NOT_ADDRESS;
        r = fc__parse_groups(head, nh, left, &nl);
        if (r) return r;
        r = fc__parse_groups(tail, nt, right, &nr);
        if (r) return r;
        if (nl + nr > 7) return FC_ERR_NOT_ADDRESS;
        for (i = 0; i < 8; i++) groups[i] = 0;
        for (i = 0; i < nl; i++) groups[i] = left[i];
        for (i = 0; i < nr; i++) groups[8 - nr + i] = right[i];
    } else {
        r = fc__parse_groups(s, n, left, &nl);
        if (r) return r;
        if (nl != 8) return FC_ERR_NOT_ADDRESS;
        for (i = 0; i < 8; i++) groups[i] = left[i];
    }
    out->hi = ((uint64_t)groups[0] << 48) | ((uint64_t)groups[1] << 32) |
              ((uint64_t)groups[2] << 16) | (uint64_t)groups[3];
    out->lo = ((uint64_t)groups[4] << 48) | ((uint64_t)groups[5] << 32) |
              ((uint64_t)groups[6] << 16) | (uint64_t)groups[7];
    return FC_OK;
}

/* address text after fc__check_text */
static inline int fc__parse_ip_checked(const char *s, size_t n, int *family, fc_addr *out)
{
    size_t k;
    int has_colon = 0, has_dot = 0;
    if (n == 0) return FC_ERR_EMPTY;
    if (n > FC_MAX_TEXT) return FC_ERR_TOO_LONG;
    for (k = 0; k < n; k++) {
        has_colon |= s[k] == ':';
        has_dot |= s[k] == '.';
    }
    if (has_colon) {
        *family = 6;
        return fc__parse_ipv6(s, n, out);
    }
    if (has_dot) {
        uint32_t v4;
        int r = fc__parse_ipv4(s, n, &v4);
        if (r) return r;
        *family = 4;
        out->hi = 0;
        out->lo = v4;
        return FC_OK;
    }
    return FC_ERR_NOT_ADDRESS;
}

/* One pass over the common case, a strict dotted quad: 1 and the value, or 0 for anything else
 * (the full parser then finds the exact reason). Accepts exactly what fc__parse_ipv4 accepts. */
static inline int fc__fast_ipv4(const char *s, size_t n, uint32_t *out)
{
    size_t i = 0;
    uint32_t v = 0;
    int part;
    if (n < 7 || n > 15) return 0;
    for (part = 0; part < 4; part++) {
        size_t first = i;
        unsigned octet = 0, d;
        while (i < n && s[i] != '.') {
            d = (unsigned)(unsigned char)s[i] - '0';
            if (d > 9 || i - first >= 3) return 0;
            octet = octet * 10 + d;
            i++;
        }
        if (i == first || (i - first > 1 && s[first] == '0') || octet > 255) return 0;
        v = (v << 8) | octet;
        if (part < 3) {
            if (i >= n) return 0;
            i++; /* the '.' */
        }
    }
    if (i != n) return 0;
    *out = v;
    return 1;
}

static inline int fc_parse_ip_text(const char *s, size_t n, int *family, fc_addr *out)
{
    uint32_t v4;
    int r;
    if (fc__fast_ipv4(s, n, &v4)) {
        *family = 4;
        out->hi = 0;
        out->lo = v4;
        return FC_OK;
    }
    r = fc__check_text(s, n);
    if (r) return r;
    return fc__parse_ip_checked(s, n, family, out);
}

static inline int fc_parse_ip(const char *s, size_t n, int *family, fc_addr *out)
{
    int r = fc_parse_ip_text(s, n, family, out);
    if (r) return r;
    if (*family == 6 && fc_is_v4mapped(*out)) return FC_ERR_MAPPED;
    return FC_OK;
}

static inline int fc_parse_cidr(const char *s, size_t n, int *family, fc_addr *net, int *prefix)
{
    size_t slash, k, nlen;
    const char *len;
    int r, p = 0;
    r = fc__check_text(s, n);
    if (r) return r;
    for (slash = 0; slash < n && s[slash] != '/'; slash++) {
    }
    if (slash == n) return FC_ERR_NO_PREFIX;
    len = s + slash + 1;
    nlen = n - slash - 1;
    if (nlen == 0 || nlen > 3) return FC_ERR_BAD_PREFIX;
    for (k = 0; k < nlen; k++) {
        if (!fc__is_digit((unsigned char)len[k])) return FC_ERR_BAD_PREFIX;
        p = p * 10 + (len[k] - '0');
    }
    if (nlen > 1 && len[0] == '0') return FC_ERR_PREFIX_ZERO;
    r = fc__parse_ip_checked(s, slash, family, net);
    if (r) return r;
    if (p > fc_bits(*family)) return FC_ERR_PREFIX_RANGE;
    if (fc_has_host_bits(*family, *net, p)) return FC_ERR_HOST_BITS;
    *prefix = p;
    return FC_OK;
}

/* ---------------------------------------------------------------- formatting */

static inline size_t fc__format_u8(unsigned v, char *buf)
{
    if (v >= 100) {
        buf[0] = (char)('0' + v / 100);
        buf[1] = (char)('0' + (v / 10) % 10);
        buf[2] = (char)('0' + v % 10);
        return 3;
    }
    if (v >= 10) {
        buf[0] = (char)('0' + v / 10);
        buf[1] = (char)('0' + v % 10);
        return 2;
    }
    buf[0] = (char)('0' + v);
    return 1;
}

static inline size_t fc_format_ipv4(uint32_t v, char *buf)
{
    size_t n = fc__format_u8(v >> 24, buf);
    buf[n++] = '.';
    n += fc__format_u8((v >> 16) & 255, buf + n);
    buf[n++] = '.';
    n += fc__format_u8((v >> 8) & 255, buf + n);
    buf[n++] = '.';
    n += fc__format_u8(v & 255, buf + n);
    return n;
}

static inline size_t fc__format_hex16(unsigned g, char *buf)
{
    static const char hex[] = "0123456789abcdef";
    size_t n = 0;
    int shift = 12;
    while (shift > 0 && ((g >> shift) & 15) == 0) shift -= 4;
    for (; shift >= 0; shift -= 4) buf[n++] = hex[(g >> shift) & 15];
    return n;
}

static inline size_t fc_format_ipv6(fc_addr a, char *buf)
{
    unsigned g[8];
    int i, best = -1, best_len = 1, run = -1;
    size_t n = 0;
    for (i = 0; i < 4; i++) {
        g[i] = (unsigned)((a.hi >> (48 - 16 * i)) & 0xFFFF);
        g[4 + i] = (unsigned)((a.lo >> (48 - 16 * i)) & 0xFFFF);
    }
    /* longest run of two or more zero groups, the first on a tie */
    for (i = 0; i <= 8; i++) {
        if (i < 8 && g[i] == 0) {
            if (run < 0) run = i;
        } else if (run >= 0) {
            if (i - run > best_len) {
                best = run;
                best_len = i - run;
            }
            run = -1;
        }
    }
    if (best < 0) {
        for (i = 0; i < 8; i++) {
            if (i) buf[n++] = ':';
            n += fc__format_hex16(g[i], buf + n);
        }
        return n;
    }
    for (i = 0; i < best; i++) {
        if (i) buf[n++] = ':';
        n += fc__format_hex16(g[i], buf + n);
    }
    buf[n++] = ':';
    buf[n++] = ':';
    for (i = best + best_len; i < 8; i++) {
        if (i > best + best_len) buf[n++] = ':';
        n += fc__format_hex16(g[i], buf + n);
    }
    return n;
}

static inline size_t fc_format_ip(int family, fc_addr a, char *buf)
{
    if (family == 4) return fc_format_ipv4((uint32_t)a.lo, buf);
    return fc_format_ipv6(a, buf);
}

static inline size_t fc_format_cidr(int family, fc_addr net, int prefix, char *buf)
{
    size_t n = fc_format_ip(family, net, buf);
    buf[n++] = '/';
    n += fc__format_u8((unsigned)prefix, buf + n);
    return n;
}

/* ---------------------------------------------------------------- fast paths */

/* The commonest input, a strict dotted quad (four decimal parts 0-255, no leading zeros, nothing
 * else): the end of the quad and its value, or NULL to let the general parser decide, so the fast
 * paths can only accept what fc_parse_ip / fc_parse_cidr accept. */
static inline const char *fc_quad(const char *p, const char *end, uint32_t *out)
{
    uint32_t v = 0, part;
    unsigned c;
    int parts;
    for (parts = 0; parts < 4; parts++) {
        if (parts) {
            if (p >= end || *p != '.') return NULL;
            p++;
        }
        if (p >= end) return NULL;
        c = (unsigned)(unsigned char)*p - '0';
        if (c > 9) return NULL;
        part = c;
        p++;
        if (c) {
            while (p < end && (c = (unsigned)(unsigned char)*p - '0') <= 9) {
                part = part * 10 + c;
                if (part > 255) return NULL;
                p++;
            }
        }
        v = (v << 8) | part;
    }
    *out = v;
    return p;
}

/* 1 and the value when s[0:n] is a strict dotted quad, else 0 (try fc_parse_ip) */
static inline int fc_fast_ipv4(const char *s, ptrdiff_t n, uint32_t *out)
{
    const char *end = s + n;
    if (n < 7 || n > 15) return 0;
    return fc_quad(s, end, out) == end;
}

/* 1 and the network when s[0:n] is a strict "a.b.c.d/len" without host bits, else 0 (try
 * fc_parse_cidr, which also explains a refusal) */
static inline int fc_fast_cidr4(const char *s, ptrdiff_t n, uint32_t *net, int *prefix)
{
    const char *end = s + n, *p;
    unsigned c, plen;
    if (n < 9 || n > 18) return 0;
    p = fc_quad(s, end, net);
    if (p == NULL || p >= end || *p != '/') return 0;
    p++;
    if (p >= end) return 0;
    c = (unsigned)(unsigned char)*p - '0';
    if (c > 9) return 0;
    plen = c;
    p++;
    if (p < end) {
        if (!c) return 0;
        c = (unsigned)(unsigned char)*p - '0';
        if (c > 9) return 0;
        plen = plen * 10 + c;
        p++;
    }
    if (p != end || plen > 32) return 0;
    if (plen < 32 && (*net & (0xFFFFFFFFu >> plen))) return 0; /* host bits: let it explain */
    *prefix = (int)plen;
    return 1;
}

#endif /* FC_ADDR_H */
