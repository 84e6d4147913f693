#!/usr/bin/env python3
"""Turn sched-mechanisms.jsonl (lab/scenarios/sched-mechanisms.sh) into the
line-per-step fixture rvs-core's tests/sched_mechanisms.rs replays:

    case <name> <sched> <flags|-> <proto> <pattern> <persist prefix length|->
    dest <rs> <weight> <upper threshold> <lower threshold>     (added in this order)
    conn <client address> <1|2|3|->                            (rs that answered, - refused)
    edit <rs> <weight>        del <rs>        add <rs> <weight>
    set-udp <seconds>         sleep <seconds>
    end

usage: mechanisms-to-fixture.py sched-mechanisms.jsonl > mechanisms-6.1.txt
"""
import ipaddress
import json
import sys


def main(path):
    kernel = None
    for line in open(path):
        r = json.loads(line)
        op = r["op"]
        if op == "service":
            kernel = kernel or r["kernel"]
            plen = "-"
            if r["persist"]:
                plen = str(ipaddress.IPv4Network("0.0.0.0/" + r["persist"][1]).prefixlen)
            print(f"case {r['case']} {r['sched']} {r['flags'] or '-'} {r['proto']} {r['pattern']} {plen}")
            for d in r["dests"]:
                print(f"dest {d['rs']} {d['weight']} {d.get('x', 0)} {d.get('y', 0)}")
        elif op == "conn":
            if r["rs"] is not None and r["rs"] != r["server_saw"]:
                sys.exit(f"inconsistent row {r}")
            if r["rs"] is None and r["err"] != "refused":
                sys.exit(f"connection failed other than refused: {r}")
            print(f"conn {r['client'].split(':')[0]} {'-' if r['rs'] is None else r['rs'][2:]}")
        elif op == "edit":
            print(f"edit {r['rs']} {r['weight']}")
        elif op == "add":
            print(f"add {r['rs']} {r['weight']}")
        elif op == "del":
            print(f"del {r['rs']}")
        elif op in ("set-udp", "sleep"):
            print(f"{op} {r['seconds']}")
        elif op == "end":
            print("end")
    print(f"# recorded on Linux {kernel}")


if __name__ == "__main__":
    main(sys.argv[1])
