# template-state.sh - when the kernel lists a persistence template as ASSURED.
#   NAT services with persistence (-p 120), one real server each:
#   TCP :80 to an echo server (a connection established, then closed),
#   TCP :81 to a closed port (the real server answers the SYN with RST),
#   UDP :53 to an echo server (every datagram answered),
#   UDP :55 to a sink (no datagram answered).
# Writes: lcn.txt (ipvsadm -Lcn after the traffic), kernel.txt
set -u
. "$LAB_LIB/topo.sh"
load_ipvs_modules >/dev/null
topo_up 3
cd "$LAB_OUT"
uname -r > kernel.txt

cat > /tmp/traffic.py <<'PY'
import os, socket, ctypes, threading, time
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
    s.bind(("0.0.0.0", 8000)); s.listen(4); return s
def udp_bound(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("0.0.0.0", port)); return s
def echo_tcp(ls):
    c, _ = ls.accept()
    while True:
        d = c.recv(4096)
        if not d:
            c.close(); return
        c.sendall(d)
def echo_udp(s):
    while True:
        d, a = s.recvfrom(4096)
        s.sendto(d, a)
ls = in_ns("rs1", tcp_listener)
threading.Thread(target=echo_tcp, args=(ls,), daemon=True).start()
ue = in_ns("rs2", lambda: udp_bound(8000))
threading.Thread(target=echo_udp, args=(ue,), daemon=True).start()
sink = in_ns("rs3", lambda: udp_bound(8000))
def client(kind, src, port):
    def mk():
        s = socket.socket(socket.AF_INET, kind); s.bind((src, port)); return s
    s = in_ns("cl", mk); s.settimeout(1); return s
t = client(socket.SOCK_STREAM, "10.1.0.1", 41001)
t.connect(("10.0.0.100", 80)); t.sendall(b"hello"); t.recv(100); t.close()
r = client(socket.SOCK_STREAM, "10.1.0.2", 41002)
try:
    r.connect(("10.0.0.100", 81))
except OSError as e:
    print("tcp :81:", e)
u = client(socket.SOCK_DGRAM, "10.1.0.3", 42001)
u.sendto(b"ping", ("10.0.0.100", 53)); print("udp :53 echo:", u.recvfrom(100)[0])
v = client(socket.SOCK_DGRAM, "10.1.0.4", 42002)
v.sendto(b"ping", ("10.0.0.100", 55))
time.sleep(0.5)
print("traffic done")
PY

ipvsadm -A -t $VIP:80 -s rr -p 120
ipvsadm -a -t $VIP:80 -r "$(rip 1):8000" -m
ipvsadm -A -t $VIP:81 -s rr -p 120
ipvsadm -a -t $VIP:81 -r "$(rip 1):8001" -m
ipvsadm -A -u $VIP:53 -s rr -p 120
ipvsadm -a -u $VIP:53 -r "$(rip 2):8000" -m
ipvsadm -A -u $VIP:55 -s rr -p 120
ipvsadm -a -u $VIP:55 -r "$(rip 3):8000" -m
python3 /tmp/traffic.py
ipvsadm -Lcn | tee lcn.txt
