# Runs at ctest time (from TEST_INCLUDE_FILES): registers one test per line
# of `uffdbox-tests --list` (NAME TIMEOUT LOCK LABEL, tab-separated), twice:
# as NAME on the kernel as it is, as legacy/NAME with UFFDBOX_FEATURE_MASK
# hiding what Linux 6.1 (Debian bookworm) lacks (WP_UNPOPULATED, POISON,
# WP_ASYNC, MOVE, guard install, PAGEMAP_SCAN, process_madvise on itself:
# UFFDBOX_MASK_LINUX_6_1), and as legacy515/NAME hiding what Linux 5.15
# (Ubuntu 22.04) lacks besides (EXACT_ADDRESS, WP_HUGETLBFS_SHMEM,
# /dev/userfaultfd: UFFDBOX_MASK_LINUX_5_15), so every fallback path runs
# here too.  (The masks are include/uffdbox/uffd.h's.)  With @wrapper
# (tests/seccomp-run), twice more: container-eperm/NAME and
# container-enosys/NAME, under a seccomp filter that denies userfaultfd as a
# container's default profile (EPERM) or gVisor (ENOSYS) does, so every case
# runs on the signal backend or skips with its reason (labels
# container-eperm, container-enosys; see docs/backends.md).
function(uffdbox_discover_cases exe wrapper)
  if(NOT EXISTS "${exe}")
    add_test(uffdbox-tests-not-built "${CMAKE_COMMAND}" -E echo "${exe} is not built")
    set_tests_properties(uffdbox-tests-not-built PROPERTIES WILL_FAIL ON)
    return()
  endif()
  execute_process(COMMAND "${exe}" --list OUTPUT_VARIABLE out RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${exe} --list failed: ${rc}")
  endif()
  string(REPLACE "\n" ";" lines "${out}")
  foreach(line IN LISTS lines)
    if(line STREQUAL "")
      continue()
    endif()
    string(REPLACE "\t" ";" f "${line}")
    list(GET f 0 name)
    list(GET f 1 timeout)
    list(GET f 2 lock)
    list(GET f 3 label)
    math(EXPR ct_timeout "${timeout} + 15")
    set(variants "" "legacy/" "legacy515/")
    if(EXISTS "${wrapper}")
      list(APPEND variants "container-eperm/" "container-enosys/")
    endif()
    foreach(variant IN LISTS variants)
      set(t "${variant}${name}")
      if(variant STREQUAL "container-eperm/")
        add_test("${t}" "${wrapper}" --errno=EPERM "${exe}" "${name}")
      elseif(variant STREQUAL "container-enosys/")
        add_test("${t}" "${wrapper}" --errno=ENOSYS "${exe}" "${name}")
      else()
        add_test("${t}" "${exe}" "${name}")
      endif()
      set_tests_properties("${t}" PROPERTIES TIMEOUT ${ct_timeout} SKIP_RETURN_CODE 77
                           LABELS "unit;${label}")
      if(variant STREQUAL "legacy/")
        set_tests_properties("${t}" PROPERTIES ENVIRONMENT
                             "UFFDBOX_FEATURE_MASK=0x700000000001e000"
                             LABELS "unit;${label};legacy")
      elseif(variant STREQUAL "legacy515/")
        set_tests_properties("${t}" PROPERTIES ENVIRONMENT
                             "UFFDBOX_FEATURE_MASK=0xf00000000001f800"
                             LABELS "unit;${label};legacy;legacy515")
      elseif(NOT variant STREQUAL "")
        string(REPLACE "/" "" clabel "${variant}")
        set_tests_properties("${t}" PROPERTIES LABELS "unit;${label};${clabel}")
      endif()
      if(NOT lock STREQUAL "-")
        set_tests_properties("${t}" PROPERTIES RESOURCE_LOCK "${lock}")
      endif()
    endforeach()
  endforeach()
endfunction()
