# Abseil-style helpers: each library reads like a manifest (HDRS is the API, SRCS is private,
# DEPS is explicit). Sources are listed by hand so each new file shows up in review.
include_guard(GLOBAL)

# ts_cc_library(NAME foo HDRS ... SRCS ... DEPS ...) builds ts_foo with the alias ts::foo.
function(ts_cc_library)
  cmake_parse_arguments(TS "" "NAME" "HDRS;SRCS;DEPS" ${ARGN})
  set(target ts_${TS_NAME})
  if(TS_SRCS)
    add_library(${target} STATIC ${TS_SRCS} ${TS_HDRS})
    target_include_directories(${target} PUBLIC ${PROJECT_SOURCE_DIR}/src)
    target_link_libraries(${target} PUBLIC ${TS_DEPS})
    target_compile_options(${target} PRIVATE ${TS_WARNINGS})
  else()
    add_library(${target} INTERFACE)
    target_include_directories(${target} INTERFACE ${PROJECT_SOURCE_DIR}/src)
    target_link_libraries(${target} INTERFACE ${TS_DEPS})
  endif()
  add_library(ts::${TS_NAME} ALIAS ${target})
endfunction()

# ts_cc_test(NAME foo_test SRCS ... DEPS ... LABELS unit) builds one gtest binary and registers
# its cases with CTest.
function(ts_cc_test)
  cmake_parse_arguments(TS "" "NAME" "SRCS;DEPS;LABELS" ${ARGN})
  if(NOT TS_BUILD_TESTS)
    return()
  endif()
  add_executable(${TS_NAME} ${TS_SRCS})
  target_include_directories(${TS_NAME} PRIVATE ${PROJECT_SOURCE_DIR}/src ${PROJECT_SOURCE_DIR})
  target_link_libraries(${TS_NAME} PRIVATE ${TS_DEPS} GTest::gmock GTest::gmock_main)
  target_compile_options(${TS_NAME} PRIVATE ${TS_WARNINGS})
  if(NOT TS_LABELS)
    set(TS_LABELS unit)
  endif()
  gtest_discover_tests(${TS_NAME}
    WORKING_DIRECTORY ${PROJECT_SOURCE_DIR}
    PROPERTIES LABELS "${TS_LABELS}"
    DISCOVERY_TIMEOUT 60)
endfunction()
