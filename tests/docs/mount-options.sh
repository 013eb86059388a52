#!/usr/bin/env bash
# `hubfs mount --help` lists every option the man page documents for mount
# (its MOUNT OPTIONS and COMMON OPTIONS sections), and documents nothing
# the man page does not: adding an option to one and not the other fails.
# The same for the -o forms (cache_dir=...): each long option but
# --foreground and --debug has one in both lists, and in DEPLOY's
# "**Options.**" paragraph, and `hubfs mount` takes each of them (a bad
# value is a usage error, not an unknown option).
#
#   bash tests/docs/mount-options.sh MANPAGE HUBFS DEPLOY
set -eu
man=$1
hubfs=$2
deploy=$3

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

# The -o forms: what the long options make them, what --help lists after
# "The -o forms:", what the man page lists between its BEGIN/END comments.
expected=$(echo "$listed" | grep -E '^--' | grep -vxE -- '--(foreground|debug)' |
	sed 's/^--//; s/-/_/g' | sort -u)
help_forms=$("$hubfs" mount --help | sed -n '/^mount options/,/^$/p' |
	sed -n '/The -o forms:/,/^$/p' | tail -n +2 | tr ' ' '\n' | grep . | sed 's/=$//' | sort -u)
man_forms=$(sed -n '/^\.\\" BEGIN -o forms/,/^\.\\" END -o forms/p' "$man" | grep -v '^\.' |
	tr ', ' '\n\n' | grep . | sed 's/=$//' | sort -u)
# deploy.md: the list in parentheses after "when it takes one (", to ")."
deploy_forms=$(sed -n '/^\*\*Options\.\*\*/,/^$/p' "$deploy" | tr '\n' ' ' |
	sed -E 's/.*when it takes one \(//; s/\)\..*//' | grep -oE '`[a-z][a-z_]*=?`' |
	tr -d '`' | sed 's/=$//' | sort -u)
[ -n "$help_forms" ] || { echo "no -o forms found in 'hubfs mount --help'"; exit 1; }
[ -n "$man_forms" ] || { echo "no -o forms found in $man"; exit 1; }
[ -n "$deploy_forms" ] || { echo "no -o forms found in $deploy"; exit 1; }
for pair in "help:$help_forms" "man:$man_forms" "deploy:$deploy_forms"; do
	where=${pair%%:*}
	forms=${pair#*:}
	if [ "$forms" != "$expected" ]; then
		echo "-o forms in $where differ from the long options:"
		diff <(echo "$expected") <(echo "$forms")
		exit 1
	fi
done
# hubfs itself takes each: an empty value is refused with hubfs's own
# message, which names the form; it never goes to FUSE as an unknown option.
for form in $expected; do
	out=$("$hubfs" mount /nonexistent-mountpoint -o "$form=" 2>&1) && {
		echo "hubfs mount -o $form= succeeded"; exit 1; }
	case $out in
	"hubfs: -o $form takes no value"|"hubfs: -o $form needs a value (NAME=VALUE)") ;;
	*) echo "hubfs mount -o $form= was not refused as a bad value: $out"; exit 1 ;;
	esac
done
echo "ok: hubfs mount --help and the man page agree on" $(echo "$listed" | wc -l) \
	"options and" $(echo "$expected" | wc -l) "-o forms, which deploy.md lists too"
