//! ipvsadm's message for a refusal: libipvs words an errno differently for each
//! command (`ipvs_strerror`), falling back to the C library's `strerror`.

use crate::options::Cmd;
use rvs_api::request::ErrorKind;

/// The errno a refusal stands for, by its `strerror` text.
fn strerror(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::Exists => "File exists",
        ErrorKind::NoService => "No such process",
        ErrorKind::NotFound => "No such file or directory",
        ErrorKind::Invalid => "Invalid argument",
        ErrorKind::Busy => "Device or resource busy",
        ErrorKind::NoMemory => "Cannot allocate memory",
        ErrorKind::Permission => "Operation not permitted",
        ErrorKind::Unsupported => "Operation not supported",
        ErrorKind::Protocol => "Message too long",
        ErrorKind::Range => "Numerical result out of range",
    }
}

/// What ipvsadm prints when the kernel refuses `cmd` with `kind`.
pub fn message(cmd: Cmd, kind: ErrorKind) -> &'static str {
    use ErrorKind as K;
    let specific = match (cmd, kind) {
        (Cmd::Add, K::Exists) => Some("Service already exists"),
        (Cmd::Add | Cmd::Edit, K::NotFound) => Some("Scheduler or persistence engine not found"),
        (Cmd::Edit | Cmd::Del | Cmd::Zero | Cmd::List | Cmd::Save, K::NoService) => {
            Some("No such service")
        }
        (Cmd::AddDest | Cmd::EditDest | Cmd::DelDest, K::NoService) => Some("Service not defined"),
        (Cmd::AddDest, K::Exists) => Some("Destination already exists"),
        (Cmd::EditDest | Cmd::DelDest, K::NotFound) => Some("No such destination"),
        // The kernel answers EEXIST for a daemon of that role already running.
        (Cmd::StartDaemon, K::Exists | K::Busy) => Some("Daemon has already run"),
        // The kernel answers ENODEV for a sync interface that does not exist.
        (Cmd::StartDaemon, K::NotFound) => Some("No such device"),
        (Cmd::StopDaemon, K::NoService | K::NotFound) => Some("No daemon is running"),
        // rvs's firewall-mark rules.
        (Cmd::AddMark, K::Exists) => Some("Firewall-mark rule already exists"),
        (Cmd::AddMark, K::NoMemory) => Some("Too many firewall-mark rules"),
        (Cmd::DelMark, K::NotFound) => Some("No such firewall-mark rule"),
        (Cmd::AddMark | Cmd::DelMark, K::Invalid) => Some("Invalid firewall-mark rule"),
        _ => None,
    };
    if let Some(m) = specific {
        return m;
    }
    match kind {
        K::Permission => "Permission denied (you must be root)",
        K::Invalid => "Invalid operation.  Possibly wrong module version, address not unicast, ...",
        K::NoMemory => "Memory allocation problem",
        K::Unsupported => "Operation not supported with IPv6",
        K::Protocol => "Module is wrong version",
        other => strerror(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_errno_different_words_per_command() {
        assert_eq!(message(Cmd::Del, ErrorKind::NoService), "No such service");
        assert_eq!(
            message(Cmd::AddDest, ErrorKind::NoService),
            "Service not defined"
        );
        assert_eq!(
            message(Cmd::Add, ErrorKind::Exists),
            "Service already exists"
        );
        assert_eq!(
            message(Cmd::AddDest, ErrorKind::Exists),
            "Destination already exists"
        );
        assert_eq!(message(Cmd::Flush, ErrorKind::Exists), "File exists");
        assert_eq!(
            message(Cmd::Add, ErrorKind::NoMemory),
            "Memory allocation problem"
        );
    }
}
