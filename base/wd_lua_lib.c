/* Bounded versions of the C library functions that can run without bound
 * inside one Lua "instruction" (the count hook only fires between
 * instructions, so a loop in C escapes the budget and the time limit):
 *
 *   string.rep      an empty result is made at once (the stock one loops n
 *                   times copying nothing); a big one is charged its copy;
 *   string.find     plain searches (plain = true, or a pattern without
 *                   magic characters) run in linear time (memmem);
 *   find, match,    a pattern's worst case on the given subject is estimated
 *   gmatch, gsub    before the stock matcher runs (see pattern_cost); over
 *                   what the call's time limit allows, it is refused;
 *   table.insert,   own loops that charge one instruction per element moved
 *   remove, move,   (wd_lua_charge: the budget and the clock are checked
 *   concat          every 1024 elements), however large the range or __len;
 *   table.sort      charged n*log2(n) instructions before the stock sort.
 *
 * The stock functions are kept as upvalues and called in the wrapper's own
 * frame, so their error messages are unchanged.  The wrappers cost a length
 * check on the common, short subjects. */
#include <ctype.h>
#include <lauxlib.h>
#include <stdint.h>
#include <string.h>

#include "base/wd_lua.h"
#include "base/wd_lua_int.h"

/* Matcher steps a pattern call may cost per millisecond of time limit:
 * measured at 3 to 10 ns per step on the matcher's worst cases, so a
 * refused call is one that could have run for about the whole limit. */
#define MATCH_STEPS_PER_MS 200000.0
/* Classes whose runs are measured per pattern; past that a quantified
 * item is assumed to span the whole subject. */
#define MATCH_MAX_RUNS 32
/* Elements between two charges in the table loops. */
#define TAB_CHARGE_EVERY 1024

static int call_stock(lua_State *L)
{
    return lua_tocfunction(L, lua_upvalueindex(1))(L);
}

/* ---- string.rep ---------------------------------------------------------- */

static int bounded_rep(lua_State *L)
{
    size_t l, lsep;
    luaL_checklstring(L, 1, &l);
    lua_Integer n = luaL_checkinteger(L, 2);
    luaL_optlstring(L, 3, "", &lsep);
    if (n <= 0 || l + lsep == 0) {
        lua_pushliteral(L, "");
        return 1;
    }
    /* A result over the memory cap fails in the allocator (an OOM kill),
     * over the size range in the stock rep; a big one costs its copy. */
    size_t unit = l + lsep, cap = wd_lua_mem_cap(wd_lua_from(L));
    if (unit >= l && (lua_Unsigned)n <= SIZE_MAX / unit) {
        size_t total = unit * (size_t)n;
        if (total >= (64u << 10) && (cap == 0 || total <= cap))
            wd_lua_charge(L, (long)(total >> 10));   /* 1 KiB copied: an instruction */
    }
    return call_stock(L);
}

/* ---- patterns ------------------------------------------------------------ */

static int is_special(unsigned char c)
{
    return c != '\0' && strchr("^$*+?.([%-", c) != NULL;
}

static int no_specials(const char *p, size_t lp)
{
    for (size_t i = 0; i < lp; i++)
        if (is_special((unsigned char)p[i]))
            return 0;
    return 1;
}

/* Does c belong to class %cl (Lua's letters; other characters stand for
 * themselves)? */
static int in_class(int c, int cl)
{
    int r;
    switch (tolower(cl)) {
    case 'a': r = isalpha(c); break;
    case 'c': r = iscntrl(c); break;
    case 'd': r = isdigit(c); break;
    case 'g': r = isgraph(c); break;
    case 'l': r = islower(c); break;
    case 'p': r = ispunct(c); break;
    case 's': r = isspace(c); break;
    case 'u': r = isupper(c); break;
    case 'w': r = isalnum(c); break;
    case 'x': r = isxdigit(c); break;
    default: return cl == c;
    }
    r = r != 0;
    return isupper(cl) ? !r : r;
}

/* Does c match the set p[0] == '[' .. ep[-1] == ']'? */
static int in_set(int c, const char *p, const char *ep)
{
    const char *end = ep - 1;   /* the closing ']' */
    int yes = 1;
    p++;
    if (*p == '^') {
        yes = 0;
        p++;
    }
    for (; p < end; p++) {
        if (*p == '%' && p + 1 < end) {
            p++;
            if (in_class(c, (unsigned char)*p))
                return yes;
        } else if (p + 2 < end && p[1] == '-') {
            if ((unsigned char)p[0] <= c && c <= (unsigned char)p[2])
                return yes;
            p += 2;
        } else if ((unsigned char)*p == c) {
            return yes;
        }
    }
    return !yes;
}

/* Does c match the single-character class p .. ep? */
static int class_match(int c, const char *p, const char *ep)
{
    switch (*p) {
    case '.': return 1;
    case '%': return in_class(c, (unsigned char)p[1]);
    case '[': return in_set(c, p, ep);
    default: return (unsigned char)*p == c;
    }
}

/* The end of the single-character class at p, or NULL if malformed (the
 * stock matcher then raises its own error). */
static const char *class_end(const char *p, const char *pe)
{
    if (*p == '%')
        return p + 1 < pe ? p + 2 : NULL;
    if (*p != '[')
        return p + 1;
    p++;
    if (p < pe && *p == '^')
        p++;
    do {   /* the first character is part of the set, even a ']' */
        if (p >= pe)
            return NULL;
        if (*p++ == '%' && p < pe)
            p++;
    } while (p >= pe || *p != ']');
    return p + 1;
}

/* The longest run of subject characters in the class. */
static double class_run(const char *s, size_t n, const char *p, const char *ep)
{
    size_t best = 0, cur = 0;
    for (size_t i = 0; i < n; i++) {
        if (class_match((unsigned char)s[i], p, ep)) {
            if (++cur > best)
                best = cur;
        } else {
            cur = 0;
        }
    }
    return (double)best;
}

static double class_count(const char *s, size_t n, const char *p, const char *ep)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += class_match((unsigned char)s[i], p, ep) != 0;
    return (double)k;
}

/* An upper bound of the steps the stock matcher can take for pattern p on
 * subject s, over every start position (find, match, gsub, a whole gmatch
 * loop).  Matching items k.. from one position costs C(k) with
 *   a single character, capture, %f, $:  C = 1 + C(k+1)
 *   x?                                   C = 1 + 2 C(k+1)
 *   x* x+                                C = r + (r+1) C(k+1)
 *   x-                                   C = (r+1) (1 + C(k+1))
 *   %bxy, a back reference %1            C = n + C(k+1)
 * where r is the longest run of subject characters in x's class (exact
 * runs: when exact; else r = n).  The stock matcher tries each start
 * (n + 1 of them; 1 when anchored; only where the first item matches when
 * it is a single character).  The C(k) are affine, so they fold forwards;
 * the partial sum only grows, so the fold stops once it passes limit.
 * Returns 0 for a malformed pattern (the stock matcher reports it). */
static double pattern_cost(const char *s, size_t n, const char *p, size_t lp, int anchored,
                           int exact, double limit)
{
    const char *pe = p + lp;
    double sum = 0, prod = 1, dn = (double)n, starts = anchored ? 1 : dn + 1;
    int runs = 0, first = 1;
    while (p < pe) {
        double a = 1, b = 1;
        const char *ep;
        if (*p == '(') {
            ep = p + (p + 1 < pe && p[1] == ')' ? 2 : 1);
        } else if (*p == ')') {
            ep = p + 1;
        } else if (*p == '$' && p + 1 == pe) {
            ep = pe;
        } else if (*p == '%' && p + 1 < pe && p[1] == 'b') {
            if (p + 4 > pe)
                return 0;
            ep = p + 4;
            a = dn;
        } else if (*p == '%' && p + 1 < pe && p[1] == 'f') {
            if (p + 2 >= pe || p[2] != '[' || (ep = class_end(p + 2, pe)) == NULL)
                return 0;
        } else if (*p == '%' && p + 1 < pe && isdigit((unsigned char)p[1])) {
            ep = p + 2;
            a = dn;
        } else {
            if ((ep = class_end(p, pe)) == NULL)
                return 0;
            char q = ep < pe ? *ep : '\0';
            if (q == '?' || q == '*' || q == '+' || q == '-') {
                double r = dn;
                if (exact && runs++ < MATCH_MAX_RUNS)
                    r = class_run(s, n, p, ep);
                if (q == '?')
                    b = 2;
                else if (q == '-')
                    a = b = r + 1;
                else
                    a = r, b = r + 1;
                ep++;
            } else if (first && exact && !anchored) {
                starts = class_count(s, n, p, ep) + 1;
            }
        }
        first = 0;
        sum += prod * a;
        prod *= b;
        if ((sum + prod) * starts > limit)
            return (sum + prod) * starts;
        p = ep;
    }
    return (sum + prod) * starts;
}

/* Raises unless pattern p's worst case on s fits in the call's time limit.
 * No time limit: no check. */
static void check_pattern(lua_State *L, const char *fn, const char *s, size_t n, const char *p,
                          size_t lp, int anchor_allowed)
{
    long ms = wd_lua_time_limit(wd_lua_from(L));
    if (ms <= 0)
        return;
    double limit = (double)ms * MATCH_STEPS_PER_MS;
    int anchored = anchor_allowed && lp > 0 && *p == '^';
    if (anchored)
        p++, lp--;
    if (pattern_cost(s, n, p, lp, anchored, 0, limit) <= limit)
        return;
    double c = pattern_cost(s, n, p, lp, anchored, 1, limit);
    if (c <= limit)
        return;
    luaL_error(L, "%s: pattern too costly for a subject of %I bytes (worst case over %I million "
               "steps, more than the %I ms time limit allows): anchor it, shorten the subject "
               "with string.sub, or search plain text with string.find(s, text, 1, true)",
               fn, (lua_Integer)n, (lua_Integer)(c / 1e6), (lua_Integer)ms);
}

static int bounded_find(lua_State *L)
{
    size_t ls, lp;
    const char *s = luaL_checklstring(L, 1, &ls);
    const char *p = luaL_checklstring(L, 2, &lp);
    lua_Integer i = luaL_optinteger(L, 3, 1);
    size_t init = i > 0 ? (size_t)i : i == 0 || i < -(lua_Integer)ls ? 1 : ls + (size_t)i + 1;
    if (init - 1 > ls) {
        luaL_pushfail(L);
        return 1;
    }
    if (lua_toboolean(L, 4) || no_specials(p, lp)) {
        /* What the stock find does here, in linear time. */
        const char *m = memmem(s + init - 1, ls - (init - 1), p, lp);
        if (m == NULL) {
            luaL_pushfail(L);
            return 1;
        }
        lua_pushinteger(L, (lua_Integer)(m - s) + 1);
        lua_pushinteger(L, (lua_Integer)(m - s + lp));
        return 2;
    }
    check_pattern(L, "string.find", s, ls, p, lp, 1);
    return call_stock(L);
}

static int bounded_match(lua_State *L)
{
    size_t ls, lp;
    const char *s = luaL_checklstring(L, 1, &ls);
    const char *p = luaL_checklstring(L, 2, &lp);
    check_pattern(L, "string.match", s, ls, p, lp, 1);
    return call_stock(L);
}

static int bounded_gmatch(lua_State *L)
{
    size_t ls, lp;
    const char *s = luaL_checklstring(L, 1, &ls);
    const char *p = luaL_checklstring(L, 2, &lp);
    check_pattern(L, "string.gmatch", s, ls, p, lp, 0);
    return call_stock(L);
}

static int bounded_gsub(lua_State *L)
{
    size_t ls, lp;
    const char *s = luaL_checklstring(L, 1, &ls);
    const char *p = luaL_checklstring(L, 2, &lp);
    check_pattern(L, "string.gsub", s, ls, p, lp, 1);
    return call_stock(L);
}

/* ---- table --------------------------------------------------------------- */

enum { TAB_R = 1, TAB_W = 2, TAB_L = 4 };

/* arg must be a table, or have the metamethods of what it is used for. */
static void check_tab(lua_State *L, int arg, int what)
{
    if (lua_type(L, arg) == LUA_TTABLE)
        return;
    static const char *const mm[] = { "__index", "__newindex", "__len" };
    int ok = lua_getmetatable(L, arg);
    for (int k = 0; ok && k < 3; k++) {
        if (what & (1 << k)) {
            lua_pushstring(L, mm[k]);
            ok = lua_rawget(L, -2) != LUA_TNIL;
            lua_pop(L, 1);
        }
    }
    if (ok) {
        lua_pop(L, 1);
        return;
    }
    luaL_checktype(L, arg, LUA_TTABLE);
}

static lua_Integer tab_len(lua_State *L, int what)
{
    check_tab(L, 1, what | TAB_L);
    return luaL_len(L, 1);
}

/* Charges the elements moved so far, every TAB_CHARGE_EVERY of them. */
#define TAB_STEP(k)                                          \
    do {                                                     \
        if ((++(k) & (TAB_CHARGE_EVERY - 1)) == 0)           \
            wd_lua_charge(L, TAB_CHARGE_EVERY);              \
    } while (0)

static int bounded_insert(lua_State *L)
{
    /* The first empty slot; wraps as Lua integers do. */
    lua_Integer e = (lua_Integer)((lua_Unsigned)tab_len(L, TAB_R | TAB_W) + 1u), pos;
    unsigned long k = 0;
    switch (lua_gettop(L)) {
    case 2:
        pos = e;
        break;
    case 3:
        pos = luaL_checkinteger(L, 2);
        luaL_argcheck(L, (lua_Unsigned)pos - 1u < (lua_Unsigned)e, 2, "position out of bounds");
        for (lua_Integer i = e; i > pos; i--) {
            lua_geti(L, 1, i - 1);
            lua_seti(L, 1, i);
            TAB_STEP(k);
        }
        break;
    default:
        return luaL_error(L, "wrong number of arguments to 'insert'");
    }
    lua_seti(L, 1, pos);
    return 0;
}

static int bounded_remove(lua_State *L)
{
    lua_Integer size = tab_len(L, TAB_R | TAB_W);
    lua_Integer pos = luaL_optinteger(L, 2, size);
    unsigned long k = 0;
    if (pos != size)
        luaL_argcheck(L, (lua_Unsigned)pos - 1u <= (lua_Unsigned)size, 2, "position out of bounds");
    lua_geti(L, 1, pos);
    for (; pos < size; pos++) {
        lua_geti(L, 1, pos + 1);
        lua_seti(L, 1, pos);
        TAB_STEP(k);
    }
    lua_pushnil(L);
    lua_seti(L, 1, pos);
    return 1;
}

static int bounded_move(lua_State *L)
{
    lua_Integer f = luaL_checkinteger(L, 2);
    lua_Integer e = luaL_checkinteger(L, 3);
    lua_Integer t = luaL_checkinteger(L, 4);
    int tt = !lua_isnoneornil(L, 5) ? 5 : 1;
    unsigned long k = 0;
    check_tab(L, 1, TAB_R);
    check_tab(L, tt, TAB_W);
    if (e >= f) {
        luaL_argcheck(L, f > 0 || e < LUA_MAXINTEGER + f, 3, "too many elements to move");
        lua_Integer n = e - f + 1;
        luaL_argcheck(L, t <= LUA_MAXINTEGER - n + 1, 4, "destination wrap around");
        if (t > e || t <= f || (tt != 1 && !lua_compare(L, 1, tt, LUA_OPEQ))) {
            for (lua_Integer i = 0; i < n; i++) {
                lua_geti(L, 1, f + i);
                lua_seti(L, tt, t + i);
                TAB_STEP(k);
            }
        } else {   /* overlapping, destination after the source: backwards */
            for (lua_Integer i = n - 1; i >= 0; i--) {
                lua_geti(L, 1, f + i);
                lua_seti(L, tt, t + i);
                TAB_STEP(k);
            }
        }
    }
    lua_pushvalue(L, tt);
    return 1;
}

static void concat_field(lua_State *L, luaL_Buffer *b, lua_Integer i)
{
    lua_geti(L, 1, i);
    if (!lua_isstring(L, -1))
        luaL_error(L, "invalid value (at index %I) in table for 'concat'", (lua_Integer)i);
    luaL_addvalue(b);
}

static int bounded_concat(lua_State *L)
{
    luaL_Buffer b;
    lua_Integer last = tab_len(L, TAB_R);
    size_t lsep;
    const char *sep = luaL_optlstring(L, 2, "", &lsep);
    lua_Integer i = luaL_optinteger(L, 3, 1);
    unsigned long k = 0;
    last = luaL_optinteger(L, 4, last);
    luaL_buffinit(L, &b);
    for (; i < last; i++) {
        concat_field(L, &b, i);
        luaL_addlstring(&b, sep, lsep);
        TAB_STEP(k);
    }
    if (i == last)
        concat_field(L, &b, i);
    luaL_pushresult(&b);
    return 1;
}

/* The stock sort cannot be interrupted: it is charged its n*log2(n)
 * comparisons first.  The length is read once more than the stock sort
 * does when the table has a __len metamethod. */
static int bounded_sort(lua_State *L)
{
    lua_Integer n;
    if (lua_type(L, 1) == LUA_TTABLE && !luaL_getmetafield(L, 1, "__len")) {
        n = (lua_Integer)lua_rawlen(L, 1);
    } else {
        if (lua_type(L, 1) == LUA_TTABLE)
            lua_pop(L, 1);
        n = tab_len(L, TAB_R | TAB_W);
    }
    if (n > 64) {
        long lg = 0;
        for (lua_Unsigned m = (lua_Unsigned)n; m; m >>= 1)
            lg++;
        double cost = (double)n * (double)lg;
        wd_lua_charge(L, cost > 1e15 ? (long)1e15 : (long)cost);
    }
    return call_stock(L);
}

void wd_lua_bound_libs(lua_State *L, int libs)
{
    static const struct { const char *lib, *name; lua_CFunction fn; int wraps; } fns[] = {
        { "string", "rep", bounded_rep, 1 },       { "string", "find", bounded_find, 1 },
        { "string", "match", bounded_match, 1 },   { "string", "gmatch", bounded_gmatch, 1 },
        { "string", "gsub", bounded_gsub, 1 },     { "table", "insert", bounded_insert, 0 },
        { "table", "remove", bounded_remove, 0 },  { "table", "move", bounded_move, 0 },
        { "table", "concat", bounded_concat, 0 },  { "table", "sort", bounded_sort, 1 },
    };
    for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
        lua_getfield(L, libs, fns[i].lib);   /* the real library table, changed in place */
        if (fns[i].wraps) {
            lua_getfield(L, -1, fns[i].name);
            lua_pushcclosure(L, fns[i].fn, 1);
        } else {
            lua_pushcfunction(L, fns[i].fn);
        }
        lua_setfield(L, -2, fns[i].name);
        lua_pop(L, 1);
    }
}
