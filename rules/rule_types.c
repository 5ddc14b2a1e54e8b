/* rules/rule_types.c — names of verdicts and modes. */
#include "rules/rule_types.h"

const char *rule_verdict_name(int v)
{
    static const char *const n[] = { "none", "flag", "review", "block" };
    return v >= 0 && v <= 3 ? n[v] : "none";
}

const char *rule_mode_name(int m)
{
    static const char *const n[] = { "off", "shadow", "enforce" };
    return m >= 0 && m <= 2 ? n[m] : "off";
}
