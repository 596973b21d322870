// SPDX-License-Identifier: MIT
/*
 * examples/persist/throwy.cc - a C++ target under libFuzzer with the
 * whole-target reset: containers set up in LLVMFuzzerInitialize and
 * changed by each input, and an exception thrown and caught in every
 * input.  Linked with libunwind, whose unwinder maps memory of its own
 * during a throw: the reset must leave those mappings alone (unmapped
 * once, the second throw crashed).
 */
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include <uffdbox/persist.h>

static std::vector<std::string> *log_lines;
static std::map<std::string, int> *counts;

extern "C" int LLVMFuzzerInitialize(int *, char ***)
{
	log_lines = new std::vector<std::string>{"setup"};
	counts = new std::map<std::string, int>{{"setup", 1}};
	return 0;
}

static void parse(const uint8_t *data, size_t size)
{
	if (size && data[0] == 'X')
		throw std::runtime_error("an X: " +
					 std::string(reinterpret_cast<const char *>(data), size));
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uffdbox_persist_auto();
	if (log_lines->size() != 1 || counts->size() != 1) {
		std::fprintf(stderr, "throwy: state leaked from an earlier input (%zu lines)\n",
			     log_lines->size());
		std::abort();
	}
	try {
		parse(data, size);
		throw std::out_of_range("every input throws once");
	} catch (const std::exception &e) {
		log_lines->push_back(e.what());
		(*counts)[e.what()]++;
	}
	return 0;
}
