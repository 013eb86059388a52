#!/usr/bin/env bash
# Rules of the source that no compiler checks; the first stage of
# scripts/test.sh (CI). Every break is printed as FILE:LINE: reason, and the
# script exits 1 if there is any, 0 otherwise.
#
#   banned functions: strcpy, strcat, sprintf, vsprintf, gets, strtok, atoi,
#     atol, strncpy and alloca (the style guide; use snprintf with a
#     truncation check, memcpy with explicit lengths, strtoull with errno and
#     end-pointer checks).
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

status=0
fail() {
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

exit $status
