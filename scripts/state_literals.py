#!/usr/bin/env python3
"""Fails when SQL in the Rust sources spells a state machine's state as a string literal.

States are enums (`crates/service/src/states.rs`) bound as parameters (`status = $1`); a literal
such as `status = 'completed'` would silently stop matching when a state is renamed. Migrations
(.sql files) are the one place the words are spelled, in their CHECK constraints.
Usage: state_literals.py crates/service/src crates/orgbackup/src
"""
import pathlib
import re
import sys

STATES = {
    "pending", "running", "completed", "failed", "expired", "deleted", "analyzing",
    "awaiting_confirmation", "rolling_back", "rolled_back", "queued", "succeeded", "dead",
    "active", "retired", "revoked", "error", "delivered", "manual", "scheduled", "uploaded",
}
# `status = 'x'`, `status <> 'x'`, `status IN ('x', ...)`, and a bare state in a VALUES list.
COMPARED = re.compile(r"\b(?:status|backup_type)\s*(?:=|<>|!=|IN\s*\()\s*'(\w+)'", re.I)
QUOTED = re.compile(r"'(\w+)'")

found = []
for root in sys.argv[1:]:
    for path in sorted(pathlib.Path(root).rglob("*.rs")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            code = re.sub(r"//.*", "", line)
            words = set(COMPARED.findall(code))
            if "VALUES" in code.upper() or "SET STATUS" in code.upper():
                words |= {w for w in QUOTED.findall(code) if w in STATES}
            for word in sorted(words & STATES):
                found.append(f"{path}:{number}: state '{word}' spelled in SQL; bind the enum instead")
for line in found:
    print(line)
sys.exit(1 if found else 0)
