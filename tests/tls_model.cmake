# tests/tls_model.cmake - the library's shared objects reach their
# thread-local variables through the static TLS block (initial-exec), never
# through __tls_get_addr(): that call runs in the fault handlers, and in a
# dlopen()ed library it allocates on a thread's first use (see
# UFFDBOX__TLS in core/internal.h).  The general and local dynamic models
# show as DTPMOD64/DTPOFF64 relocations.
#   cmake -DREADELF=readelf -DFILES=a.so,b.so -P tls_model.cmake
if(NOT READELF)
  message(FATAL_ERROR "no readelf: pass -DREADELF=")
endif()
string(REPLACE "," ";" files "${FILES}")
set(bad "")
foreach(f IN LISTS files)
  execute_process(COMMAND ${READELF} -r -W ${f} OUTPUT_VARIABLE out RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${READELF} -r -W ${f} failed (${rc})")
  endif()
  string(REGEX MATCHALL "R_[A-Z0-9_]*(DTPMOD|DTPOFF)[A-Z0-9_]*" dyn "${out}")
  string(REGEX MATCHALL "R_[A-Z0-9_]*TPOFF[A-Z0-9_]*" st "${out}")
  list(LENGTH dyn ndyn)
  list(LENGTH st nst)
  message(STATUS "${f}: ${nst} static TLS relocations, ${ndyn} dynamic")
  if(ndyn GREATER 0)
    list(APPEND bad "${f} (${ndyn}: ${dyn})")
  endif()
endforeach()
if(bad)
  message(FATAL_ERROR "thread-local variables reached through __tls_get_addr in: ${bad}\n"
          "Declare them with UFFDBOX__TLS (core/internal.h).")
endif()
