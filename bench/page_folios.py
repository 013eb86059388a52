"""How big are the page-cache folios behind a file?  (needs root)

    python3 bench/page_folios.py FILE [MiB]

Maps the first MiB (default 256) of FILE, touches every page, and looks up
each page's frame in /proc/self/pagemap and its flags in /proc/kpageflags.
Prints one line: how many pages sit in 4 KiB folios and how many in large
ones, with the large folios' mean size.  bench_read.sh uses it to show why a
hot re-read through FUSE trails a hot ext4 file on kernels whose FUSE page
cache has no large folios.
"""
import mmap
import os
import struct
import sys

PAGE = 4096
KPF_COMPOUND_HEAD, KPF_COMPOUND_TAIL = 15, 16
PFN_MASK, PRESENT = (1 << 55) - 1, 1 << 63


def folio_counts(path, mib):
    with open(path, "rb") as f:
        size = min(os.fstat(f.fileno()).st_size, mib << 20) // PAGE * PAGE
        view = mmap.mmap(f.fileno(), size, access=mmap.ACCESS_READ)
        for off in range(0, size, PAGE):
            view[off]  # fault the page in
        start = None
        real = os.path.realpath(path)
        with open("/proc/self/maps") as maps:
            for line in maps:
                if line.rstrip().endswith(" " + real):
                    start = int(line.split("-")[0], 16)
                    break
        if start is None:
            sys.exit(f"{path}: mapping not found in /proc/self/maps")
        small = heads = tails = 0
        with open("/proc/self/pagemap", "rb") as pm, open("/proc/kpageflags", "rb") as kf:
            for i in range(size // PAGE):
                pm.seek((start // PAGE + i) * 8)
                entry = struct.unpack("<Q", pm.read(8))[0]
                if not entry & PRESENT or not entry & PFN_MASK:
                    continue
                kf.seek((entry & PFN_MASK) * 8)
                flags = struct.unpack("<Q", kf.read(8))[0]
                if flags >> KPF_COMPOUND_HEAD & 1:
                    heads += 1
                elif flags >> KPF_COMPOUND_TAIL & 1:
                    tails += 1
                else:
                    small += 1
        view.close()
    return small, heads, tails


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__.strip().splitlines()[2].strip())
    small, heads, tails = folio_counts(sys.argv[1], int(sys.argv[2]) if len(sys.argv) == 3 else 256)
    large = heads + tails
    mean = f"{large * 4 // heads} KiB" if heads else "-"
    print(f"{small} pages in 4 KiB folios, {large} in {heads} large folios (mean {mean})")


if __name__ == "__main__":
    main()
