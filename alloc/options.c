/* options.c — EBB_* environment options, read once at initialisation with
 * secure_getenv (so they are ignored in setuid programs), parsed without allocating.
 * An unknown EBB_ variable or a malformed value prints one warning and is ignored. */
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>

#include "internal.h"

ebb_options_t ebb_opt;

extern char **environ;

typedef struct option_desc {
    const char *name;
    const char *const *values; /* accepted spellings, index = value */
    bool *target;
} option_desc_t;

static const char *const bool_values[] = {"0", "1", NULL};
static const char *const purge_values[] = {"dontneed", "free", NULL};

static const option_desc_t options[] = {
    {"EBB_STATS", bool_values, &ebb_opt.stats_at_exit},
    {"EBB_PURGE", purge_values, &ebb_opt.madv_free},
};

#define NOPTIONS (sizeof options / sizeof options[0])

static void parse(const option_desc_t *o, const char *v)
{
    for (int i = 0; o->values[i]; i++) {
        if (strcmp(v, o->values[i]) == 0) {
            *o->target = i != 0;
            return;
        }
    }
    ebb_warn("ignoring malformed value of ", o->name);
}

void ebb_options_init(void)
{
    for (size_t i = 0; i < NOPTIONS; i++) {
        const char *v = secure_getenv(options[i].name);
        if (v)
            parse(&options[i], v);
    }
    if (getauxval(AT_SECURE) || !environ)
        return;
    for (char **e = environ; *e; e++) {
        if (strncmp(*e, "EBB_", 4) != 0)
            continue;
        size_t len = strcspn(*e, "=");
        bool known = false;
        for (size_t i = 0; i < NOPTIONS; i++)
            known |= strlen(options[i].name) == len && strncmp(*e, options[i].name, len) == 0;
        if (!known)
            ebb_warn("ignoring unknown option ", *e);
    }
}
