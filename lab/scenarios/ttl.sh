# ttl.sh - what the kernel does to the TTL of a client packet it forwards to a real
# server (NAT and DR), and what it answers when no TTL is left. Bounded: 4 datagrams.
# Run:  ./run-in-vm.sh -o OUT /work/main/lab/scenarios/ttl.sh
set -u
. "$LAB_LIB/topo.sh"
load_ipvs_modules >/dev/null
topo_up 2
topo_dr_rs
ipvsadm -C
ipvsadm -A -u $VIP:7001 -s rr
ipvsadm -a -u $VIP:7001 -r "$(rip 1):7001" -m
ipvsadm -A -u $VIP:7002 -s rr
ipvsadm -a -u $VIP:7002 -r "$(rip 2):7002" -g
# What reaches the real servers, and what comes back to the client.
nsx rs1 timeout 20 tcpdump -lnv -i eth0 udp port 7001 > "$LAB_OUT/rs1.txt" 2>/dev/null &
nsx rs2 timeout 20 tcpdump -lnv -i eth0 udp port 7002 > "$LAB_OUT/rs2.txt" 2>/dev/null &
nsx cl timeout 20 tcpdump -lnv -i eth0 icmp > "$LAB_OUT/cl-icmp.txt" 2>/dev/null &
sleep 2
cat > /tmp/send.py <<'PY'
import socket, sys
vip = sys.argv[1]
for port in (7001, 7002):
    for ttl in (64, 1):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("10.1.9.%d" % (1 if ttl == 64 else 2), 30000 + port))
        s.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, ttl)
        s.sendto(b"ttl%d" % ttl, (vip, port))
        s.close()
PY
nsx cl python3 /tmp/send.py $VIP
sleep 3
kill %1 %2 %3 2>/dev/null
wait
echo "== rs1 (NAT)"; cat "$LAB_OUT/rs1.txt"
echo "== rs2 (DR)"; cat "$LAB_OUT/rs2.txt"
echo "== client ICMP"; cat "$LAB_OUT/cl-icmp.txt"
ipvsadm -Ln --stats > "$LAB_OUT/stats.txt"; cat "$LAB_OUT/stats.txt"
