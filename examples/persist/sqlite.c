/* SPDX-License-Identifier: MIT */
/*
 * examples/persist/sqlite.c - a stateful sqlite3 harness, as embedders
 * write them: one in-memory connection opened once (LLVMFuzzerInitialize,
 * before AFL++'s fork server forks) and kept; each input runs as SQL on it.  Tables, rows, pragmas and the schema an
 * input leaves stay for the next one in plain persistent mode.
 * uffdbox_persist_auto() first in each input: with UFFDBOX_PERSIST=1 each
 * input starts from the connection as the setup left it.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include <uffdbox/persist.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static sqlite3 *db;

/* Stop a statement after this many virtual-machine steps: inputs that
 * loop forever (recursive CTEs) end in bounded time. */
static int progress(void *arg)
{
	(void)arg;
	return 1;
}

static int row(void *arg, int n, char **v, char **col)
{
	(void)arg;
	(void)col;
	size_t len = 0;
	for (int i = 0; i < n; i++)
		len += v[i] ? strlen(v[i]) : 0;
	return len > (1u << 30); /* never: touch the values */
}

int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	if (sqlite3_open(":memory:", &db) != SQLITE_OK)
		abort();
	sqlite3_limit(db, SQLITE_LIMIT_LENGTH, 1 << 20);
	sqlite3_limit(db, SQLITE_LIMIT_SQL_LENGTH, 1 << 20);
	sqlite3_progress_handler(db, 100000, progress, NULL);
	sqlite3_exec(db,
		     "CREATE TABLE t(a INTEGER PRIMARY KEY, b TEXT, c REAL);"
		     "INSERT INTO t(b, c) VALUES('one', 1.5), ('two', 2.5);",
		     NULL, NULL, NULL);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uffdbox_persist_auto();
	if (size > 1 << 16)
		return 0;
	char *sql = malloc(size + 1);
	if (!sql)
		return 0;
	memcpy(sql, data, size);
	sql[size] = 0;
	sqlite3_exec(db, sql, row, NULL, NULL);
	free(sql);
	return 0;
}
