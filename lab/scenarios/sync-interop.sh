# sync-interop.sh - the kernel's IPVS sync daemon, both roles, against rvs's codec.
#   Part 1: kernel MASTER: capture the sync datagrams it multicasts (fixtures).
#   Part 2: kernel BACKUP: replay datagrams encoded by rvs (/lab/rvs-sync-*.bin) and
#           list the connections the kernel created from them.
# Writes: master.pcap, master-Lcn.txt, master-daemon.txt, backup-Lcn.txt, backup-daemon.txt
set -u
. "$LAB_LIB/topo.sh"
load_ipvs_modules >/dev/null
topo_up 3
topo_add_dir2
cd "$LAB_OUT"

echo "== part 1: kernel master =="
ipvsadm -A -t 10.0.0.100:80 -s rr
for i in 1 2 3; do ipvsadm -a -t 10.0.0.100:80 -r 10.0.2.1$i:8000 -m; done
ipvsadm -A -u 10.0.0.100:53 -s rr -p 120
for i in 1 2 3; do ipvsadm -a -u 10.0.0.100:53 -r 10.0.2.1$i:8000 -m; done
ipvsadm --start-daemon master --mcast-interface brc --syncid 7
ipvsadm -L --daemon | tee master-daemon.txt
ip netns exec dir2 tcpdump -i eth0 -n -U -w master.pcap udp port 8848 2>/dev/null &
TD=$!
sleep 1
python3 "$LAB_LIB/lvsnet.py" probe --serve --port 80 --n 6 --client-port-base 31000
# UDP: three datagrams per flow so that each flow reaches sync_threshold (3)
python3 - <<'PY'
import socket, subprocess, os
for j in range(3):
    src = f"10.1.0.{50+j}"
    cmd = ["ip","netns","exec","cl","python3","-c",
      f"import socket;s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);s.bind(('{src}',{40000+j}));s.settimeout(0.3)\n"
      f"for _ in range(3):\n s.sendto(b'x',('10.0.0.100',53))"]
    subprocess.run(cmd)
PY
sleep 3
kill $TD; wait $TD 2>/dev/null
ipvsadm -Lcn | tee master-Lcn.txt
ipvsadm --stop-daemon master

echo "== part 2: kernel backup =="
ipvsadm -C
ipvsadm -A -t 10.0.0.100:80 -s rr
for i in 1 2 3; do ipvsadm -a -t 10.0.0.100:80 -r 10.0.2.1$i:8000 -m; done
ipvsadm -A -u 10.0.0.100:53 -s rr -p 120
for i in 1 2 3; do ipvsadm -a -u 10.0.0.100:53 -r 10.0.2.1$i:8000 -m; done
ipvsadm -A -t [2001:db8::100]:80 -s rr 2>/dev/null
ipvsadm --start-daemon backup --mcast-interface brc --syncid 7
ipvsadm -L --daemon | tee backup-daemon.txt
sleep 1
for f in /lab/rvs-sync-*.bin; do
  ip netns exec dir2 python3 - "$f" <<'PY'
import socket, sys
data = open(sys.argv[1], 'rb').read()
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
s.bind(('10.0.0.3', 0))
s.sendto(data, ('224.0.0.81', 8848))
print("sent", sys.argv[1], len(data))
PY
done
sleep 1
ipvsadm -Lcn | tee backup-Lcn.txt
ipvsadm -Ln | tee backup-Ln.txt
