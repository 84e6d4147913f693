//! When a persistence template is listed ASSURED, against Linux 6.1
//! (`lab/scenarios/template-state.sh`, capture in `fixtures/template-state-6.1`): the
//! kernel's `ip_vs_control_assure_ct` marks a template once one of its TCP connections
//! becomes ESTABLISHED, or once a real server answers one of its UDP flows; a refused
//! TCP connection or an unanswered UDP flow leaves it NONE.

mod engine_support;
use engine_support::*;

const RST: u16 = 0x004;
const PSH: u16 = 0x008;

fn persistent(proto: Protocol, port: u16, rip: &str, rport: u16) -> VirtualService {
    let mut svc = service(
        proto,
        port,
        SchedulerKind::Rr,
        vec![dest(rip, rport, ForwardMethod::Masq, 1)],
    );
    svc.config.persistence = Some(Persistence {
        timeout: 120,
        prefix_len: 32,
    });
    svc
}

/// The kernel's template rows: virtual port → state.
fn kernel_templates() -> Vec<(u16, String)> {
    let text = include_str!("fixtures/template-state-6.1/lcn.txt");
    let mut rows: Vec<(u16, String)> = text
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            // pro expire state source virtual destination; templates have port 0.
            (f.len() >= 6 && f[3].ends_with(":0")).then(|| {
                let vport = f[4].rsplit(':').next().unwrap().parse().unwrap();
                (vport, f[2].to_string())
            })
        })
        .collect();
    rows.sort();
    rows
}

#[test]
fn templates_are_assured_as_the_kernel_assures_them() {
    let (echo, closed, udp_echo, sink) = ("10.0.2.11", "10.0.2.11", "10.0.2.12", "10.0.2.13");
    let e = engine_with(&[
        persistent(Protocol::Tcp, 80, echo, 8000),
        persistent(Protocol::Tcp, 81, closed, 8001),
        persistent(Protocol::Udp, 53, udp_echo, 8000),
        persistent(Protocol::Udp, 55, sink, 8000),
    ]);
    let mut w = e.worker(0);
    let vip = |port| (v4(VIP), port);
    // TCP :80, established with the echo server, a request answered, then closed.
    let (c, s) = ((v4("10.1.0.1"), 41001), (v4(echo), 8000));
    fwd(run(&mut w, &tcp_frame(c, vip(80), SYN, b""), t(0)).0);
    fwd(run(&mut w, &tcp_frame(s, c, SYN | ACK, b""), t(1)).0);
    fwd(run(&mut w, &tcp_frame(c, vip(80), ACK, b""), t(2)).0);
    fwd(run(&mut w, &tcp_frame(c, vip(80), ACK | PSH, b"hello"), t(3)).0);
    fwd(run(&mut w, &tcp_frame(s, c, ACK | PSH, b"hello"), t(4)).0);
    fwd(run(&mut w, &tcp_frame(c, vip(80), FIN | ACK, b""), t(5)).0);
    fwd(run(&mut w, &tcp_frame(s, c, FIN | ACK, b""), t(6)).0);
    fwd(run(&mut w, &tcp_frame(c, vip(80), ACK, b""), t(7)).0);
    // TCP :81, refused: the real server answers the SYN with a reset.
    let (c, s) = ((v4("10.1.0.2"), 41002), (v4(closed), 8001));
    fwd(run(&mut w, &tcp_frame(c, vip(81), SYN, b""), t(10)).0);
    fwd(run(&mut w, &tcp_frame(s, c, RST | ACK, b""), t(11)).0);
    // UDP :53, answered; UDP :55, not.
    let c = (v4("10.1.0.3"), 42001);
    fwd(run(&mut w, &udp_frame(c, vip(53), b"ping"), t(20)).0);
    fwd(run(&mut w, &udp_frame((v4(udp_echo), 8000), c, b"ping"), t(21)).0);
    fwd(run(
        &mut w,
        &udp_frame((v4("10.1.0.4"), 42002), vip(55), b"ping"),
        t(22),
    )
    .0);

    let mut ours: Vec<(u16, String)> = e
        .connections(t(30))
        .into_iter()
        .filter(|c| c.template)
        .map(|c| (c.virt_port, c.state))
        .collect();
    ours.sort();
    let kernel = kernel_templates();
    assert_eq!(kernel.len(), 4, "fixture: {kernel:?}");
    assert_eq!(ours, kernel);
}
