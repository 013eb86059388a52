"""The sha256 of a file, for the test scripts that compare bytes (standard library only).

Scripts outside tests/lib import it after putting tests/lib on sys.path.
"""

import hashlib


def sha256_file(path):
    """The hex sha256 of the file at path, read 1 MiB at a time."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
