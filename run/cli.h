/* SPDX-License-Identifier: MIT */
/*
 * run/cli.h - the `uffdbox` command: one file per subcommand (cmd_*.c),
 * each describing itself with a struct uffdbox__cmd; main.c dispatches, and
 * prints help and man pages from those descriptions (one text for both).
 */
#ifndef UFFDBOX_RUN_CLI_H
#define UFFDBOX_RUN_CLI_H

#include <stdio.h>

/* Exit statuses shared by every command (`uffdbox run` excepted: it exits
 * as its program did). */
enum {
	UFFDBOX_EXIT_OK = 0,
	UFFDBOX_EXIT_FINDING = 1, /* a difference, a missing piece, a finding */
	UFFDBOX_EXIT_USAGE = 2,	  /* bad usage or unreadable input */
};

struct uffdbox__cmd {
	const char *name;		    /* "diff" */
	const char *summary;		    /* one line, lower case, no period */
	const char *synopsis;		    /* "uffdbox diff [OPTIONS] A.jsonl B.jsonl" (lines) */
	const char *description;	    /* paragraphs separated by blank lines */
	const char *options;		    /* "  --x ARG   what it does\n" lines, or NULL */
	const char *exit_status;	    /* one paragraph */
	const char *more;		    /* "Environment:"/"Examples:" text, or NULL */
	int (*main)(int argc, char **argv); /* argv[0] is the command name */
};

extern const struct uffdbox__cmd uffdbox__cmd_run, uffdbox__cmd_diff, uffdbox__cmd_features,
	uffdbox__cmd_report;

/* `uffdbox CMD --help`: the command's whole help text. */
void uffdbox__cmd_help(const struct uffdbox__cmd *c, FILE *f);

/* Print "uffdbox CMD: MESSAGE" and a pointer to --help on stderr; returns
 * UFFDBOX_EXIT_USAGE for `return uffdbox__usage(...)`. */
int uffdbox__usage(const struct uffdbox__cmd *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif /* UFFDBOX_RUN_CLI_H */
