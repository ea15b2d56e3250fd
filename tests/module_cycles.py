#!/usr/bin/python3
"""Fails when sibling modules of a crate import each other in a circle.

For each crate (actors, http, media) every `crate::…`, `super::…`, `self::…` path and
child-relative `use` is resolved to the module that defines the item (following `pub use`
re-exports, so `crate::StreamCore` counts as `stream`). An edge from module `a::x` to `a::y`
is an edge between the siblings `x` and `y` under `a`; a strongly connected group of two or
more siblings is a cycle. A module using its own ancestors (`super::Config`) is not one.
Test code (`#[cfg(test)] mod …`) is left out: tests may reach anywhere.

Cycles not broken yet are listed edge by edge in `tests/module_cycles.known` (a ratchet): a
cycle with any edge not listed there fails, and a listed edge that is no longer in a cycle is
reported so the list only shrinks.

Usage: /usr/bin/python3 tests/module_cycles.py [--self-test | crate_src_dir ...]
Prints each cycle with one `file:line` per edge and exits 1 on a new one. Given directories,
it checks them with no known list (every cycle fails).
"""

import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_CRATES = ["actors/src", "http/src", "media/src"]


def module_of(src, path):
    rel = os.path.relpath(path, src)[:-3].split(os.sep)
    if rel[-1] in ("lib", "main", "mod"):
        rel = rel[:-1]
    return tuple(rel)


def strip_code(text):
    """Blanks comments, string and char literals, keeping newlines so lines still count."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            i = j
        elif text.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if text.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif text.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            out.append("\n" * text.count("\n", i, j))
            i = j
        elif c == "r" and re.match(r'r(#*)"', text[i:i + 20]) and not (i and (text[i - 1].isalnum() or text[i - 1] == "_")):
            hashes = re.match(r'r(#*)"', text[i:]).group(1)
            end = text.find('"' + hashes, i + 2 + len(hashes))
            end = n if end < 0 else end + 1 + len(hashes)
            out.append('""' + "\n" * text.count("\n", i, end))
            i = end
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append('""' + "\n" * text.count("\n", i, j))
            i = j + 1
        elif c == "'":
            m = re.match(r"'(\\.[^']*|[^'\\])'", text[i:])
            if m:
                out.append("' '")
                i += m.end()
            else:
                out.append(c)
                i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def drop_test_modules(code):
    """Blanks `#[cfg(test)] mod name { … }` bodies (keeping newlines)."""
    while True:
        m = re.search(r"#\[cfg\(test\)\]\s*(pub(\([^)]*\))?\s+)?mod\s+\w+\s*\{", code)
        if not m:
            return code
        depth, j = 1, m.end()
        while j < len(code) and depth:
            if code[j] == "{":
                depth += 1
            elif code[j] == "}":
                depth -= 1
            j += 1
        code = code[:m.start()] + "\n" * code.count("\n", m.start(), j) + code[j:]


def expand_use_tree(tree):
    """`a::{b, c::{d, e as f}, self}` -> [(['a','b'], 'b'), ...] as (path, bound name)."""
    tree = re.sub(r"\s+", "", re.sub(r"\s+as\s+", "@", tree))
    results = []

    def walk(prefix, t):
        parts = split_top(t)
        for p in parts:
            if not p:
                continue
            brace = p.find("{")
            if brace >= 0 and p.endswith("}"):
                head = [s for s in p[:brace].split("::") if s]
                walk(prefix + head, p[brace + 1:-1])
                continue
            alias = None
            if "@" in p:
                p, alias = p.split("@", 1)
            segs = [s for s in p.split("::") if s]
            if segs == ["self"]:
                segs = []
            elif segs and segs[-1] == "self":
                segs = segs[:-1]
            full = prefix + segs
            if not full:
                continue
            name = alias or (full[-1] if segs else prefix[-1] if prefix else None)
            results.append((full, name))

    walk([], tree)
    return results


def split_top(t):
    parts, depth, cur = [], 0, []
    for ch in t:
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return parts


class Crate:
    def __init__(self, src):
        self.src = src
        self.files = {}  # module path -> (file, code)
        for dirpath, _, names in os.walk(src):
            for name in sorted(names):
                if name.endswith(".rs"):
                    path = os.path.join(dirpath, name)
                    with open(path, encoding="utf-8") as f:
                        code = drop_test_modules(strip_code(f.read()))
                    self.files[module_of(src, path)] = (path, code)
        self.modules = set(self.files)
        # Files declared `#[cfg(test)] mod name;` are tests too.
        for mod, (path, code) in list(self.files.items()):
            for m in re.finditer(r"#\[cfg\(test\)\]\s*(pub(\([^)]*\))?\s+)?mod\s+(\w+)\s*;", code):
                for child in [k for k in self.files if k[: len(mod) + 1] == mod + (m.group(3),)]:
                    self.files[child] = (self.files[child][0], "")
        self.aliases = {}  # (module, name) -> absolute path (list)
        self.uses = []  # (module, file, line, absolute path)
        for mod, (path, code) in self.files.items():
            self.scan(mod, path, code)

    def absolute(self, mod, segs):
        if not segs:
            return None
        head = segs[0]
        if head == "crate":
            return list(segs[1:])
        if head in ("super", "self"):
            base = list(mod)
            rest = list(segs)
            while rest and rest[0] in ("super", "self"):
                if rest[0] == "super":
                    if not base:
                        return None
                    base = base[:-1]
                rest = rest[1:]
            return base + rest
        if tuple(mod) + (head,) in self.modules:
            return list(mod) + list(segs)
        return None  # an external crate or a local name

    def scan(self, mod, path, code):
        for m in re.finditer(r"\b(pub(\([^)]*\))?\s+)?use\s+([^;]+);", code):
            line = code.count("\n", 0, m.start()) + 1
            for segs, name in expand_use_tree(m.group(3)):
                if segs[-1] == "*":
                    segs = segs[:-1]
                absolute = self.absolute(mod, segs)
                if absolute is None:
                    continue
                self.uses.append((mod, path, line, absolute))
                if m.group(1) and name and name != "*":
                    self.aliases[(tuple(mod), name)] = absolute
        no_use = re.sub(r"\buse\s+[^;]+;", lambda u: "\n" * u.group(0).count("\n"), code)
        for m in re.finditer(r"(?<![\w:])((?:crate|super|self)(?:::\w+)+)", no_use):
            line = no_use.count("\n", 0, m.start()) + 1
            absolute = self.absolute(mod, m.group(1).split("::"))
            if absolute is not None:
                self.uses.append((mod, path, line, absolute))

    def resolve(self, absolute, depth=0):
        """The module that defines what `absolute` names."""
        segs = list(absolute)
        mod = ()
        i = 0
        while i < len(segs) and mod + (segs[i],) in self.modules:
            mod = mod + (segs[i],)
            i += 1
        if i < len(segs) and depth < 16:
            target = self.aliases.get((mod, segs[i]))
            if target is not None and target != segs[: i + 1]:
                return self.resolve(list(target) + segs[i + 1:], depth + 1)
        return mod


def cycles(crate):
    edges = {}  # parent -> {(a, b): [evidence]}
    for mod, path, line, absolute in crate.uses:
        target = crate.resolve(absolute)
        common = 0
        while common < min(len(mod), len(target)) and mod[common] == target[common]:
            common += 1
        if common == len(mod) or common == len(target):
            continue  # an ancestor or a descendant, not a sibling
        parent = mod[:common]
        key = (mod[common], target[common])
        edges.setdefault(parent, {}).setdefault(key, []).append(
            "%s:%d" % (os.path.relpath(path, ROOT), line)
        )
    found = []
    for parent, es in sorted(edges.items()):
        graph = {}
        for a, b in es:
            graph.setdefault(a, set()).add(b)
            graph.setdefault(b, set())
        for scc in strongly_connected(graph):
            if len(scc) > 1:
                members = sorted(scc)
                evidence = [
                    (a, b, es[(a, b)][0], len(es[(a, b)]))
                    for (a, b) in sorted(es)
                    if a in scc and b in scc
                ]
                found.append((parent, members, evidence))
    return found, sum(len(v) for v in edges.values())


def strongly_connected(graph):
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            scc = set()
            while True:
                w = stack.pop()
                on.discard(w)
                scc.add(w)
                if w == v:
                    break
            out.append(scc)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


KNOWN = os.path.join(ROOT, "tests", "module_cycles.known")


def read_known(path):
    """`crate/src parent: a -> b` lines: edges of cycles not broken yet (a ratchet)."""
    known = set()
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            for line in f:
                line = line.split("#", 1)[0].strip()
                if line:
                    known.add(line)
    return known


def self_test():
    """The check on small made-up crates: it must see what it is for."""
    import tempfile

    def crate(files):
        d = tempfile.mkdtemp()
        for name, text in files.items():
            path = os.path.join(d, name)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
        found, _ = cycles(Crate(d))
        return [(parent, members) for parent, members, _ in found]

    lib = "pub mod a;\npub mod b;\npub use a::Thing;\n"
    # b reaches a through the crate root's re-export; a imports b: a cycle.
    assert crate({"lib.rs": lib, "a.rs": "use crate::b::Other;\npub struct Thing;\n",
                  "b.rs": "pub struct Other(crate::Thing);\n"}) == [((), ["a", "b"])]
    # The same use from a test module, a comment or a string is not an edge.
    assert crate({"lib.rs": lib, "a.rs": "use crate::b::Other;\npub struct Thing;\n",
                  "b.rs": "pub struct Other;\n// crate::a::Thing\nconst S: &str = \"crate::a::Thing\";\n"
                          "#[cfg(test)]\nmod tests {\n    use crate::a::Thing;\n}\n"}) == []
    # Siblings under a parent module, through `super::`, grouped `use` trees and `as`.
    assert crate({"lib.rs": "pub mod p;\n", "p/mod.rs": "pub mod x;\npub mod y;\n",
                  "p/x.rs": "use super::{y::{self as why}};\n",
                  "p/y.rs": "use crate::p::x::Ex as E;\n"}) == [(("p",), ["x", "y"])]
    # A module using its parent's items is no cycle.
    assert crate({"lib.rs": "pub mod a;\npub struct Config;\n",
                  "a.rs": "use crate::Config;\n"}) == []
    print("module_cycles self-test: ok")


def main(argv):
    sys.setrecursionlimit(10000)
    if argv[1:] == ["--self-test"]:
        self_test()
        return 0
    crates = argv[1:] or [os.path.join(ROOT, c) for c in DEFAULT_CRATES]
    known = read_known(KNOWN) if not argv[1:] else set()
    seen_known = set()
    failed = False
    for src in crates:
        crate = Crate(src)
        found, count = cycles(crate)
        name = os.path.relpath(src, ROOT)
        new = 0
        for parent, members, evidence in found:
            where = "::".join(("crate",) + parent)
            keys = ["%s %s: %s -> %s" % (name, where, a, b) for a, b, _, _ in evidence]
            unknown = [k for k in keys if k not in known]
            seen_known.update(k for k in keys if k in known)
            if unknown:
                failed = True
                new += 1
                print("%s: cycle under %s between %s" % (name, where, ", ".join(members)))
                for (a, b, first, n), key in zip(evidence, keys):
                    mark = "NEW " if key in unknown else "    "
                    more = ", +%d more" % (n - 1) if n > 1 else ""
                    print("  %s%s -> %s  (%s%s)" % (mark, a, b, first, more))
            else:
                print("%s: known cycle under %s between %s (tests/module_cycles.known)"
                      % (name, where, ", ".join(members)))
        if not found:
            print("%s: no module cycle (%d sibling edges)" % (name, count))
        elif not new:
            print("%s: no new module cycle (%d sibling edges)" % (name, count))
    for gone in sorted(known - seen_known):
        print("fixed, remove from tests/module_cycles.known: %s" % gone)
    if failed:
        print("A module imports its importer: break the edge marked NEW (move the shared item "
              "into the lower module or a leaf module of its own).")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
