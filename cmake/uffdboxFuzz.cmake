# uffdboxFuzz.cmake - uffdbox_add_fuzzer(): one LLVMFuzzerTestOneInput source,
# built for the engine of this build (installed with the package: consumers
# get it from find_package(uffdbox); the project's own harnesses use it too).
#
#   uffdbox_add_fuzzer(NAME SOURCES src... [DICT file] [CORPUS dir]
#                      [LIBRARIES lib...] [STATIC] [RESET])
#
# The engine is UFFDBOX_FUZZER_ENGINE (libfuzzer | afl | none); unset or
# "auto", it follows the compiler: afl-clang-fast/afl-cc -> afl, clang ->
# libfuzzer, anything else -> none.  In uffdbox's own tree it follows
# UFFDBOX_BUILD_FUZZERS / UFFDBOX_FUZZ_ENGINE.
#
#   libfuzzer  NAME: linked with -fsanitize=fuzzer (it also replays files
#              given as arguments, once each)
#   afl        NAME: -fsanitize=fuzzer, which afl-cc turns into AFL++'s
#              persistent-mode driver; NAME_replay: the replay driver
#   none       NAME: the replay driver (uffdbox::fuzz_driver: files and
#              directories, -runs=N), for gcc and ctest
#
# DICT is copied next to the binary as NAME.dict (OSS-Fuzz's convention);
# CORPUS, when given, is replayed by a ctest test NAME_corpus.  The harness
# links uffdbox::uffdbox (the shared library once installed; STATIC: the
# static one) and LIBRARIES - the code under test, which the caller builds
# with the engine's instrumentation (uffdbox's own code never is).
# RESET: ready for the whole-target reset (UFFDBOX_PERSIST=1,
# docs/persist.md): under libFuzzer NAME links uffdbox's target heap
# (uffdbox::heap), which the reset needs there; AFL++ and the replay driver
# need nothing more.

function(uffdbox_add_fuzzer name)
  cmake_parse_arguments(F "STATIC;RESET" "DICT;CORPUS" "SOURCES;LIBRARIES" ${ARGN})
  if(NOT F_SOURCES)
    message(FATAL_ERROR "uffdbox_add_fuzzer(${name}): SOURCES is required")
  endif()
  if(DEFINED UFFDBOX_BUILD_FUZZERS AND TARGET uffdbox_fuzz_driver)
    # uffdbox's own tree
    set(engine none)
    if(UFFDBOX_BUILD_FUZZERS)
      set(engine ${UFFDBOX_FUZZ_ENGINE})
    endif()
  else()
    set(engine "${UFFDBOX_FUZZER_ENGINE}")
    if(NOT engine OR engine STREQUAL "auto")
      get_filename_component(cc "${CMAKE_C_COMPILER}" NAME)
      if(cc MATCHES "^afl-")
        set(engine afl)
      elseif(CMAKE_C_COMPILER_ID MATCHES "Clang")
        set(engine libfuzzer)
      else()
        set(engine none)
      endif()
    endif()
  endif()
  if(NOT engine MATCHES "^(libfuzzer|afl|none)$")
    message(FATAL_ERROR "uffdbox_add_fuzzer(${name}): engine '${engine}': expected libfuzzer, afl or none")
  endif()
  set(lib uffdbox::uffdbox)
  if(F_STATIC AND TARGET uffdbox::uffdbox_static)
    set(lib uffdbox::uffdbox_static)
  endif()

  if(engine STREQUAL "none")
    add_executable(${name} ${F_SOURCES})
    target_link_libraries(${name} PRIVATE ${F_LIBRARIES} ${lib} uffdbox::fuzz_driver)
    set(replay ${name})
  else()
    add_executable(${name} ${F_SOURCES})
    target_link_libraries(${name} PRIVATE ${F_LIBRARIES} ${lib})
    if(F_RESET AND engine STREQUAL "libfuzzer")
      target_link_libraries(${name} PRIVATE uffdbox::heap)
    endif()
    target_compile_options(${name} PRIVATE -fsanitize=fuzzer)
    target_link_options(${name} PRIVATE -fsanitize=fuzzer)
    set(replay ${name})
    if(engine STREQUAL "afl")
      add_executable(${name}_replay ${F_SOURCES})
      target_link_libraries(${name}_replay PRIVATE ${F_LIBRARIES} ${lib} uffdbox::fuzz_driver)
      set(replay ${name}_replay)
    endif()
  endif()
  target_compile_definitions(${name} PRIVATE FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION)
  set_target_properties(${name} PROPERTIES UFFDBOX_FUZZ_ENGINE ${engine})

  if(F_DICT)
    configure_file(${F_DICT} ${CMAKE_CURRENT_BINARY_DIR}/${name}.dict COPYONLY)
  endif()
  if(F_CORPUS)
    if(engine STREQUAL "libfuzzer")
      # libFuzzer writes new inputs into its first directory: a scratch one.
      set(scratch ${CMAKE_CURRENT_BINARY_DIR}/${name}-scratch)
      file(MAKE_DIRECTORY ${scratch})
      add_test(NAME ${name}_corpus COMMAND ${name} -runs=0 ${scratch} ${F_CORPUS})
    else()
      add_test(NAME ${name}_corpus COMMAND ${replay} ${F_CORPUS})
    endif()
    set_tests_properties(${name}_corpus PROPERTIES LABELS fuzz TIMEOUT 120)
  endif()
endfunction()
