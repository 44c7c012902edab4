#!/usr/bin/env python3
"""The layer rule of authsvc/, checked on the #include lines of every .c and .h file under it.

The module of a file is its first folder under authsvc/ (a file directly in authsvc/, such as as.h, belongs
to `base`). Each module has a rank (RANKS below); a file may include headers of its own module and of modules
of a lower rank. Two different modules of the same rank may include each other's headers only while the
module graph stays acyclic. Some system headers belong to one module alone (HEADER_RULES): OpenSSL and
argon2 to crypto/, libpq to store/, and h2o is kept out of crypto/, verify/ and base.

A folder under authsvc/ that RANKS does not name is an error: a new module must be given its rank here.

    python3 tests/check_layers.py [ROOT]          check; exit 0 when clean, 1 with one line per violation
    python3 tests/check_layers.py --graph [ROOT]  also print the module graph (text for docs/)
    python3 tests/check_layers.py --self-test     check the checker on small trees it builds itself

ROOT is the repository (default: the one this script lives in). Comments are ignored; #if is not evaluated,
so a conditional include counts as if it were always taken.
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile

RANKS = {
    "base": 0,
    "crypto": 1, "metrics": 1,
    "http": 2, "token": 2, "store": 2, "keys": 2, "work": 2, "policy": 2,
    "oauth": 3, "login": 3, "admin": 3, "ops": 3, "verify": 3,
    "app": 4,
    "cli": 5,
}

# (does the rule concern this header?, the modules it is allowed in, what to say)
HEADER_RULES = [
    (lambda h: h.startswith("openssl/"), {"crypto"}, "OpenSSL is included only in crypto/"),
    (lambda h: h == "argon2.h", {"crypto"}, "argon2 is included only in crypto/"),
    (lambda h: h.startswith("libpq") or h.startswith("postgresql/"), {"store"},
     "libpq is included only in store/, the only place with SQL"),
    (lambda h: h == "h2o.h" or h.startswith("h2o/"), set(RANKS) - {"crypto", "verify", "base"},
     "h2o is never included in crypto/, verify/ or base"),
]

SOURCE_SUFFIXES = (".c", ".h")
INCLUDE = re.compile(r'^[ \t]*#[ \t]*include[ \t]*([<"])([^>"]+)[>"]')


# ---------------------------------------------------------------------------------------------------------
# Reading the tree


def strip_comments(text):
    """The text with /* */ and // comments blanked out (newlines kept, so line numbers stay right)."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "/" and text.startswith("/*", i):
            end = text.find("*/", i + 2)
            end = n if end < 0 else end + 2
            out.append("".join(ch if ch == "\n" else " " for ch in text[i:end]))
            i = end
        elif c == "/" and text.startswith("//", i):
            end = text.find("\n", i)
            end = n if end < 0 else end
            out.append(" " * (end - i))
            i = end
        elif c in "\"'":
            # a string or character literal: copied as is, so that "/*" inside one starts no comment
            j = i + 1
            while j < n and text[j] != c and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            out.append(text[i:j + 1])
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def module_of(rel):
    """The module of a path relative to authsvc/ ('as.h' -> base, 'http/server.c' -> http)."""
    parts = rel.split("/")
    return "base" if len(parts) == 1 else parts[0]


class Include:
    """One #include line: where it is, what it names, and (for a header of authsvc/) its module."""

    def __init__(self, path, line, header, target_module):
        self.path = path  # relative to the repository root, e.g. authsvc/http/server.c
        self.line = line
        self.header = header  # as written, e.g. authsvc/oauth/oauth.h or openssl/evp.h
        self.target_module = target_module  # None for a header from outside authsvc/

    @property
    def where(self):
        return f"{self.path}:{self.line}"


def read_tree(root):
    """(source files as {repository-relative path: module}, [Include], [top-level folders under authsvc/])."""
    src = os.path.join(root, "authsvc")
    files, includes = {}, []
    folders = sorted(name for name in os.listdir(src)
                     if os.path.isdir(os.path.join(src, name)) and not name.startswith("."))
    for dirpath, dirnames, filenames in os.walk(src):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if not name.endswith(SOURCE_SUFFIXES):
                continue
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, src).replace(os.sep, "/")
            path = "authsvc/" + rel
            files[path] = module_of(rel)
            with open(full, encoding="utf-8", errors="replace") as f:
                text = strip_comments(f.read())
            for number, line in enumerate(text.splitlines(), 1):
                match = INCLUDE.match(line)
                if match:
                    includes.append(Include(path, number, match.group(2),
                                            target_module(src, dirpath, match.group(1), match.group(2))))
    return files, includes, folders


def target_module(src, including_dir, quote, header):
    """The module a header of authsvc/ belongs to, or None for a header from elsewhere."""
    if header.startswith("authsvc/"):
        rel = os.path.normpath(header[len("authsvc/"):]).replace(os.sep, "/")
        return None if rel.startswith("../") else module_of(rel)
    if quote == '"':
        # "name.h" is looked up next to the including file first
        candidate = os.path.normpath(os.path.join(including_dir, header))
        rel = os.path.relpath(candidate, src).replace(os.sep, "/")
        if os.path.isfile(candidate) and not rel.startswith("../"):
            return module_of(rel)
    return None


# ---------------------------------------------------------------------------------------------------------
# The rules


def module_edges(files, includes):
    """{(from module, to module): [Include, ...]} for includes between two different modules."""
    edges = {}
    for inc in includes:
        source = files[inc.path]
        if inc.target_module is not None and inc.target_module != source:
            edges.setdefault((source, inc.target_module), []).append(inc)
    return edges


def strongly_connected(nodes, edges):
    """Tarjan's algorithm: the list of strongly connected components (sets) of a directed graph."""
    successors = {n: sorted(b for (a, b) in edges if a == n) for n in nodes}
    index, low, stack, on_stack, components = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in successors[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            components.append(component)

    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return components


def path_between(start, goal, edges, allowed):
    """A shortest path start -> ... -> goal over edges between `allowed` nodes (a list of nodes)."""
    previous, frontier = {start: None}, [start]
    while frontier:
        following = []
        for a in frontier:
            for (x, b) in sorted(edges):
                if x == a and b in allowed and b not in previous:
                    previous[b] = a
                    following.append(b)
        frontier = following
    path, node = [], goal
    while node is not None:
        path.append(node)
        node = previous.get(node)
    return list(reversed(path))


def check(root):
    """Every violation under ROOT/authsvc, as (file:line or folder, message), in a stable order."""
    files, includes, folders = read_tree(root)
    violations = []

    for folder in folders:
        if folder not in RANKS:
            violations.append((f"authsvc/{folder}/", f"module '{folder}' has no rank: give it one in RANKS "
                                                     f"of tests/check_layers.py (and in STYLE.md's layer order)"))

    for inc in includes:
        source = files[inc.path]
        if source not in RANKS:
            continue  # reported once, as a folder
        target = inc.target_module
        if target is None:
            for concerns, allowed, rule in HEADER_RULES:
                if concerns(inc.header) and source not in allowed:
                    violations.append((inc.where, f"<{inc.header}> in {source}/: {rule}"))
        elif target not in RANKS:
            violations.append((inc.where, f"\"{inc.header}\" belongs to module '{target}', which has no rank"))
        elif RANKS[target] > RANKS[source]:
            violations.append((inc.where, f"upward include: {source} (rank {RANKS[source]}) includes "
                                          f"\"{inc.header}\" of {target} (rank {RANKS[target]}); a file may "
                                          f"include only its own module or a lower rank"))

    # Cycles. An upward include is reported above already; a cycle without one runs between modules of
    # one rank, and each include along it is reported.
    edges = module_edges(files, includes)
    level = {e: sites for e, sites in edges.items()
             if e[0] in RANKS and e[1] in RANKS and RANKS[e[0]] == RANKS[e[1]]}
    nodes = {m for e in level for m in e}
    for component in strongly_connected(nodes, level):
        if len(component) < 2:
            continue
        for (a, b), sites in sorted(level.items()):
            if a in component and b in component:
                cycle = [a] + path_between(b, a, level, component)
                for inc in sites:
                    violations.append((inc.where, f"cycle between modules of rank {RANKS[a]}: "
                                                  f"{' -> '.join(cycle)} (this include is {a} -> {b}); "
                                                  f"modules of one rank may include each other only "
                                                  f"without a cycle"))

    def order(v):
        where, _ = v
        path, _, line = where.partition(":")
        return (path, int(line) if line.isdigit() else 0)

    return sorted(set(violations), key=order), files, includes, edges


def graph_text(files, edges):
    """The module graph, highest rank first: each module and the modules it includes."""
    present = set(files.values())
    modules = sorted(set(RANKS) | present, key=lambda m: (-RANKS.get(m, 99), m))
    width = max(len(m) for m in modules)
    lines = ["Module graph of authsvc/ (tests/check_layers.py --graph): a module and the modules whose",
             "headers its files include. A file may include its own module or a lower rank; modules of one",
             "rank may include each other only without a cycle. '(upward!)' marks an include that breaks this.",
             ""]
    for m in modules:
        rank = RANKS.get(m)
        label = f"rank {rank}" if rank is not None else "no rank!"
        if m not in present:
            lines.append(f"{label}  {m:<{width}}  (no files yet)")
            continue
        targets = sorted({b for (a, b) in edges if a == m}, key=lambda t: (-RANKS.get(t, 99), t))
        shown = []
        for t in targets:
            upward = rank is not None and t in RANKS and RANKS[t] > rank
            shown.append(t + (" (upward!)" if upward else ""))
        lines.append(f"{label}  {m:<{width}}  -> {', '.join(shown) if shown else '(nothing)'}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------------
# The self-test


CLEAN_TREE = {
    "authsvc/as.h": "#include <stddef.h>\n",
    "authsvc/base/log.c": '#include <stdio.h>\n#include "authsvc/as.h"\n'
                          '/* a comment that mentions\n#include "authsvc/cli/cli.h"\n   is no include */\n'
                          '// #include "authsvc/app/app.h"\n'
                          'static const char *s = "/* not a comment"; // #include <openssl/evp.h>\n',
    "authsvc/crypto/crypto.h": '#include <jansson.h>\n#include "authsvc/as.h"\n',
    "authsvc/crypto/jws.c": '#include <openssl/evp.h>\n#include <argon2.h>\n#include "crypto.h"\n',
    "authsvc/token/refresh.h": '#include "authsvc/crypto/crypto.h"\n',
    "authsvc/keys/keyset.h": '#include "authsvc/token/refresh.h"\n',
    "authsvc/store/store.h": '#include <libpq-fe.h>\n#include <h2o.h>\n#include "authsvc/token/refresh.h"\n',
    "authsvc/http/form.h": '#include <h2o.h>\n#include "authsvc/as.h"\n',
    "authsvc/http/server.c": '#include "authsvc/http/form.h"\n#include "authsvc/keys/keyset.h"\n',
    "authsvc/oauth/token.c": '#include "authsvc/http/form.h"\n#include "authsvc/store/store.h"\n',
    "authsvc/verify/authsvc-verify.h": "#include <stdint.h>\n",
    "authsvc/verify/verifier.c": '#include <curl/curl.h>\n#include "authsvc-verify.h"\n'
                                 '#include "authsvc/token/refresh.h"\n',
    "authsvc/cli/main.c": '#include "authsvc/oauth/oauth.h"\n#include "authsvc/verify/authsvc-verify.h"\n',
    "authsvc/cli/README.md": '#include "authsvc/app/app.h" is prose here, not code\n',
}

# name -> (files to add or replace, the (where, words in the message) every violation must match, in order)
BROKEN_TREES = {
    "an upward include": (
        {"authsvc/http/server.h": '#include <h2o.h>\n#include "authsvc/oauth/oauth.h"\n'},
        [("authsvc/http/server.h:2", "upward include: http (rank 2)")]),
    "a cycle between two modules of one rank": (
        {"authsvc/token/refresh.h": '#include "authsvc/crypto/crypto.h"\n\n#include "authsvc/keys/keyset.h"\n'},
        [("authsvc/keys/keyset.h:1", "cycle between modules of rank 2: keys -> token -> keys"),
         ("authsvc/token/refresh.h:3", "cycle between modules of rank 2: token -> keys -> token")]),
    "a longer cycle": (
        {"authsvc/store/pool.h": '#include "authsvc/work/pwcheck.h"\n',
         "authsvc/work/pwcheck.h": '#include "authsvc/keys/keyset.h"\n',
         "authsvc/keys/keys.c": '#include "authsvc/store/store.h"\n'},
        [("authsvc/keys/keys.c:1", "keys -> store -> work -> keys"),
         ("authsvc/store/pool.h:1", "store -> work -> keys -> store"),
         ("authsvc/work/pwcheck.h:1", "work -> keys -> store -> work")]),
    "system headers in the wrong module": (
        {"authsvc/verify/jwks.c": '#include <openssl/evp.h>\n#include <h2o/http2.h>\n',
         "authsvc/cli/db.h": '#  include <libpq-fe.h>\n',
         "authsvc/base/mem.c": '#include <argon2.h>\n#include "h2o.h"\n'},
        [("authsvc/base/mem.c:1", "argon2"), ("authsvc/base/mem.c:2", "h2o"),
         ("authsvc/cli/db.h:1", "libpq"),
         ("authsvc/verify/jwks.c:1", "OpenSSL"), ("authsvc/verify/jwks.c:2", "h2o")]),
    "a module without a rank": (
        {"authsvc/extra/x.c": '#include "authsvc/as.h"\n', "authsvc/oauth/x.c": '#include "authsvc/extra/x.h"\n'},
        [("authsvc/extra/", "module 'extra' has no rank"), ("authsvc/oauth/x.c:1", "'extra', which has no rank")]),
}


def write_tree(root, files):
    for path, text in files.items():
        full = os.path.join(root, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w", encoding="utf-8") as f:
            f.write(text)


def self_test():
    failures = []
    with tempfile.TemporaryDirectory(prefix="check-layers-") as tmp:
        clean = os.path.join(tmp, "clean")
        write_tree(clean, CLEAN_TREE)
        got = check(clean)[0]
        if got:
            failures.append(f"the clean tree: expected no violation, got {got}")
        cases = [("the clean tree", clean, 0)]

        for name, (changes, expected) in BROKEN_TREES.items():
            root = os.path.join(tmp, re.sub(r"\W+", "-", name))
            write_tree(root, {**CLEAN_TREE, **changes})
            got = check(root)[0]
            matches = len(got) == len(expected) and all(
                where == want_where and words in message
                for (where, message), (want_where, words) in zip(got, expected))
            if not matches:
                failures.append(f"{name}: expected {expected}, got {got}")
            cases.append((name, root, 1))

        # The command line itself: exit statuses, the graph, and the report on standard error.
        for name, root, status in cases[:2]:
            result = subprocess.run([sys.executable, os.path.abspath(__file__), "--graph", root],
                                    capture_output=True, text=True)
            if result.returncode != status:
                failures.append(f"{name}: the command exited {result.returncode}, expected {status}\n"
                                f"{result.stdout}{result.stderr}")
            if "rank 2  http" not in result.stdout:
                failures.append(f"{name}: --graph printed no line for http\n{result.stdout}")
        if "oauth (upward!)" not in result.stdout or "authsvc/http/server.h:2: upward" not in result.stderr:
            failures.append(f"the upward include is missing from the graph or the report\n"
                            f"{result.stdout}{result.stderr}")

    for failure in failures:
        print(f"check_layers self-test: FAIL: {failure}", file=sys.stderr)
    if failures:
        return 1
    print(f"check_layers self-test: ok ({len(cases)} trees: one clean, {len(cases) - 1} each caught)")
    return 0


# ---------------------------------------------------------------------------------------------------------


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("root", nargs="?", default=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                        help="the repository (default: the one this script is in)")
    parser.add_argument("--graph", action="store_true", help="print the module graph")
    parser.add_argument("--self-test", action="store_true", help="check the checker on trees it builds")
    args = parser.parse_args(argv)
    if args.self_test:
        return self_test()
    if not os.path.isdir(os.path.join(args.root, "authsvc")):
        print(f"check_layers: {args.root} has no authsvc/ folder", file=sys.stderr)
        return 2

    violations, files, includes, edges = check(args.root)
    if args.graph:
        print(graph_text(files, edges))
    if violations:
        print(f"check_layers: {len(violations)} violation(s) of the layer rule in {len(files)} files:", file=sys.stderr)
        for where, message in violations:
            print(f"{where}: {message}", file=sys.stderr)
        return 1
    if not args.graph:
        print(f"check_layers: {len(files)} files, {len(includes)} #include lines, no violation")
    return 0


if __name__ == "__main__":
    sys.exit(main())
