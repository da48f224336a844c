#!/usr/bin/env python3
"""Fails when the top-level modules of a crate import each other in a ring.

A module's imports are the `crate::<module>` paths in its file and in the files of its folder
(comments left out). Usage: module_cycles.py crates/service/src [...]
"""
import pathlib
import re
import sys


def top_modules(src: pathlib.Path) -> dict[str, list[pathlib.Path]]:
    modules = {}
    for path in sorted(src.iterdir()):
        if path.suffix == ".rs" and path.stem not in ("lib", "main"):
            modules.setdefault(path.stem, []).append(path)
        elif path.is_dir():
            files = sorted(path.rglob("*.rs"))
            if files:
                modules.setdefault(path.name, []).extend(files)
    return modules


def imports(files: list[pathlib.Path], names: set[str], own: str) -> set[str]:
    found = set()
    pattern = re.compile(r"\bcrate::(\w+)|\bcrate::\{([^}]*)\}")
    for file in files:
        # Comments name modules without importing them.
        text = re.sub(r"//[^\n]*", "", file.read_text())
        for single, group in pattern.findall(text):
            for name in [single] if single else re.findall(r"\b(\w+)\b", group):
                if name in names and name != own:
                    found.add(name)
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    index, low, stack, on_stack, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def main() -> int:
    failed = False
    for root in sys.argv[1:]:
        src = pathlib.Path(root)
        modules = top_modules(src)
        names = set(modules)
        graph = {name: imports(files, names, name) for name, files in modules.items()}
        for ring in cycles(graph):
            failed = True
            edges = [f"{a} -> {b}" for a in ring for b in sorted(graph[a]) if b in ring]
            print(f"{root}: modules in a ring: {', '.join(ring)} ({'; '.join(edges)})")
    if not failed:
        print("no module cycles in " + ", ".join(sys.argv[1:]))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
