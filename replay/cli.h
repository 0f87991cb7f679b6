/* cli.h — the ebb tool's subcommands and shared command-line helpers. */
#ifndef EBB_CLI_H
#define EBB_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "trace.h"

int cmd_record(int argc, char **argv);
int cmd_convert(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_replay(int argc, char **argv);
int cmd_compare(int argc, char **argv);
int cmd_gen(int argc, char **argv);
int cmd_bench(int argc, char **argv);

/* Prints "ebb: PATH: offset N: reason" and returns the exit code for bad input (2). */
int cli_trace_error(const char *path, const trace_error_t *err);
/* Writes s as a JSON string literal. */
void cli_json_str(FILE *f, const char *s);
/* mkdir -p; true if the directory exists afterwards. */
bool cli_mkdirs(const char *path);
/* fopen of DIR/NAME; NULL (errno set) if it cannot be opened or the path is too long. */
FILE *cli_fopen_in(const char *dir, const char *name, const char *mode);
/* A name for report rows and file names: PATH's base name without `suffix`, with
 * characters other than letters, digits, '.', '-' and '_' replaced. */
void cli_file_label(const char *path, const char *suffix, char *out, size_t n);
/* An allocator's name in reports: as given (glibc, ebb, ...), or for a library path
 * (PATH.so) its base name, made unique among the `n` names already chosen. */
#define CLI_ALLOC_LABEL 64
void cli_alloc_label(const char *given, char names[][CLI_ALLOC_LABEL], int n,
                     char out[CLI_ALLOC_LABEL]);
/* Directory of the running ebb executable (for finding libebb-record.so and libebb.so). */
const char *cli_self_dir(void);

#endif
