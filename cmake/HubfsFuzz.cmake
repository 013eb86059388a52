# HUBFS_FUZZ=ON: every library is built with libFuzzer's coverage
# instrumentation, so the targets of tests/fuzz/ see inside the parsers
# they drive. Sanitizers default to address,undefined: a fuzz run without
# them finds only crashes, not the memory errors that precede them.
if(HUBFS_FUZZ)
	if(NOT CMAKE_C_COMPILER_ID STREQUAL "Clang")
		message(FATAL_ERROR "HUBFS_FUZZ needs clang (CC=clang): libFuzzer is clang's")
	endif()
	if(NOT HUBFS_SANITIZE)
		set(HUBFS_SANITIZE "address,undefined" CACHE STRING
		    "Sanitizers to build with: address,undefined or thread (empty: none)" FORCE)
	endif()
	if(HUBFS_SANITIZE MATCHES "thread")
		message(FATAL_ERROR "HUBFS_FUZZ: use address,undefined, not thread")
	endif()
	add_compile_options(-fsanitize=fuzzer-no-link)
endif()
