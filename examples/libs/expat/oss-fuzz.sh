# examples/libs/expat/oss-fuzz.sh - expat for OSS-Fuzz / ClusterFuzzLite.
# Sourced by .clusterfuzzlite/build.sh (see its "example libraries"), from
# the checkout, with its variables and functions in scope: builds expat
# from its distribution's source package (unpacked under
# $UFFDBOX_LIBS_DIR/src, default $SRC/libs, by the Dockerfile's
# `scripts/build-lib.sh LIB source` step, or here if it has not been) with
# $CC $CFLAGS, static, with autotools as Debian's rules do
# (scripts/build-lib.sh says why), without xmlwf, examples, tests or docs,
# and links uffdbox.c (the one-line uffdbox harness) into the target
# expat_uffdbox.
expat_src=$(scripts/build-lib.sh expat source "${UFFDBOX_LIBS_DIR:-$SRC/libs}" | tail -n 1)
# Debian's sources hold the upstream tree in expat/; a release tarball is
# the tree itself.
[ ! -d "$expat_src/expat" ] || expat_src=$expat_src/expat
expat_build() { # PREFIX
	# In a copy of the sources, where autoreconf writes configure.
	rm -rf "$WORK/expat" && mkdir -p "$WORK/expat"
	cp -a "$expat_src/." "$WORK/expat/"
	(cd "$WORK/expat" && autoreconf -fi >/dev/null &&
		./configure CC="$CC" CFLAGS="$CFLAGS" CXX="$CXX" CXXFLAGS="$CXXFLAGS" \
			--prefix="$1" --libdir="$1/lib" --disable-shared --enable-static \
			--without-xmlwf --without-examples --without-tests --without-docbook >/dev/null &&
		make -j"$jobs" >/dev/null && make install >/dev/null)
}
example_lib expat "$expat_src" expat_build
# The dictionary written for the example (examples/libs/expat/xml.dict);
# inputs of any size (the guarded region grows with them).
target expat_uffdbox "$lib_harness $example_prefix/lib/libexpat.a" \
	examples/libs/expat/xml.dict '' \
	examples/libs/expat/seeds -- examples/libs/expat/uffdbox.c \
	-- -I"$example_prefix/include" -include uffdbox/fuzz.h
