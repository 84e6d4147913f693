//! `cargo run -p rvs-ha --example ka_config_test -- FILE...`: what `rvsd --config-test`
//! prints for each file.

fn main() {
    let mut worst = 0;
    for f in std::env::args().skip(1) {
        let (code, lines) = rvs_ha::config::config_test(std::path::Path::new(&f));
        for l in lines {
            println!("{l}");
        }
        worst = worst.max(code);
    }
    std::process::exit(worst);
}
