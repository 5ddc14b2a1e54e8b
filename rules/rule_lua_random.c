/* math.random and math.randomseed for rules: one xoshiro256** state per
 * rule, reseeded before every evaluation from the rule's name and the
 * event's id.  Lua 5.4 keeps one PRNG per lua_State, seeded from the clock
 * and addresses, and every sandbox's copy of `math` shares it: numbers
 * changed from run to run, and one rule's math.randomseed fixed another
 * rule's numbers.  Here the same event gives the same numbers to the same
 * rule on every run, in every view, whatever ran before.  Cost: a seed of
 * four words per evaluation (two hashes and four splitmix steps). */
#include <lauxlib.h>
#include <math.h>
#include <string.h>

#include "rules/rule_lua.h"
#include "state/state_hll.h"

struct rule_rng {
    uint64_t s[4];
};

static uint64_t splitmix(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static void seed_words(rule_rng_t *g, uint64_t a, uint64_t b)
{
    uint64_t x = a ^ (b * 0xd1342543de82ef95ULL);
    for (int i = 0; i < 4; i++)
        g->s[i] = splitmix(&x);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t next(rule_rng_t *g)
{
    uint64_t *s = g->s;
    uint64_t r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return r;
}

void rule_rng_seed(rule_rng_t *g, const char *rule, const char *event_id)
{
    uint64_t a = wd_hash64(rule, strlen(rule), 0x77617264656e0001ULL);
    uint64_t b = event_id ? wd_hash64(event_id, strlen(event_id), a) : 0;
    seed_words(g, a, b);
}

/* A uniform integer in [0, n] (n may be UINT64_MAX): rejection on the
 * smallest all-ones mask covering n, as Lua's own `project`. */
static uint64_t project(rule_rng_t *g, uint64_t n)
{
    uint64_t r = next(g);
    if ((n & (n + 1)) == 0)
        return r & n;
    uint64_t lim = n;
    for (int sh = 1; sh < 64; sh <<= 1)
        lim |= lim >> sh;
    while ((r &= lim) > n)
        r = next(g);
    return r;
}

static int rng_random(lua_State *L)
{
    rule_rng_t *g = lua_touserdata(L, lua_upvalueindex(1));
    lua_Integer lo, hi;
    switch (lua_gettop(L)) {
    case 0:
        lua_pushnumber(L, (lua_Number)(next(g) >> 11) * 0x1.0p-53);
        return 1;
    case 1:
        lo = 1;
        hi = luaL_checkinteger(L, 1);
        if (hi == 0) {   /* math.random(0): all 64 bits */
            lua_pushinteger(L, (lua_Integer)next(g));
            return 1;
        }
        break;
    case 2:
        lo = luaL_checkinteger(L, 1);
        hi = luaL_checkinteger(L, 2);
        break;
    default:
        return luaL_error(L, "wrong number of arguments");
    }
    luaL_argcheck(L, lo <= hi, lua_gettop(L), "interval is empty");
    uint64_t r = project(g, (uint64_t)hi - (uint64_t)lo);
    lua_pushinteger(L, (lua_Integer)(r + (uint64_t)lo));
    return 1;
}

/* math.randomseed(x [, y]) reseeds this rule's generator only, for the rest
 * of this evaluation; with no argument, back to the event's own seed. */
static int rng_randomseed(lua_State *L)
{
    rule_rng_t *g = lua_touserdata(L, lua_upvalueindex(1));
    if (lua_isnone(L, 1)) {
        rule_ctx_t *c = wd_lua_user(L);
        rule_rng_seed(g, c && c->rule ? c->rule->name : "", c ? c->event_id : NULL);
        return 0;
    }
    uint64_t a, b = (uint64_t)luaL_optinteger(L, 2, 0);
    if (lua_isinteger(L, 1)) {
        a = (uint64_t)lua_tointeger(L, 1);
    } else {
        lua_Number n = luaL_checknumber(L, 1);
        memcpy(&a, &n, sizeof(a) < sizeof(n) ? sizeof(a) : sizeof(n));
    }
    seed_words(g, a, b);
    return 0;
}

rule_rng_t *rule_rng_install(lua_State *L, int env, int *ref)
{
    env = lua_absindex(L, env);
    rule_rng_t *g = lua_newuserdatauv(L, sizeof(*g), 0);
    memset(g, 0, sizeof(*g));
    seed_words(g, 0, 0);
    if (lua_getfield(L, env, "math") == LUA_TTABLE) {
        lua_pushvalue(L, -2);
        lua_pushcclosure(L, rng_random, 1);
        lua_setfield(L, -2, "random");
        lua_pushvalue(L, -2);
        lua_pushcclosure(L, rng_randomseed, 1);
        lua_setfield(L, -2, "randomseed");
    }
    lua_pop(L, 1);
    *ref = luaL_ref(L, LUA_REGISTRYINDEX);   /* keeps g alive whatever the rule does to math */
    return g;
}
