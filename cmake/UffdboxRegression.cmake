# uffdbox_add_regression_test(NAME <name> COMMAND <cmd> [<arg>...]
#                             GOLDEN <file.jsonl>
#                             [EXPECT_REPORT "<text>"] [IGNORE <field>...]
#                             [TIMEOUT <s>] [WORKING_DIRECTORY <dir>]
#                             [LABELS <label>...])
#
# A golden-log regression test (docs/regression-tests.md): ctest runs
# COMMAND (a harness on a pinned input) with UFFDBOX_LOG set to a fresh
# log file (an argument "@LOG@" in COMMAND is replaced by that path too,
# e.g. `uffdbox run --log @LOG@ -- prog`), then
#   - with EXPECT_REPORT, its stderr must hold "uffdbox: <text>" (the report
#     line, e.g. "use-after-unmap READ" or "guard hit: WRITE"); without, it
#     must exit 0 and report nothing;
#   - its log, normalized, must equal GOLDEN (`uffdbox diff GOLDEN LOG`: the
#     test fails with the aligned difference); IGNORE names fields that
#     legitimately differ between builds of this harness (`--ignore`).
# With UFFDBOX_UPDATE_GOLDEN=1 in the environment the test writes the
# normalized log to GOLDEN instead (`uffdbox diff --normalize`) and passes.
#
# The `uffdbox` command used for the comparison is ${UFFDBOX_EXECUTABLE}:
# set by find_package(uffdbox), or the build's own in the uffdbox tree.
# COMMAND may hold generator expressions ($<TARGET_FILE:harness>).
set(_UFFDBOX_REGRESSION_DIR "${CMAKE_CURRENT_LIST_DIR}")

function(uffdbox_add_regression_test)
  cmake_parse_arguments(PARSE_ARGV 0 A "" "NAME;GOLDEN;EXPECT_REPORT;TIMEOUT;WORKING_DIRECTORY"
                        "COMMAND;LABELS;IGNORE")
  if(NOT A_NAME OR NOT A_COMMAND OR NOT A_GOLDEN)
    message(FATAL_ERROR "uffdbox_add_regression_test: NAME, COMMAND and GOLDEN are required")
  endif()
  if(A_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "uffdbox_add_regression_test(${A_NAME}): unknown arguments ${A_UNPARSED_ARGUMENTS}")
  endif()
  if(NOT A_TIMEOUT)
    set(A_TIMEOUT 60)
  endif()
  if(NOT A_WORKING_DIRECTORY)
    set(A_WORKING_DIRECTORY "${CMAKE_CURRENT_BINARY_DIR}")
  endif()
  get_filename_component(golden "${A_GOLDEN}" ABSOLUTE BASE_DIR "${CMAKE_CURRENT_SOURCE_DIR}")
  set(exe "${UFFDBOX_EXECUTABLE}")
  # Inside the uffdbox tree: the build's own command (resolved at generate
  # time, so callers before run/ work too).
  if(NOT exe AND (TARGET uffdbox-cli OR PROJECT_NAME STREQUAL "uffdbox"))
    set(exe "$<TARGET_FILE:uffdbox-cli>")
  endif()
  if(NOT exe)
    message(FATAL_ERROR "uffdbox_add_regression_test: set UFFDBOX_EXECUTABLE to the uffdbox command")
  endif()
  # The arguments go through a generated file: a command line keeps neither
  # list separators nor generator expressions intact.
  set(args "${CMAKE_CURRENT_BINARY_DIR}/uffdbox-regression/${A_NAME}-$<CONFIG>.cmake")
  file(GENERATE OUTPUT "${args}" CONTENT
"set(NAME [==[${A_NAME}]==])
set(UFFDBOX [==[${exe}]==])
set(CMD [==[${A_COMMAND}]==])
set(GOLDEN [==[${golden}]==])
set(IGNORE [==[${A_IGNORE}]==])
set(EXPECT_REPORT [==[${A_EXPECT_REPORT}]==])
set(TIMEOUT [==[${A_TIMEOUT}]==])
set(WORK [==[${A_WORKING_DIRECTORY}]==])
set(LOG [==[${CMAKE_CURRENT_BINARY_DIR}/uffdbox-regression/${A_NAME}.jsonl]==])
")
  add_test(NAME ${A_NAME} COMMAND "${CMAKE_COMMAND}" -DARGS=${args}
           -P "${_UFFDBOX_REGRESSION_DIR}/UffdboxRegressionRun.cmake")
  math(EXPR ct_timeout "${A_TIMEOUT} + 30")
  set_tests_properties(${A_NAME} PROPERTIES TIMEOUT ${ct_timeout} LABELS "golden;${A_LABELS}")
endfunction()
