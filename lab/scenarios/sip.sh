# sip.sh - the SIP persistence engine of the real kernel: which real server each
# datagram reaches, drops, the listing of templates, conn_out.
set -eu
. "$LAB_LIB/topo.sh"
modprobe ip_vs; modprobe ip_vs_rr; modprobe ip_vs_pe_sip && echo "pe_sip ok"
topo_up 3
ipvsadm -A -u $VIP:5060 -s rr -p 60 --pe sip -o
for i in 1 2 3; do ipvsadm -a -u $VIP:5060 -r "$(rip $i):5060" -m -w 1; done
ipvsadm -Ln
cat > /tmp/sip.py <<'PY'
import os, socket, sys, time, ctypes, json
libc = ctypes.CDLL(None, use_errno=True)
def setns(ns):
    fd = os.open("/var/run/netns/" + ns, os.O_RDONLY)
    libc.setns(fd, 0x40000000); os.close(fd)
def sock_in(ns, addr, port):
    me = os.open("/proc/self/ns/net", os.O_RDONLY)
    setns(ns)
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
                data, peer = s.recvfrom(4096)
            except socket.timeout:
                continue
            if data.startswith(tag.encode()):
                return n
    return None
cl = {}
def send(tag, body, src=("10.0.0.2", 5060)):
    key = src
    if key not in cl:
        cl[key] = sock_in("cl", src[0], src[1])
    msg = (tag + " sip:x SIP/2.0\r\n").encode() + body
    cl[key].sendto(msg, ("10.0.0.100", 5060))
    r = who(tag)
    print(json.dumps({"tag": tag, "body": body.decode("latin1"), "src": "%s:%d" % src, "rs": r}))
    sys.stdout.flush()
send("m01", b"Call-ID: A\r\n\r\n")
send("m02", b"Call-ID: B\r\n\r\n")
send("m03", b"Call-ID: A\r\n\r\n")
send("m04", b"i: B\r\n\r\n")
send("m05", b"call-id:A\n")
send("m06", b"CSeq: 1 OPTIONS\r\n\r\n")
send("m07", b"Call-ID: C D\r\n\r\n")
send("m08", b"Call-ID: C")
send("m09", b"Call-ID:\r\n \tXcont\r\n\r\n")
send("m10", b"Call-ID: cont\r\n\r\n")
send("m11", b"i: @1\r\ni: @2\r\ni: ok\r\n\r\n")
send("m12", b"Call-ID: @bad\r\nCall-ID: good\r\n\r\n")
send("m13", b"Call-ID: good\r\n\r\n")
send("m14", b"i=session\r\ni: B\r\n\r\n")
send("m15", b"Call-ID\t: A\r\n\r\n")
send("m16", b"Call-ID: caf\xe9\r\n\r\n")
send("w01", b"Call-ID: a,b\r\n\r\n")
send("w02", b"Call-ID: o'neil\r\n\r\n")
send("w03", b"Call-ID: o'neil\r\n\r\n")
send("w04", b"Call-ID:\t tabbed\r\n\r\n")
send("w05", b"Call-ID: \r\n  \r\n abc\r\n\r\n")
send("w06", b"Call-ID\n : nlcont\n\n")
send("w07", b"Call-ID: x\"y\r\n\r\n")
send("m17", b"Call-ID: A\r\n\r\n", ("10.1.0.5", 5060))
send("m18", b"Call-ID: A\r\n\r\n", ("10.0.0.2", 5099))
send("m19", b"", ("10.0.0.2", 5098))
print("--- conn_out")
cli = sock_in("cl", "10.0.0.2", 5070)
srv = sock_in("rs2", "10.0.2.12", 5060) if False else rs["rs2"]
rs["rs2"].sendto(b"NOTIFY sip:c SIP/2.0\r\nCall-ID: srv-call\r\n\r\n", ("10.0.0.2", 5070))
try:
    data, peer = cli.recvfrom(4096)
    print("client got", data.split(b"\r\n")[0].decode(), "from", peer)
except socket.timeout:
    print("client got nothing")
send("m20", b"Call-ID: srv-call\r\n\r\n", ("10.0.0.2", 5071))
rs["rs2"].sendto(b"NOTIFY sip:c SIP/2.0\r\nCSeq: 1\r\n\r\n", ("10.0.0.2", 5070))
try:
    data, peer = cli.recvfrom(4096)
    print("client got (no callid)", data.split(b"\r\n")[0].decode(), "from", peer)
except socket.timeout:
    print("client got nothing (no callid)")
PY
python3 /tmp/sip.py
echo "--- ipvsadm -Lcn --persistent-conn"
ipvsadm -Lcn --persistent-conn
echo "--- ipvsadm -Lcn"
ipvsadm -Lcn
echo "--- /proc/net/ip_vs_conn"
cat /proc/net/ip_vs_conn
echo "--- stats"
ipvsadm -Ln --stats
