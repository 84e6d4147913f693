# sip-sync.sh - SIP persistence templates through the kernel's connection sync.
#   Part 1: kernel MASTER with `--pe sip -o`: capture the sync datagrams that carry
#           its SIP templates (PE_DATA = Call-ID, PE_NAME = "sip").
#   Part 2: kernel BACKUP: replay the master's own datagrams, list the templates it
#           made, send SIP datagrams from new client ports (a synced Call-ID must reach
#           the synced real server, a new one is scheduled), then replay hand-made
#           records: an unknown pe name, pe data without a name, a name without data.
# Writes: master.pcap, master-Lcn.txt, backup-Lcn-*.txt, backup-sip.jsonl, *.bin
set -u
. "$LAB_LIB/topo.sh"
load_ipvs_modules >/dev/null
modprobe ip_vs_pe_sip && echo "pe_sip ok"
topo_up 3
topo_add_dir2
cd "$LAB_OUT"

svc() {
  ipvsadm -A -u $VIP:5060 -s rr -p 60 --pe sip -o
  for i in 1 2 3; do ipvsadm -a -u $VIP:5060 -r "$(rip $i):5060" -m -w 1; done
}

cat > /tmp/sip.py <<'PY'
import os, socket, sys, ctypes, json
libc = ctypes.CDLL(None, use_errno=True)
def sock_in(ns, addr, port):
    me = os.open("/proc/self/ns/net", os.O_RDONLY)
    fd = os.open("/var/run/netns/" + ns, os.O_RDONLY)
    libc.setns(fd, 0x40000000); os.close(fd)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port)); s.settimeout(0.5)
    libc.setns(me, 0x40000000); os.close(me)
    return s
rs = {n: sock_in(n, "0.0.0.0", 5060) for n in ("rs1", "rs2", "rs3")}
def who(tag):
    for _ in range(6):
        for n, s in rs.items():
            try:
                data, _ = s.recvfrom(4096)
            except socket.timeout:
                continue
            if data.startswith(tag.encode()):
                return n
    return None
cl = {}
# argv: tag:callid:srcport ...
for arg in sys.argv[1:]:
    tag, callid, port = arg.split(":")
    port = int(port)
    if port not in cl:
        cl[port] = sock_in("cl", "10.0.0.2", port)
    msg = (tag + " sip:x SIP/2.0\r\nCall-ID: " + callid + "\r\n\r\n").encode()
    cl[port].sendto(msg, ("10.0.0.100", 5060))
    print(json.dumps({"tag": tag, "callid": callid, "src": "10.0.0.2:%d" % port, "rs": who(tag)}))
    sys.stdout.flush()
PY

echo "== part 1: kernel master =="
svc
ipvsadm --start-daemon master --mcast-interface brc --syncid 7
ip netns exec dir2 tcpdump -i eth0 -n -U -w master.pcap udp port 8848 2>/dev/null &
TD=$!
sleep 1
python3 /tmp/sip.py m1:callA:5060 m2:callB:5060 m3:callC:5060 m4:callA:5061 | tee master-sip.jsonl
sleep 3
kill $TD; wait $TD 2>/dev/null
ipvsadm -Lcn --persistent-conn | tee master-Lcn.txt
ipvsadm --stop-daemon master
ipvsadm -C

echo "== part 2: kernel backup =="
svc
ipvsadm --start-daemon backup --mcast-interface brc --syncid 7
sleep 1
# The master's datagrams as they were captured, then hand-made v1 records (same layout
# as the kernel writes: 36 bytes + options, padded to 4).
python3 - <<'PY'
import struct
pcap = open("master.pcap", "rb").read()
off, n = 24, 0
while off + 16 <= len(pcap):
    incl = struct.unpack_from("<I", pcap, off + 8)[0]
    frame = pcap[off + 16: off + 16 + incl]
    off += 16 + incl
    ihl = (frame[14] & 15) * 4
    n += 1
    open("kernel-%d.bin" % n, "wb").write(frame[14 + ihl + 8:])
def rec(callid, name, port_flags=0x1000):
    opts = b""
    if callid:
        opts += bytes([2, len(callid)]) + callid
    if name:
        opts += bytes([3, len(name)]) + name
    size = 36 + len(opts)
    r = struct.pack(">BBHIHHHHII", 0, 17, size, port_flags, 0, 0, 5060, 5060, 0, 60)
    r += bytes([10, 0, 0, 2, 10, 0, 0, 100, 10, 0, 2, 11]) + opts
    return r + b"\0" * ((4 - len(r) % 4) % 4)
for name, r in [("unknown-pe", rec(b"callU", b"xyz")),
                ("data-no-name", rec(b"callV", b"")),
                ("name-no-data", rec(b"", b"sip"))]:
    m = struct.pack(">BBHBBH", 0, 7, 8 + len(r), 1, 1, 0) + r
    open("crafted-%s.bin" % name, "wb").write(m)
PY
send() {
  ip netns exec dir2 python3 - "$1" <<'PY'
import socket, sys
data = open(sys.argv[1], 'rb').read()
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
s.bind(('10.0.0.3', 0))
s.sendto(data, ('224.0.0.81', 8848))
print("sent", sys.argv[1], len(data))
PY
}
for f in kernel-*.bin; do send "$f"; done
sleep 1
ipvsadm -Lcn --persistent-conn | tee backup-Lcn-synced.txt
# A synced Call-ID from a new client port goes to its synced server; a new Call-ID
# is scheduled (rr from the start: rs1).
python3 /tmp/sip.py b1:callC:5070 b2:callNew:5071 b3:callB:5072 | tee backup-sip.jsonl
for f in crafted-*.bin; do send "$f"; sleep 0.3; echo "-- after $f"; ipvsadm -Lcn --persistent-conn; done 2>&1 | tee backup-Lcn-crafted.txt
python3 /tmp/sip.py b4:callU:5073 b5:callV:5074 | tee -a backup-sip.jsonl
ipvsadm --stop-daemon backup
