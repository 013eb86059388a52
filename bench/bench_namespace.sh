#!/usr/bin/env bash
# The namespace at scale (issue #10, items 5 and 6): a repo of 100,000
# files, 50,000 of them in one folder, served offline from a cache that
# holds its listing, so that the mount's own costs are measured.
#
#   bash bench/bench_namespace.sh [--files N] [--folder N] [--rounds N] [--build DIR]
#
# Prints, with the goal beside each:
#   first ls of the 50,000-entry folder, once its listing is loaded  (<= 0.5 s)
#   repeated ls -l of it                                              (<= 0.3 s)
#   repeated find -printf '%s %m' of it: the names and every entry's
#   attributes, without ls's two getxattr calls per file (see below)
#   find over the repo, cold; then the daemon's RSS before the walk,
#   at its peak, and after echo 2 > drop_caches       (peak <= 96 MiB, after <= before + 10)
# Needs root (drop_caches). Medians of --rounds.
#
# GNU ls -l asks every file for security.selinux and system.posix_acl_access.
# The kernel forwards both to the daemon (it caches the ACL answer only
# until the next attribute refresh), so ls -l of N files costs up to 2N
# FUSE round trips whatever the filesystem does, short of answering ENOSYS
# to every getxattr, which would take away user.hubfs.*. The find line
# shows what the listing and the attributes themselves cost.
set -eu
. "$(dirname "$0")/lib.sh"
files=100000
folder=50000
rounds=3
while [ $# -gt 0 ]; do
	case $1 in
	--files) files=$2; shift 2 ;;
	--folder) folder=$2; shift 2 ;;
	--rounds) rounds=$2; shift 2 ;;
	--build) build=$2; shift 2 ;;
	*) echo "usage: $0 [--files N] [--folder N] [--rounds N] [--build DIR]" >&2; exit 2 ;;
	esac
done
bench_build bench_make_wide
bench_workdir hubfs-bench-ns
"$build/bench/bench_make_wide" "$W/cache" "$files" "$folder"

rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$mnt_pid/status"; }
hwm_kib() { awk '/^VmHWM/ {print $2}' "/proc/$mnt_pid/status"; }
D=$MNT/wide-org/wide/flat

for r in $(seq "$rounds"); do
	mount_it --offline
	sync; echo 2 >/proc/sys/vm/drop_caches
	stat "$D" >/dev/null                   # loads the repo's listing
	before=$(rss_kib)
	t0=$(now); n=$(ls -f "$D" | wc -l); t1=$(now)
	echo "$t1 - $t0" | bc >>"$W/first_ls"
	for i in 1 2 3; do
		t0=$(now); ls -l "$D" >/dev/null; t1=$(now)
		echo "$t1 - $t0" | bc >>"$W/ls_l.$r"
	done
	median <"$W/ls_l.$r" >>"$W/ls_l"
	t0=$(now); find "$D" -printf '%s %m\n' >/dev/null; t1=$(now)
	echo "$t1 - $t0" | bc >>"$W/stat_all"
	sync; echo 2 >/proc/sys/vm/drop_caches; sleep 1
	before=$(rss_kib)
	t0=$(now); m=$(find "$MNT/wide-org/wide" | wc -l); t1=$(now)
	echo "$t1 - $t0" | bc >>"$W/find"
	peak=$(hwm_kib)
	sync; echo 2 >/proc/sys/vm/drop_caches; sleep 2
	after=$(rss_kib)
	echo "$before $peak $after" >>"$W/rss"
	umount_it
	[ "$n" -eq $((folder + 2)) ] || { echo "ls listed $n entries, not $((folder + 2))" >&2; exit 1; }
done
printf 'files %d, %d in one folder, %d rounds (medians)\n' "$files" "$folder" "$rounds"
printf '%-48s %8s s   goal <= 0.5\n' "first ls -f of the folder (listing loaded)" "$(median <"$W/first_ls")"
printf '%-48s %8s s   goal <= 0.3\n' "ls -l of the folder, again" "$(median <"$W/ls_l")"
printf '%-48s %8s s   (names and attributes, no xattr)\n' "find -printf '%s %m' of the folder, again" "$(median <"$W/stat_all")"
printf '%-48s %8s s   (%d names)\n' "find over the repo, cold" "$(median <"$W/find")" "$m"
awk '{print $1}' "$W/rss" | median >"$W/b"; awk '{print $2}' "$W/rss" | median >"$W/p"
awk '{print $3}' "$W/rss" | median >"$W/a"
printf '%-48s %8d MiB  goal <= 96\n' "daemon peak RSS (whole run, VmHWM)" $(($(cat "$W/p") / 1024))
printf '%-48s %8d MiB -> %d MiB after drop_caches (goal: within 10)\n' "daemon RSS before the walk" \
	$(($(cat "$W/b") / 1024)) $(($(cat "$W/a") / 1024))
