//! The one error type of the crate.

use core::fmt;

/// Why bytes could not be viewed, parsed or rewritten.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Error {
    /// The buffer is shorter than the header (or the length a header field announces).
    Truncated,
    /// A field holds a value the protocol forbids (bad version, length smaller than the
    /// header, a header chain that does not end...).
    Malformed,
    /// Something valid that this crate does not handle (an address family mismatch in a
    /// rewrite, an unknown tunnel inner protocol...).
    Unsupported,
    /// No room in the buffer for what should be written (headroom for an outer header).
    NoRoom,
}

/// Result with [`Error`].
pub type Result<T> = core::result::Result<T, Error>;

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Error::Truncated => "packet truncated",
            Error::Malformed => "malformed packet",
            Error::Unsupported => "unsupported packet or operation",
            Error::NoRoom => "no room in the buffer",
        })
    }
}

impl core::error::Error for Error {}
