/* base/wd_json.cpp — the hot-path event parser behind base/wd_json.h.
 *
 * One simdjson::dom::parser per wd_json_t parses a padded private copy of
 * the input into simdjson's "tape"; values handed out are (document, tape
 * index) pairs read straight off that tape.  The tape layout (simdjson's
 * doc/tape.md, stable across 0.x–3.x) is:
 *   word = type char << 56 | 56-bit payload
 *   '{' '['  payload: low 32 bits = index just past the matching '}' ']',
 *            bits 32..55 = member/element count (saturates at 0xFFFFFF)
 *   '"'      payload: offset in string_buf of {uint32 length, bytes, NUL}
 *   'l' 'u' 'd'  the value is the next tape word (int64, uint64, double)
 *   't' 'f' 'n'  true, false, null;  index 0 is the 'r' root word, the root
 *            value sits at index 1.
 * Objects store key string then value, in input order.
 *
 * Hot path cost: one memcpy of the event, simdjson's two stages, no
 * allocation once the buffers have grown to the largest event seen.
 * Everything after a failed parse (big-integer retry, error offsets) is cold.
 */
#include <simdjson.h>

#include <cerrno>
#include <charconv>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <vector>

extern "C" {
#include "base/wd_json.h"
}
#include "base/wd_alloc.h"

namespace {

using simdjson::dom::document;

constexpr size_t PAD = simdjson::SIMDJSON_PADDING;
constexpr size_t MIN_CAPACITY = 1024;
constexpr size_t NOT_FOUND = SIZE_MAX;
constexpr size_t NOT_LOCATED = SIZE_MAX - 1;
constexpr uint64_t VALUE_MASK = 0x00FFFFFFFFFFFFFFull;
constexpr uint32_t COUNT_MASK = 0xFFFFFF;

/* std::allocator over wd_malloc, so the wrapper's vectors meet the test
 * hook (base/wd_alloc.h) like every other allocation; a refusal throws
 * std::bad_alloc, which every use catches. */
template <class T> struct wd_std_alloc {
    using value_type = T;
    wd_std_alloc() = default;
    template <class U> wd_std_alloc(const wd_std_alloc<U> &) {}
    T *allocate(size_t n) {
        void *p = n > SIZE_MAX / sizeof(T) ? nullptr : wd_malloc(n * sizeof(T));
        if (!p) throw std::bad_alloc();
        return static_cast<T *>(p);
    }
    void deallocate(T *p, size_t) { std::free(p); }
    template <class U> bool operator==(const wd_std_alloc<U> &) const { return true; }
    template <class U> bool operator!=(const wd_std_alloc<U> &) const { return false; }
};
template <class T> using wvec = std::vector<T, wd_std_alloc<T>>;

} // namespace

/* Depth: simdjson's parser with max_depth N+1 accepts exactly the documents
 * in which no value sits inside more than N arrays/objects (it checks when it
 * enters a non-empty container; an empty one holds no value).  So with
 * N = 2, [[1]] and [[[]]] pass, [[[1]]] and [[[[]]]] do not; a scalar root
 * is at depth 0. */
/* An integer literal beyond 64 bits in the current document: its tape
 * index and its text in buf (the private copy of the input). */
struct big_literal {
    size_t tape;
    size_t off;
    size_t len;
};

struct wd_json {
    simdjson::dom::parser parser;
    wvec<big_literal> bigs;   /* sorted by tape index; empty on the hot path */
    size_t max_depth = 0;       /* N as given; simdjson gets N + 1 */
    size_t capacity = 0;        /* bytes parser and document can take */
    char  *buf = nullptr;       /* private copy of the input, + PAD bytes */
    size_t bufcap = 0;
    char  *scratch = nullptr;   /* big-integer rewrite, + PAD bytes */
    size_t scratchcap = 0;
};

namespace {

/* ---- tape access ------------------------------------------------------ */

/* wd_jval_t.doc is the wd_json_t: its document, and the texts of big
 * integers, which the tape does not keep. */
inline const wd_json *parser_of(const void *d) { return static_cast<const wd_json *>(d); }
inline const document *doc_of(const void *d) { return &parser_of(d)->parser.doc; }
inline uint64_t tape_word(const void *d, size_t i) { return doc_of(d)->tape[i]; }
inline char tape_kind(uint64_t w) { return char(w >> 56); }

/* Index of the first tape word after the value at i. */
inline size_t after_value(const void *d, size_t i) {
    uint64_t w = tape_word(d, i);
    switch (tape_kind(w)) {
    case '{': case '[': return size_t(uint32_t(w));
    case 'l': case 'u': case 'd': return i + 2;
    default: return i + 1;
    }
}

inline const char *tape_str(const void *d, size_t i, size_t *len) {
    const uint8_t *s = doc_of(d)->string_buf.get() + (tape_word(d, i) & VALUE_MASK);
    uint32_t n;
    std::memcpy(&n, s, sizeof n);
    *len = n;
    return reinterpret_cast<const char *>(s + sizeof n);
}

/* ---- buffers ------------------------------------------------------------ */

size_t grow_size(size_t have, size_t need) {
    size_t n = have ? have : MIN_CAPACITY;
    while (n < need) {
        if (n > SIZE_MAX / 4) return need;
        n *= 2;
    }
    return n;
}

/* Makes *b hold need bytes plus zeroed padding (contents are not kept). */
bool reserve_padded(char **b, size_t *cap, size_t need) {
    if (*b && need <= *cap) return true;
    if (need > SIZE_MAX - PAD) return false;
    size_t n = grow_size(*cap, need);
    char *nb = static_cast<char *>(wd_calloc(1, n + PAD));
    if (!nb) return false;
    std::free(*b);
    *b = nb;
    *cap = n;
    return true;
}

/* Grows simdjson's parser and document geometrically: left to itself,
 * simdjson reallocates to the exact size of every bigger document. */
simdjson::error_code reserve_parser(wd_json_t *p, size_t len) {
    if (len <= p->capacity) return simdjson::SUCCESS;
    if (len > p->parser.max_capacity()) return simdjson::CAPACITY;
    size_t n = grow_size(p->capacity, len);
    if (n > p->parser.max_capacity()) n = len;
    p->capacity = 0;
    /* simdjson allocates with new: each of its two allocations counts as
     * one for the test hook. */
    if (wd_alloc_fail_hook()) return simdjson::MEMALLOC;
    simdjson::error_code err = p->parser.allocate(n, p->max_depth + 1);
    if (err) return err;
    if (wd_alloc_fail_hook()) return simdjson::MEMALLOC;
    err = p->parser.doc.allocate(n);
    if (err) return err;
    p->capacity = n;
    return simdjson::SUCCESS;
}

/* ---- integers beyond 64 bits ------------------------------------------- */

inline bool is_digit(uint8_t c) { return c >= '0' && c <= '9'; }

/* Is t[0..n) a JSON integer literal that simdjson refuses as out of range
 * (below INT64_MIN or above UINT64_MAX)? */
bool is_big_integer(const uint8_t *t, size_t n) {
    bool neg = n > 0 && t[0] == '-';
    const uint8_t *d = t + neg;
    size_t nd = n - neg;
    if (nd == 0 || (d[0] == '0' && nd > 1)) return false;
    for (size_t i = 0; i < nd; i++)
        if (!is_digit(d[i])) return false;
    const char *limit = neg ? "9223372036854775808" : "18446744073709551615";
    size_t ll = std::strlen(limit);
    if (nd != ll) return nd > ll;
    return std::memcmp(d, limit, ll) > 0;
}

/* A number literal of the input, in document order (as on the tape). */
struct num_literal {
    size_t off;
    size_t len;
    bool   big;
};

/* Copies in[0..n) to *out with ".0" appended to every integer literal
 * (outside strings) too big for 64 bits, so that simdjson reads it as a
 * double; nums gets every number literal in order.  Returns how many were
 * rewritten, or -1 when out of memory.  Only called after simdjson's
 * stage 1 accepted the input, so quotes pair. */
long rewrite_big_integers(wd_json_t *p, const uint8_t *in, size_t n, size_t *outlen,
                          wvec<num_literal> &nums) {
    wvec<size_t> ends;   /* offsets after each big literal */
    bool in_str = false;
    for (size_t i = 0; i < n;) {
        uint8_t c = in[i];
        if (in_str) {
            if (c == '\\') i += 2;
            else { in_str = c != '"'; i++; }
            continue;
        }
        if (c == '"') { in_str = true; i++; continue; }
        if (c == '-' || is_digit(c)) {
            size_t j = i;
            while (j < n && (is_digit(in[j]) || in[j] == '-' || in[j] == '+' ||
                             in[j] == '.' || in[j] == 'e' || in[j] == 'E'))
                j++;
            bool big = is_big_integer(in + i, j - i);
            try {
                nums.push_back({ i, j - i, big });
                if (big) ends.push_back(j);
            } catch (...) { return -1; }
            i = j;
            continue;
        }
        i++;
    }
    if (ends.empty()) return 0;
    size_t need = n + 2 * ends.size();
    if (!reserve_padded(&p->scratch, &p->scratchcap, need)) return -1;
    size_t from = 0, o = 0;
    for (size_t e : ends) {
        std::memcpy(p->scratch + o, in + from, e - from);
        o += e - from;
        p->scratch[o++] = '.';
        p->scratch[o++] = '0';
        from = e;
    }
    std::memcpy(p->scratch + o, in + from, n - from);
    o += n - from;
    std::memset(p->scratch + o, 0, PAD);
    *outlen = o;
    return long(ends.size());
}

/* After a parse of the rewritten copy: remembers where each big literal
 * sits on the tape.  Numbers are on the tape in document order, as in
 * nums.  Returns false when out of memory. */
bool index_big_integers(wd_json_t *p, const wvec<num_literal> &nums) {
    const document &d = p->parser.doc;
    size_t end = size_t(d.tape[0] & VALUE_MASK), k = 0;
    try {
        for (size_t i = 1; i < end && k < nums.size();) {
            char kind = tape_kind(d.tape[i]);
            if (kind == 'l' || kind == 'u' || kind == 'd') {
                if (nums[k].big) p->bigs.push_back({ i, nums[k].off, nums[k].len });
                k++;
                i += 2;
            } else {
                i++;
            }
        }
    } catch (...) {
        return false;
    }
    return true;
}

/* ---- error offsets (cold path) ------------------------------------------ *
 * simdjson's DOM API says what is wrong, not where.  These scans find the
 * byte: the first invalid UTF-8 byte, the first control character inside a
 * string, the quote opening an unclosed string, or else the first byte at
 * which the input stops being a prefix of valid JSON (n when it is
 * truncated).  NOT_FOUND when the scan sees nothing wrong. */

/* Length of the valid UTF-8 sequence at s[i], or 0 with *bad = offset of the
 * offending byte (n when truncated). */
size_t utf8_seq(const uint8_t *s, size_t n, size_t i, size_t *bad) {
    uint8_t c = s[i];
    size_t len;
    uint8_t lo = 0x80, hi = 0xBF;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) len = 2;
    else if (c == 0xE0) { len = 3; lo = 0xA0; }
    else if (c == 0xED) { len = 3; hi = 0x9F; }
    else if (c >= 0xE1 && c <= 0xEF) len = 3;
    else if (c == 0xF0) { len = 4; lo = 0x90; }
    else if (c == 0xF4) { len = 4; hi = 0x8F; }
    else if (c >= 0xF1 && c <= 0xF3) len = 4;
    else { *bad = i; return 0; }
    for (size_t k = 1; k < len; k++) {
        if (i + k >= n) { *bad = n; return 0; }
        uint8_t b = s[i + k];
        if (k == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xBF)) { *bad = i + k; return 0; }
    }
    return len;
}

size_t locate_bad_utf8(const uint8_t *s, size_t n) {
    for (size_t i = 0; i < n;) {
        size_t bad, l = utf8_seq(s, n, i, &bad);
        if (!l) return bad;
        i += l;
    }
    return NOT_FOUND;
}

/* String regions as simdjson's stage 1 sees them: quotes not escaped by
 * an odd run of backslashes, regardless of grammar. */
size_t locate_string_fault(const uint8_t *s, size_t n, bool want_unclosed) {
    bool in_str = false;
    size_t open = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = s[i];
        if (!in_str) {
            if (c == '"') { in_str = true; open = i; }
        } else if (c == '\\') {
            i++;
        } else if (c == '"') {
            in_str = false;
        } else if (c < 0x20 && !want_unclosed) {
            return i;
        }
    }
    return want_unclosed && in_str ? open : NOT_FOUND;
}

inline int hex_val(uint8_t c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Four hex digits at s[i]; -1 with *bad set when not. */
long hex4(const uint8_t *s, size_t n, size_t i, size_t *bad) {
    long v = 0;
    for (size_t k = 0; k < 4; k++) {
        if (i + k >= n) { *bad = n; return -1; }
        int h = hex_val(s[i + k]);
        if (h < 0) { *bad = i + k; return -1; }
        v = v * 16 + h;
    }
    return v;
}

/* String starting at the quote s[*i]; advances *i past the closing quote. */
size_t scan_string(const uint8_t *s, size_t n, size_t *i) {
    size_t k = *i + 1, bad;
    for (;;) {
        if (k >= n) return n;
        uint8_t c = s[k];
        if (c == '"') { *i = k + 1; return NOT_FOUND; }
        if (c < 0x20) return k;
        if (c >= 0x80) {
            size_t l = utf8_seq(s, n, k, &bad);
            if (!l) return bad;
            k += l;
            continue;
        }
        if (c != '\\') { k++; continue; }
        if (k + 1 >= n) return n;
        uint8_t e = s[k + 1];
        if (e && std::strchr("\"\\/bfnrt", e)) { k += 2; continue; }
        if (e != 'u') return k + 1;
        long cp = hex4(s, n, k + 2, &bad);
        if (cp < 0) return bad;
        if (cp >= 0xDC00 && cp <= 0xDFFF) return k;       /* lone low surrogate */
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            size_t j = k + 6;
            if (j >= n) return n;
            if (s[j] != '\\') return k;                      /* lone high surrogate */
            if (j + 1 >= n) return n;
            if (s[j + 1] != 'u') return k;
            long lo = hex4(s, n, j + 2, &bad);
            if (lo < 0) return bad;
            if (lo < 0xDC00 || lo > 0xDFFF) return k;
            k = j + 6;
        } else {
            k += 6;
        }
    }
}

/* Does the number text t[0..n) (valid grammar) overflow a double? */
bool number_overflows(const uint8_t *t, size_t n) {
    size_t i = t[0] == '-';
    long e10;                     /* decimal exponent of the first significant digit */
    bool seen = false;
    long intdigits = 0, zeros = 0;
    for (; i < n && is_digit(t[i]); i++) {
        if (seen || t[i] != '0') { seen = true; intdigits++; }
    }
    if (i < n && t[i] == '.') {
        for (i++; i < n && is_digit(t[i]); i++) {
            if (!seen) { if (t[i] == '0') zeros++; else seen = true; }
        }
    }
    if (!seen) return false;      /* zero */
    e10 = intdigits ? intdigits - 1 : -(zeros + 1);
    if (i < n && (t[i] == 'e' || t[i] == 'E')) {
        i++;
        bool eneg = false;
        if (t[i] == '+' || t[i] == '-') eneg = t[i++] == '-';
        long ev = 0;
        for (; i < n && is_digit(t[i]); i++)
            if (ev < 100000000) ev = ev * 10 + (t[i] - '0');
        e10 += eneg ? -ev : ev;
    }
    if (e10 < 308) return false;
    if (e10 > 308) return true;
    double d;
    auto r = std::from_chars(reinterpret_cast<const char *>(t), reinterpret_cast<const char *>(t + n), d);
    return r.ec == std::errc::result_out_of_range;
}

/* Number at s[*i] (which is '-' or a digit). */
size_t scan_number(const uint8_t *s, size_t n, size_t *i) {
    size_t k = *i;
    if (s[k] == '-') k++;
    if (k >= n) return n;
    if (s[k] == '0') k++;
    else if (is_digit(s[k])) while (k < n && is_digit(s[k])) k++;
    else return k;
    if (k < n && s[k] == '.') {
        k++;
        if (k >= n) return n;
        if (!is_digit(s[k])) return k;
        while (k < n && is_digit(s[k])) k++;
    }
    if (k < n && (s[k] == 'e' || s[k] == 'E')) {
        k++;
        if (k < n && (s[k] == '+' || s[k] == '-')) k++;
        if (k >= n) return n;
        if (!is_digit(s[k])) return k;
        while (k < n && is_digit(s[k])) k++;
    }
    if (number_overflows(s + *i, k - *i)) return *i;
    *i = k;
    return NOT_FOUND;
}

size_t scan_literal(const uint8_t *s, size_t n, size_t *i) {
    const char *lit = s[*i] == 't' ? "true" : s[*i] == 'f' ? "false" : "null";
    size_t k = *i;
    for (const char *l = lit; *l; l++, k++) {
        if (k >= n) return n;
        if (s[k] != uint8_t(*l)) return k;
    }
    *i = k;
    return NOT_FOUND;
}

size_t locate_syntax_error(const uint8_t *s, size_t n) {
    enum { VALUE, VALUE_OR_CLOSE, AFTER, KEY, KEY_OR_CLOSE, COLON } st = VALUE;
    wvec<uint8_t> stack;
    size_t i = 0;
    for (;;) {
        while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) i++;
        if (i >= n) return stack.empty() && st == AFTER ? NOT_FOUND : n;
        uint8_t c = s[i];
        size_t r = NOT_FOUND;
        switch (st) {
        case VALUE_OR_CLOSE:
            if (c == ']') { stack.pop_back(); st = AFTER; i++; break; }
            [[fallthrough]];
        case VALUE:
            if (c == '{') { stack.push_back('{'); st = KEY_OR_CLOSE; i++; }
            else if (c == '[') { stack.push_back('['); st = VALUE_OR_CLOSE; i++; }
            else if (c == '"') { r = scan_string(s, n, &i); st = AFTER; }
            else if (c == '-' || is_digit(c)) { r = scan_number(s, n, &i); st = AFTER; }
            else if (c == 't' || c == 'f' || c == 'n') { r = scan_literal(s, n, &i); st = AFTER; }
            else return i;
            break;
        case AFTER:
            if (stack.empty()) return i;
            if (c == ',') { st = stack.back() == '{' ? KEY : VALUE; i++; }
            else if (c == (stack.back() == '{' ? '}' : ']')) { stack.pop_back(); i++; }
            else return i;
            break;
        case KEY_OR_CLOSE:
            if (c == '}') { stack.pop_back(); st = AFTER; i++; break; }
            [[fallthrough]];
        case KEY:
            if (c != '"') return i;
            r = scan_string(s, n, &i);
            st = COLON;
            break;
        case COLON:
            if (c != ':') return i;
            st = VALUE;
            i++;
            break;
        }
        if (r != NOT_FOUND) return r;
    }
}

size_t locate_error(simdjson::error_code err, const char *buf, size_t n) {
    const uint8_t *s = reinterpret_cast<const uint8_t *>(buf);
    size_t off = NOT_FOUND;
    try {
        if (err == simdjson::UTF8_ERROR) off = locate_bad_utf8(s, n);
        else if (err == simdjson::UNESCAPED_CHARS) off = locate_string_fault(s, n, false);
        else if (err == simdjson::UNCLOSED_STRING) off = locate_string_fault(s, n, true);
        if (off == NOT_FOUND) off = locate_syntax_error(s, n);
    } catch (...) {
        off = NOT_LOCATED;   /* out of memory for the scan's stack */
    }
    return off;
}

void set_error(wd_json_t *p, simdjson::error_code err, const char *buf, size_t len,
               char *errstr, size_t errstr_size) {
    if (!errstr || !errstr_size) return;
    switch (err) {
    case simdjson::DEPTH_ERROR:
        std::snprintf(errstr, errstr_size, "nesting deeper than %zu", p->max_depth);
        return;
    case simdjson::MEMALLOC:
        std::snprintf(errstr, errstr_size, "out of memory parsing %zu bytes of JSON", len);
        return;
    case simdjson::CAPACITY:
        std::snprintf(errstr, errstr_size, "JSON document of %zu bytes is too large", len);
        return;
    default:
        break;
    }
    size_t off = locate_error(err, buf, len);
    if (off == NOT_LOCATED)
        std::snprintf(errstr, errstr_size, "invalid JSON (out of memory while locating the error): %s",
                      simdjson::error_message(err));
    else if (off != NOT_FOUND)
        std::snprintf(errstr, errstr_size, "invalid JSON at byte %zu: %s", off,
                      simdjson::error_message(err));
    else
        std::snprintf(errstr, errstr_size, "invalid JSON: %s", simdjson::error_message(err));
}

} // namespace

/* ---- public API ---------------------------------------------------------- */

extern "C" wd_json_t *wd_json_new(size_t max_depth) {
    wd_json_t *p = wd_alloc_fail_hook() ? nullptr : new (std::nothrow) wd_json();
    if (!p) return nullptr;
    p->max_depth = max_depth ? max_depth : WD_JSON_MAX_DEPTH;
    if (p->max_depth > (SIZE_MAX >> 8)) p->max_depth = SIZE_MAX >> 8;
    if (reserve_parser(p, MIN_CAPACITY) != simdjson::SUCCESS ||
        !reserve_padded(&p->buf, &p->bufcap, MIN_CAPACITY)) {
        wd_json_destroy(p);
        return nullptr;
    }
    return p;
}

extern "C" void wd_json_destroy(wd_json_t *p) {
    if (!p) return;
    std::free(p->buf);
    std::free(p->scratch);
    delete p;
}

/* Copies the input into the padded buffer and runs simdjson over it; on a
 * number error caused by integers beyond 64 bits, retries once on a copy
 * where those read as doubles. */
extern "C" int wd_json_parse(wd_json_t *p, const char *buf, size_t len, wd_jval_t *root,
                              char *errstr, size_t errstr_size) {
    simdjson::error_code err = reserve_parser(p, len);
    p->bigs.clear();
    if (!err && !reserve_padded(&p->buf, &p->bufcap, len)) err = simdjson::MEMALLOC;
    if (!err) {
        if (len) std::memcpy(p->buf, buf, len);
        std::memset(p->buf + len, 0, PAD);   /* deterministic bytes past the end */
        err = p->parser.parse(p->buf, len, false).error();
    }
    if (simdjson_unlikely(err == simdjson::NUMBER_ERROR)) {
        size_t n2 = 0;
        wvec<num_literal> nums;
        long nbig = rewrite_big_integers(p, reinterpret_cast<const uint8_t *>(p->buf), len, &n2, nums);
        if (nbig < 0) err = simdjson::MEMALLOC;
        else if (nbig > 0) {
            err = reserve_parser(p, n2);
            if (!err) err = p->parser.parse(p->scratch, n2, false).error();
            if (!err && !index_big_integers(p, nums)) err = simdjson::MEMALLOC;
        }
    }
    if (simdjson_unlikely(err != simdjson::SUCCESS)) {
        set_error(p, err, buf, len, errstr, errstr_size);
        if (root) { root->doc = nullptr; root->idx = 0; }
        return -1;
    }
    if (root) {
        root->doc = p;
        root->idx = 1;
    }
    return 0;
}

extern "C" const char *wd_jval_bigint(wd_jval_t v, char buf[WD_JSON_NUMBUF], size_t *len) {
    if (!v.doc) return nullptr;
    char k = tape_kind(tape_word(v.doc, v.idx));
    if (k == 'u') {
        auto r = std::to_chars(buf, buf + WD_JSON_NUMBUF - 1, tape_word(v.doc, v.idx + 1));
        *r.ptr = '\0';
        if (len) *len = size_t(r.ptr - buf);
        return buf;
    }
    const wd_json *p = parser_of(v.doc);
    if (k != 'd' || p->bigs.empty()) return nullptr;
    size_t lo = 0, hi = p->bigs.size();
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (p->bigs[mid].tape < v.idx) lo = mid + 1;
        else hi = mid;
    }
    if (lo == p->bigs.size() || p->bigs[lo].tape != v.idx) return nullptr;
    if (len) *len = p->bigs[lo].len;
    return p->buf + p->bigs[lo].off;
}

extern "C" int wd_jval_type(wd_jval_t v) {
    if (!v.doc) return WD_JNULL;
    switch (tape_kind(tape_word(v.doc, v.idx))) {
    case 't': case 'f': return WD_JBOOL;
    case 'l': return WD_JINT;
    case 'u': case 'd': return WD_JDOUBLE;
    case '"': return WD_JSTRING;
    case '[': return WD_JARRAY;
    case '{': return WD_JOBJECT;
    default: return WD_JNULL;
    }
}

extern "C" int wd_jval_bool(wd_jval_t v) {
    return v.doc && tape_kind(tape_word(v.doc, v.idx)) == 't';
}

extern "C" int64_t wd_jval_int(wd_jval_t v) {
    if (!v.doc || tape_kind(tape_word(v.doc, v.idx)) != 'l') return 0;
    uint64_t w = tape_word(v.doc, v.idx + 1);
    int64_t i;
    std::memcpy(&i, &w, sizeof i);
    return i;
}

extern "C" double wd_jval_double(wd_jval_t v) {
    if (!v.doc) return 0;
    char k = tape_kind(tape_word(v.doc, v.idx));
    if (k != 'd' && k != 'l' && k != 'u') return 0;
    uint64_t w = tape_word(v.doc, v.idx + 1);
    switch (k) {
    case 'd': { double d; std::memcpy(&d, &w, sizeof d); return d; }
    case 'l': { int64_t i; std::memcpy(&i, &w, sizeof i); return double(i); }
    case 'u': return double(w);
    default: return 0;
    }
}

extern "C" const char *wd_jval_str(wd_jval_t v, size_t *len) {
    size_t n = 0;
    const char *s = nullptr;
    if (v.doc && tape_kind(tape_word(v.doc, v.idx)) == '"') s = tape_str(v.doc, v.idx, &n);
    if (len) *len = n;
    return s;
}

extern "C" size_t wd_jval_count(wd_jval_t v) {
    if (!v.doc) return 0;
    uint64_t w = tape_word(v.doc, v.idx);
    char k = tape_kind(w);
    if (k != '{' && k != '[') return 0;
    uint32_t c = uint32_t(w >> 32) & COUNT_MASK;
    if (c < COUNT_MASK) return c;
    size_t n = 0, end = size_t(uint32_t(w)) - 1;
    for (size_t i = v.idx + 1; i < end; n++)
        i = k == '{' ? after_value(v.doc, i + 1) : after_value(v.doc, i);
    return n;
}

extern "C" int wd_jval_get(wd_jval_t v, const char *key, size_t keylen, wd_jval_t *out) {
    if (!v.doc) return 0;
    uint64_t w = tape_word(v.doc, v.idx);
    if (tape_kind(w) != '{') return 0;
    size_t end = size_t(uint32_t(w)) - 1;
    for (size_t i = v.idx + 1; i < end; i = after_value(v.doc, i + 1)) {
        size_t kl;
        const char *k = tape_str(v.doc, i, &kl);
        if (kl == keylen && std::memcmp(k, key, keylen) == 0) {
            if (out) { out->doc = v.doc; out->idx = i + 1; }
            return 1;
        }
    }
    return 0;
}

extern "C" int wd_jval_at(wd_jval_t v, size_t i, wd_jval_t *out) {
    if (!v.doc) return 0;
    uint64_t w = tape_word(v.doc, v.idx);
    if (tape_kind(w) != '[') return 0;
    size_t end = size_t(uint32_t(w)) - 1;
    for (size_t j = v.idx + 1; j < end; j = after_value(v.doc, j)) {
        if (i-- == 0) {
            if (out) { out->doc = v.doc; out->idx = j; }
            return 1;
        }
    }
    return 0;
}

extern "C" int wd_jval_at_cur(wd_jval_t v, size_t i, wd_jcursor_t *cur, wd_jval_t *out) {
    if (!v.doc) return 0;
    uint64_t w = tape_word(v.doc, v.idx);
    if (tape_kind(w) != '[') return 0;
    size_t end = size_t(uint32_t(w)) - 1;
    size_t j = v.idx + 1, k = 0;
    if (cur->idx != 0 && cur->i <= i) {
        j = cur->idx;
        k = cur->i;
    }
    for (; j < end; j = after_value(v.doc, j), k++) {
        if (k == i) {
            cur->i = k;
            cur->idx = j;
            if (out) { out->doc = v.doc; out->idx = j; }
            return 1;
        }
    }
    return 0;
}

extern "C" int wd_jval_path(wd_jval_t v, const char *path, wd_jval_t *out) {
    if (!path) return 0;
    for (;;) {
        const char *dot = std::strchr(path, '.');
        size_t n = dot ? size_t(dot - path) : std::strlen(path);
        if (!wd_jval_get(v, path, n, &v)) return 0;
        if (!dot) break;
        path = dot + 1;
    }
    if (out) *out = v;
    return 1;
}

/* it->idx walks the container's tape words; it->end is the closing '}' or
 * ']' word, which also tells objects from arrays. */
extern "C" void wd_jiter_begin(wd_jval_t v, wd_jiter_t *it) {
    it->doc = nullptr;
    it->idx = it->end = 0;
    if (!v.doc) return;
    uint64_t w = tape_word(v.doc, v.idx);
    char k = tape_kind(w);
    if (k != '{' && k != '[') return;
    it->doc = v.doc;
    it->idx = v.idx + 1;
    it->end = size_t(uint32_t(w)) - 1;
}

extern "C" int wd_jiter_next(wd_jiter_t *it, const char **key, size_t *klen, wd_jval_t *val) {
    if (!it->doc || it->idx >= it->end) return 0;
    size_t vi = it->idx;
    if (tape_kind(tape_word(it->doc, it->end)) == '}') {
        size_t n;
        const char *k = tape_str(it->doc, vi, &n);
        if (key) *key = k;
        if (klen) *klen = n;
        vi++;
    } else {
        if (key) *key = nullptr;
        if (klen) *klen = 0;
    }
    if (val) { val->doc = it->doc; val->idx = vi; }
    it->idx = after_value(it->doc, vi);
    return 1;
}
