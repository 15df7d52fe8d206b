/*
 * cli/cli.h - the casklab command's subcommand table (private to cli/).
 *
 * Each subcommand lives in its own cli/cmd_<name>.c and is listed once in
 * cli/main.c. A subcommand gets argv with argv[0] = its name, prints its
 * own errors, and returns the process exit status.
 */
#ifndef CLI_CLI_H
#define CLI_CLI_H

typedef struct cli_cmd {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv);
    void (*usage)(void); /* prints `casklab NAME --help` text to stdout */
} cli_cmd;

/* Exit codes shared by every subcommand. */
enum {
    CLI_EXIT_OK = 0,
    CLI_EXIT_FAIL = 1,  /* the job ran and found a failure */
    CLI_EXIT_USAGE = 64 /* bad command line (sysexits EX_USAGE) */
};

/* True if argv holds -h or --help. */
int cli_wants_help(int argc, char **argv);

extern const cli_cmd cli_cmd_demo;
extern const cli_cmd cli_cmd_keydirs;
extern const cli_cmd cli_cmd_bench;
extern const cli_cmd cli_cmd_plot;
extern const cli_cmd cli_cmd_check;
extern const cli_cmd cli_cmd_stress;
extern const cli_cmd cli_cmd_put;
extern const cli_cmd cli_cmd_get;
extern const cli_cmd cli_cmd_del;
extern const cli_cmd cli_cmd_stats;
extern const cli_cmd cli_cmd_merge;
extern const cli_cmd cli_cmd_enginebench;
extern const cli_cmd cli_cmd_serve;
extern const cli_cmd cli_cmd_poolbench;
extern const cli_cmd cli_cmd_verify;

#endif /* CLI_CLI_H */
