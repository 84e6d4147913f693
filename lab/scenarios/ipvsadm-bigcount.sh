# ipvsadm-bigcount.sh - rvsadm golden captures of counters past 10^8 (the K suffix of
# --stats) next to --exact. Bounded: at most 2 500 datagrams of 60 000 bytes, 90 s.
# Run:  ./run-in-vm.sh -o OUT /work/main/lab/scenarios/ipvsadm-bigcount.sh
set -u
. "$LAB_LIB/topo.sh"
mkdir -p "$LAB_OUT/ipvsadm"
cap() { local n=$1; shift; { echo "\$ $*"; "$@" 2>&1; echo "rc=$?"; } > "$LAB_OUT/ipvsadm/$n.txt"; cat "$LAB_OUT/ipvsadm/$n.txt"; }
load_ipvs_modules >/dev/null
topo_up 1
ipvsadm -C
ipvsadm -A -u $VIP:9999 -s rr
ipvsadm -a -u $VIP:9999 -r "$(rip 1):9999" -m
cat > /tmp/bulk.py <<'PY'
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("10.1.8.1", 40000))
payload = b"y" * 60000
end = time.time() + 90
n = 0
while n < 2500 and time.time() < end:
    s.sendto(payload, (sys.argv[1], 9999))
    n += 1
    if n % 50 == 0:
        time.sleep(0.01)
print("sent", n)
PY
nsx cl timeout 100 python3 /tmp/bulk.py $VIP
sleep 4.5
cap Ln-stats ipvsadm -Ln --stats
cap Ln-exact ipvsadm -Ln --stats --exact
cap Ln-rate  ipvsadm -Ln --rate
cap Ln-rate-exact ipvsadm -Ln --rate --exact
cap Ln       ipvsadm -Ln
ipvsadm -C
