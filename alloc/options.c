/* options.c — EBB_* environment options, read once at initialisation with
 * secure_getenv (so they are ignored in setuid programs), parsed without allocating.
 * An unknown EBB_ variable or a malformed value prints one warning and is ignored.
 * Variables of the ebb tool (EBB_RECORD_*, EBB_REPLAY_*) are not the library's. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>

#include "internal.h"

ebb_options_t ebb_opt = {
    .decay_ms = 250,
};

extern char **environ;

typedef enum { OPT_CHOICE, OPT_INT } option_type_t;

typedef struct option_desc {
    const char *name;
    option_type_t type;
    const char *const *choices; /* OPT_CHOICE: accepted spellings, index = value */
    long min, max;              /* OPT_INT: accepted range */
    void *target;               /* bool for OPT_CHOICE, long for OPT_INT */
} option_desc_t;

static const char *const bool_choices[] = {"0", "1", NULL};
static const char *const purge_choices[] = {"dontneed", "free", NULL};

static const option_desc_t options[] = {
    {"EBB_STATS", OPT_CHOICE, bool_choices, 0, 0, &ebb_opt.stats_at_exit},
    {"EBB_PURGE", OPT_CHOICE, purge_choices, 0, 0, &ebb_opt.madv_free},
    {"EBB_DECAY_MS", OPT_INT, NULL, -1, 3600 * 1000, &ebb_opt.decay_ms},
    {"EBB_BACKGROUND", OPT_CHOICE, bool_choices, 0, 0, &ebb_opt.background},
    {"EBB_DEBUG", OPT_CHOICE, bool_choices, 0, 0, &ebb_opt.debug},
    {"EBB_SHARED", OPT_CHOICE, bool_choices, 0, 0, &ebb_opt.shared},
};

#define NOPTIONS (sizeof options / sizeof options[0])

static const char *const foreign_prefixes[] = {"EBB_RECORD_", "EBB_REPLAY_"};

/* Decimal integer, optional leading '-', nothing else; false if malformed. */
static bool parse_long(const char *v, long *out)
{
    bool neg = *v == '-';
    v += neg;
    if (*v == 0)
        return false;
    long n = 0;
    for (; *v; v++) {
        if (*v < '0' || *v > '9' || n > (LONG_MAX - 9) / 10)
            return false;
        n = n * 10 + (*v - '0');
    }
    *out = neg ? -n : n;
    return true;
}

static void parse(const option_desc_t *o, const char *v)
{
    if (o->type == OPT_CHOICE) {
        for (int i = 0; o->choices[i]; i++) {
            if (strcmp(v, o->choices[i]) == 0) {
                *(bool *)o->target = i != 0;
                return;
            }
        }
    } else {
        long n;
        if (parse_long(v, &n) && n >= o->min && n <= o->max) {
            *(long *)o->target = n;
            return;
        }
    }
    ebb_warn("ignoring malformed value of ", o->name);
}

static bool is_known(const char *var, size_t len)
{
    for (size_t i = 0; i < NOPTIONS; i++)
        if (strlen(options[i].name) == len && strncmp(var, options[i].name, len) == 0)
            return true;
    for (size_t i = 0; i < sizeof foreign_prefixes / sizeof foreign_prefixes[0]; i++)
        if (strncmp(var, foreign_prefixes[i], strlen(foreign_prefixes[i])) == 0)
            return true;
    return false;
}

void ebb_options_init(void)
{
    for (size_t i = 0; i < NOPTIONS; i++) {
        const char *v = secure_getenv(options[i].name);
        if (v)
            parse(&options[i], v);
    }
    /* The checks are compiled into the debug library only, so that the release
     * library's fast paths test no flag: say so rather than ignore the request. */
#ifdef EBB_DEBUG_BUILD
    if (secure_getenv("EBB_DEBUG") && !ebb_opt.debug)
        ebb_warn("EBB_DEBUG=0 has no effect: ", "libebb-debug.so always checks");
#else
    if (ebb_opt.debug)
        ebb_warn("EBB_DEBUG=1 has no effect in libebb.so: ",
                 "preload libebb-debug.so for the debug checks");
#endif
    if (getauxval(AT_SECURE) || !environ)
        return;
    for (char **e = environ; *e; e++) {
        if (strncmp(*e, "EBB_", 4) == 0 && !is_known(*e, strcspn(*e, "=")))
            ebb_warn("ignoring unknown option ", *e);
    }
}
