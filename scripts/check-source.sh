#!/usr/bin/env bash
# Rules of the source that no compiler checks; the first stage of
# scripts/test.sh (CI). Every break is printed as FILE:LINE: reason, and the
# script exits 1 if there is any, 0 otherwise.
#
#   banned functions: strcpy, strcat, sprintf, vsprintf, gets, strtok, atoi,
#     atol, strncpy and alloca (the style guide; use snprintf with a
#     truncation check, memcpy with explicit lengths, strtoull with errno and
#     end-pointer checks).
#   the include rule (docs/architecture.md): the modules depend on each other
#     in one direction, repo -> hub -> util and repo -> cache -> util, fs ->
#     repo, cli on all of them but fs (cli/main.c, the mount command, alone
#     includes fs/); a third-party library's headers stay in the module that
#     wraps it (json-c also in cli/, whose status command reads a mount's
#     JSON). The tables below are these rules; a new top-level folder must be
#     added to them.
#
# --deps prints the module dependency list (who includes whom, counted)
# instead of checking.
#
#   a retried condition read once (the tests' shell scripts): wait_for
#     polls the command it is given, whose words the shell expanded once,
#     so "wait_for 5 test "$(...)" ..." tests one value for 5 s. Such a
#     condition goes through eval in single quotes (tests/lib/test-lib.sh).
#
# Checks every *.c and *.h file git tracks or would track (new files count;
# build trees are ignored). Run from anywhere.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

banned='strcpy|strcat|sprintf|vsprintf|gets|strtok|atoi|atol|strncpy|alloca'

if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	mapfile -t all < <(git ls-files --cached --others --exclude-standard -- '*.c' '*.h')
else
	mapfile -t all < <(find . -path './build*' -prune -o -type f \
		\( -name '*.c' -o -name '*.h' \) -print | sed 's|^\./||')
fi
files=()
for f in "${all[@]}"; do
	[ -f "$f" ] && files+=("$f") # a tracked file deleted in the work tree
done
[ ${#files[@]} -gt 0 ] || { echo "check-source: no C files found" >&2; exit 1; }

mode=${1:-check}
status=0
fail() {
	[ "$mode" = --deps ] && return
	echo "$1"
	status=1
}

# A call or a mention followed by '(': as a whole word, so snprintf,
# strtok_r and fgets pass; lines of comments are skipped.
while IFS= read -r hit; do
	text=${hit#*:*:}
	case "${text#"${text%%[![:space:]]*}"}" in
	'*'* | '/*'* | '//'*) continue ;;
	esac
	name=$(grep -oE "\\b($banned)[[:space:]]*\\(" <<<"$text" | head -n 1 | tr -d ' (\t')
	fail "${hit%%:*}:$(cut -d: -f2 <<<"$hit"): banned function $name()"
done < <(grep -nHE "\\b($banned)[[:space:]]*\\(" "${files[@]}" || true)

# Which of our modules each may include ("X/..."), itself included.
declare -A may_include=(
	[util]="util"
	[hub]="hub util"
	[cache]="cache util"
	[repo]="repo hub cache util"
	[fs]="fs repo hub cache util"
	[cli]="cli repo hub cache util"
	[tests]="tests repo fs hub cache util"
	[bench]="bench repo fs hub cache util"
)
# Files that may also include a module their own may not: of the commands,
# mount alone reaches the FUSE driver.
declare -A file_may_include=(
	[cli/main.c]="fs"
)
# Which modules may include a third-party library's headers (<X...>).
declare -A lib_owners=(
	[curl]="hub"
	[json-c]="hub cli" # cli: cmd_status.c reads a mount's status file
	[fuse]="fs bench" # bench: bench_fuse_floor.c, a FUSE server of its own, for FUSE's floor
	[openssl]="util"
	[cmocka]="tests"
)
declare -A deps=()
while IFS= read -r hit; do
	[[ $hit =~ ^([^:]*):([0-9]+):[[:space:]]*#[[:space:]]*include[[:space:]]*([<\"][^>\"]*) ]] ||
		continue
	file=${BASH_REMATCH[1]} line=${BASH_REMATCH[2]} target=${BASH_REMATCH[3]}
	from=${file%%/*}
	[ "$from" != "$file" ] || from=.
	case "$target" in
	'"'*/*)
		to=${target#\"}
		to=${to%%/*}
		deps[$from $to]=$((${deps[$from $to]:-0} + 1))
		if [ -z "${may_include[$from]+set}" ]; then
			fail "$file:$line: module $from/ is not in the include table of $0"
		elif [[ " ${may_include[$from]} ${file_may_include[$file]:-} " != *" $to "* ]]; then
			fail "$file:$line: $from/ must not include $to/ (${target#\"})"
		fi
		;;
	'<'*)
		lib=${target#<}
		lib=${lib%%/*}
		case "$lib" in fuse*) lib=fuse ;; cmocka.h) lib=cmocka ;; esac
		[ -n "${lib_owners[$lib]+set}" ] || continue
		if [[ " ${lib_owners[$lib]} " != *" $from "* ]]; then
			fail "$file:$line: only ${lib_owners[$lib]// /, }/ may include <${target#<}>"
		fi
		;;
	esac
done < <(grep -nHE '^[[:space:]]*#[[:space:]]*include' "${files[@]}" || true)

# A '$(' before any single quote on a wait_for line is expanded once.
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	mapfile -t scripts < <(git ls-files --cached --others --exclude-standard -- 'tests/*.sh' ':!:tests/fidelity/node_modules')
else
	mapfile -t scripts < <(find tests -path '*/node_modules' -prune -o -type f -name '*.sh' -print)
fi
while IFS= read -r hit; do
	fail "${hit%%:*}:$(cut -d: -f2 <<<"$hit"): wait_for retries a condition read once (use eval '...')"
done < <(grep -nHE "(^|[[:space:];&|(])wait_for[[:space:]]+[0-9.]+[[:space:]][^']*[$][(]" "${scripts[@]}" /dev/null || true)

if [ "$mode" = --deps ]; then
	for k in "${!deps[@]}"; do
		printf '%s -> %s %d\n' "${k% *}" "${k#* }" "${deps[$k]}"
	done | sort
	exit 0
fi
exit $status
