# The installed package, as a user meets it (ctest: install.consumer).
#   cmake -DBUILD_DIR=... -DCONSUMER_DIR=... -DLIBDIR=lib -DGENERATOR=Ninja
#         -DCXX_COMPILER=g++ -DRUNTIME_PROGRAMS=a,b -DTOOL_PROGRAMS=c,d
#         -P install_test.cmake
# 1. `cmake --install BUILD_DIR` (no component) into a temp prefix puts exactly
#    RUNTIME_PROGRAMS in bin/, plus the library, headers, CMake package files,
#    the systemd unit and the example config.
# 2. The installed shmqConfig.cmake and shmqTargets*.cmake need no Boost (no
#    Boost:: target, no find_dependency) and hold no empty $<LINK_ONLY:> entry.
# 3. The consumer project (tests/install/consumer) configures against that
#    prefix with Boost hidden (CMAKE_DISABLE_FIND_PACKAGE_Boost), builds, and
#    sends and receives a message in a namespace of its own.
# 4. `--component shmq_tools` installs exactly TOOL_PROGRAMS.
# Everything it creates (the temp directory, the namespace's /dev/shm
# objects) is removed, on failure too.
cmake_minimum_required(VERSION 3.23)

foreach(var IN ITEMS BUILD_DIR CONSUMER_DIR LIBDIR GENERATOR CXX_COMPILER RUNTIME_PROGRAMS TOOL_PROGRAMS)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "install_test.cmake: -D${var}=... is missing")
  endif()
endforeach()
string(REPLACE "," ";" RUNTIME_PROGRAMS "${RUNTIME_PROGRAMS}")
string(REPLACE "," ";" TOOL_PROGRAMS "${TOOL_PROGRAMS}")

set(tmp "$ENV{TMPDIR}")
if(NOT tmp)
  set(tmp /tmp)
endif()
string(RANDOM LENGTH 10 ALPHABET abcdefghijklmnopqrstuvwxyz0123456789 suffix)
set(work "${tmp}/shmq-install-test.${suffix}")
set(ns "installtest${suffix}")
file(MAKE_DIRECTORY "${work}")

function(cleanup)
  file(REMOVE_RECURSE "${work}")
  file(GLOB leftovers "/dev/shm/shmq.${ns}.*")
  if(leftovers)
    file(REMOVE ${leftovers})
  endif()
endfunction()

function(fail text)
  cleanup()
  message(FATAL_ERROR "install test: ${text}")
endfunction()

# run(<what> COMMAND...): runs it (at most 5 minutes); fails with its output.
function(run what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out TIMEOUT 300)
  if(NOT rc EQUAL 0)
    fail("${what} failed (${rc}):\n${out}")
  endif()
endfunction()

# expect_bin(<prefix> <expected programs>): bin/ holds exactly those.
function(expect_bin prefix)
  set(expected ${ARGN})
  file(GLOB found RELATIVE "${prefix}/bin" "${prefix}/bin/*")
  list(SORT found)
  list(SORT expected)
  if(NOT found STREQUAL expected)
    string(JOIN " " found_text ${found})
    string(JOIN " " expected_text ${expected})
    fail("${prefix}/bin holds [${found_text}], expected exactly [${expected_text}]")
  endif()
endfunction()

# ---- 1. the default install ---------------------------------------------------
set(prefix "${work}/prefix")
run("cmake --install ${BUILD_DIR}" "${CMAKE_COMMAND}" --install "${BUILD_DIR}" --prefix "${prefix}")
expect_bin("${prefix}" ${RUNTIME_PROGRAMS})
set(package_dir "${prefix}/${LIBDIR}/cmake/shmq")
foreach(f IN ITEMS include/shmq/shmq.hpp ${LIBDIR}/cmake/shmq/shmqConfig.cmake
                   ${LIBDIR}/cmake/shmq/shmqConfigVersion.cmake ${LIBDIR}/cmake/shmq/shmqTargets.cmake
                   ${LIBDIR}/systemd/system/shmqd.service share/shmq/shmqd.example.toml)
  if(NOT EXISTS "${prefix}/${f}")
    fail("the default install did not install ${f}")
  endif()
endforeach()
file(GLOB libs "${prefix}/${LIBDIR}/libshmq.*")
if(NOT libs)
  fail("the default install did not install libshmq in ${LIBDIR}/")
endif()

# ---- 2. the package files -------------------------------------------------------
file(GLOB package_files "${package_dir}/*.cmake")
foreach(f IN LISTS package_files)
  file(READ "${f}" text)
  string(FIND "${text}" "$<LINK_ONLY:>" empty_link_only)
  if(NOT empty_link_only EQUAL -1)
    fail("${f} holds an empty $<LINK_ONLY:> entry")
  endif()
  if(text MATCHES "Boost::|find_dependency\\(Boost|find_package\\(Boost")
    fail("${f} needs Boost, which no installed header includes")
  endif()
endforeach()

# ---- 3. a user's project, without Boost ------------------------------------------
set(consumer_build "${work}/consumer")
run("configuring the consumer project without Boost"
    "${CMAKE_COMMAND}" -S "${CONSUMER_DIR}" -B "${consumer_build}" -G "${GENERATOR}"
    "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}" "-DCMAKE_PREFIX_PATH=${prefix}"
    -DCMAKE_DISABLE_FIND_PACKAGE_Boost=ON -DCMAKE_BUILD_TYPE=Release)
run("building the consumer project" "${CMAKE_COMMAND}" --build "${consumer_build}")
run("running the consumer" "${consumer_build}/shmq_consumer" "${ns}")

# ---- 4. the tools component --------------------------------------------------------
set(tools_prefix "${work}/tools")
run("cmake --install ${BUILD_DIR} --component shmq_tools"
    "${CMAKE_COMMAND}" --install "${BUILD_DIR}" --prefix "${tools_prefix}" --component shmq_tools)
expect_bin("${tools_prefix}" ${TOOL_PROGRAMS})

cleanup()
message(STATUS "install test: ok (default install: ${RUNTIME_PROGRAMS}; shmq_tools: ${TOOL_PROGRAMS})")
