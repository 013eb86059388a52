#!/usr/bin/env python3
"""Query the fake Hub's request log (JSON lines) from shell tests.

    hublog.py LOG count [FILTER...]
    hublog.py LOG sum FIELD [FILTER...]
    hublog.py LOG list [FILTER...]          one compact JSON line per match
    hublog.py LOG fields F1,F2 [FILTER...]  "v1:v2 v1:v2 ..." on one line
    hublog.py LOG peak [FILTER...]          most of them in progress at once
                                            (from each one's t to its end)

A FILTER is KEY=VALUE (exact; true/false/null/integers compare as JSON),
KEY~GLOB (fnmatch on the field's text) or KEY>=NUMBER. Example:
    hublog.py log.jsonl count host=cdn method=GET 'path~/repos/*'
"""
import fnmatch
import json
import sys


def parse_filter(text):
    for op in (">=", "~", "="):
        key, sep, value = text.partition(op)
        if sep:
            return key, op, value
    raise SystemExit(f"hublog: bad filter {text!r} (want KEY=VALUE or KEY~GLOB)")


def matches(entry, filters):
    for key, op, value in filters:
        got = entry.get(key)
        if op == ">=":
            if not isinstance(got, (int, float)) or got < float(value):
                return False
        elif op == "~":
            if got is None or not fnmatch.fnmatchcase(str(got), value):
                return False
        else:
            try:
                want = json.loads(value)
            except ValueError:
                want = value
            if got != want and str(got) != value:
                return False
    return True


def entries(path):
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    yield json.loads(line)
    except FileNotFoundError:
        return


def main(argv):
    if len(argv) < 3:
        raise SystemExit(__doc__)
    log, cmd, rest = argv[1], argv[2], argv[3:]
    if cmd in ("sum", "fields"):
        if not rest:
            raise SystemExit(f"hublog: {cmd} needs a FIELD")
        field, rest = rest[0], rest[1:]
    filters = [parse_filter(f) for f in rest]
    hits = [e for e in entries(log) if matches(e, filters)]
    if cmd == "count":
        print(len(hits))
    elif cmd == "sum":
        print(sum(int(e.get(field) or 0) for e in hits))
    elif cmd == "fields":
        names = field.split(",")
        print(" ".join(":".join(str(e.get(n)) for n in names) for e in hits))
    elif cmd == "peak":
        edges = sorted([(e["t"], 1) for e in hits] + [(e["end"], -1) for e in hits])
        cur = top = 0
        for _, step in edges:
            cur += step
            top = max(top, cur)
        print(top)
    elif cmd == "list":
        for e in hits:
            print(json.dumps(e, ensure_ascii=False, sort_keys=True))
    else:
        raise SystemExit(f"hublog: unknown command {cmd!r}")


if __name__ == "__main__":
    main(sys.argv)
