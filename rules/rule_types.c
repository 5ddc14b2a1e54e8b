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

int rule_entity_type_valid(const char *s, size_t n)
{
    if (n == 0 || n > RULE_MAX_ENTITY_TYPE_LEN || s[0] < 'a' || s[0] > 'z')
        return 0;
    for (size_t i = 1; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
            return 0;
    }
    return 1;
}
