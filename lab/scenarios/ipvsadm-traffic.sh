# ipvsadm-traffic.sh - rvsadm golden captures that need traffic: persistence-engine
# (SIP Call-ID) templates in -Lc --persistent-conn, PersistConn counts, and counters
# past 10^8 for the K suffix of --stats. Bounded: at most 90 000 datagrams, 60 s.
# Run:  ./run-in-vm.sh -o OUT /work/main/lab/scenarios/ipvsadm-traffic.sh
set -u
. "$LAB_LIB/topo.sh"
mkdir -p "$LAB_OUT/ipvsadm"
cap() { local n=$1; shift; { echo "\$ $*"; "$@" 2>&1; echo "rc=$?"; } > "$LAB_OUT/ipvsadm/$n.txt"; cat "$LAB_OUT/ipvsadm/$n.txt"; }
load_ipvs_modules >/dev/null
modprobe ip_vs_pe_sip 2>/dev/null
topo_up 2
ipvsadm -C
ipvsadm -A -u $VIP:5060 -s rr -p 120 --pe sip
ipvsadm -a -u $VIP:5060 -r "$(rip 1):5060" -m
ipvsadm -a -u $VIP:5060 -r "$(rip 2):5060" -m -w 2
ipvsadm -A -u $VIP:9999 -s rr
ipvsadm -a -u $VIP:9999 -r "$(rip 1):9999" -m
cat > /tmp/send.py <<'PY'
import socket, sys, time
vip = sys.argv[1]
for i, (src, call) in enumerate([("10.1.7.1", "alpha@lab"), ("10.1.7.2", "bravo@lab"), ("10.1.7.3", "alpha@lab")]):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((src, 5060))
    msg = ("INVITE sip:bob@lab SIP/2.0\r\nVia: SIP/2.0/UDP %s:5060\r\nCall-ID: %s\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n" % (src, call)).encode()
    s.sendto(msg, (vip, 5060))
    s.close()
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("10.1.8.1", 40000))
payload = b"x" * 1400
end = time.time() + 60
n = 0
while n < 90000 and time.time() < end:
    s.sendto(payload, (vip, 9999))
    n += 1
print("sent", n)
PY
nsx cl timeout 70 python3 /tmp/send.py $VIP
sleep 4.5
cap Ln-stats     ipvsadm -Ln --stats
cap Ln-exact     ipvsadm -Ln --stats --exact
cap Ln-rate      ipvsadm -Ln --rate
cap Ln-pc        ipvsadm -Ln --persistent-conn
cap Lcn          ipvsadm -Lcn
cap Lcn-pe       ipvsadm -Lcn --persistent-conn
cap Lc-names     ipvsadm -Lc --persistent-conn
cp /proc/net/ip_vs_conn "$LAB_OUT/ipvsadm/proc-net-ip_vs_conn.txt"
ipvsadm -C
