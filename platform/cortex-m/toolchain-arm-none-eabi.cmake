# CMake toolchain file for bare-metal Cortex-M with Debian's gcc-arm-none-eabi (+ newlib, unused by
# the port). CPU flags are set per target by platform/cortex-m/CMakeLists.txt, so one build tree
# holds both the Cortex-M3 and the Cortex-M4F configurations.
set(CMAKE_SYSTEM_NAME Generic)
set(CMAKE_SYSTEM_PROCESSOR arm)
set(CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY)

set(SPINDLE_ARM_TOOLCHAIN_PREFIX "arm-none-eabi-" CACHE STRING "Prefix of the cross tools")
find_program(SPINDLE_ARM_GCC ${SPINDLE_ARM_TOOLCHAIN_PREFIX}gcc REQUIRED)
get_filename_component(_spindle_arm_bin "${SPINDLE_ARM_GCC}" DIRECTORY)

set(CMAKE_C_COMPILER "${_spindle_arm_bin}/${SPINDLE_ARM_TOOLCHAIN_PREFIX}gcc")
set(CMAKE_CXX_COMPILER "${_spindle_arm_bin}/${SPINDLE_ARM_TOOLCHAIN_PREFIX}g++")
set(CMAKE_ASM_COMPILER "${_spindle_arm_bin}/${SPINDLE_ARM_TOOLCHAIN_PREFIX}gcc")
set(CMAKE_AR "${_spindle_arm_bin}/${SPINDLE_ARM_TOOLCHAIN_PREFIX}ar" CACHE FILEPATH "")
set(CMAKE_RANLIB "${_spindle_arm_bin}/${SPINDLE_ARM_TOOLCHAIN_PREFIX}ranlib" CACHE FILEPATH "")
set(CMAKE_OBJDUMP "${_spindle_arm_bin}/${SPINDLE_ARM_TOOLCHAIN_PREFIX}objdump" CACHE FILEPATH "")
set(SPINDLE_ARM_SIZE "${_spindle_arm_bin}/${SPINDLE_ARM_TOOLCHAIN_PREFIX}size" CACHE FILEPATH "")

set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
