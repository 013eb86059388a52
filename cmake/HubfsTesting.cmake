# Test registration helpers: one cmocka executable per module, one ctest
# test per integration script.

pkg_check_modules(CMOCKA REQUIRED IMPORTED_TARGET cmocka)
find_package(Python3 REQUIRED COMPONENTS Interpreter)

set(HUBFS_SAN_ENV
    "ASAN_OPTIONS=abort_on_error=1:detect_leaks=1"
    "UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1"
    "LSAN_OPTIONS=suppressions=${PROJECT_SOURCE_DIR}/tests/lsan.supp:print_suppressions=0")

# hubfs_add_unit_test(NAME name SOURCES a.c ... LIBS lib ... [LABELS extra ...])
# Label "threads" also runs the test under ThreadSanitizer in CI.
function(hubfs_add_unit_test)
	cmake_parse_arguments(T "" "NAME" "SOURCES;LIBS;LABELS" ${ARGN})
	add_executable(${T_NAME} ${T_SOURCES})
	target_link_libraries(${T_NAME} PRIVATE ${T_LIBS} PkgConfig::CMOCKA
			      hubfs_warnings)
	add_test(NAME unit/${T_NAME} COMMAND ${T_NAME})
	set_tests_properties(unit/${T_NAME} PROPERTIES LABELS "unit;${T_LABELS}"
			     TIMEOUT 120 ENVIRONMENT "${HUBFS_SAN_ENV};TSAN_OPTIONS=halt_on_error=1")
endfunction()

# hubfs_add_script_test(NAME name COMMAND ... [LABELS ...] [TIMEOUT s]
#                       [FIXTURES ...])
function(hubfs_add_script_test)
	cmake_parse_arguments(T "" "NAME;TIMEOUT" "COMMAND;LABELS;FIXTURES" ${ARGN})
	if(NOT T_TIMEOUT)
		set(T_TIMEOUT 300)
	endif()
	add_test(NAME ${T_NAME} COMMAND ${T_COMMAND})
	set_tests_properties(${T_NAME} PROPERTIES
		LABELS "${T_LABELS}" TIMEOUT ${T_TIMEOUT} SKIP_RETURN_CODE 77
		FIXTURES_REQUIRED "${T_FIXTURES}"
		ENVIRONMENT "${HUBFS_SAN_ENV};${HUBFS_TEST_ENV}")
endfunction()
