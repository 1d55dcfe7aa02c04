#!/usr/bin/env python3
"""Fails when modules of the crate import each other in a circle.

Every file under src/ is a module (src/a/b.rs and src/a/b/mod.rs are `a::b`). A reference
`crate::x::y::z` (in a `use` or in a path) is an edge to the longest module prefix that
exists; `super::` is resolved too. Edges between a module and its own ancestors or
descendants are ignored (a parent declaring and calling its children, children using the
parent's items, is how Rust modules work); every other cycle — siblings, cousins, top-level
modules — is reported with the files and lines that make it.
"""
import pathlib
import re
import sys

SRC = pathlib.Path(__file__).resolve().parent.parent / "src"
ROOTS = {"lib.rs", "main.rs"}


def module_of(path: pathlib.Path) -> tuple:
    rel = path.relative_to(SRC).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "mod":
        parts.pop()
    if len(parts) == 1 and parts[0] + ".rs" in ROOTS:
        return ()
    return tuple(parts)


modules = {module_of(p): p for p in SRC.rglob("*.rs")}
# `main.rs` is the binary: its `mod` children live in the binary crate; treat it as a root.
binary_children = {m for m in modules if m and (SRC / "main.rs").exists()
                   and re.search(rf"^mod {m[0]};", (SRC / "main.rs").read_text(), re.M)}


def resolve(parts: list) -> tuple:
    for n in range(len(parts), 0, -1):
        if tuple(parts[:n]) in modules:
            return tuple(parts[:n])
    return ()


def strip_comments(text: str) -> str:
    text = re.sub(r"//[^\n]*", "", text)
    return re.sub(r"/\*.*?\*/", "", text, flags=re.S)


def uses(mod: tuple, text: str):
    text = strip_comments(text)
    # `use a::{b, c::d}` groups: expand one level of braces.
    for m in re.finditer(r"\b(crate|super)((?:::\w+)+)(::\{([^{}]*)\})?", text):
        base = [] if m.group(1) == "crate" else list(mod[:-1])
        path = base + [p for p in m.group(2).split("::") if p]
        if path and path[0] == "super":
            continue
        line = text.count("\n", 0, m.start()) + 1
        if m.group(4):
            for item in m.group(4).split(","):
                item = item.strip().split(" as ")[0]
                if not item:
                    continue  # the trailing comma of a multi-line group
                sub = [p for p in item.split("::") if p and p != "self"]
                yield resolve(path + sub), line
        else:
            yield resolve(path), line


def related(a: tuple, b: tuple) -> bool:
    return a[: len(b)] == b or b[: len(a)] == a


edges = {}
for mod, path in modules.items():
    if not mod:
        continue
    for target, line in uses(mod, path.read_text()):
        if target and not related(mod, target):
            edges.setdefault(mod, {}).setdefault(target, f"{path.relative_to(SRC.parent)}:{line}")

# Tarjan's strongly connected components.
index, low, stack, on, sccs, counter = {}, {}, [], set(), [], [0]


def visit(v):
    index[v] = low[v] = counter[0]
    counter[0] += 1
    stack.append(v)
    on.add(v)
    for w in edges.get(v, {}):
        if w not in index:
            visit(w)
            low[v] = min(low[v], low[w])
        elif w in on:
            low[v] = min(low[v], index[w])
    if low[v] == index[v]:
        comp = []
        while True:
            w = stack.pop()
            on.discard(w)
            comp.append(w)
            if w == v:
                break
        if len(comp) > 1:
            sccs.append(comp)


sys.setrecursionlimit(10000)
for v in list(modules):
    if v and v not in index:
        visit(v)

if sccs:
    for comp in sccs:
        names = sorted("::".join(c) for c in comp)
        print("module import cycle: " + " <-> ".join(names), file=sys.stderr)
        members = set(comp)
        for a in sorted(members):
            for b, where in sorted(edges.get(a, {}).items()):
                if b in members:
                    print(f"  {'::'.join(a)} -> {'::'.join(b)}  ({where})", file=sys.stderr)
    sys.exit(1)
print(f"no module import cycles among {len(modules)} modules")
