# ipvsadm-edge.sh - rvsadm golden captures: edge cases of real ipvsadm 1.31 output and errors.
# Run:  ./run-in-vm.sh -o OUT /work/main/lab/scenarios/ipvsadm-edge.sh
# Writes $LAB_OUT/ipvsadm/<name>.txt (command line, then stdout+stderr verbatim) and
# $LAB_OUT/ipvsadm/errors.txt (one block per invalid command: argv, output, exit status).
set -u
mkdir -p "$LAB_OUT/ipvsadm"
for m in ip_vs ip_vs_rr ip_vs_wrr ip_vs_wlc ip_vs_sh ip_vs_mh ip_vs_lc ip_vs_pe_sip ip_vs_dh; do modprobe $m 2>/dev/null; done
cap() { local n=$1; shift; { echo "\$ $*"; "$@" 2>&1; echo "rc=$?"; } > "$LAB_OUT/ipvsadm/$n.txt"; cat "$LAB_OUT/ipvsadm/$n.txt"; }
ERR="$LAB_OUT/ipvsadm/errors.txt"; : > "$ERR"
err() { { printf '%s\n' "### $*"; "$@" 2>&1; echo "rc=$?"; } >> "$ERR"; }

echo "10.0.0.100 vip.example" >> /etc/hosts
echo "10.0.2.11 rs1.example" >> /etc/hosts
echo "2001:db8::10 rs6.example" >> /etc/hosts

ipvsadm -C
ipvsadm -A -t 10.0.0.100:80 -s rr -p
ipvsadm -a -t 10.0.0.100:80 -r 10.0.2.11 -g -w 3 -x 10 -y 5
ipvsadm -a -t 10.0.0.100:80 -r 10.0.2.12:80 -i --tun-type gue --tun-port 6080 --tun-csum
ipvsadm -a -t 10.0.0.100:80 -r 10.0.2.13 -i --tun-type gre --tun-nocsum
ipvsadm -a -t 10.0.0.100:80 -r 10.0.2.14 -i
ipvsadm -A -t 10.0.0.100:0 -s wlc -p 10 -M 255.255.0.0
ipvsadm -a -t 10.0.0.100:0 -r 10.0.2.11:0 -m -w 0
ipvsadm -A -u 10.0.0.100:5060 -s rr -p 60 --pe sip -o
ipvsadm -a -u 10.0.0.100:5060 -r 10.0.2.11:5060 -m
ipvsadm -A --sctp-service 10.0.0.100:3868 -s lc
ipvsadm -a --sctp-service 10.0.0.100:3868 -r 10.0.2.12:3868 -m -w 65535
ipvsadm -A -t [2001:db8::1]:443 -s wrr -p 100 -M 64
ipvsadm -a -t [2001:db8::1]:443 -r [2001:db8::10]:8443 -m -w 5
ipvsadm -a -t [2001:db8::1]:443 -r [2001:db8::9] -g -w 2
ipvsadm -a -t [2001:db8::1]:443 -r 10.0.2.11 -i
ipvsadm -A -f 9 -6 -s sh -b sh-port
ipvsadm -a -f 9 -6 -r [2001:db8::11]:0 -g
ipvsadm -A -f 4294967295 -s rr -b flag-1,flag-2,flag-3 -p 3600
ipvsadm -A -f 12 -s dh -p -M 255.255.255.128
ipvsadm -A -t 10.0.0.100:443 -s mh -b mh-fallback,mh-port
ipvsadm -a -t 10.0.0.100:443 -r 10.0.2.13:8443 -m -w 1
ipvsadm -A -t 192.168.123.234:65535 -s rr
ipvsadm -a -t 192.168.123.234:65535 -r 192.168.123.200:65534 -m
ipvsadm -A -u 10.0.0.100:53 -s rr
ipvsadm -A -t 10.0.0.100:22 -s rr
ipvsadm -a -t 10.0.0.100:22 -r 10.0.2.11 -m

cap Ln         ipvsadm -Ln
cap L          ipvsadm -L
cap S          ipvsadm -S -n
cap S-names    ipvsadm -S
cap Ln-tun     ipvsadm -Ln --tun-info
cap Ln-thr     ipvsadm -Ln --thresholds
cap Ln-pc      ipvsadm -Ln --persistent-conn
cap Ln-stats   ipvsadm -Ln --stats
cap Ln-rate    ipvsadm -Ln --rate
cap Ln-nosort  ipvsadm -Ln --nosort
cap Ln-one-v6  ipvsadm -Ln -t [2001:db8::1]:443
cap Ln-one-fwm ipvsadm -Ln -f 9 -6
cap Ln-one-missing ipvsadm -Ln -t 10.0.0.100:99
cap L-one-names ipvsadm -L -t vip.example:http
cap Lc-empty   ipvsadm -Lcn
cap L-noargs   ipvsadm
cap daemon-none ipvsadm -L --daemon
ipvsadm --start-daemon backup --mcast-interface lo --syncid 200 --sync-maxlen 1000 --mcast-group 239.1.2.3 --mcast-port 9000 --mcast-ttl 5
ipvsadm --start-daemon master --mcast-interface lo
cap daemon-both ipvsadm -L --daemon
cap daemon-busy ipvsadm --start-daemon master --mcast-interface lo
ipvsadm --stop-daemon master; ipvsadm --stop-daemon backup
cap daemon-stop-none ipvsadm --stop-daemon master
cap version    ipvsadm -v
cap help       ipvsadm -h
cap set-bad    ipvsadm --set 1 2
ipvsadm -S -n > /tmp/rules; ipvsadm -C; ipvsadm -R < /tmp/rules; cap S-after-R ipvsadm -S -n
printf 'ipvsadm -A -t 10.9.9.9:80\n-a -t 10.9.9.9:80 -r 10.9.9.10 -m\n-A -t 10.9.9.9:80\n-A -t 10.9.9.8:80\n' > /tmp/r2
cap R-mixed    sh -c 'ipvsadm -R < /tmp/r2'
cap S-after-R2 ipvsadm -S -n
printf -- '-A -t 10.9.9.7:80\n-A -t 10.9.9.7\n-A -t 10.9.9.6:80\n' > /tmp/r3
cap R-usage    sh -c 'ipvsadm -R < /tmp/r3'
cap S-after-R3 ipvsadm -S -n

# error table: argv, output, exit status
err ipvsadm -A -t 10.0.0.100:80
err ipvsadm -A -t 10.0.0.100:81 -s nosuch
err ipvsadm -A -t 10.0.0.100
err ipvsadm -A -t 10.0.0.100:0 -s rr
err ipvsadm -A -t 10.0.0.100:81 -s rr -o
err ipvsadm -A -t 10.0.0.100:http
err ipvsadm -A -t 10.0.0.100:nosuchport
err ipvsadm -A -t 10.0.0.100:70000
err ipvsadm -A -t nosuchhost.invalid:80
err ipvsadm -A -t [2001:db8::1]443
err ipvsadm -A -t 1234
err ipvsadm -A -t 10.0.0.100:82 -p 0
err ipvsadm -A -t 10.0.0.100:82 -p 2678401
err ipvsadm -A -t 10.0.0.100:82 -p abc
err ipvsadm -A -t 10.0.0.100:82 -p 10 -M 300.1.1.1
err ipvsadm -A -t [2001:db8::1]:82 -p 10 -M 129
err ipvsadm -A -t [2001:db8::1]:82 -p 10 -M 0
err ipvsadm -A -t 10.0.0.100:82 -s rr -b sh-port
err ipvsadm -A -t 10.0.0.100:82 -s sh -b bogus
err ipvsadm -A -t 10.0.0.100:82 -b mh-port
err ipvsadm -A -t 10.0.0.100:82 -r 10.0.2.11
err ipvsadm -A -t 10.0.0.100:82 -t 10.0.0.100:83
err ipvsadm -A -t 10.0.0.100:82 -s rr -s wlc
err ipvsadm -A -D -t 10.0.0.100:82
err ipvsadm -A
err ipvsadm -A -f 0
err ipvsadm -A -f -1
err ipvsadm -A -f 4294967296
err ipvsadm -A -f abc
err ipvsadm -A -6 -f 5
err ipvsadm -A -t 10.0.0.100:82 -6
err ipvsadm -A -t 10.0.0.100:82 extra
err ipvsadm -A -t 10.0.0.100:82 --bogus
err ipvsadm -A -t
err ipvsadm -A -t 10.0.0.100:82 --pe nosuch -p
err ipvsadm -A -t 10.0.0.100:82 --pe sip
err ipvsadm -E -t 10.0.0.100:99 -s rr
err ipvsadm -E -t 10.0.0.100:80 -s nosuch
err ipvsadm -D -t 10.0.0.100:99
err ipvsadm -D -t 10.0.0.100:80 -s rr
err ipvsadm -a -t 10.0.0.100:99 -r 10.0.2.11
err ipvsadm -a -t 10.0.0.100:80 -r 10.0.2.11
err ipvsadm -a -t 10.0.0.100:80
err ipvsadm -a -t 10.0.0.100:80 -r 10.0.2.15 -w 65536
err ipvsadm -a -t 10.0.0.100:80 -r 10.0.2.15 -w -1
err ipvsadm -a -t 10.0.0.100:80 -r 10.0.2.15 -x abc
err ipvsadm -a -t 10.0.0.100:80 -r 10.0.2.15 -y 2147483648
err ipvsadm -a -t 10.0.0.100:80 -r 10.0.2.15 -m -g
err ipvsadm -a -t 10.0.0.100:80 -r [2001:db8::5] -m
err ipvsadm -a -t 10.0.0.100:80 -r 10.0.2.15 -m --tun-type gue
err ipvsadm -a -t 10.0.0.100:80 -r 10.0.2.15 -i --tun-type gue
err ipvsadm -a -t 10.0.0.100:80 -r 10.0.2.15 -i --tun-type gue --tun-port 1
err ipvsadm -a -t 10.0.0.100:80 -r 10.0.2.15 -i --tun-type gue --tun-port 1 --tun-csum --tun-remcsum
err ipvsadm -a -t 10.0.0.100:80 -r 10.0.2.15 -i --tun-type gre --tun-remcsum
err ipvsadm -a -t 10.0.0.100:80 -r 10.0.2.15 -i --tun-type gre --tun-port 5
err ipvsadm -a -t 10.0.0.100:80 -r 10.0.2.15 -i --tun-csum
err ipvsadm -a -t 10.0.0.100:80 -r 10.0.2.15 -i --tun-type vxlan
err ipvsadm -a -t 10.0.0.100:80 -r 10.0.2.15 -i --tun-type gue --tun-port 0 --tun-csum
err ipvsadm -a -t 10.0.0.100:80 -r 10.0.2.15 -s rr
err ipvsadm -a -t 10.0.0.100:80 -r 0.0.0.0
err ipvsadm -a -t 10.0.0.100:80 -r 224.0.0.1
err ipvsadm -e -t 10.0.0.100:80 -r 10.0.2.99
err ipvsadm -e -t 10.0.0.100:99 -r 10.0.2.11
err ipvsadm -d -t 10.0.0.100:80 -r 10.0.2.99
err ipvsadm -d -t 10.0.0.100:99 -r 10.0.2.99
err ipvsadm -d -t 10.0.0.100:80 -r 10.0.2.11 -w 2
err ipvsadm -Z -t 10.0.0.100:99
err ipvsadm -Z -r 10.0.2.11
err ipvsadm -C -t 10.0.0.100:80
err ipvsadm -L -c --stats
err ipvsadm -L --timeout --daemon
err ipvsadm -L -c -t 10.0.0.100:80
err ipvsadm -L --timeout --persistent-conn
err ipvsadm -L -s rr
err ipvsadm -L -t 10.0.0.100:99
err ipvsadm -L -n -n
err ipvsadm -Lnq
err ipvsadm -S -c
err ipvsadm -R -n
err ipvsadm --set 1 2 3 4
err ipvsadm --set 1 2 x
err ipvsadm --set 1 2 2678401
err ipvsadm --set -1 2 3
err ipvsadm --start-daemon foo
err ipvsadm --stop-daemon foo
err ipvsadm --start-daemon master --syncid 256
err ipvsadm --start-daemon master --mcast-group 10.1.1.1
err ipvsadm --start-daemon master --mcast-group ff02::1x
err ipvsadm --start-daemon master --mcast-port 0
err ipvsadm --start-daemon master --mcast-ttl 256
err ipvsadm --start-daemon master --sync-maxlen 65508
err ipvsadm --start-daemon master --mcast-interface nosuchif0
err ipvsadm --stop-daemon master --mcast-interface lo
err ipvsadm -t 10.0.0.100:80
err ipvsadm foo
err ipvsadm -X
err ipvsadm -n -L
err ipvsadm -Ln --exact --rate
err ipvsadm -Ln -c --persistent-conn
err ipvsadm -L --tun-info -n
err ipvsadm --list --numeric --stats
err ipvsadm -Lc --sort
err ipvsadm -A --tcp-service=10.0.0.100:84 --scheduler=rr --persistent=20
err ipvsadm -A -t10.0.0.100:85 -srr -p30
err ipvsadm -At 10.0.0.100:86 -s rr
err ipvsadm -A -t 10.0.0.100:87 -p -s rr
err ipvsadm -A -t 10.0.0.100:88 -s rr -p 10 -M 255.0.255.0
err ipvsadm -A -t 10.0.0.100:89 -s rr -M 255.255.0.0
err ipvsadm -A -t 10.0.0.100:90 -M 255.255.0.0 -p
err ipvsadm -A -t localhost:91 -s rr
err ipvsadm -a -t 10.0.0.100:91 -r localhost -m
err ipvsadm -A -t 10.0.0.100:92 --ops
err ipvsadm -A -u 10.0.0.100:92 --ops -p
err ipvsadm -A -f 13 -o -s rr
err ipvsadm -a -f 13 -r 10.0.2.11:99 -m
err ipvsadm -a -f 12 -r 10.0.2.11:99 -m
err ipvsadm -a -f 12 -r 10.0.2.12 -g
err ipvsadm -a -f 12 -r [2001:db8::3] -i
err ipvsadm -A -t 10.0.0.100:93 -s twos
err ipvsadm -A -t 10.0.0.100:94 --sched-flags flag-1 -s lc
err ipvsadm -A -t 10.0.0.100:95 -b flag-1 -b flag-2
err ipvsadm -A -t 10.0.0.100:96 --pe sip -p 5 -s rr
err ipvsadm -A -t 10.0.0.100:97 -p 5 -s rr -p 6
err ipvsadm -e -t 10.0.0.100:80 -r 10.0.2.11 -w 7 -m
err ipvsadm -e -f 9 -6 -r [2001:db8::11] -w 4
err ipvsadm -A --sctp-service 10.0.0.100:3869 -s rr -o
err ipvsadm -A -t 10.0.0.100:98 -s ""
err ipvsadm -A -t 10.0.0.100: -s rr
err ipvsadm -A -t :80 -s rr
err ipvsadm -A -t 10.0.0.100:+99 -s rr
err ipvsadm -A -t 10.0.0.100:099 -s rr
err ipvsadm -A -t 010.0.0.1:80 -s rr
err ipvsadm -A -t 10.1:80 -s rr
err ipvsadm -A -t 0x0a000001:80 -s rr
err ipvsadm -A -t [::ffff:10.0.0.1]:80 -s rr
err ipvsadm -A -t [2001:db8::1] -s rr
err ipvsadm -A -t 2001:db8::5 -p
err ipvsadm -A -t 2001:db8::6:80 -s rr
err ipvsadm -D -t 10.0.0.100:87
err ipvsadm -D -t 10.0.0.100:88
err ipvsadm -D -f 13
err ipvsadm -l
err ipvsadm -L -n --exact --stats -t 10.0.0.100:80
err ipvsadm -Z
err ipvsadm -L --daemon -n
err ipvsadm --help extra
err ipvsadm -h -L
err ipvsadm -L -h
err ipvsadm -v -L
err ipvsadm -L --sctp-service 10.0.0.100:3868
err ipvsadm -A -t 10.0.0.100:80 -s rr -- -p
err ipvsadm -- -L
err ipvsadm -L -- -n
err ipvsadm -p -A -t 10.0.0.100:99
err ipvsadm -Lp
err ipvsadm -A -t 10.0.0.100:99 -pc
err ipvsadm -A -t 10.0.0.100:99 -p-1
err ipvsadm --persistent
err ipvsadm -C
cap S-final ipvsadm -S -n
# the shared corpus files (copied in with -f .../corpus/ipvsadm): comment lines and all
for f in /lab/ipvsadm/*.txt; do
  ipvsadm -C; b=$(basename "$f" .txt)
  cap "R-corpus-$b" sh -c "ipvsadm -R < $f"
  cap "S-corpus-$b" ipvsadm -S -n
done
printf -- '-A -t 10.7.7.7:80 -s rr\n# a comment\n-a -t 10.7.7.7:80 -r 10.7.7.8 -m\n  \n\n-A -t 10.7.7.7:81 # trailing\n' > /tmp/r4
ipvsadm -C; cap R-comments sh -c 'ipvsadm -R < /tmp/r4'; cap S-comments ipvsadm -S -n
ipvsadm -C
