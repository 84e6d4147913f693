# ipvsadm-edge2.sh - rvsadm golden captures, second set: weight bounds, sync daemons
# with every option, --set bounds, restore of a file whose last line lacks a newline.
# Run:  ./run-in-vm.sh -o OUT /work/main/lab/scenarios/ipvsadm-edge2.sh
set -u
mkdir -p "$LAB_OUT/ipvsadm"
for m in ip_vs ip_vs_rr ip_vs_wlc dummy; do modprobe $m 2>/dev/null; done
ERR="$LAB_OUT/ipvsadm/errors2.txt"; : > "$ERR"
err() { { printf '%s\n' "### $*"; "$@" 2>&1; echo "rc=$?"; } >> "$ERR"; }
ip link add lvsd0 type dummy; ip link set lvsd0 multicast on up
ip link add lvsd1 type dummy; ip link set lvsd1 mtu 9000 multicast on up
ipvsadm -C
err ipvsadm -A -t 10.0.0.1:80 -s rr
err ipvsadm -a -t 10.0.0.1:80 -r 10.0.2.1 -w 2147483647
err ipvsadm -a -t 10.0.0.1:80 -r 10.0.2.2 -w 2147483648
err ipvsadm -a -t 10.0.0.1:80 -r 10.0.2.3 -w 4294967296
err ipvsadm -a -t 10.0.0.1:80 -r 10.0.2.4 -w 65536
err ipvsadm -a -t 10.0.0.1:80 -r 10.0.2.5 -x 5 -y 10
err ipvsadm -a -t 10.0.0.1:80 -r 10.0.2.6 -x 2147483647 -y 0
err ipvsadm -Ln
err ipvsadm -S -n
err ipvsadm -Ln --thresholds
err ipvsadm --start-daemon master --mcast-interface lvsd0
err ipvsadm -L --daemon
err ipvsadm --start-daemon backup --mcast-interface lvsd1 --syncid 200 --sync-maxlen 1000 --mcast-group 239.1.2.3 --mcast-port 9000 --mcast-ttl 5
err ipvsadm -L --daemon
err ipvsadm --start-daemon master --mcast-interface lvsd0
err ipvsadm --stop-daemon master
err ipvsadm --stop-daemon backup
err ipvsadm --start-daemon backup --mcast-interface lvsd1 --mcast-group ff02::1:3
err ipvsadm -L --daemon
err ipvsadm --stop-daemon backup
err ipvsadm --start-daemon master --mcast-interface lvsd1
err ipvsadm -L --daemon
err ipvsadm --stop-daemon master
err ipvsadm --set 2147483647 0 0
err ipvsadm --set 2678400 0 0
err ipvsadm -L --timeout
err ipvsadm --set 0 0 0
err ipvsadm -L --timeout
printf -- '-A -t 10.8.8.8:80 -s rr\n-a -t 10.8.8.8:80 -r 10.8.8.9 -m' > /tmp/nonl
err sh -c 'ipvsadm -R < /tmp/nonl'
err ipvsadm -S -n
err ipvsadm -A -t 10.0.0.1:81 -s rr -b ,
err ipvsadm -A -t 10.0.0.1:82 -s sh -b flag-3
err ipvsadm -L -n -t 10.0.0.1:82
err ipvsadm -S -n
err ipvsadm -C
