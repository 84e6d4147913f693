#!/usr/bin/env python3
"""Turn a scheduler-oracle JSONL (one line per connection) into the compact
fixture the rvs-core scheduler tests replay: one line per case,

    <sched> <flags or -> <w1,w2,w3> <pattern> <choices>

where <choices> has one character per connection in client order: 1/2/3 = the
real server rs1..rs3 that answered, '-' = refused (no destination). The kernel
release comes first as a comment line.

usage: oracle-to-fixture.py scheduler-oracle.jsonl > sched-oracle-6.1.txt
"""
import json
import sys


def main(path):
    cases = {}
    kernel = None
    for line in open(path):
        row = json.loads(line)
        kernel = kernel or row["kernel"]
        key = (row["sched"], row["flags"] or "-", ",".join(map(str, row["weights"])), row["pattern"])
        if row["rs"] is not None and row["rs"] != row["server_saw"]:
            sys.exit(f"inconsistent row: {row}")
        choice = "-" if row["rs"] is None else row["rs"].removeprefix("rs")
        cases.setdefault(key, []).append((row["idx"], choice))
    print(f"# scheduler oracle, Linux {kernel}: sched flags weights(rs1,rs2,rs3) pattern choices")
    for key, picks in cases.items():
        picks.sort()
        if [i for i, _ in picks] != list(range(len(picks))):
            sys.exit(f"missing connections in case {key}")
        print(" ".join(key), "".join(c for _, c in picks))


if __name__ == "__main__":
    main(sys.argv[1])
