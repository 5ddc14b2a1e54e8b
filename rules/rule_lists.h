/* rules/rule_lists.h — a rule pack's lists: lists/NAME.txt (exact values,
 * one a line) answered from a hash set in O(1), and lists/NAME.cidr (IPv4
 * and IPv6 ranges) answered by binary search over merged ranges.  IPv4
 * lives in the IPv4-mapped IPv6 space (::ffff:0:0/96), so "10.1.2.3" and
 * "::ffff:10.1.2.3" are the same address in every list.  Read-only after
 * loading: one rule_lists_t may be shared by threads. */
#ifndef WARDEN_RULES_RULE_LISTS_H
#define WARDEN_RULES_RULE_LISTS_H

#include <stddef.h>

typedef struct rule_lists rule_lists_t;
typedef struct rule_list rule_list_t;

/* Loads every PACK/lists/NAME.txt and PACK/lists/NAME.cidr (other files and
 * hidden files are ignored; no lists/ directory is an empty set).
 *   .txt:  one value a line; surrounding whitespace trimmed; blank lines
 *          and lines starting with '#' skipped; bytes compared exactly.
 *   .cidr: one address or range a line ("10.0.0.0/8", "2001:db8::/32",
 *          "192.0.2.7"); '#' starts a comment anywhere; a range with host
 *          bits set, a bad prefix length or a bad address is an error.
 * Returns NULL with every problem, one "path:line: message" a line, in
 * errstr. */
rule_lists_t *rule_lists_load(const char *pack_dir, char *errstr, size_t errstr_size);
void rule_lists_destroy(rule_lists_t *ls);

/* The list called name (the file name without .txt/.cidr), or NULL: the
 * engine turns an unknown name into a load-time error.  Borrowed: valid
 * until rule_lists_destroy(ls). */
const rule_list_t *rule_lists_get(const rule_lists_t *ls, const char *name);
size_t rule_lists_count(const rule_lists_t *ls);
/* Names in sorted order, i < rule_lists_count(ls). */
const char *rule_lists_name(const rule_lists_t *ls, size_t i);

/* 1 if value[0..len) is in the list, else 0.  For a CIDR list a value that
 * is not an IPv4 or IPv6 address is simply not in it. */
int rule_list_contains(const rule_list_t *l, const char *value, size_t len);
int rule_list_is_cidr(const rule_list_t *l);
/* Distinct values (exact lists) or merged ranges (CIDR lists). */
size_t rule_list_size(const rule_list_t *l);

/* One address or range as a .cidr line has it ("10.0.0.0/8",
 * "2001:db8::/32", "192.0.2.7"): lo and hi the first and last address of
 * the IPv4-mapped 128-bit space, big-endian (memcmp orders them), bits the
 * prefix length in that space (IPv4 /8 is 104).  0, or -1 with the reason
 * in errstr (bad prefix length, host bits set, not an address). */
typedef struct rule_cidr {
    unsigned char lo[16], hi[16];
    int           bits;
} rule_cidr_t;
int rule_cidr_parse(const char *s, size_t n, rule_cidr_t *out, char *errstr, size_t errstr_size);
/* An address (no prefix) into the same space: 0, or -1 when s is none. */
int rule_addr_parse(const char *s, size_t n, unsigned char out[16]);

#endif
