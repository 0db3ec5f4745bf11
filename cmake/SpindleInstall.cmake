# Install rules (SPINDLE_INSTALL): the library, the public headers (with the generated
# spindle/version.hpp), the CMake package (find_package(Spindle) -> spindle::spindle) and spindle.pc
# for pkg-config. README.md, "Using Spindle in your project"; tests/consumers/ builds against each.
include(CMakePackageConfigHelpers)

set(SPINDLE_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/Spindle)

install(TARGETS spindle EXPORT SpindleTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
foreach(dir IN ITEMS sched/include sched/core/include sched/sync/include sched/io/include)
  install(DIRECTORY ${PROJECT_SOURCE_DIR}/${dir}/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
          FILES_MATCHING PATTERN "*.hpp")
endforeach()
install(FILES ${PROJECT_BINARY_DIR}/include/spindle/version.hpp
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/spindle)

install(EXPORT SpindleTargets NAMESPACE spindle:: DESTINATION ${SPINDLE_CMAKE_DIR})

# A static spindle needs its private dependencies at the consumer's link step; a shared one does not.
get_target_property(SPINDLE_LIBRARY_TYPE spindle TYPE)
if(SPINDLE_LIBRARY_TYPE STREQUAL "STATIC_LIBRARY")
  set(SPINDLE_CONFIG_STATIC ON)
else()
  set(SPINDLE_CONFIG_STATIC OFF)
endif()
if(SPINDLE_LIBUV_TARGET STREQUAL "PkgConfig::SPINDLE_LIBUV")
  set(SPINDLE_CONFIG_LIBUV_PKG ON)
else()
  set(SPINDLE_CONFIG_LIBUV_PKG OFF)
endif()
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/SpindleConfig.cmake.in
                              ${PROJECT_BINARY_DIR}/SpindleConfig.cmake
                              INSTALL_DESTINATION ${SPINDLE_CMAKE_DIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/SpindleConfigVersion.cmake
                                 VERSION ${PROJECT_VERSION} COMPATIBILITY SameMajorVersion)
install(FILES ${PROJECT_BINARY_DIR}/SpindleConfig.cmake ${PROJECT_BINARY_DIR}/SpindleConfigVersion.cmake
        DESTINATION ${SPINDLE_CMAKE_DIR})

# spindle.pc: `pkg-config --cflags --libs spindle` for the shared library, `--static` for the
# static one (it adds the private dependencies).
set(SPINDLE_PC_CFLAGS "-std=c++20 -pthread")
if(SPINDLE_STACK_CLASH_FLAGS)
  string(APPEND SPINDLE_PC_CFLAGS " ${SPINDLE_STACK_CLASH_FLAGS}")
endif()
set(SPINDLE_PC_LIBS_PRIVATE "-lboost_context")
if(SPINDLE_ALLOCATOR_RESOLVED STREQUAL "mimalloc")
  string(APPEND SPINDLE_PC_LIBS_PRIVATE " -lmimalloc")
endif()
if(CMAKE_DL_LIBS)
  string(APPEND SPINDLE_PC_LIBS_PRIVATE " -l${CMAKE_DL_LIBS}")
endif()
# Relocatable: the prefix is found from the .pc file's own place (`cmake --install --prefix` works).
file(RELATIVE_PATH SPINDLE_PC_TO_PREFIX /root/${CMAKE_INSTALL_LIBDIR}/pkgconfig /root)
configure_file(${PROJECT_SOURCE_DIR}/cmake/spindle.pc.in ${PROJECT_BINARY_DIR}/spindle.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/spindle.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
