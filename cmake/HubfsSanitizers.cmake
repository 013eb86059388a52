# HUBFS_SANITIZE=address,undefined or thread: added to compile and link flags.
if(HUBFS_SANITIZE)
	if(HUBFS_SANITIZE MATCHES "thread" AND HUBFS_SANITIZE MATCHES "address")
		message(FATAL_ERROR "HUBFS_SANITIZE: thread and address do not mix")
	endif()
	set(_hubfs_san_flags -fsanitize=${HUBFS_SANITIZE}
	    -fno-sanitize-recover=all -fno-omit-frame-pointer)
	add_compile_options(${_hubfs_san_flags})
	add_link_options(${_hubfs_san_flags})
endif()
