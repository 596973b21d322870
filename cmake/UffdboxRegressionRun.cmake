# cmake -DARGS=<file> -P UffdboxRegressionRun.cmake: one golden-log
# regression test (see UffdboxRegression.cmake). ARGS sets NAME, UFFDBOX,
# CMD, GOLDEN, IGNORE, EXPECT_REPORT, TIMEOUT, WORK and LOG.
cmake_policy(VERSION 3.25)
include("${ARGS}")

file(REMOVE "${LOG}")
get_filename_component(logdir "${LOG}" DIRECTORY)
file(MAKE_DIRECTORY "${logdir}")
string(REPLACE "@LOG@" "${LOG}" cmd "${CMD}")
execute_process(COMMAND "${CMAKE_COMMAND}" -E env "UFFDBOX_LOG=${LOG}" ${cmd}
                WORKING_DIRECTORY "${WORK}" TIMEOUT ${TIMEOUT}
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
set(ran "${NAME}: ran ${cmd}\n-> ${rc}\n--- stdout\n${out}--- stderr\n${err}---")

# The report line, or none.
if(EXPECT_REPORT)
  string(FIND "${err}" "uffdbox: ${EXPECT_REPORT}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "${ran}\n${NAME}: expected the report \"uffdbox: ${EXPECT_REPORT}\" on stderr, not found")
  endif()
else()
  string(FIND "${err}" "ERROR: uffdbox:" at)
  if(NOT rc EQUAL 0 OR NOT at EQUAL -1)
    message(FATAL_ERROR "${ran}\n${NAME}: expected a clean run (exit 0, no report); give EXPECT_REPORT for a finding")
  endif()
endif()

if(NOT EXISTS "${LOG}" OR IS_DIRECTORY "${LOG}")
  message(FATAL_ERROR "${ran}\n${NAME}: the harness wrote no event log to ${LOG}: pass UFFDBOX_LOG "
          "to uffdbox_sandbox_opts.report_log, or put @LOG@ in COMMAND (uffdbox run --log @LOG@)")
endif()

if("$ENV{UFFDBOX_UPDATE_GOLDEN}" STREQUAL "1")
  execute_process(COMMAND "${UFFDBOX}" diff --normalize "${LOG}"
                  RESULT_VARIABLE nrc OUTPUT_VARIABLE norm ERROR_VARIABLE nerr)
  if(NOT nrc EQUAL 0)
    message(FATAL_ERROR "${NAME}: uffdbox diff --normalize ${LOG}: ${nerr}")
  endif()
  file(WRITE "${GOLDEN}" "${norm}")
  message(STATUS "${NAME}: UFFDBOX_UPDATE_GOLDEN=1: wrote ${GOLDEN}")
  return()
endif()

if(NOT EXISTS "${GOLDEN}")
  message(FATAL_ERROR "${NAME}: no golden log ${GOLDEN}: create it with UFFDBOX_UPDATE_GOLDEN=1 ctest -R '^${NAME}$'")
endif()
# The difference goes straight to the output, columns intact.
set(ignore)
foreach(field IN LISTS IGNORE)
  list(APPEND ignore --ignore "${field}")
endforeach()
execute_process(COMMAND "${UFFDBOX}" diff ${ignore} "${GOLDEN}" "${LOG}" RESULT_VARIABLE drc)
if(drc EQUAL 0)
  message(STATUS "${NAME}: the log matches ${GOLDEN}")
elseif(drc EQUAL 1)
  message(FATAL_ERROR "${NAME}: the event log differs from the golden log (above). "
          "If the change is intended: UFFDBOX_UPDATE_GOLDEN=1 ctest -R '^${NAME}$', and commit ${GOLDEN}")
else()
  message(FATAL_ERROR "${NAME}: uffdbox diff failed (${drc})")
endif()
