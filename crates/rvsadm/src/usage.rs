//! `-h` and `-v`. The version line is ipvsadm's, so that scripts that check it
//! keep working; the help text is rvs's own.

/// What `-v` prints (and the first line of `-h`).
pub const VERSION_LINE: &str = "ipvsadm v1.31 2019/12/24 (compiled with popt and IPVS v1.2.1)";

/// The help text for `program`.
pub fn help(program: &str) -> String {
    let p = program;
    format!(
        "{VERSION_LINE}
rvsadm {rvs}: ipvsadm's command line for rvsd.

Usage:
  {p} -A|-E service [-s sched] [-p [timeout]] [-M netmask] [--pe engine] [-b flags] [-o]
  {p} -D service
  {p} -C
  {p} -R                       (commands from standard input, one per line)
  {p} -S [-n]                  (rules on standard output, as -R reads them)
  {p} -a|-e service -r server[:port] [-g|-i|-m|-j] [-w weight] [-x upper] [-y lower]
         [--tun-type ipip|gue|gre] [--tun-port port] [--tun-nocsum|--tun-csum|--tun-remcsum]
  {p} -d service -r server[:port]
  {p} -L|-l [service] [-n] [-c] [--exact] [--stats|--rate|--thresholds|--persistent-conn]
         [--timeout] [--daemon] [--tun-info] [--nosort]
  {p} -Z [service]
  {p} --set tcp tcpfin udp     (seconds; 0 keeps a value)
  {p} --start-daemon master|backup [--mcast-interface if] [--syncid id] [--sync-maxlen n]
         [--mcast-group addr] [--mcast-port port] [--mcast-ttl ttl]
  {p} --stop-daemon master|backup
  {p} -h | -v

rvs extension, firewall-mark rules (what iptables -j MARK does for the kernel):
  {p} --add-mark|--del-mark -f mark [-6] -t|-u|--sctp-service addr[/len][:port[-port]]
         [--source addr[/len]]
  {p} --add-mark|--del-mark -f mark [-6] --destination addr[/len] [--source addr[/len]]
  {p} -L --marks               (the rules, first match wins; -S saves them after the services)

A service is -t|--tcp-service host[:port], -u|--udp-service host[:port],
--sctp-service host[:port] or -f|--fwmark-service mark [-6]; IPv6 addresses go in
brackets: [2001:db8::1]:80.

Schedulers: rr wrr lc wlc (default) sed nq dh sh lblc lblcr mh fo ovf twos.
Scheduler flags (-b, comma-separated): flag-1 flag-2 flag-3, sh-fallback sh-port (sh),
mh-fallback mh-port (mh).
Forwarding: -g gatewaying (direct routing, default), -i ipip tunnel, -m masquerading (NAT),
-j|--fullnat full NAT (rvs only).
-p alone means 360 seconds; -M takes a dotted mask (IPv4) or a prefix length (IPv6).

rvs: --socket PATH (before the command) or RVS_SOCKET select rvsd's control socket
(default /run/rvs/rvsd.sock).
",
        rvs = env!("CARGO_PKG_VERSION")
    )
}
