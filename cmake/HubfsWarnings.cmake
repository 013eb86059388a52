# Warnings for every hubfs target, through an INTERFACE library linked PRIVATE.
add_library(hubfs_warnings INTERFACE)
target_compile_options(hubfs_warnings INTERFACE
	-Wall -Wextra -Wpedantic -Wshadow -Wformat=2 -Wstrict-prototypes
	-Wmissing-prototypes -Wold-style-definition -Wwrite-strings -Wvla
	-Wpointer-arith -Wundef -Wimplicit-fallthrough
	$<$<C_COMPILER_ID:GNU>:-Wjump-misses-init>)
