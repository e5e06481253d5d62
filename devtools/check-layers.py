#!/usr/bin/env python3
"""Check lib/vhost's include layering (doc/design.md, "Layers").

Every source file of lib/vhost belongs to one layer; a file may include
the project headers of its own layer and of the layers below, never of a
layer above. A file missing from the table fails the check, so a new file
gets a layer when it is added. Every file must also be named in
doc/design.md's file table ("Files, one concern each"), so the table
stays current: `x.c` there covers x.h too, `x.c/.h` both, `x_*.c` a glob.

Two headers are held to what they are for: vhost_device_types.h gives
the structures every layer shares and declares no function (static
inlines on the types only), so including it makes a file depend on no
code; vhost_device.h declares the device lookup alone (what the datapath
needs of the device table), never the control path's calls
(vhost_lifecycle.h) nor types.

Modules must not depend on each other in a loop, inside a layer either.
A module is a .c file with the header of the same name (x.c and x.h; a
header or a .c file without the other is a module by itself); module A
depends on module B when a file of A includes B's header. Each loop of
that graph is reported with the includes that close it.
"""
import fnmatch
import os
import re
import sys

# Lowest first.
LAYERS = [
    ("base", """vhost_log.h vhost_limits.h iotlb.c iotlb.h mem_table.c
        mem_table.h vq_gate.c vq_gate.h fd_event.c fd_event.h net_hdr.c
        net_hdr.h vring_counters.h vdpa_driver_api.h"""),
    ("device", """vhost_device_types.h vhost_device.h vhost_msg.c vhost_msg.h
        dirty_log.c dirty_log.h write_trace.c write_trace.h"""),
    ("datapath", """iotlb_miss.c iotlb_miss.h iotlb_conf.c vhost_translate.h desc_chain.c
        desc_chain.h vring.c vring.h vring_packed.c vring_packed.h
        vring_resync.c enqueue.c enqueue.h held_pkts.c held_pkts.h
        enqueue_burst.c dequeue.c datapath.h"""),
    ("control", """vhost_socket.c vhost_socket.h vhost_user.c vhost_user.h
        vhost_user_dev.c vhost_user_vring.c vhost_user_iotlb.c
        vhost_lifecycle.c vhost_lifecycle.h vhost_api.c vhost_telemetry.c
        vring_stats.c vring_stats.h unsupported_async.c
        unsupported_crypto.c unsupported_inflight.c unsupported_vdpa.c"""),
]

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
FILE_TABLE = "## Files, one concern each"

# Headers that may declare or define no function but static inlines
# (TYPES_ONLY), or only the functions named and no structure (NARROW).
TYPES_ONLY = {"vhost_device_types.h"}
NARROW = {"vhost_device.h": {"vhost_device_get"}}


def top_level(text):
    """The top-level items of a header: (kind, name, head) with kind
    "decl" (a declaration with a parameter list: a function), "func" (a
    function body), "type" (a struct, union or enum body) or "other"."""
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"//[^\n]*", " ", text)
    text = re.sub(r"^[ \t]*#(?:[^\n]*\\\n)*[^\n]*", " ", text, flags=re.M)
    text = re.sub(r"__attribute__\s*\(\(.*?\)\)", " ", text, flags=re.S)
    items, cur, head, depth = [], "", "", 0
    for ch in text:
        if depth == 0:
            if ch == ";":
                stmt = " ".join(cur.split())
                if stmt.startswith(("_Static_assert", "static_assert")):
                    items.append(("other", None, stmt))
                elif "{" in stmt:
                    items.append(("type", None, stmt))
                elif "(" in stmt and not stmt.startswith("typedef"):
                    items.append(("decl", func_name(stmt), stmt))
                else:
                    items.append(("other", None, stmt))
                cur = ""
            elif ch == "{":
                depth, head = 1, " ".join(cur.split())
            else:
                cur += ch
        elif ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                if head.endswith(")"):
                    items.append(("func", func_name(head), head))
                    cur = ""
                else:
                    cur = head + " {}"
    return items


def func_name(stmt):
    m = re.search(r"(\w+)\s*\(", stmt)
    return m.group(1) if m else "?"


def header_rules(f, text):
    """Problems of a TYPES_ONLY or NARROW header."""
    problems = []
    for kind, name, head in top_level(text):
        if f in TYPES_ONLY:
            if kind == "decl" or (kind == "func" and
                                  not head.startswith("static")):
                problems.append(f"{f}: declares {name}(): types only "
                                "here (functions go in the header of the "
                                "file that defines them)")
        elif f in NARROW:
            if kind in ("decl", "func") and name not in NARROW[f]:
                problems.append(f"{f}: declares {name}(), but only "
                                f"{', '.join(sorted(NARROW[f]))} belong(s) here")
            elif kind == "type":
                problems.append(f"{f}: defines a type ({head[:40]}...): "
                                "types go in vhost_device_types.h")
    return problems


def described_files(design):
    """The names doc/design.md's file table gives: stems and globs."""
    with open(design, encoding="utf-8") as doc:
        text = doc.read()
    start = text.find(FILE_TABLE)
    if start < 0:
        return None
    end = text.find("\n## ", start + len(FILE_TABLE))
    table = text[start:end if end >= 0 else len(text)]
    stems, globs = set(), []
    for row in table.splitlines():
        cells = row.split("|")
        if len(cells) < 3:
            continue
        for name in re.findall(r"`([^`]+)`", cells[1]):
            name = name.split("/")[0]  # "iotlb.c/.h"
            if "*" in name:
                globs.append(name)
            else:
                stems.add(os.path.splitext(name)[0])
    return stems, globs


def undescribed(sources, design):
    """Problems: files of lib/vhost the file table does not name."""
    found = described_files(design)
    if found is None:
        return [f"{design}: no section '{FILE_TABLE}'"]
    stems, globs = found
    return [f"{f}: not in the file table of {design}"
            for f in sources
            if os.path.splitext(f)[0] not in stems
            and not any(fnmatch.fnmatch(f, g) for g in globs)]


def module_of(f):
    """x.c and x.h are module x."""
    return os.path.splitext(f)[0]


def module_cycles(includes):
    """Problems: loops among modules. includes maps each file to the
    project headers it includes. Every strongly connected component of
    more than one module is a loop; one shortest loop through it is
    named, with the include that makes each step."""
    edges = {}  # module -> {module: "file includes header"}
    for f, incs in includes.items():
        a = module_of(f)
        for inc in incs:
            b = module_of(inc)
            if b != a:
                edges.setdefault(a, {}).setdefault(b, f"{f} includes {inc}")
    modules = sorted(set(edges) | {b for e in edges.values() for b in e})

    # Tarjan's strongly connected components, iteratively.
    index, low, onstack, stack, comps = {}, {}, set(), [], []
    for root in modules:
        if root in index:
            continue
        work = [(root, iter(sorted(edges.get(root, {}))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        onstack.add(root)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    onstack.add(w)
                    work.append((w, iter(sorted(edges.get(w, {})))))
                elif w in onstack:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    onstack.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    comps.append(sorted(comp))

    problems = []
    for comp in sorted(comps):
        members = set(comp)
        start = comp[0]
        # Shortest way back to start inside the component (BFS).
        prev, queue, found = {start: None}, [start], None
        while queue and found is None:
            nxt = []
            for v in queue:
                for w in sorted(edges.get(v, {})):
                    if w not in members:
                        continue
                    if w == start:
                        found = v
                        break
                    if w not in prev:
                        prev[w] = v
                        nxt.append(w)
                if found is not None:
                    break
            queue = nxt
        path = [found]
        while prev[path[-1]] is not None:
            path.append(prev[path[-1]])
        path.reverse()  # start ... found, and found -> start closes it
        steps = [edges[a][b] for a, b in zip(path, path[1:] + [start])]
        problems.append(f"modules in a loop ({', '.join(comp)}): "
                        + "; ".join(steps))
    return problems


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "lib", "vhost")
    level = {}
    for rank, (name, files) in enumerate(LAYERS):
        for f in files.split():
            level[f] = (rank, name)
    errors = 0
    sources = sorted(f for f in os.listdir(root) if f.endswith((".c", ".h")))
    includes = {}
    for f in sources:
        with open(os.path.join(root, f), encoding="utf-8") as src:
            includes[f] = [inc for inc in INCLUDE.findall(src.read())
                           if inc in sources]
    for problem in module_cycles(includes):
        print(problem)
        errors += 1
    for f in sources:
        if f not in level:
            print(f"{f}: no layer (add it to devtools/check-layers.py "
                  "and doc/design.md)")
            errors += 1
            continue
        rank, name = level[f]
        with open(os.path.join(root, f), encoding="utf-8") as src:
            text = src.read()
        for problem in header_rules(f, text):
            print(problem)
            errors += 1
        for inc in INCLUDE.findall(text):
            if inc not in level:
                if os.path.exists(os.path.join(root, inc)):
                    continue  # reported as a file without a layer
                continue  # not ours (system or DPDK header in quotes)
            irank, iname = level[inc]
            if irank > rank:
                print(f"{f} ({name}) includes {inc} ({iname}): "
                      "a lower layer must not depend on a higher one")
                errors += 1
    for f in sorted(TYPES_ONLY | set(NARROW)):
        if f not in sources:
            print(f"{f}: named in TYPES_ONLY or NARROW but not in {root}")
            errors += 1
    for f in level:
        if f not in sources:
            print(f"{f}: listed but not in {root}")
            errors += 1
    design = os.path.normpath(
        os.path.join(root, "..", "..", "doc", "design.md"))
    for problem in undescribed(sources, design):
        print(problem)
        errors += 1
    print(f"check-layers: {len(sources)} files, {errors} problems")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
