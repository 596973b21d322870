/* SPDX-License-Identifier: MIT */
/*
 * examples/persist/xml.c - a stateful libxml2 harness, as real ones are
 * written: the parser is initialized once (LLVMFuzzerInitialize, as
 * libxml2's own fuzzers do: before AFL++'s fork server forks), then each
 * input is parsed with xmlReadMemory and the document walked and freed.
 * libxml2 keeps state across inputs: the last error (xmlCopyError into a
 * global), its dictionaries' random seed (drawn from the clock at init),
 * lazily built tables.  uffdbox_persist_auto() first in each input: with
 * UFFDBOX_PERSIST=1 each input starts from the state the init left.
 */
#include <stddef.h>
#include <stdint.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>

#include <uffdbox/persist.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void quiet(void *ctx, const char *msg, ...)
{
	(void)ctx;
	(void)msg;
}

/* Count the nodes: touch what the parser built. */
static size_t walk(xmlNodePtr n)
{
	size_t c = 0;
	for (; n; n = n->next)
		c += 1 + walk(n->children);
	return c;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	xmlInitParser();
	xmlSetGenericErrorFunc(NULL, quiet);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uffdbox_persist_auto();
	if (size > 1 << 20)
		return 0;
	xmlDocPtr doc =
		xmlReadMemory((const char *)data, (int)size, "input.xml", NULL, XML_PARSE_NONET);
	if (doc) {
		volatile size_t n = walk(xmlDocGetRootElement(doc));
		(void)n;
		xmlFreeDoc(doc);
	}
	return 0;
}
