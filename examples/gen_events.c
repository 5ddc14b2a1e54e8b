/* examples/gen_events.c — deterministic generator of realistic trust-and-
 * safety event streams (JSONL, one event a line) with injected abuse.
 *
 *   gen_events [--seed N] [--count N] [--start RFC3339] [--out FILE]
 *
 * Background traffic from a pool of ordinary users (pins, posts, logins,
 * payments, reports, follows, account updates) is merged in time order with
 * "episodes" of abuse scheduled over the run: link-burst spammers,
 * credential stuffing, password spraying, account takeover, card testing,
 * mass-report brigades, follow spam and unsafe-content fanout.  A handful of
 * awkward but valid events (unicode, escapes, nulls, missing objects, huge
 * numbers) are mixed in.  examples/README.md says which rule catches what.
 *
 * Output depends only on the arguments: own PRNG (xoshiro256** seeded by
 * splitmix64), integer arithmetic only, own UTC calendar code, and never
 * two draws in one argument list (C leaves their order unspecified: gcc
 * and clang differ).  Memory is
 * O(episodes), so a million events stream out without being held. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- PRNG --------------------------------------------------------------- */

typedef struct rng {
    uint64_t s[4];
} rng_t;

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static void rng_seed(rng_t *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t rng_next(rng_t *r)
{
    uint64_t *s = r->s;
    uint64_t out = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return out;
}

/* Uniform in [0, n) for n > 0 (multiply-shift; the tiny bias is irrelevant
 * here and the result is fully determined by the state). */
static uint64_t rng_below(rng_t *r, uint64_t n)
{
    return (uint64_t)(((unsigned __int128)rng_next(r) * n) >> 64);
}

/* Uniform in [lo, hi]. */
static int64_t rng_range(rng_t *r, int64_t lo, int64_t hi)
{
    return lo + (int64_t)rng_below(r, (uint64_t)(hi - lo + 1));
}

/* True with probability per_mille / 1000. */
static int rng_chance(rng_t *r, unsigned per_mille)
{
    return rng_below(r, 1000) < per_mille;
}

/* Index into a weight table. */
static size_t rng_weighted(rng_t *r, const unsigned *w, size_t n)
{
    unsigned total = 0;
    for (size_t i = 0; i < n; i++)
        total += w[i];
    unsigned x = (unsigned)rng_below(r, total);
    for (size_t i = 0; i < n; i++) {
        if (x < w[i])
            return i;
        x -= w[i];
    }
    return n - 1;
}

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))
#define PICK(r, a) ((a)[rng_below((r), NELEM(a))])

/* ---- calendar (UTC, proleptic Gregorian) ------------------------------- */

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

/* "2026-11-20T10:00:00Z", with ".250" before the Z when with_ms. */
static void format_ts(char *buf, size_t n, int64_t ms, int with_ms)
{
    int64_t secs = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
    int64_t days = secs >= 0 ? secs / 86400 : (secs - 86399) / 86400;
    int64_t sod = secs - days * 86400;
    int64_t y;
    unsigned m, d;
    civil_from_days(days, &y, &m, &d);
    int h = (int)(sod / 3600), mi = (int)(sod / 60 % 60), s = (int)(sod % 60);
    if (with_ms)
        snprintf(buf, n, "%04" PRId64 "-%02u-%02uT%02d:%02d:%02d.%03dZ", y, m, d, h, mi, s,
                 (int)(ms - secs * 1000));
    else
        snprintf(buf, n, "%04" PRId64 "-%02u-%02uT%02d:%02d:%02dZ", y, m, d, h, mi, s);
}

/* Accepts YYYY-MM-DDTHH:MM:SS[.fff](Z|+HH:MM|-HH:MM).  Returns 0 or -1. */
static int parse_ts(const char *s, int64_t *ms_out)
{
    int y, mo, d, h, mi, sec, n = 0;
    if (sscanf(s, "%4d-%2d-%2d%*1[Tt ]%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6 || n == 0)
        return -1;
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
        return -1;
    const char *p = s + n;
    int64_t frac = 0;
    if (*p == '.') {
        int digits = 0;
        for (p++; *p >= '0' && *p <= '9'; p++, digits++)
            if (digits < 3)
                frac = frac * 10 + (*p - '0');
        if (digits == 0)
            return -1;
        for (; digits < 3; digits++)
            frac *= 10;
    }
    int64_t off = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om, k = 0;
        if (sscanf(p + 1, "%2d:%2d%n", &oh, &om, &k) != 2 || k != 5)
            return -1;
        off = (int64_t)(oh * 60 + om) * 60 * (*p == '-' ? -1 : 1);
        p += 6;
    } else {
        return -1;
    }
    if (*p != '\0')
        return -1;
    int64_t secs = days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 + sec - off;
    *ms_out = secs * 1000 + frac;
    return 0;
}

/* ---- output line ---------------------------------------------------------- */

typedef struct line {
    char buf[4096];
    size_t len;
} line_t;

static void put(line_t *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(line_t *l, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(l->buf + l->len, sizeof l->buf - l->len, fmt, ap);
    va_end(ap);
    if (n > 0)
        l->len += (size_t)n < sizeof l->buf - l->len ? (size_t)n : sizeof l->buf - l->len - 1;
}

/* A JSON string literal; s is UTF-8, control characters and quotes escaped. */
static void put_str(line_t *l, const char *s)
{
    put(l, "\"");
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            put(l, "\\%c", *p);
        else if (*p == '\n')
            put(l, "\\n");
        else if (*p == '\t')
            put(l, "\\t");
        else if (*p < 0x20)
            put(l, "\\u%04x", *p);
        else
            put(l, "%c", *p);
    }
    put(l, "\"");
}

static void put_bool(line_t *l, int b) { put(l, "%s", b ? "true" : "false"); }

/* Money from integer cents: 1250 -> 12.50 (a valid JSON number). */
static void put_cents(line_t *l, int64_t cents) { put(l, "%" PRId64 ".%02d", cents / 100, (int)(cents % 100)); }

/* ---- world tables ------------------------------------------------------- */

typedef struct country {
    const char *code, *currency, *lang;
    unsigned weight;
    unsigned char octets[3];   /* first octets of "home" IPv4 addresses */
} country_t;

static const country_t COUNTRIES[] = {
    {"US", "USD", "en", 38, {24, 73, 98}},   {"GB", "GBP", "en", 8, {81, 86, 92}},
    {"DE", "EUR", "de", 7, {87, 91, 93}},    {"FR", "EUR", "fr", 6, {82, 88, 90}},
    {"BR", "BRL", "pt", 8, {177, 179, 189}}, {"IN", "INR", "hi", 7, {49, 106, 117}},
    {"JP", "JPY", "ja", 5, {126, 133, 153}}, {"CA", "CAD", "en", 5, {70, 99, 142}},
    {"MX", "MXN", "es", 5, {187, 189, 201}}, {"AU", "AUD", "en", 4, {101, 110, 121}},
    {"ES", "EUR", "es", 4, {83, 84, 95}},    {"IT", "EUR", "it", 3, {79, 80, 151}},
};
#define NCOUNTRY NELEM(COUNTRIES)

/* Tor exit ranges: keep in sync with examples/rules/lists/tor_exits.cidr. */
static const char *const TOR_V4[] = {"185.220.100.", "185.220.101.", "185.220.102.", "185.220.103.",
                                     "192.42.116.", "171.25.193.", "199.249.230."};
/* Hosting/proxy ranges attackers rent; not in any list. */
static const char *const HOSTING_V4[] = {"45.133.", "45.155.", "104.244.", "89.248.", "5.188.", "193.32."};

/* keep in sync with examples/rules/lists/shady_domains.txt */
static const char *const SHADY_DOMAINS[] = {
    "free-giftcards.top",   "cheap-rayban-outlet.shop", "win-iphone-now.xyz", "crypto-doubler.click",
    "discount-uggs.store",  "weightloss-miracle.online", "followers-boost.site", "promo-codes-daily.icu",
};
static const char *const GOOD_DOMAINS[] = {
    "etsy.com",     "allrecipes.com", "nytimes.com",  "ikea.com",        "youtube.com", "medium.com",
    "amazon.com",   "bonappetit.com", "houzz.com",    "wikipedia.org",   "vogue.com",   "bbc.co.uk",
    "instructables.com", "apartmenttherapy.com", "seriouseats.com", "nike.com",
};
/* keep in sync with examples/rules/lists/high_risk_bins.txt */
static const char *const HIGH_RISK_BINS[] = {
    "404038", "414720", "426684", "431940", "440393", "453211", "476173", "489504",
    "510805", "522182", "531106", "542418", "550692", "559666", "601100", "650052",
};
static const char *const NORMAL_BINS[] = {
    "400022", "401795", "411773", "421765", "438857", "445093", "451015", "465859",
    "472409", "486236", "491653", "516732", "520082", "526219", "535316", "543211",
    "547415", "552433", "558158", "374245", "371449", "601120", "356600", "622126",
};
/* keep in sync with examples/rules/lists/banned_terms.txt */
static const char *const BANNED_TERMS[] = {"thinspo", "proana", "meanspo", "bonespo",
                                           "blackoutchallenge", "buyfentanyl"};
static const char *const THROWAWAY_MAIL[] = {"yopmail.com", "guerrillamail.com", "10minutemail.net",
                                             "mailinator.com", "tempmail.dev"};
static const char *const NORMAL_MAIL[] = {"gmail.com", "outlook.com", "yahoo.com", "icloud.com",
                                          "proton.me", "gmx.de"};

static const char *const PIN_TEXTS[] = {
    "easy weeknight pasta",           "mid-century living room ideas", "DIY macrame plant hanger",
    "fall capsule wardrobe",          "small balcony garden",          "sourdough starter tips",
    "watercolor lettering practice",  "kids birthday party themes",    "minimalist bedroom decor",
    "high protein breakfast bowls",   "japanese joinery basics",       "wedding centerpiece inspo",
    "budget travel in portugal",      "cozy reading nook",             "one pot curry",
    "how to repot a monstera",        "nail art for short nails",      "vintage camera collection",
};
static const char *const POST_TEXTS[] = {
    "Finally finished the kitchen makeover!", "What should I bake this weekend?",
    "New board for spring outfits",           "Anyone tried this recipe with oat milk?",
    "Thanks for 1k followers!",               "Road trip photos are up",
    "Looking for plant care advice",          "My first attempt at embroidery",
};
static const char *const SPAM_TEXTS[] = {
    "FREE $500 gift card - claim now!!!", "Ray-Ban 90% off today only", "You won an iPhone 16, tap to claim",
    "Double your bitcoin in 24h",         "Lose 10kg in a week",         "Get 10k followers fast",
};
/* %s is a banned term */
static const char *const UNSAFE_TEMPLATES[] = {
    "#%s goals, follow for daily tips", "%s before summer 🦴 dm me",
    "join the %s group link in bio",    "real %s motivation no judgement",
};
static const char *const MERCHANTS[] = {"promoted_pins", "etsy_shop_4411", "ikea", "wayfair", "sephora",
                                        "target",        "zara",           "nike", "home_depot"};
static const char *const OSES[] = {"ios", "android", "web", "macos", "windows"};
static const unsigned OS_W[] = {35, 30, 20, 8, 7};
static const char *const LOGIN_METHODS[] = {"password", "sso_google", "sso_apple", "passkey", "password_2fa"};
static const unsigned LOGIN_METHOD_W[] = {55, 15, 10, 10, 10};
static const char *const REPORT_REASONS[] = {"spam", "harassment", "nudity", "hate", "scam", "self_harm", "other"};
static const unsigned REPORT_REASON_W[] = {40, 15, 10, 5, 15, 3, 12};
static const char *const ACCOUNT_CHANGES[] = {"password", "email", "phone", "avatar"};
static const unsigned ACCOUNT_CHANGE_W[] = {40, 25, 15, 20};

/* ---- users ---------------------------------------------------------------- */

typedef struct user {
    uint32_t idx;
    char id[16];
    int age_days;
    size_t country;
    int verified;
    int64_t followers;
    char device[20];
    const char *os;
    char ip[40];
    const char *bin;
} user_t;

typedef struct gen {
    uint64_t seed;
    uint32_t npool;        /* ordinary users: u100000 .. */
    uint32_t next_idx;     /* next fresh (abuser) account index */
    uint64_t pin_seq, post_seq, pay_seq;
    unsigned idwidth;
} gen_t;

static uint64_t mix(uint64_t a, uint64_t b)
{
    uint64_t x = a ^ (b * 0xD6E8FEB86659FD93ull);
    return splitmix64(&x);
}

static size_t pick_country(rng_t *r)
{
    unsigned w[NCOUNTRY];
    for (size_t i = 0; i < NCOUNTRY; i++)
        w[i] = COUNTRIES[i].weight;
    return rng_weighted(r, w, NCOUNTRY);
}

static size_t other_country(rng_t *r, size_t home)
{
    size_t c = (size_t)rng_below(r, NCOUNTRY - 1);
    return c >= home ? c + 1 : c;
}

static void home_ip(rng_t *r, size_t country, char *buf, size_t n)
{
    const country_t *c = &COUNTRIES[country];
    unsigned a = c->octets[rng_below(r, 3)];
    unsigned b = (unsigned)rng_range(r, 1, 254);
    unsigned x = (unsigned)rng_range(r, 0, 255);
    unsigned d = (unsigned)rng_range(r, 1, 254);
    snprintf(buf, n, "%u.%u.%u.%u", a, b, x, d);
}

static void tor_ip(rng_t *r, char *buf, size_t n)
{
    if (rng_chance(r, 100))
        snprintf(buf, n, "2001:67c:e60:c0c:192:42:116:%x", (unsigned)rng_range(r, 1, 0xfe));
    else {
        const char *net = PICK(r, TOR_V4);
        snprintf(buf, n, "%s%u", net, (unsigned)rng_range(r, 1, 254));
    }
}

static void hosting_ip(rng_t *r, char *buf, size_t n)
{
    const char *net = PICK(r, HOSTING_V4);
    unsigned x = (unsigned)rng_range(r, 0, 255);
    unsigned d = (unsigned)rng_range(r, 1, 254);
    snprintf(buf, n, "%s%u.%u", net, x, d);
}

static void device_id(rng_t *r, char *buf, size_t n)
{
    snprintf(buf, n, "d%08" PRIx64, rng_next(r) >> 32);
}

/* The stable profile of account idx (any account, ordinary or not). */
static void user_profile(const gen_t *g, uint32_t idx, user_t *u)
{
    rng_t r;
    rng_seed(&r, mix(g->seed ^ 0x75736572ull, idx));
    u->idx = idx;
    snprintf(u->id, sizeof u->id, "u%" PRIu32, 100000 + idx);
    static const unsigned age_w[] = {4, 10, 86};
    switch (rng_weighted(&r, age_w, 3)) {
    case 0: u->age_days = (int)rng_range(&r, 0, 6); break;
    case 1: u->age_days = (int)rng_range(&r, 7, 60); break;
    default: u->age_days = (int)rng_range(&r, 61, 3650); break;
    }
    u->country = pick_country(&r);
    u->verified = rng_chance(&r, 80);
    static const int64_t scale[] = {10, 100, 1000, 10000, 250000};
    static const unsigned scale_w[] = {25, 40, 25, 8, 2};
    u->followers = (int64_t)rng_below(&r, (uint64_t)scale[rng_weighted(&r, scale_w, 5)]);
    device_id(&r, u->device, sizeof u->device);
    u->os = OSES[rng_weighted(&r, OS_W, NELEM(OSES))];
    home_ip(&r, u->country, u->ip, sizeof u->ip);
    u->bin = PICK(&r, NORMAL_BINS);
}

/* A freshly registered account used for abuse: young, few followers. */
static void fresh_profile(const gen_t *g, uint32_t idx, int max_age, user_t *u)
{
    user_profile(g, idx, u);
    rng_t r;
    rng_seed(&r, mix(g->seed ^ 0x6e6577ull, idx));
    u->age_days = (int)rng_range(&r, 0, max_age);
    u->verified = 0;
    u->followers = (int64_t)rng_below(&r, 12);
}

/* An ordinary user, skewed so low indexes are more active (min of two). */
static uint32_t pick_user(const gen_t *g, rng_t *r)
{
    uint32_t a = (uint32_t)rng_below(r, g->npool), b = (uint32_t)rng_below(r, g->npool);
    return a < b ? a : b;
}

static void board_id(char *buf, size_t n, uint32_t idx, unsigned k)
{
    snprintf(buf, n, "b%" PRIu32, 1000000u + idx * 32u + (k & 31u));
}

/* ---- event pieces --------------------------------------------------------- */

static void put_user(line_t *l, const user_t *u)
{
    put(l, ",\"user\":{\"id\":\"%s\",\"age_days\":%d,\"country\":\"%s\",\"verified\":", u->id, u->age_days,
        COUNTRIES[u->country].code);
    put_bool(l, u->verified);
    put(l, ",\"followers\":%" PRId64 "}", u->followers);
}

static void put_device(line_t *l, const char *id, int vpn, const char *os)
{
    put(l, ",\"device\":{\"id\":\"%s\",\"vpn\":", id);
    put_bool(l, vpn);
    put(l, ",\"os\":\"%s\"}", os);
}

static void put_pin(line_t *l, gen_t *g, const char *board, const char *text, const char *domain,
                    const char *link)
{
    put(l, ",\"pin\":{\"id\":\"p%07" PRIu64 "\"", ++g->pin_seq);
    if (link) {
        put(l, ",\"link\":");
        put_str(l, link);
    }
    put(l, ",\"board_id\":\"%s\",\"text\":", board);
    put_str(l, text);
    if (domain)
        put(l, ",\"domain\":\"%s\"", domain);
    put(l, "}");
}

static void put_login(line_t *l, const char *ip, const char *dev, int success, const char *method,
                      const char *geo, int new_device)
{
    put(l, ",\"login\":{\"ip\":\"%s\",\"device_id\":\"%s\",\"success\":", ip, dev);
    put_bool(l, success);
    put(l, ",\"method\":\"%s\",\"new_device\":", method);
    put_bool(l, new_device);
    put(l, ",\"geo\":{\"country\":\"%s\"}}", geo);
}

static void put_payment(line_t *l, gen_t *g, int64_t cents, const char *currency, const char *bin,
                        const char *card_country, const char *merchant)
{
    put(l, ",\"payment\":{\"id\":\"tx%07" PRIu64 "\",\"amount\":", ++g->pay_seq);
    put_cents(l, cents);
    put(l, ",\"currency\":\"%s\",\"card_bin\":\"%s\",\"card_country\":\"%s\",\"merchant\":\"%s\"}", currency,
        bin, card_country, merchant);
}

static void put_report(line_t *l, const char *target, const char *reason, const char *reporter)
{
    put(l, ",\"report\":{\"target_user\":\"%s\",\"reason\":\"%s\",\"reporter\":\"%s\"}", target, reason,
        reporter);
}

/* ---- background traffic -------------------------------------------------- */

enum stream { S_PIN, S_POST, S_LOGIN, S_PAYMENT, S_REPORT, S_FOLLOW, S_ACCOUNT, S_N };
static const char *const STREAM_NAMES[S_N] = {"pin_create", "post_create", "login", "payment",
                                              "report", "follow", "account_update"};
static const unsigned STREAM_W[S_N] = {340, 110, 220, 70, 25, 215, 20};

/* The start of every line: type, id, ts. */
static void put_head(line_t *l, const gen_t *g, int stream, uint64_t seq, int64_t ts, int with_ms)
{
    char tsbuf[40];
    format_ts(tsbuf, sizeof tsbuf, ts, with_ms);
    put(l, "{\"type\":\"%s\",\"id\":\"e%0*" PRIu64 "\",\"ts\":\"%s\"", STREAM_NAMES[stream], (int)g->idwidth,
        seq, tsbuf);
}

static void background_event(gen_t *g, rng_t *r, line_t *l, uint64_t seq, int64_t ts)
{
    int s = (int)rng_weighted(r, STREAM_W, S_N);
    user_t u;
    user_profile(g, pick_user(g, r), &u);
    const country_t *c = &COUNTRIES[u.country];
    put_head(l, g, s, seq, ts, 0);
    put_user(l, &u);
    switch (s) {
    case S_PIN: {
        put_device(l, u.device, 0, u.os);
        char board[24], link[160];
        board_id(board, sizeof board, u.idx, (unsigned)rng_below(r, 6));
        const char *text = PICK(r, PIN_TEXTS);
        if (rng_chance(r, 600)) {
            /* 3 per mille of ordinary link pins point at a listed domain */
            const char *dom = rng_chance(r, 3) ? PICK(r, SHADY_DOMAINS) : PICK(r, GOOD_DOMAINS);
            snprintf(link, sizeof link, "https://www.%s/%" PRIx64, dom, rng_next(r) >> 40);
            put_pin(l, g, board, text, dom, link);
        } else {
            put_pin(l, g, board, text, NULL, NULL);
        }
        break;
    }
    case S_POST:
        put_device(l, u.device, 0, u.os);
        put(l, ",\"post\":{\"id\":\"t%07" PRIu64 "\",\"text\":", ++g->post_seq);
        put_str(l, PICK(r, POST_TEXTS));
        put(l, ",\"lang\":\"%s\",\"media_count\":%d}", c->lang, (int)rng_range(r, 0, 4));
        break;
    case S_LOGIN: {
        /* mostly home; some travel with the usual device, some new phones,
         * a few privacy-minded Tor users, typos */
        char ip[40], dev[20];
        size_t geo = u.country;
        int new_dev = 0, vpn = 0;
        snprintf(ip, sizeof ip, "%s", u.ip);
        snprintf(dev, sizeof dev, "%s", u.device);
        unsigned x = (unsigned)rng_below(r, 1000);
        if (x < 15) {
            geo = other_country(r, u.country);
            home_ip(r, geo, ip, sizeof ip);
        } else if (x < 27) {
            new_dev = 1;
            device_id(r, dev, sizeof dev);
        } else if (x < 29) {
            geo = other_country(r, u.country);
            home_ip(r, geo, ip, sizeof ip);
            new_dev = 1;
            device_id(r, dev, sizeof dev);
        } else if (x < 31) {
            tor_ip(r, ip, sizeof ip);
            vpn = 1;
        }
        int ok = !rng_chance(r, 40);
        const char *method = LOGIN_METHODS[rng_weighted(r, LOGIN_METHOD_W, NELEM(LOGIN_METHODS))];
        put_device(l, dev, vpn, u.os);
        put_login(l, ip, dev, ok, method, COUNTRIES[geo].code, new_dev);
        break;
    }
    case S_PAYMENT: {
        put_device(l, u.device, 0, u.os);
        int64_t cents = rng_chance(r, 50) ? rng_range(r, 20000, 80000) : rng_range(r, 500, 20000);
        const char *cc = rng_chance(r, 20) ? COUNTRIES[other_country(r, u.country)].code : c->code;
        put_payment(l, g, cents, c->currency, u.bin, cc, PICK(r, MERCHANTS));
        break;
    }
    case S_REPORT: {
        put_device(l, u.device, 0, u.os);
        char target[16];
        snprintf(target, sizeof target, "u%" PRIu32, 100000 + (uint32_t)rng_below(r, g->npool));
        put_report(l, target, REPORT_REASONS[rng_weighted(r, REPORT_REASON_W, NELEM(REPORT_REASONS))], u.id);
        break;
    }
    case S_FOLLOW:
        put_device(l, u.device, 0, u.os);
        put(l, ",\"follow\":{\"target\":\"u%" PRIu32 "\"}", 100000 + pick_user(g, r));
        break;
    case S_ACCOUNT: {
        put_device(l, u.device, 0, u.os);
        const char *ch = ACCOUNT_CHANGES[rng_weighted(r, ACCOUNT_CHANGE_W, NELEM(ACCOUNT_CHANGES))];
        put(l, ",\"account\":{\"change\":\"%s\"", ch);
        if (strcmp(ch, "email") == 0)
            put(l, ",\"new_email_domain\":\"%s\"", PICK(r, NORMAL_MAIL));
        put(l, "}");
        break;
    }
    }
    put(l, "}\n");
}

/* Awkward but valid events, one variant after another.  Raw JSON fragments,
 * so the escapes are exactly the ones written here. */
static const char *const AWKWARD[] = {
    /* unicode text, raw UTF-8 and \u escapes incl. a surrogate pair */
    "\"pin_create\"%s,\"user\":{\"id\":\"u%u\",\"age_days\":400,\"country\":\"JP\",\"verified\":true,"
    "\"followers\":52},\"pin\":{\"id\":\"px001\",\"board_id\":\"b77\",\"text\":\"Caf\\u00e9 cr\\u00e8me "
    "br\\u00fbl\\u00e9e \\ud83c\\udf6e \xe2\x80\x94 \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\xe3\x81\xae"
    "\xe3\x83\xac\xe3\x82\xb7\xe3\x83\x94 \xd7\xa2\xd7\x91\xd7\xa8\xd7\x99\xd7\xaa \xf0\x9f\x8d\xb0\"}}",
    /* escapes of every kind, and an embedded NUL */
    "\"post_create\"%s,\"user\":{\"id\":\"u%u\",\"age_days\":90,\"country\":\"US\",\"verified\":false,"
    "\"followers\":3},\"post\":{\"id\":\"tx001\",\"text\":\"she said \\\"hi\\\"\\\\n\\n\\ttab \\/ slash "
    "\\b\\f\\r nul\\u0000byte\",\"lang\":\"en\",\"media_count\":0}}",
    /* nulls and a missing device object */
    "\"login\"%s,\"user\":{\"id\":\"u%u\",\"age_days\":null,\"country\":null,\"verified\":null,"
    "\"followers\":null},\"login\":{\"ip\":\"2001:db8::1\",\"device_id\":null,\"success\":true,"
    "\"method\":null,\"new_device\":null,\"geo\":null}}",
    /* huge and odd numbers */
    "\"payment\"%s,\"user\":{\"id\":\"u%u\",\"age_days\":0,\"country\":\"US\",\"verified\":false,"
    "\"followers\":9007199254740993},\"device\":{\"id\":\"d00000000\",\"vpn\":false,\"os\":\"web\"},"
    "\"payment\":{\"id\":\"txx001\",\"amount\":1.5E+2,\"currency\":\"USD\",\"card_bin\":\"000000\","
    "\"card_country\":\"US\",\"merchant\":\"promoted_pins\",\"risk\":-0.0,\"ref\":18446744073709551616}}",
    /* a follow with a target missing and extra nesting / arrays */
    "\"follow\"%s,\"user\":{\"id\":\"u%u\",\"age_days\":12,\"country\":\"BR\",\"verified\":false,"
    "\"followers\":1e3},\"follow\":{},\"meta\":{\"a\":{\"b\":{\"c\":[1,2,{\"d\":null}],\"e\":[]}},"
    "\"tags\":[\"x\",\"\",\"\\u2603\"]}}",
    /* a pin whose optional link and domain are null, empty text */
    "\"pin_create\"%s,\"user\":{\"id\":\"u%u\",\"age_days\":2,\"country\":\"DE\",\"verified\":false,"
    "\"followers\":0},\"device\":{\"id\":\"d0badf00d\",\"vpn\":true,\"os\":\"android\"},"
    "\"pin\":{\"id\":\"px002\",\"link\":null,\"board_id\":\"b78\",\"text\":\"\",\"domain\":null}}",
    /* a report without target and a unicode reason, user without object fields */
    "\"report\"%s,\"user\":{\"id\":\"u%u\"},\"report\":{\"reason\":\"\xc3\xa9\xc3\xa7\xc3\xa0 "
    "\\u00ab other \\u00bb\",\"reporter\":\"u%u\"}}",
    /* an account update carrying a user object null */
    "\"account_update\"%s,\"user\":null,\"account\":{\"change\":\"email\",\"new_email_domain\":"
    "\"\\u0065xample.com\"}}",
};

static void awkward_event(gen_t *g, rng_t *r, line_t *l, uint64_t seq, int64_t ts, unsigned variant)
{
    char head[96], tsbuf[40];
    format_ts(tsbuf, sizeof tsbuf, ts + (int64_t)rng_below(r, 1000), 1);
    snprintf(head, sizeof head, ",\"id\":\"e%0*" PRIu64 "\",\"ts\":\"%s\"", (int)g->idwidth, seq, tsbuf);
    unsigned uid = 100000u + (unsigned)rng_below(r, g->npool);
    put(l, "{\"type\":");
    /* every template takes head then the user id (twice for the report) */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    put(l, AWKWARD[variant % NELEM(AWKWARD)], head, uid, uid);
#pragma GCC diagnostic pop
    put(l, "\n");
}

/* ---- abuse episodes -------------------------------------------------------- */

enum ep_kind { EP_LINK_BURST, EP_CRED_STUFF, EP_SPRAY, EP_ATO, EP_CARD_TEST, EP_BRIGADE, EP_FOLLOW_SPAM,
               EP_UNSAFE_FANOUT, EP_NKIND };

/* One episode per EP_DIV events of output. */
static const unsigned EP_DIV[EP_NKIND] = {2000, 3000, 6000, 2400, 3000, 4000, 4000, 4000};

typedef struct episode {
    int kind;
    int64_t start, next;
    int step, total, extra;   /* extra: kind-specific (e.g. posts after a fanout) */
    uint32_t actor;           /* the abuser or the victim */
    uint32_t aux;             /* first of a block of fresh accounts (brigade) */
    unsigned pick;            /* domain / term / merchant choice */
    size_t geo;               /* attacker's country (ATO) */
    char ip[40], dev[20];     /* the attacker's (spray, ATO) */
    const char *bin;          /* card used for the cash-out */
    rng_t rng;
} episode_t;

/* Sets up an episode: who is involved and how many events it has. */
static void episode_init(gen_t *g, episode_t *e, int kind, int64_t start, uint64_t n)
{
    memset(e, 0, sizeof *e);
    e->kind = kind;
    e->start = e->next = start;
    rng_seed(&e->rng, mix(g->seed ^ 0x6570ull, ((uint64_t)kind << 32) | n));
    rng_t *r = &e->rng;
    switch (kind) {
    case EP_LINK_BURST:
        e->actor = g->next_idx++;
        e->total = (int)rng_range(r, 25, 40);
        e->pick = (unsigned)rng_below(r, NELEM(SHADY_DOMAINS));
        break;
    case EP_CRED_STUFF:
        e->actor = (uint32_t)rng_below(r, g->npool);
        e->total = (int)rng_range(r, 25, 45);
        e->extra = rng_chance(r, 500); /* the last attempt gets in */
        e->total += e->extra;
        break;
    case EP_SPRAY:
        e->total = (int)rng_range(r, 15, 25);
        if (rng_chance(r, 500))
            tor_ip(r, e->ip, sizeof e->ip);
        else
            hosting_ip(r, e->ip, sizeof e->ip);
        device_id(r, e->dev, sizeof e->dev);
        break;
    case EP_ATO:
        e->actor = (uint32_t)rng_below(r, g->npool);
        e->total = 2 + (int)rng_range(r, 1, 3); /* login, email change, payments */
        device_id(r, e->dev, sizeof e->dev);
        break;
    case EP_CARD_TEST:
        e->actor = g->next_idx++;
        e->extra = rng_chance(r, 600) ? (int)rng_range(r, 1, 2) : 0; /* cash-out payments */
        e->total = (int)rng_range(r, 18, 35) + e->extra;
        e->pick = (unsigned)rng_below(r, 3);
        e->bin = PICK(r, HIGH_RISK_BINS);
        break;
    case EP_BRIGADE:
        e->actor = (uint32_t)rng_below(r, g->npool);
        e->total = (int)rng_range(r, 18, 35);
        e->aux = g->next_idx;
        g->next_idx += (uint32_t)e->total;
        e->pick = (unsigned)rng_below(r, 4);
        break;
    case EP_FOLLOW_SPAM:
        e->actor = g->next_idx++;
        e->total = (int)rng_range(r, 50, 90);
        break;
    case EP_UNSAFE_FANOUT:
        e->actor = g->next_idx++;
        e->extra = rng_chance(r, 500) ? (int)rng_range(r, 2, 4) : 0; /* posts afterwards */
        e->total = (int)rng_range(r, 10, 20) + e->extra;
        e->pick = (unsigned)rng_below(r, NELEM(BANNED_TERMS) * NELEM(UNSAFE_TEMPLATES));
        break;
    }
}

/* Writes the episode's next event (stamped shown, which is ts or a little
 * earlier for a late arrival) and advances it.  Returns 1 when done. */
static int episode_event(gen_t *g, episode_t *e, line_t *l, uint64_t seq, int64_t ts, int64_t shown)
{
    rng_t *r = &e->rng;
    user_t u;
    int64_t gap_lo = 1000, gap_hi = 1000;
    switch (e->kind) {
    case EP_LINK_BURST: {
        /* a days-old account pinning links to one shady domain, ~1/min */
        fresh_profile(g, e->actor, 3, &u);
        char board[24], link[160];
        board_id(board, sizeof board, u.idx, (unsigned)rng_below(r, 2));
        snprintf(link, sizeof link, "https://%s/%" PRIx64 "?ref=%s", SHADY_DOMAINS[e->pick],
                 rng_next(r) >> 44, u.id);
        put_head(l, g, S_PIN, seq, shown, 0);
        put_user(l, &u);
        put_device(l, u.device, rng_chance(r, 300), u.os);
        put_pin(l, g, board, PICK(r, SPAM_TEXTS), SHADY_DOMAINS[e->pick], link);
        gap_lo = 30000, gap_hi = 100000;
        break;
    }
    case EP_CRED_STUFF: {
        /* one account, a new IP and device on every try, password logins */
        user_profile(g, e->actor, &u);
        char ip[40], dev[20];
        if (rng_chance(r, 350))
            tor_ip(r, ip, sizeof ip);
        else
            hosting_ip(r, ip, sizeof ip);
        device_id(r, dev, sizeof dev);
        int success = e->extra && e->step == e->total - 1;
        put_head(l, g, S_LOGIN, seq, shown, 0);
        put_user(l, &u);
        int vpn = rng_chance(r, 500);
        put_device(l, dev, vpn, PICK(r, OSES));
        put_login(l, ip, dev, success, "password", COUNTRIES[other_country(r, u.country)].code, 1);
        gap_lo = 5000, gap_hi = 60000;
        break;
    }
    case EP_SPRAY: {
        /* one IP trying one password against many accounts */
        user_profile(g, (uint32_t)rng_below(r, g->npool), &u);
        put_head(l, g, S_LOGIN, seq, shown, 0);
        put_user(l, &u);
        put_device(l, e->dev, 1, "windows");
        put_login(l, e->ip, e->dev, 0, "password", "NL", 1);
        gap_lo = 10000, gap_hi = 90000;
        break;
    }
    case EP_ATO: {
        /* login from a new country on a new device, then the email is
         * changed, then the victim's wallet is used */
        user_profile(g, e->actor, &u);
        if (e->step == 0) {
            e->geo = other_country(r, u.country);
            if (rng_chance(r, 250))
                tor_ip(r, e->ip, sizeof e->ip);
            else
                home_ip(r, e->geo, e->ip, sizeof e->ip);
        }
        put_head(l, g, e->step == 0 ? S_LOGIN : e->step == 1 ? S_ACCOUNT : S_PAYMENT, seq, shown, 0);
        put_user(l, &u);
        put_device(l, e->dev, rng_chance(r, 600), "android");
        if (e->step == 0) {
            put_login(l, e->ip, e->dev, 1, "password", COUNTRIES[e->geo].code, 1);
            gap_lo = 120000, gap_hi = 900000;
        } else if (e->step == 1) {
            put(l, ",\"account\":{\"change\":\"email\",\"new_email_domain\":\"%s\"}", PICK(r, THROWAWAY_MAIL));
            gap_lo = 60000, gap_hi = 600000;
        } else {
            static const char *const m[] = {"giftcard_hub", "electronics_hub", "crypto_onramp"};
            int64_t cents = rng_range(r, 15000, 90000);
            put_payment(l, g, cents, COUNTRIES[u.country].currency, u.bin, COUNTRIES[u.country].code, PICK(r, m));
            gap_lo = 60000, gap_hi = 600000;
        }
        break;
    }
    case EP_CARD_TEST: {
        /* tiny charges on many stolen cards at one merchant, maybe a cash-out */
        static const char *const m[] = {"donate_now_org", "ebook_store_99", "stream_trial"};
        fresh_profile(g, e->actor, 2, &u);
        put_head(l, g, S_PAYMENT, seq, shown, 0);
        put_user(l, &u);
        put_device(l, u.device, 1, u.os);
        if (e->step < e->total - e->extra) {
            char bin[8];
            if (rng_chance(r, 400))
                snprintf(bin, sizeof bin, "%s", PICK(r, HIGH_RISK_BINS));
            else {
                char network = rng_chance(r, 600) ? '4' : '5';
                snprintf(bin, sizeof bin, "%c%05u", network, (unsigned)rng_below(r, 100000));
            }
            int64_t cents = rng_range(r, 50, 299);
            put_payment(l, g, cents, "USD", bin, COUNTRIES[rng_below(r, NCOUNTRY)].code, m[e->pick]);
            gap_lo = 20000, gap_hi = 100000;
        } else {
            put_payment(l, g, rng_range(r, 50000, 150000), "USD", e->bin, "US", "electronics_hub");
            gap_lo = 120000, gap_hi = 600000;
        }
        break;
    }
    case EP_BRIGADE: {
        /* fresh accounts all reporting one user for the same reason */
        static const char *const reasons[] = {"hate", "harassment", "spam", "nudity"};
        fresh_profile(g, e->aux + (uint32_t)e->step, 5, &u);
        char target[16];
        snprintf(target, sizeof target, "u%" PRIu32, 100000 + e->actor);
        put_head(l, g, S_REPORT, seq, shown, 0);
        put_user(l, &u);
        put_device(l, u.device, rng_chance(r, 400), u.os);
        put_report(l, target, reasons[e->pick], u.id);
        gap_lo = 10000, gap_hi = 60000;
        break;
    }
    case EP_FOLLOW_SPAM:
        /* a new account following dozens of strangers, one every few seconds */
        fresh_profile(g, e->actor, 14, &u);
        put_head(l, g, S_FOLLOW, seq, shown, 0);
        put_user(l, &u);
        put_device(l, u.device, 0, u.os);
        put(l, ",\"follow\":{\"target\":\"u%" PRIu32 "\"}", 100000 + (uint32_t)rng_below(r, g->npool));
        gap_lo = 5000, gap_hi = 25000;
        break;
    case EP_UNSAFE_FANOUT: {
        /* one banned-term text pinned to board after board, then posted */
        char text[160];
        fresh_profile(g, e->actor, 90, &u);
        u.followers = 150 + (int64_t)(e->actor % 400); /* built an audience first */
        snprintf(text, sizeof text, UNSAFE_TEMPLATES[e->pick % NELEM(UNSAFE_TEMPLATES)],
                 BANNED_TERMS[e->pick / NELEM(UNSAFE_TEMPLATES)]);
        int is_post = e->step >= e->total - e->extra;
        put_head(l, g, is_post ? S_POST : S_PIN, seq, shown, 0);
        put_user(l, &u);
        put_device(l, u.device, 0, u.os);
        if (is_post) {
            put(l, ",\"post\":{\"id\":\"t%07" PRIu64 "\",\"text\":", ++g->post_seq);
            put_str(l, text);
            put(l, ",\"lang\":\"en\",\"media_count\":1}");
        } else {
            char board[24];
            board_id(board, sizeof board, u.idx, (unsigned)e->step);
            put_pin(l, g, board, text, NULL, NULL);
        }
        gap_lo = 60000, gap_hi = 240000;
        break;
    }
    }
    put(l, "}\n");
    e->step++;
    e->next = ts + rng_range(r, gap_lo, gap_hi);
    return e->step >= e->total;
}

static int cmp_episode(const void *a, const void *b)
{
    const episode_t *x = a, *y = b;
    if (x->start != y->start)
        return x->start < y->start ? -1 : 1;
    if (x->kind != y->kind)
        return x->kind < y->kind ? -1 : 1;
    return 0;
}

/* ---- main loop ------------------------------------------------------------ */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: gen_events [--seed N] [--count N] [--start RFC3339] [--out FILE]\n"
            "  Writes COUNT (default 12000) JSONL events starting at START (default\n"
            "  2026-11-20T00:00:00Z), deterministic for SEED (default 1).\n");
}

int main(int argc, char **argv)
{
    uint64_t seed = 1, count = 12000;
    int64_t start_ms = 0;
    const char *out_path = NULL;
    parse_ts("2026-11-20T00:00:00Z", &start_ms);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "gen_events: %s: missing value or unknown option\n", a);
            usage(stderr);
            return 2;
        }
        const char *v = argv[++i];
        char *end = NULL;
        errno = 0;
        if (strcmp(a, "--seed") == 0) {
            seed = strtoull(v, &end, 0);
        } else if (strcmp(a, "--count") == 0) {
            count = strtoull(v, &end, 10);
            if (v[0] == '-' || count > 1000000000ull)
                end = NULL;
        } else if (strcmp(a, "--start") == 0) {
            if (parse_ts(v, &start_ms) != 0) {
                fprintf(stderr, "gen_events: --start %s: not an RFC 3339 time\n", v);
                return 2;
            }
            continue;
        } else if (strcmp(a, "--out") == 0) {
            out_path = v;
            continue;
        } else {
            fprintf(stderr, "gen_events: unknown option %s\n", a);
            usage(stderr);
            return 2;
        }
        if (end == NULL || end == v || *end != '\0' || errno != 0) {
            fprintf(stderr, "gen_events: %s %s: not a number\n", a, v);
            return 2;
        }
    }

    FILE *out = stdout;
    if (out_path && (out = fopen(out_path, "w")) == NULL) {
        fprintf(stderr, "gen_events: %s: %s\n", out_path, strerror(errno));
        return 1;
    }

    gen_t g = {.seed = seed};
    g.npool = (uint32_t)(count / 8 < 100 ? 100 : count / 8 > 200000 ? 200000 : count / 8);
    g.next_idx = g.npool;
    g.idwidth = 6;
    for (uint64_t c = count; c >= 1000000; c /= 10)
        g.idwidth++;

    /* ~2.5 s between events on average; abuse starts in [2%, 90%] of the span */
    int64_t span = (int64_t)count * 2500;
    size_t nep = 0;
    for (int k = 0; k < EP_NKIND; k++)
        nep += count / EP_DIV[k];
    episode_t *eps = calloc(nep ? nep : 1, sizeof *eps);
    size_t *active = calloc(nep ? nep : 1, sizeof *active);
    if (!eps || !active) {
        fprintf(stderr, "gen_events: out of memory\n");
        return 1;
    }
    rng_t sched;
    rng_seed(&sched, mix(seed, 0x7363686564ull));
    size_t ne = 0;
    for (int k = 0; k < EP_NKIND; k++)
        for (uint64_t n = 0; n < count / EP_DIV[k]; n++) {
            int64_t at = start_ms + span / 50 + (int64_t)rng_below(&sched, (uint64_t)(span * 88 / 100));
            episode_init(&g, &eps[ne++], k, at, n);
        }
    qsort(eps, ne, sizeof *eps, cmp_episode);

    rng_t bg, ooo;
    rng_seed(&bg, mix(seed, 0x6267ull));
    rng_seed(&ooo, mix(seed, 0x6f6f6full));
    int64_t bg_next = start_ms;
    size_t nactive = 0, pending = 0;
    unsigned awkward = 0;
    line_t l;
    for (uint64_t seq = 1; seq <= count; seq++) {
        /* start every episode due before the next event */
        while (pending < ne) {
            int64_t soonest = bg_next;
            for (size_t i = 0; i < nactive; i++)
                if (eps[active[i]].next < soonest)
                    soonest = eps[active[i]].next;
            if (eps[pending].start > soonest)
                break;
            active[nactive++] = pending++;
        }
        size_t who = SIZE_MAX;
        int64_t ts = bg_next;
        for (size_t i = 0; i < nactive; i++)
            if (eps[active[i]].next < ts) {
                ts = eps[active[i]].next;
                who = i;
            }
        /* occasionally an event arrives a little late (up to 30 s) */
        int64_t shown = ts;
        if (rng_chance(&ooo, 5))
            shown -= rng_range(&ooo, 1000, 30000);
        l.len = 0;
        if (who == SIZE_MAX) {
            if (rng_below(&bg, 1500) == 0)
                awkward_event(&g, &bg, &l, seq, shown, awkward++);
            else
                background_event(&g, &bg, &l, seq, shown);
            bg_next += rng_range(&bg, 0, 5400);
        } else if (episode_event(&g, &eps[active[who]], &l, seq, ts, shown)) {
            active[who] = active[--nactive];
        }
        if (fwrite(l.buf, 1, l.len, out) != l.len)
            break;
    }
    free(eps);
    free(active);
    int rc = 0;
    if (ferror(out) || (out != stdout ? fclose(out) : fflush(out)) != 0) {
        fprintf(stderr, "gen_events: write failed: %s\n", strerror(errno));
        rc = 1;
    }
    return rc;
}
