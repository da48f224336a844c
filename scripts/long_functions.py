#!/usr/bin/env python3
"""Lists Rust functions longer than a limit (default 100 lines) and files longer than 600 lines.

A function may be longer when a comment above its signature, doc comment or attributes says
why: `// long: <reason>`. Fails when a function or file is over its limit without
one. Usage: long_functions.py [--max-fn N] [--max-file N] DIR...
"""
import argparse
import pathlib
import re
import sys

SIGNATURE = re.compile(r"^\s*(pub(\([^)]*\))?\s+)?(const\s+)?(async\s+)?(unsafe\s+)?fn\s+(\w+)")


def strip(line: str) -> str:
    """The line without string contents and comments, so braces in them do not count."""
    line = re.sub(r'"(\\.|[^"\\])*"', '""', line)
    line = re.sub(r"'(\\.|[^'\\])'", "''", line)
    return re.sub(r"//.*", "", line)


def functions(path: pathlib.Path):
    lines = path.read_text().splitlines()
    i = 0
    while i < len(lines):
        match = SIGNATURE.match(lines[i])
        if not match:
            i += 1
            continue
        depth, opened, j = 0, False, i
        while j < len(lines):
            code = strip(lines[j])
            if not opened and ";" in code and "{" not in code:
                break  # a declaration without a body (trait item)
            depth += code.count("{") - code.count("}")
            opened = opened or "{" in code
            if opened and depth <= 0:
                break
            j += 1
        if opened:
            # The comment may sit above the function's doc comment and attributes.
            k = i
            while k > 0 and re.match(r"\s*(///|//|#\[)", lines[k - 1]):
                k -= 1
            above = "\n".join(lines[k:i])
            yield match.group(6), i + 1, j - i + 1, "// long:" in above
        i += 1


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--max-fn", type=int, default=100)
    parser.add_argument("--max-file", type=int, default=600)
    parser.add_argument("dirs", nargs="+")
    args = parser.parse_args()
    failures = []
    for root in args.dirs:
        for path in sorted(pathlib.Path(root).rglob("*.rs")):
            length = len(path.read_text().splitlines())
            head = "\n".join(path.read_text().splitlines()[:12])
            if length > args.max_file and "// long:" not in head:
                failures.append(f"{path}: {length} lines (over {args.max_file})")
            for name, line, size, excused in functions(path):
                if size > args.max_fn and not excused:
                    failures.append(f"{path}:{line}: fn {name} is {size} lines (over {args.max_fn})")
    for failure in failures:
        print(failure)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
