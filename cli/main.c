/*
 * cli/main.c - the `casklab` command: dispatch to subcommands.
 */
#include "cli/cli.h"

#include <stdio.h>
#include <string.h>

static const cli_cmd *const cli_cmds[] = {
    &cli_cmd_demo,
    &cli_cmd_keydirs,
    &cli_cmd_bench,
    &cli_cmd_plot,
    &cli_cmd_check,
    &cli_cmd_stress,
    &cli_cmd_put,
    &cli_cmd_get,
    &cli_cmd_del,
    &cli_cmd_stats,
    &cli_cmd_merge,
    &cli_cmd_enginebench,
    &cli_cmd_serve,
    &cli_cmd_poolbench,
    &cli_cmd_verify,
};

#define CLI_NCMDS (sizeof(cli_cmds) / sizeof(cli_cmds[0]))

int
cli_wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
            return 1;
    return 0;
}

static void
cli_usage(FILE *to)
{
    fprintf(to, "usage: casklab COMMAND [OPTIONS]\n\n"
                "A Bitcask key-value store with interchangeable keydirs, and "
                "the kit to\ncompare them and check them for "
                "linearizability.\n\ncommands:\n");
    for (size_t i = 0; i < CLI_NCMDS; i++)
        fprintf(to, "  %-12s %s\n", cli_cmds[i]->name, cli_cmds[i]->summary);
    fprintf(to, "\n`casklab COMMAND --help` describes a command.\n");
}

static const cli_cmd *
cli_find(const char *name)
{
    for (size_t i = 0; i < CLI_NCMDS; i++)
        if (strcmp(cli_cmds[i]->name, name) == 0)
            return cli_cmds[i];
    return NULL;
}

int
main(int argc, char **argv)
{
    const cli_cmd *cmd;

    if (argc < 2) {
        cli_usage(stderr);
        return CLI_EXIT_USAGE;
    }
    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 ||
        strcmp(argv[1], "help") == 0) {
        cmd = argc > 2 ? cli_find(argv[2]) : NULL;
        if (cmd != NULL)
            cmd->usage();
        else
            cli_usage(stdout);
        return CLI_EXIT_OK;
    }
    cmd = cli_find(argv[1]);
    if (cmd == NULL) {
        fprintf(stderr, "casklab: unknown command '%s'\n\n", argv[1]);
        cli_usage(stderr);
        return CLI_EXIT_USAGE;
    }
    if (cli_wants_help(argc - 1, argv + 1)) {
        cmd->usage();
        return CLI_EXIT_OK;
    }
    return cmd->run(argc - 1, argv + 1);
}
