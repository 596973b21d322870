/* SPDX-License-Identifier: MIT */
/*
 * examples/libs/expat - a libFuzzer harness for expat's parser (expat
 * itself is built from its Debian source package by scripts/build-lib.sh).
 * plain.c and uffdbox.c differ by exactly one line, the call that feeds the
 * input through a guarded region; the build of uffdbox.c force-includes
 * <uffdbox/fuzz.h> (in your own harness, #include it).
 */
#include <stddef.h>
#include <stdint.h>

#include <expat.h>

static void XMLCALL on_start(void *user, const XML_Char *name, const XML_Char **atts)
{
	unsigned long *depth = user;
	(void)name;
	(void)atts;
	(*depth)++;
}

static void XMLCALL on_end(void *user, const XML_Char *name)
{
	unsigned long *depth = user;
	(void)name;
	(*depth)--;
}

static void XMLCALL on_text(void *user, const XML_Char *s, int len)
{
	(void)user;
	(void)s;
	(void)len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned long depth = 0;
	XML_Parser p = XML_ParserCreateNS(NULL, '|');

	/* A fixed salt: no getrandom() per parser, the same work every run. */
	XML_SetHashSalt(p, 0x5eed);
	XML_SetUserData(p, &depth);
	XML_SetElementHandler(p, on_start, on_end);
	XML_SetCharacterDataHandler(p, on_text);
	(void)XML_Parse(p, (const char *)data, (int)size, XML_TRUE);
	XML_ParserFree(p);
	return 0;
}
