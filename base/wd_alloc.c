/* base/wd_alloc.c — the fault-injection hook behind base/wd_alloc.h. */
#include "base/wd_alloc.h"

_Atomic long wd_alloc_countdown_;
_Atomic int wd_alloc_lua_off_;
static _Atomic int fired;

void wd_alloc_fail_after(long n)
{
    atomic_store(&fired, 0);
    atomic_store(&wd_alloc_countdown_, n > 0 ? n : 0);
}

int wd_alloc_fail_now_(void)
{
    long c = atomic_load(&wd_alloc_countdown_);
    while (c > 0) {
        if (atomic_compare_exchange_weak(&wd_alloc_countdown_, &c, c - 1)) {
            if (c == 1) {
                atomic_store(&fired, 1);
                return 1;
            }
            return 0;
        }
    }
    return 0;
}

int wd_alloc_failed(void)
{
    return atomic_load(&fired);
}

int wd_alloc_fail_hook(void)
{
    return wd_alloc_fail_();
}

void wd_alloc_count_lua(int on)
{
    atomic_store(&wd_alloc_lua_off_, !on);
}
