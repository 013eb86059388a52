#!/usr/bin/env bash
# `hubfs mount --help` lists every option the man page documents for mount
# (its MOUNT OPTIONS and COMMON OPTIONS sections), and documents nothing
# the man page does not: adding an option to one and not the other fails.
#
#   bash tests/docs/mount-options.sh MANPAGE HUBFS
set -eu
man=$1
hubfs=$2

# Options are "-x" or "--word-word" after a space, a quote, '[', '(' or ','.
options() {
	grep -oE '(^|[ "[(,])--?[a-zA-Z][a-zA-Z-]*' | sed -E 's/^[ "[(,]//' | sort -u
}

# The man page, from "MOUNT OPTIONS" to the next section after "COMMON
# OPTIONS", with groff's "\-" turned back into "-".
documented=$(sed -n '/^\.SH MOUNT OPTIONS/,/^\.SH /p; /^\.SH COMMON OPTIONS/,/^\.SH /p' "$man" |
	grep -v '^\.SH' | sed 's/\\-/-/g' | options)
# The "mount options" block of --help, up to its blank line.
listed=$("$hubfs" mount --help | sed -n '/^mount options/,/^$/p' | options)

[ -n "$documented" ] || { echo "no mount options found in $man"; exit 1; }
[ -n "$listed" ] || { echo "no mount options found in 'hubfs mount --help'"; exit 1; }
missing=$(comm -23 <(echo "$documented") <(echo "$listed"))
extra=$(comm -13 <(echo "$documented") <(echo "$listed"))
if [ -n "$missing" ] || [ -n "$extra" ]; then
	[ -z "$missing" ] || echo "documented in $man but not in 'hubfs mount --help':" $missing
	[ -z "$extra" ] || echo "in 'hubfs mount --help' but not in $man:" $extra
	exit 1
fi
echo "ok: hubfs mount --help and the man page agree on" $(echo "$listed" | wc -l) "options"
