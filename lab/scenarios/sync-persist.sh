# sync-persist.sh - what the kernel's sync master sends, packet by packet, for
# persistent services: which connections and templates, in which order.
#   A NAT TCP service and a NAT UDP service with persistence (-p 120), and a one-packet
#   UDP service (-p 120 -o), one real server each; a few connections with a known
#   shape (keep-alive requests, several datagrams per flow, one TCP connection closed
#   by the client, two connections sharing a template). Run twice: with the default
#   sync_threshold "3 50" and with "2 0" (period 0: every entry, templates included,
#   is sent once, when its count equals the threshold, or on a closing state change).
# Every inbound packet (client -> VIP, captured on brc) and every reply (real server ->
# client, captured on br0) is recorded next to the sync datagrams (captured in dir2),
# so a reimplementation can replay the same packets and compare what it queues.
# Writes, per phase P (1, 2): sync-P.pcap, in-P.pcap, out-P.pcap, lcn-P.txt; sysctl.txt
set -u
. "$LAB_LIB/topo.sh"
load_ipvs_modules >/dev/null
topo_up 3
topo_add_dir2
cd "$LAB_OUT"
grep -H . /proc/sys/net/ipv4/vs/sync_* > sysctl.txt
uname -r > kernel.txt

cat > /tmp/traffic.py <<'PY'
# argv: phase. TCP server in rs1 (echo), UDP sinks in rs2/rs3, client in cl.
import os, socket, sys, ctypes, threading, time
libc = ctypes.CDLL(None, use_errno=True)
def in_ns(ns, fn):
    me = os.open("/proc/self/ns/net", os.O_RDONLY)
    fd = os.open("/var/run/netns/" + ns, os.O_RDONLY)
    libc.setns(fd, 0x40000000); os.close(fd)
    try:
        return fn()
    finally:
        libc.setns(me, 0x40000000); os.close(me)
def tcp_listener():
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", 8000)); s.listen(16); return s
def udp_sink(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port)); return s
def echo(conn):
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    while True:
        d = conn.recv(4096)
        if not d:
            conn.close(); return
        conn.sendall(d)
def serve(ls):
    while True:
        c, _ = ls.accept()
        threading.Thread(target=echo, args=(c,), daemon=True).start()
ls = in_ns("rs1", tcp_listener)
threading.Thread(target=serve, args=(ls,), daemon=True).start()
sinks = [in_ns("rs2", lambda: udp_sink(8000)), in_ns("rs3", lambda: udp_sink(8000))]
phase = int(sys.argv[1])
base = 10 * phase
def client_tcp(src, port):
    def mk():
        s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.bind((src, port)); return s
    s = in_ns("cl", mk); s.settimeout(2)
    s.connect(("10.0.0.100", 80)); return s
def request(s, i):
    s.sendall(b"req%02d" % i)
    got = b""
    while len(got) < 5:
        got += s.recv(4096)
    time.sleep(0.05)
def udp(src, port, vport, n):
    def mk():
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind((src, port)); return s
    s = in_ns("cl", mk)
    for i in range(n):
        s.sendto(b"dgram%02d" % i, ("10.0.0.100", vport)); time.sleep(0.05)
    s.close()
# Client A: two keep-alive connections under one template, the second closed first.
a1 = client_tcp(f"10.1.{base}.1", 41001)
for i in range(5): request(a1, i)
a2 = client_tcp(f"10.1.{base}.1", 41002)
for i in range(3): request(a2, i)
a2.shutdown(socket.SHUT_WR); time.sleep(0.2); a2.close()
for i in range(5, 8): request(a1, i)
# Client B: one connection, closed.
b = client_tcp(f"10.1.{base}.2", 41003)
for i in range(4): request(b, i)
b.shutdown(socket.SHUT_WR); time.sleep(0.2); b.close()
# UDP: client C two flows under one template, client D one flow.
udp(f"10.1.{base}.3", 42001, 53, 5)
udp(f"10.1.{base}.3", 42002, 53, 2)
udp(f"10.1.{base}.4", 42003, 53, 4)
# One-packet UDP: client E, four datagrams from two ports.
udp(f"10.1.{base}.5", 43001, 54, 3)
udp(f"10.1.{base}.5", 43002, 54, 1)
time.sleep(0.3)
a1.close()
time.sleep(0.3)
print("traffic done")
PY

ipvsadm -A -t $VIP:80 -s rr -p 120
ipvsadm -a -t $VIP:80 -r "$(rip 1):8000" -m
ipvsadm -A -u $VIP:53 -s rr -p 120
ipvsadm -a -u $VIP:53 -r "$(rip 2):8000" -m
ipvsadm -A -u $VIP:54 -s rr -p 120 -o
ipvsadm -a -u $VIP:54 -r "$(rip 3):8000" -m
ipvsadm -Ln > ln.txt
ipvsadm --start-daemon master --mcast-interface brc --syncid 7

for phase in 1 2; do
  echo "== phase $phase =="
  if [ $phase = 2 ]; then sysctl -w net.ipv4.vs.sync_threshold="2 0"; fi
  cat /proc/sys/net/ipv4/vs/sync_threshold
  ip netns exec dir2 tcpdump -i eth0 -n -U -w sync-$phase.pcap udp port 8848 2>/dev/null &
  T1=$!
  tcpdump -i brc -n -U -w in-$phase.pcap "dst host $VIP and (tcp or udp)" 2>/dev/null &
  T2=$!
  tcpdump -i br0 -n -U -w out-$phase.pcap "src net 10.0.2.0/24 and (tcp or udp)" 2>/dev/null &
  T3=$!
  sleep 1.5
  python3 /tmp/traffic.py $phase
  # The master sends a partly filled message after about two seconds.
  sleep 4
  kill $T1 $T2 $T3; wait $T1 $T2 $T3 2>/dev/null
  ipvsadm -Lcn --persistent-conn > lcn-$phase.txt
  cat lcn-$phase.txt
done
ipvsadm --stop-daemon master
ls -l *.pcap
