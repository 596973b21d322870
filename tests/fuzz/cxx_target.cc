// SPDX-License-Identifier: MIT
// tests/fuzz/cxx_target.cc - a C++ target whose over-read is reported with
// demangled frames ("in demo::Parser::parse(...)"), not _ZN4demo6Parser...
#include <cstddef>
#include <cstdint>
#include <string>

#include <uffdbox/fuzz.h>

namespace demo {
struct Parser {
	static __attribute__((noinline)) unsigned parse(const uint8_t *p, size_t n)
	{
		std::string kind(reinterpret_cast<const char *>(p), n ? 1 : 0);
		unsigned sum = kind.size();
		for (size_t i = 0; i <= n; i++) // one too far
			sum += p[i];
		return sum;
	}
};
} // namespace demo

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	data = uffdbox_fuzz_input(data, size);
	volatile unsigned s = demo::Parser::parse(data, size);
	(void)s;
	return 0;
}
