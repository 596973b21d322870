# examples/libs/json-c/oss-fuzz.sh - json-c for OSS-Fuzz / ClusterFuzzLite.
# Sourced by .clusterfuzzlite/build.sh (see its "example libraries"), from
# the checkout, with its variables and functions in scope: builds json-c
# from its distribution's source package (unpacked under
# $UFFDBOX_LIBS_DIR/src, default $SRC/libs, by the Dockerfile's
# `scripts/build-lib.sh LIB source` step, or here if it has not been) with
# $CC $CFLAGS, static, with CMake as Debian's rules do, without tests and
# apps, with a fixed hash seed (as scripts/build-lib.sh: a crash file then
# reproduces whatever the key order it needs), and links uffdbox.c (the
# one-line uffdbox harness) into the target json-c_uffdbox.
jsonc_src=$(scripts/build-lib.sh json-c source "${UFFDBOX_LIBS_DIR:-$SRC/libs}" | tail -n 1)
jsonc_build() { # PREFIX
	cmake -S "$jsonc_src" -B "$WORK/json-c" -G "Unix Makefiles" \
		-DCMAKE_C_COMPILER="$CC" -DCMAKE_C_FLAGS="$CFLAGS" -DCMAKE_BUILD_TYPE=None \
		-DCMAKE_INSTALL_PREFIX="$1" -DCMAKE_INSTALL_LIBDIR=lib \
		-DBUILD_SHARED_LIBS=OFF -DBUILD_STATIC_LIBS=ON -DBUILD_TESTING=OFF -DBUILD_APPS=OFF \
		-DDISABLE_WERROR=ON -DENABLE_THREADING=OFF \
		'-DOVERRIDE_GET_RANDOM_SEED={ return 0x5eed; }' >/dev/null
	cmake --build "$WORK/json-c" -j"$jobs" >/dev/null
	cmake --install "$WORK/json-c" >/dev/null
}
example_lib json-c "$jsonc_src" jsonc_build
# json-c's own dictionary (its fuzz/ directory); inputs of any size (the
# guarded region grows with them).
target json-c_uffdbox "$lib_harness $example_prefix/lib/libjson-c.a" \
	"$jsonc_src/fuzz/tokener_parse_ex_fuzzer.dict" '' \
	examples/libs/json-c/seeds -- examples/libs/json-c/uffdbox.c \
	-- -I"$example_prefix/include/json-c" -include uffdbox/fuzz.h
