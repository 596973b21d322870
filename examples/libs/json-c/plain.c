/* SPDX-License-Identifier: MIT */
/*
 * examples/libs/json-c - a libFuzzer harness for json-c's tokener (json-c
 * itself is built from its Debian source package by scripts/build-lib.sh).
 * plain.c and uffdbox.c differ by exactly one line, the call that feeds the
 * input through a guarded region; the build of uffdbox.c force-includes
 * <uffdbox/fuzz.h> (in your own harness, #include it).
 */
#include <stddef.h>
#include <stdint.h>

#include <json.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_tokener *tok = json_tokener_new();
	json_object *obj = json_tokener_parse_ex(tok, (const char *)data, (int)size);

	if (json_object_is_type(obj, json_type_object)) {
		json_object_object_foreach(obj, key, val)
		{
			(void)key;
			(void)json_object_get_type(val);
			(void)json_object_get_string(val);
		}
	}
	(void)json_object_to_json_string_ext(obj,
					     JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED);
	json_object_put(obj);
	json_tokener_free(tok);
	return 0;
}
