#!/usr/bin/env python3
"""Self cost per function from a callgrind output file, per request.

callgrind_annotate (valgrind 3.19) charges a dump taken with `callgrind_control -d` to the
thread entry point, so this reads the file itself: each function's own instructions,
excluding what it calls.  Usage: callgrind_top.py FILE REQUESTS [TOP=25]
"""
import collections
import re
import sys

NAMED = re.compile(r"\((\d+)\)(?: (.*))?")


def main() -> None:
    path, requests = sys.argv[1], int(sys.argv[2])
    top = int(sys.argv[3]) if len(sys.argv) > 3 else 25
    names: dict[str, str] = {}
    own: collections.Counter[str] = collections.Counter()
    fn, after_call = "?", False

    def name(rest: str) -> str:
        m = NAMED.match(rest)
        if not m:
            return rest
        if m.group(2):
            names[m.group(1)] = m.group(2)
        return names.get(m.group(1), rest)

    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            if line.startswith("fn="):
                fn = name(line[3:].rstrip("\n"))
            elif line.startswith("cfn="):
                name(line[4:].rstrip("\n"))
            elif line.startswith("calls="):
                after_call = True  # the next cost line is the callee's, not ours
            elif line[:1].isdigit() or line[:1] in "+-*":
                parts = line.split()
                if after_call:
                    after_call = False
                elif len(parts) >= 2:
                    own[fn] += int(parts[1])
    total = sum(own.values())
    print(f"{total // requests} instructions per request")
    for f, c in own.most_common(top):
        print(f"{c / total * 100:5.1f}% {c // requests:7d}  {f[:140]}")


if __name__ == "__main__":
    main()
