#!/usr/bin/env bash
# Each command that talks to the Hub takes the shared Hub options
# (CLI_HUB_LONGOPTS in cli/cli.h), and its --help must say so: a user who
# reads `hubfs download --help` learns that --op-timeout exists. Each option
# named is also accepted by the command (a value of the right form, then
# --help, exits 0).
#
#   bash tests/docs/command-help.sh HUBFS
set -eu
hubfs=$1
shared="endpoint token-file type offline log-level connect-timeout stall-timeout
min-speed op-timeout retries"
fail=0
for cmd in ls info download verify repair; do
	help=$("$hubfs" "$cmd" --help)
	for opt in $shared; do
		if ! grep -qE -- "--$opt([^a-z-]|$)" <<<"$help"; then
			echo "'hubfs $cmd --help' does not list --$opt"
			fail=1
		fi
		case $opt in
		offline) args=(--offline) ;;
		endpoint) args=(--endpoint http://127.0.0.1:9) ;;
		token-file) args=(--token-file /dev/null) ;;
		type) args=(--type model) ;;
		log-level) args=(--log-level warn) ;;
		*) args=("--$opt" 5) ;;
		esac
		if ! "$hubfs" "$cmd" "${args[@]}" --help >/dev/null 2>&1; then
			echo "'hubfs $cmd ${args[*]} --help' fails: --$opt is not taken"
			fail=1
		fi
	done
done
[ "$fail" = 0 ] && echo "ok: ls, info, download, verify and repair list and take the shared options"
exit "$fail"
