#!/usr/bin/env python3
"""Cost per function from a callgrind output file, per request.

callgrind_annotate (valgrind 3.19) charges a dump taken with `callgrind_control -d` to the
thread entry point, so this reads the file itself.

Usage: callgrind_top.py FILE REQUESTS [TOP=25]
           each function's own instructions, excluding what it calls
       callgrind_top.py FILE REQUESTS --callers NAME
           who calls functions whose name contains NAME, and what those calls cost
       callgrind_top.py FILE REQUESTS --callees NAME
           what functions whose name contains NAME call, with the calls' inclusive cost
"""
import collections
import re
import sys

NAMED = re.compile(r"\((\d+)\)(?: (.*))?")


def read(path: str):
    """(own cost per function, inclusive cost per caller → callee edge)."""
    names: dict[str, str] = {}
    own: collections.Counter[str] = collections.Counter()
    edges: collections.Counter[tuple[str, str]] = collections.Counter()
    fn, callee, after_call = "?", "?", False

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
                callee = name(line[4:].rstrip("\n"))
            elif line.startswith("calls="):
                after_call = True  # the next cost line is the call's inclusive cost
            elif line[:1].isdigit() or line[:1] in "+-*":
                parts = line.split()
                if len(parts) < 2:
                    continue
                if after_call:
                    after_call = False
                    edges[(fn, callee)] += int(parts[1])
                else:
                    own[fn] += int(parts[1])
    return own, edges


def main() -> None:
    path, requests = sys.argv[1], int(sys.argv[2])
    own, edges = read(path)
    total = sum(own.values())
    print(f"{total // requests} instructions per request")
    if len(sys.argv) > 4 and sys.argv[3] in ("--callers", "--callees"):
        pattern, callers = sys.argv[4], sys.argv[3] == "--callers"
        picked: collections.Counter[str] = collections.Counter()
        for (caller, callee), cost in edges.items():
            if caller != callee and pattern in (callee if callers else caller):
                picked[caller if callers else callee] += cost
        for f, c in picked.most_common(30):
            print(f"{c // requests:7d}  {f[:140]}")
        return
    top = int(sys.argv[3]) if len(sys.argv) > 3 else 25
    for f, c in own.most_common(top):
        print(f"{c / total * 100:5.1f}% {c // requests:7d}  {f[:140]}")


if __name__ == "__main__":
    main()
