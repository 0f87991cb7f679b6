/* fuzz_options.c — libFuzzer target: libebb's EBB_* option parser (alloc/options.c).
 * The input is a list of NAME=VALUE lines; each becomes an environment variable
 * (NAME gets the EBB_ prefix unless the line starts with it), the parser reads them,
 * and the parsed options must stay inside their documented ranges. The environment is
 * swapped for an array of the input's lines (setenv would keep every string). */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_VARS 8

extern char **environ;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char text[4096];
    if (size >= sizeof text)
        size = sizeof text - 1;
    memcpy(text, data, size);
    text[size] = 0;
    char vars[MAX_VARS][4096 + 8];
    char *env[MAX_VARS + 1];
    int n = 0;
    for (char *line = text, *next; line && n < MAX_VARS; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = 0;
        if (strchr(line, '=') == NULL || line[0] == '=')
            continue;
        const char *prefix = strncmp(line, "EBB_", 4) == 0 ? "" : "EBB_";
        strcpy(vars[n], prefix);
        strcat(vars[n], line);
        env[n] = vars[n];
        n++;
    }
    env[n] = NULL;
    char **saved = environ;
    environ = env;
    ebb_opt = (ebb_options_t){.decay_ms = 250};
    ebb_options_init();
    environ = saved;
    if (ebb_opt.decay_ms < -1 || ebb_opt.decay_ms > 3600 * 1000)
        abort();
    return 0;
}
