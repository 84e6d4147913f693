#!/usr/bin/env python3
"""sched_mechanisms.py - record how real IPVS combines its schedulers with
persistence (-p -M), connection thresholds (-x/-y) and live edits of the
real-server list (-e weight changes, -d/-a), for rvs's scheduler tests.

Runs in the lab guest after topo_up 3, next to the shared lab's lvsnet.py
(imported from $LAB_LIB for its responders and client helpers).  Every case is
a fresh NAT service on 10.0.0.100:<port> with rs1..rs3 (10.0.2.11..13:8000)
added in that order; then a script of steps.  Output: one JSON line per step:

  {"case": C, "op": "service", "sched", "flags", "proto", "pattern", "persist", "dests": [...]}
  {"case": C, "op": "conn", "client": "10.1.x.y:p", "rs": "rs2" | null, "err": ...}
  {"case": C, "op": "edit"|"del"|"add", "rs": N, "weight": W}
  {"case": C, "op": "set-udp", "seconds": S}          (ipvsadm --set 0 0 S)
  {"case": C, "op": "sleep", "seconds": S}

usage: sched_mechanisms.py --out FILE.jsonl
"""
import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.environ.get("LAB_LIB", "/lab/lib"))
import lvsnet  # noqa: E402  (the shared lab's helpers)

VIP = lvsnet.VIP
RS_PORT = lvsnet.RS_PORT


def client(a, b, port):
    return "10.1.%d.%d" % (a, b), port


# Clients spread over /24s: same-/24 clients must stick with -M 255.255.255.0.
PERSIST_CLIENTS = [(0, 1), (0, 2), (1, 1), (0, 3), (2, 1), (1, 2), (3, 1), (2, 2),
                   (0, 4), (4, 1), (3, 2), (4, 2), (5, 1), (1, 3), (5, 2), (6, 1)]


def seq_clients(first, n):
    """n distinct clients 10.1.9.(first+k)."""
    return [(9, first + k) for k in range(n)]


def cases():
    """(name, service, steps).  service: sched, flags, proto, pattern, persist, dests."""
    out = []

    def svc(sched, proto="tcp", pattern="tcp-close", flags="", persist=None, dests=None):
        return {"sched": sched, "flags": flags, "proto": proto, "pattern": pattern,
                "persist": persist, "dests": dests or [{"rs": i, "weight": 1} for i in (1, 2, 3)]}

    def conns(clients):
        return [("conn", c) for c in clients]

    # Persistence with a /24 netmask: rr for new /24s, templates for known ones.
    out.append(("persist-rr", svc("rr", persist=(300, "255.255.255.0")), conns(PERSIST_CLIENTS)))
    # Same with wlc and held connections (templates do not count as load).
    out.append(("persist-wlc-hold",
                svc("wlc", pattern="tcp-hold", persist=(300, "255.255.255.0"),
                    dests=[{"rs": 1, "weight": 1}, {"rs": 2, "weight": 2}, {"rs": 3, "weight": 3}]),
                conns(PERSIST_CLIENTS)))
    # A quiesced server keeps its persistent clients; new /24s avoid it.
    out.append(("persist-quiesce", svc("rr", persist=(300, "255.255.255.0")),
                conns(PERSIST_CLIENTS[:8]) + [("edit", {"rs": 3, "weight": 0})] + conns(PERSIST_CLIENTS[8:])))
    # Thresholds (UDP, so entries expire on a short timer): rs1 -x 3 -y 1,
    # rs2 -x 3 (no lower: clears below 3/4 of upper), rs3 none.
    thr = [{"rs": 1, "weight": 1, "x": 3, "y": 1}, {"rs": 2, "weight": 1, "x": 3, "y": 0},
           {"rs": 3, "weight": 1}]
    out.append(("threshold-rr-udp", svc("rr", proto="udp", pattern="udp", dests=thr),
                [("set-udp", 8)] + conns(seq_clients(1, 3)) + [("set-udp", 2)] + conns(seq_clients(10, 8))
                + [("sleep", 4)] + conns(seq_clients(20, 4)) + [("sleep", 9)] + conns(seq_clients(30, 6))
                + [("set-udp", 300)]))
    # Thresholds with held TCP connections and wlc: overloaded servers are skipped.
    out.append(("threshold-wlc-hold",
                svc("wlc", pattern="tcp-hold",
                    dests=[{"rs": 1, "weight": 1, "x": 2}, {"rs": 2, "weight": 2, "x": 4}, {"rs": 3, "weight": 3, "x": 5}]),
                conns(seq_clients(40, 14))))
    # Weight changes mid-stream.
    w123 = [{"rs": 1, "weight": 1}, {"rs": 2, "weight": 2}, {"rs": 3, "weight": 3}]
    out.append(("weights-wrr", svc("wrr", dests=w123),
                conns(seq_clients(60, 20)) + [("edit", {"rs": 1, "weight": 5})] + conns(seq_clients(80, 20))
                + [("edit", {"rs": 3, "weight": 0})] + conns(seq_clients(100, 12))))
    # wrr with a common divisor: cw is re-aligned to the new step on each edit.
    w246 = [{"rs": 1, "weight": 2}, {"rs": 2, "weight": 4}, {"rs": 3, "weight": 6}]
    out.append(("weights-wrr-gcd", svc("wrr", dests=w246),
                conns(seq_clients(1, 7)) + [("edit", {"rs": 1, "weight": 4})] + conns(seq_clients(8, 7))
                + [("edit", {"rs": 2, "weight": 3})] + conns(seq_clients(15, 7))
                + [("edit", {"rs": 3, "weight": 9})] + conns(seq_clients(22, 9))
                + [("edit", {"rs": 2, "weight": 6})] + conns(seq_clients(31, 8))))
    out.append(("weights-wlc-hold", svc("wlc", pattern="tcp-hold", dests=w123),
                conns(seq_clients(120, 20)) + [("edit", {"rs": 1, "weight": 5})] + conns(seq_clients(140, 20))))
    out.append(("weights-mh", svc("mh", dests=w123),
                conns(seq_clients(160, 12)) + [("edit", {"rs": 2, "weight": 0})] + conns(seq_clients(160, 12))
                + [("edit", {"rs": 2, "weight": 4})] + conns(seq_clients(160, 12))))
    out.append(("weights-sh", svc("sh", dests=w123),
                conns(seq_clients(180, 12)) + [("edit", {"rs": 3, "weight": 1})] + conns(seq_clients(180, 12))))
    # rr's position across deletions and re-additions.
    out.append(("list-rr", svc("rr"),
                conns(seq_clients(200, 4)) + [("del", {"rs": 3})] + conns(seq_clients(204, 3))
                + [("add", {"rs": 3, "weight": 1})] + conns(seq_clients(207, 4))
                + [("del", {"rs": 1})] + conns(seq_clients(211, 4))))
    # Deleting the last pick in the middle of the list (the kernel steps back to
    # its predecessor), and deleting a server that was not the last pick (the
    # position stays).
    out.append(("list-rr-mid", svc("rr"),
                conns(seq_clients(240, 2)) + [("del", {"rs": 2})] + conns(seq_clients(242, 3))
                + [("add", {"rs": 2, "weight": 1})] + conns(seq_clients(245, 1))
                + [("del", {"rs": 1})] + conns(seq_clients(246, 3))))
    out.append(("list-wrr", svc("wrr", dests=w123),
                conns(seq_clients(220, 5)) + [("del", {"rs": 2})] + conns(seq_clients(225, 5))
                + [("add", {"rs": 2, "weight": 2})] + conns(seq_clients(230, 8))))
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--out", required=True)
    p.add_argument("--first-port", type=int, default=2000)
    p.add_argument("--timeout", type=float, default=5.0)
    a = p.parse_args()
    srv = lvsnet.RealServers(3)
    srv.start()
    lvsnet.ipvsadm("-C")
    out = open(a.out, "w")
    kver = os.uname().release
    port = a.first_port
    for name, s, steps in cases():
        port += 1
        t0 = time.time()
        popt = "-u" if s["proto"] == "udp" else "-t"
        vs = "%s:%d" % (VIP, port)
        cmd = ["-A", popt, vs, "-s", s["sched"]] + (["-b", s["flags"]] if s["flags"] else [])
        if s["persist"]:
            cmd += ["-p", str(s["persist"][0]), "-M", s["persist"][1]]
        lvsnet.ipvsadm(*cmd)

        def rs_opts(d):
            o = ["-r", "%s:%d" % (lvsnet.rip(d["rs"]), RS_PORT), "-m", "-w", str(d["weight"])]
            if d.get("x"):
                o += ["-x", str(d["x"])]
            if d.get("y"):
                o += ["-y", str(d["y"])]
            return o

        for d in s["dests"]:
            lvsnet.ipvsadm("-a", popt, vs, *rs_opts(d))
        rec = dict(s, case=name, op="service", kernel=kver, vip=vs)
        out.write(json.dumps(rec, sort_keys=True) + "\n")
        held = []
        seq = ""
        for op, arg in steps:
            row = {"case": name, "op": op}
            if op == "conn":
                cip, cport = client(arg[0], arg[1], 40000 + port % 1000)
                sock, ans, err = lvsnet.connect_one(s["proto"], cip, cport, port, a.timeout)
                saw = srv.who(s["proto"], "%s:%d" % (cip, cport)) if ans else None
                row.update(client="%s:%d" % (cip, cport), rs=ans, err=err, server_saw=saw)
                seq += (ans or "-")[-1]
                if sock is not None:
                    if s["pattern"] == "tcp-close":
                        lvsnet.close_graceful(sock)
                    elif s["pattern"] == "tcp-hold":
                        held.append(sock)
                    else:
                        sock.close()
            elif op in ("edit", "add"):
                d = dict(arg)
                lvsnet.ipvsadm("-e" if op == "edit" else "-a", popt, vs, *rs_opts(d))
                row.update(rs=d["rs"], weight=d["weight"])
                seq += " %s%d=%d " % ("e" if op == "edit" else "+", d["rs"], d["weight"])
            elif op == "del":
                lvsnet.ipvsadm("-d", popt, vs, "-r", "%s:%d" % (lvsnet.rip(arg["rs"]), RS_PORT))
                row.update(rs=arg["rs"])
                seq += " -%d " % arg["rs"]
            elif op == "set-udp":
                lvsnet.ipvsadm("--set", "0", "0", str(arg))
                row.update(seconds=arg)
            elif op == "sleep":
                time.sleep(arg)
                row.update(seconds=arg)
                seq += " z%d " % arg
            out.write(json.dumps(row, sort_keys=True) + "\n")
        row = {"case": name, "op": "end", "ipvsadm_Ln": lvsnet.ipvsadm("-Ln", popt, vs)}
        out.write(json.dumps(row, sort_keys=True) + "\n")
        out.flush()
        for sock in held:
            lvsnet.close_abort(sock)
        lvsnet.ipvsadm("-D", popt, vs)
        print("%-20s %s  (%.1fs)" % (name, seq, time.time() - t0), flush=True)
    srv.stop = True


if __name__ == "__main__":
    main()
