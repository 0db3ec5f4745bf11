# Included by the top-level CMakeLists.txt (SPINDLE_BUILD_CORTEX_M and SPINDLE_BUILD_TESTS, after
# enable_testing()). Builds the Cortex-M port and its test firmware as a separate cross project
# (ExternalProject with its own toolchain file, so no host flag such as -fsanitize reaches it) and
# registers one CTest test per line of tests/cases.txt, run under qemu by run_case.sh.
find_program(SPINDLE_CM_ARM_GCC arm-none-eabi-gcc)
find_program(SPINDLE_CM_QEMU qemu-system-arm)
find_program(SPINDLE_CM_TIMEOUT timeout)

if(NOT SPINDLE_CM_ARM_GCC OR NOT SPINDLE_CM_QEMU OR NOT SPINDLE_CM_TIMEOUT)
  message(STATUS "spindle: Cortex-M port not built/tested (need arm-none-eabi-gcc, qemu-system-arm "
                 "and timeout; found: '${SPINDLE_CM_ARM_GCC}', '${SPINDLE_CM_QEMU}', "
                 "'${SPINDLE_CM_TIMEOUT}')")
  return()
endif()

# The firmware shares C++ headers with the host (platform/include/spindle/platform/priority_policy.hpp
# uses <bit>): the cross compiler needs its freestanding C++ headers (Debian:
# libstdc++-arm-none-eabi-dev).
string(REGEX REPLACE "gcc$" "g++" _spindle_cm_arm_gxx "${SPINDLE_CM_ARM_GCC}")
execute_process(COMMAND ${CMAKE_COMMAND} -E echo "#include <bit>"
                COMMAND ${_spindle_cm_arm_gxx} -std=c++20 -mcpu=cortex-m3 -mthumb -x c++ -fsyntax-only -
                RESULT_VARIABLE _spindle_cm_cxx_rc OUTPUT_QUIET ERROR_QUIET)
if(NOT _spindle_cm_cxx_rc EQUAL 0)
  message(STATUS "spindle: Cortex-M port not built/tested (${_spindle_cm_arm_gxx} has no C++ "
                 "standard headers: install libstdc++-arm-none-eabi-dev)")
  return()
endif()

include(ExternalProject)

set(SPINDLE_CM_DIR ${CMAKE_CURRENT_LIST_DIR})
set(SPINDLE_CM_BINARY_DIR ${CMAKE_BINARY_DIR}/cortex-m)

ExternalProject_Add(spindle_cortex_m
  SOURCE_DIR ${SPINDLE_CM_DIR}
  BINARY_DIR ${SPINDLE_CM_BINARY_DIR}
  PREFIX ${CMAKE_BINARY_DIR}/cortex-m-ep
  CMAKE_ARGS
    -DCMAKE_TOOLCHAIN_FILE=${SPINDLE_CM_DIR}/toolchain-arm-none-eabi.cmake
    -DSPINDLE_ARM_GCC=${SPINDLE_CM_ARM_GCC}
    -DCMAKE_BUILD_TYPE=
  # Empty flags override anything inherited from the environment (CFLAGS, CXXFLAGS, LDFLAGS of a
  # sanitizer build): the cross build sets its own flags per target.
  CMAKE_CACHE_ARGS
    -DCMAKE_C_FLAGS:STRING=
    -DCMAKE_CXX_FLAGS:STRING=
    -DCMAKE_ASM_FLAGS:STRING=
    -DCMAKE_EXE_LINKER_FLAGS:STRING=
  BUILD_ALWAYS ON
  INSTALL_COMMAND ""
  TEST_COMMAND "")

file(STRINGS ${SPINDLE_CM_DIR}/tests/cases.txt _spindle_cm_cases REGEX "^[^#]")
foreach(_line IN LISTS _spindle_cm_cases)
  string(REGEX MATCH "^([^ ]+) +([^ ]+) +([^ ]+) +([0-9]+) *(.*)$" _m "${_line}")
  if(NOT _m)
    message(FATAL_ERROR "platform/cortex-m/tests/cases.txt: bad line '${_line}'")
  endif()
  set(_image ${CMAKE_MATCH_1})
  set(_machine ${CMAKE_MATCH_2})
  set(_case ${CMAKE_MATCH_3})
  set(_want ${CMAKE_MATCH_4})
  separate_arguments(_text UNIX_COMMAND "${CMAKE_MATCH_5}")
  add_test(NAME cortex_m.${_image}.${_case}
           COMMAND ${CMAKE_COMMAND} -E env QEMU_SYSTEM_ARM=${SPINDLE_CM_QEMU}
                   sh ${SPINDLE_CM_DIR}/run_case.sh ${SPINDLE_CM_BINARY_DIR} ${_image} ${_machine}
                   ${_case} ${_want} ${_text})
  set_tests_properties(cortex_m.${_image}.${_case} PROPERTIES TIMEOUT 30 LABELS cortex_m)
endforeach()
message(STATUS "spindle: Cortex-M port tests registered (qemu: ${SPINDLE_CM_QEMU})")
