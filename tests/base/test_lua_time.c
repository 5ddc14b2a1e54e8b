/* tests/base/test_lua_time.c — the per-call time limit counts work, not
 * waiting: a call that was off its core (here: asleep) past the wall-clock
 * limit finishes, one that keeps the CPU busy past it is killed, with the
 * limit's message, and a later call starts with a fresh allowance. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include <lauxlib.h>

#include "base/wd_lua.h"
#include "base/wd_util.h"

/* sleep_ms(n): off the CPU for n ms, the way a descheduled thread is. */
static int l_sleep_ms(lua_State *L)
{
    long ms = (long)luaL_checkinteger(L, 1);
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0)
        ;
    wd_lua_charge(L, 1);
    return 0;
}

/* spin_ms(n): n ms of CPU inside one C call, charging as it goes (as the
 * bounded library functions do). */
static int l_spin_ms(lua_State *L)
{
    long ms = (long)luaL_checkinteger(L, 1);
    struct timespec a, b;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a);
    for (;;) {
        wd_lua_charge(L, 1);
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &b);
        if ((b.tv_sec - a.tv_sec) * 1000L + (b.tv_nsec - a.tv_nsec) / 1000000L >= ms)
            break;
    }
    return 0;
}

static wd_lua_t *vm_with(long time_ms)
{
    char err[256];
    wd_lua_t *vm = wd_lua_new(16u << 20, 0, err, sizeof err);
    assert_non_null(vm);
    wd_lua_set_time_limit(vm, time_ms);
    lua_State *L = wd_lua_state(vm);
    lua_register(L, "sleep_ms", l_sleep_ms);
    lua_register(L, "spin_ms", l_spin_ms);
    return vm;
}

static int run(wd_lua_t *vm, const char *code, char *msg, size_t msg_size)
{
    lua_State *L = wd_lua_state(vm);
    assert_int_equal(luaL_loadstring(L, code), LUA_OK);
    int rc = wd_lua_pcall(vm, 0, 0);
    msg[0] = '\0';
    if (rc != WD_LUA_OK) {
        const char *m = lua_tostring(L, -1);
        snprintf(msg, msg_size, "%s", m ? m : "?");
        lua_pop(L, 1);
    }
    return rc;
}

static void test_waiting_past_the_limit_is_not_work(void **s)
{
    (void)s;
    wd_lua_t *vm = vm_with(20);
    char msg[256];
    /* 80 ms asleep, then a little Lua: four times the wall limit. */
    int rc = run(vm, "sleep_ms(80) local n = 0 for i = 1, 100 do n = n + i end", msg, sizeof msg);
    if (rc != WD_LUA_OK)
        fail_msg("a call that only waited was killed: %s", msg);
    wd_lua_destroy(vm);
}

static void test_work_past_the_limit_is_killed(void **s)
{
    (void)s;
    wd_lua_t *vm = vm_with(20);
    char msg[256];
    uint64_t t0 = wd_now_ns();
    int rc = run(vm, "spin_ms(5000)", msg, sizeof msg);
    uint64_t took_ms = (wd_now_ns() - t0) / 1000000u;
    assert_int_not_equal(rc, WD_LUA_OK);
    if (strstr(msg, "time limit of 20 ms exceeded") == NULL)
        fail_msg("message \"%s\" lacks the time limit", msg);
    /* Killed long before the 5 s the call wanted (20 ms + a 5 ms CPU grace
     * when the machine is idle). */
    assert_true(took_ms < 4000);
    /* A fresh call has its whole allowance again, grace included. */
    rc = run(vm, "sleep_ms(60) spin_ms(2)", msg, sizeof msg);
    if (rc != WD_LUA_OK)
        fail_msg("the next call was killed: %s", msg);
    wd_lua_destroy(vm);
}

/* Waiting first does not buy unlimited work after: past the wall deadline
 * the call still gets only the CPU grace. */
static void test_waiting_then_working_is_killed(void **s)
{
    (void)s;
    wd_lua_t *vm = vm_with(20);
    char msg[256];
    int rc = run(vm, "sleep_ms(40) spin_ms(5000)", msg, sizeof msg);
    assert_int_not_equal(rc, WD_LUA_OK);
    if (strstr(msg, "time limit of 20 ms exceeded") == NULL)
        fail_msg("message \"%s\" lacks the time limit", msg);
    wd_lua_destroy(vm);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_waiting_past_the_limit_is_not_work),
        cmocka_unit_test(test_work_past_the_limit_is_killed),
        cmocka_unit_test(test_waiting_then_working_is_killed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
