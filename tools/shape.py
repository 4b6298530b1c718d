#!/usr/bin/env python3
"""The shape of the workspace, in figures, and the rules CI holds it to.

    tools/shape.py            report: lines per crate, shell/core ratio, longest
                              functions, largest files, import circles
    tools/shape.py --check    exit 1 if a rule is broken (CI runs this)

Rules (ARCHITECTURE.md, "House rules"):
  - no import circle between the modules of any crate (a module may use its
    ancestors' items and its own children, but two modules never use each other,
    directly or round a longer ring);
  - no file over 500 lines in a core crate (tests directories excepted);
  - no function over 60 lines in the shell (crates/tandem).

It reads rustfmt-formatted source, which is what lets a few regular expressions stand
in for a parser: an item's closing brace sits at the indentation of its opening line.
Standard library only, so that CI needs nothing installed for it.
"""
import os
import re
import sys
from collections import defaultdict

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORE = ["sipmsg", "sipcore", "netem", "cti", "engine", "routing", "sim"]
SHELL = ["tandem"]
FILE_LIMIT = 500
SHELL_FN_LIMIT = 60

FN = re.compile(r"^(\s*)(?:pub(?:\([^)]*\))?\s+)?(?:const\s+)?(?:async\s+)?(?:unsafe\s+)?fn\s+(\w+)")
TEST_MOD = re.compile(r"^(\s*)(?:pub(?:\([^)]*\))?\s+)?mod\s+tests?\s*\{")


def rust_files(crate):
    src = os.path.join(ROOT, "crates", crate, "src")
    for dirpath, _, names in os.walk(src):
        for name in sorted(names):
            if name.endswith(".rs"):
                yield os.path.join(dirpath, name)


def module_path(crate, path):
    rel = os.path.relpath(path, os.path.join(ROOT, "crates", crate, "src"))
    parts = rel[:-3].split(os.sep)
    if parts[-1] in ("lib", "main", "mod"):
        parts = parts[:-1]
    return tuple(parts)


def strip_tests(lines):
    """The lines of a file without its `mod tests { ... }` blocks."""
    out, skip_indent = [], None
    for line in lines:
        if skip_indent is not None:
            if line.rstrip() == skip_indent + "}":
                skip_indent = None
            continue
        m = TEST_MOD.match(line)
        if m and not line.rstrip().endswith("}"):
            skip_indent = m.group(1)
            continue
        out.append(line)
    return out


def strip_comment(line):
    """The line without a `//` comment (doc comments name modules without using them)."""
    at = line.find("//")
    return line if at < 0 else line[:at]


def functions(path):
    """(name, first line, length) of every function outside test modules."""
    with open(path, encoding="utf-8") as f:
        lines = strip_tests(f.read().split("\n"))
    found = []
    for i, line in enumerate(lines):
        m = FN.match(line)
        if not m or line.rstrip().endswith(";"):
            continue
        if line.rstrip().endswith("}"):
            continue  # a one-line function
        closing = m.group(1) + "}"
        end = next((j for j in range(i + 1, len(lines)) if lines[j].rstrip() == closing), None)
        if end is not None:
            found.append((m.group(2), i + 1, end - i + 1))
    return found


def code_lines(path):
    with open(path, encoding="utf-8") as f:
        return len(f.read().split("\n")) - 1


USE_BLOCK = re.compile(r"\buse\s+((?:crate|super|self)\b[^;]*);", re.S)
CRATE_PATH = re.compile(r"\b(crate|super)((?:::(?:super|\w+))+)")


def expand_use(tree):
    """Every path a `use` tree names: `crate::{a::B, c}` -> crate::a::B, crate::c."""
    tree = re.sub(r"\s+", "", tree)
    depth, start = 0, None
    for i, ch in enumerate(tree):
        if ch == "{":
            if depth == 0:
                start = i
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                prefix = tree[:start].rstrip(":")
                inner, parts, d, last = tree[start + 1:i], [], 0, 0
                for k, c in enumerate(inner):
                    d += c == "{"
                    d -= c == "}"
                    if c == "," and d == 0:
                        parts.append(inner[last:k])
                        last = k + 1
                parts.append(inner[last:])
                paths = []
                for p in parts:
                    if p and p != "self":
                        paths.extend(expand_use(prefix + "::" + p))
                    elif p == "self":
                        paths.append(prefix)
                return paths
    return [re.sub(r"\bas\b.*$", "", tree)]


def resolve(modules, here, path):
    """The module a `crate::`/`super::` path used in module `here` lands in (the deepest
    module of the path that exists)."""
    segs = path.split("::")
    if segs[0] == "crate":
        base, segs = [], segs[1:]
    else:
        base = list(here)
        while segs and segs[0] == "super":
            base = base[:-1]
            segs = segs[1:]
    best, cur = tuple(base), list(base)
    for s in segs:
        cur.append(s)
        if tuple(cur) not in modules:
            break
        best = tuple(cur)
    return best


def import_graph(crate):
    files = {module_path(crate, p): p for p in rust_files(crate)}
    modules = set(files)
    edges = defaultdict(set)
    for mod, path in files.items():
        with open(path, encoding="utf-8") as f:
            text = "\n".join(strip_comment(l) for l in strip_tests(f.read().split("\n")))
        paths = []
        for m in USE_BLOCK.finditer(text):
            paths.extend(p for p in expand_use(m.group(1)) if not p.startswith("self"))
        for m in CRATE_PATH.finditer(text):
            paths.append(m.group(1) + m.group(2))
        for p in paths:
            target = resolve(modules, mod, p)
            # Using an ancestor's items is allowed (it owns us), so is using a descendant's.
            if target[: len(mod)] != mod and mod[: len(target)] != target:
                edges[mod].add(target)
    return modules, edges


def cycles(modules, edges):
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]
    sys.setrecursionlimit(10000)

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(edges.get(v, ())):
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
                out.append(sorted(comp))

    for v in sorted(modules):
        if v not in index:
            visit(v)
    return out


def name(mod):
    return "::".join(mod) or "crate"


def main():
    check = "--check" in sys.argv
    broken = []
    totals = {}
    for crate in CORE + SHELL:
        totals[crate] = sum(code_lines(p) for p in rust_files(crate))
    core = sum(totals[c] for c in CORE if c != "sim")
    shell = sum(totals[c] for c in SHELL)
    print("lines per crate:", ", ".join(f"{c} {n}" for c, n in totals.items()))
    print(f"shell/core ratio: {shell}/{core} = {shell / core:.2f} (core without sim)")

    fns = []
    for crate in CORE + SHELL:
        for p in rust_files(crate):
            for fname, line, length in functions(p):
                fns.append((length, f"{os.path.relpath(p, ROOT)}:{line} {fname}", crate))
    fns.sort(reverse=True)
    print("longest functions:")
    for length, where, _ in fns[:12]:
        print(f"  {length:4} {where}")
    over = [f for f in fns if f[0] > SHELL_FN_LIMIT]
    print(f"functions over {SHELL_FN_LIMIT} lines: {len(over)} "
          f"({sum(1 for f in over if f[2] in SHELL)} in the shell)")
    for length, where, crate in over:
        if crate in SHELL:
            broken.append(f"shell function over {SHELL_FN_LIMIT} lines: {where} ({length})")

    files = sorted(((code_lines(p), os.path.relpath(p, ROOT), c) for c in CORE + SHELL
                    for p in rust_files(c)), reverse=True)
    print("largest files:")
    for n, p, _ in files[:10]:
        print(f"  {n:4} {p}")
    for n, p, c in files:
        if c in CORE and n > FILE_LIMIT:
            broken.append(f"core file over {FILE_LIMIT} lines: {p} ({n})")

    for crate in CORE + SHELL:
        modules, edges = import_graph(crate)
        for comp in cycles(modules, edges):
            ring = " <-> ".join(name(m) for m in comp)
            print(f"import circle in {crate}: {ring}")
            broken.append(f"import circle in {crate}: {ring}")
    if not any(b.startswith("import circle") for b in broken):
        print("import circles: none")

    if check and broken:
        print("\nshape rules broken:", file=sys.stderr)
        for b in broken:
            print("  " + b, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
