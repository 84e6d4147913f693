//! The Call-ID of a SIP message, found as the kernel's `get_callid` finds it with the
//! conntrack SIP helper's `ct_sip_get_header` (`net/netfilter/nf_conntrack_sip.c`).
//!
//! Checked against Linux 6.1 in the lab VM (each rule below that could be read
//! either way was tried on the real kernel).
//!
//! A header starts right after a CR, LF or CRLF (never at offset 0: that is the
//! request or status line). Its name is `Call-Id` in any case, or the compact `i`
//! followed by a byte that is not a letter. Then come optional blanks (spaces, tabs,
//! or one line end followed by a continuation line's blanks), a colon, optional
//! blanks again, and the value: a run of "word" bytes, optionally followed by `@` and
//! another run. The value must be 1..=255 bytes and be followed by CR or LF. Quirks of
//! the kernel, kept on purpose:
//! - letters are the kernel's `ctype` letters, which include Latin-1 letters
//!   (0xC0..=0xFF except 0xD7 and 0xF7), both in the compact-name check and in words;
//! - the headers of the body are searched too (the search does not stop at the
//!   blank line);
//! - the first line that starts like a Call-ID header but has no colon (`Call-IDs:`,
//!   `i=...`) ends the search with no Call-ID, even if a valid one follows;
//! - a value that does not start with a word (e.g. `Call-ID: @x`) resumes the search
//!   at an offset that adds the value's absolute offset to the previous start offset,
//!   as `get_callid` does (so a second such value makes it overshoot);
//! - a Call-ID followed by anything but CR or LF (a space, `;`, the end of the
//!   datagram) is no Call-ID at all.

/// The kernel's `IP_VS_PEDATA_MAXLEN`: longer Call-IDs are refused.
pub const CALL_ID_MAX: usize = crate::persist::PE_DATA_MAX;

/// The Call-ID of a SIP message (the UDP payload), or `None` when the kernel would
/// find none. Never panics, whatever the bytes.
pub fn call_id(payload: &[u8]) -> Option<&[u8]> {
    if payload.is_empty() {
        return None;
    }
    let mut from = 0usize;
    let (off, len) = loop {
        match find_header(payload, from) {
            Header::Found { off, len } => break (off, len),
            Header::Missing => return None,
            // The kernel adds the (absolute) value offset to its start offset.
            Header::BadValue { off } => from = from.checked_add(off)?,
        }
    };
    if len > CALL_ID_MAX {
        return None;
    }
    // SIP headers end with a line terminator; the value must be followed by one.
    match payload.get(off + len) {
        Some(b'\r' | b'\n') => payload.get(off..off + len),
        _ => None,
    }
}

/// What one header search found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Header {
    Found {
        off: usize,
        len: usize,
    },
    /// A Call-ID header whose value is not a Call-ID; `off` is where its value starts.
    BadValue {
        off: usize,
    },
    Missing,
}

/// The kernel's `ct_sip_get_header` for the Call-ID, from offset `from`.
fn find_header(p: &[u8], from: usize) -> Header {
    const NAME: &[u8] = b"call-id";
    let limit = p.len();
    let mut i = from;
    while i < limit {
        // Find the beginning of a line (SIMD search for the next line end).
        match memchr::memchr2(b'\r', b'\n', &p[i..]) {
            Some(at) => i += at,
            None => break,
        }
        i += 1;
        if i >= limit {
            break;
        }
        if p[i - 1] == b'\r' && p[i] == b'\n' {
            i += 1;
            if i >= limit {
                break;
            }
        }
        // A continuation line is no header start; neither is any other name. In both
        // cases the scan resumes one byte further, as the kernel's loop does.
        if p[i] == b' ' || p[i] == b'\t' {
            i += 1;
            continue;
        }
        if limit - i >= NAME.len() && p[i..i + NAME.len()].eq_ignore_ascii_case(NAME) {
            i += NAME.len();
        } else if limit - i > 1 && (p[i] | 0x20) == b'i' && !is_alpha(p[i + 1]) {
            i += 1;
        } else {
            i += 1;
            continue;
        }
        // The colon, with spaces or continuations before it.
        let Some(j) = skip_whitespace(p, i) else {
            break;
        };
        if p.get(j) != Some(&b':') || j + 1 >= limit {
            break;
        }
        let Some(start) = skip_whitespace(p, j + 1) else {
            break;
        };
        return match value_len(p, start) {
            0 => Header::BadValue { off: start },
            len => Header::Found { off: start, len },
        };
    }
    Header::Missing
}

/// The kernel's `sip_skip_whitespace`: spaces and tabs, or at a line end the blanks
/// of a continuation line (then it stops there). `None` at a line end that does not
/// continue. May return `p.len()`.
fn skip_whitespace(p: &[u8], mut i: usize) -> Option<usize> {
    while i < p.len() {
        match p[i] {
            b' ' | b'\t' => i += 1,
            b'\r' | b'\n' => return follow_continuation(p, i),
            _ => return Some(i),
        }
    }
    Some(i)
}

/// The kernel's `sip_follow_continuation`: from a line end, the first byte after the
/// leading blanks of the next line, if that line is a continuation.
fn follow_continuation(p: &[u8], mut i: usize) -> Option<usize> {
    i += 1;
    if i >= p.len() {
        return None;
    }
    if p[i - 1] == b'\r' && p[i] == b'\n' {
        i += 1;
        if i >= p.len() {
            return None;
        }
    }
    if p[i] != b' ' && p[i] != b'\t' {
        return None;
    }
    while i < p.len() && (p[i] == b' ' || p[i] == b'\t') {
        i += 1;
    }
    Some(i)
}

/// The kernel's `callid_len`: a word, optionally `@` and a second word (which must not
/// be empty). 0 when there is no Call-ID here.
fn value_len(p: &[u8], start: usize) -> usize {
    let len = word_len(p, start);
    let at = start + len;
    if len == 0 || at >= p.len() || p[at] != b'@' {
        return len;
    }
    match word_len(p, at + 1) {
        0 => 0,
        domain => len + 1 + domain,
    }
}

fn word_len(p: &[u8], start: usize) -> usize {
    p.get(start..)
        .map_or(0, |rest| rest.iter().take_while(|&&c| is_word(c)).count())
}

/// The kernel's `isalpha`: ASCII letters and the Latin-1 letters of its `ctype` table.
fn is_alpha(c: u8) -> bool {
    CLASS[c as usize] & ALPHA != 0
}

/// The kernel's `iswordc` (RFC 3261 `word`): alphanumerics (Latin-1 letters included)
/// and `! " % ' ( ) * + - . / : < > ? [ \ ] _ ` { } ~`. The kernel compares the other
/// bytes as signed chars, so none above 0x7F matches them.
fn is_word(c: u8) -> bool {
    CLASS[c as usize] & WORD != 0
}

const ALPHA: u8 = 1;
const WORD: u8 = 2;

/// Byte classes, one table lookup per byte on the scan.
static CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut c = 0usize;
    while c < 256 {
        let b = c as u8;
        let alpha = b.is_ascii_alphabetic() || (b >= 0xC0 && b != 0xD7 && b != 0xF7);
        let word = alpha
            || b.is_ascii_digit()
            || matches!(
                b,
                b'!' | b'"'
                    | b'%'
                    | b'\''
                    | b'('..=b'+'
                    | b'-'..=b'/'
                    | b':'
                    | b'<'
                    | b'>'
                    | b'?'
                    | b'['..=b']'
                    | b'_'
                    | b'`'
                    | b'{'
                    | b'}'
                    | b'~'
            );
        t[c] = (if alpha { ALPHA } else { 0 }) | (if word { WORD } else { 0 });
        c += 1;
    }
    t
};

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn cid(s: &[u8]) -> Option<&[u8]> {
        call_id(s)
    }

    const INVITE: &[u8] = b"INVITE sip:bob@example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP pc33.example.com;branch=z9hG4bK776asdhds\r\n\
To: Bob <sip:bob@example.com>\r\n\
Call-ID: a84b4c76e66710@pc33.example.com\r\n\
CSeq: 314159 INVITE\r\n\
Content-Length: 0\r\n\r\n";

    #[test]
    fn full_header() {
        assert_eq!(cid(INVITE), Some(&b"a84b4c76e66710@pc33.example.com"[..]));
    }

    #[test]
    fn compact_header_and_any_case() {
        assert_eq!(cid(b"BYE x SIP/2.0\r\ni: abc\r\n"), Some(&b"abc"[..]));
        assert_eq!(cid(b"BYE x SIP/2.0\r\nI:abc\r\n"), Some(&b"abc"[..]));
        assert_eq!(cid(b"BYE x SIP/2.0\r\ncAlL-iD:abc\r\n"), Some(&b"abc"[..]));
        assert_eq!(cid(b"BYE x SIP/2.0\r\nCALL-ID :  abc\n"), Some(&b"abc"[..]));
    }

    #[test]
    fn line_endings_cr_lf_crlf() {
        assert_eq!(cid(b"X\rCall-ID: a\r"), Some(&b"a"[..]));
        assert_eq!(cid(b"X\nCall-ID: a\n"), Some(&b"a"[..]));
        assert_eq!(cid(b"X\r\n\r\nCall-ID: a\r\n"), Some(&b"a"[..]));
    }

    #[test]
    fn first_line_is_never_a_header() {
        assert_eq!(cid(b"Call-ID: abc\r\n"), None);
        assert_eq!(cid(b"\r\nCall-ID: abc\r\n"), Some(&b"abc"[..]));
    }

    #[test]
    fn value_must_end_the_line() {
        assert_eq!(cid(b"X\r\nCall-ID: abc"), None, "no terminator");
        assert_eq!(cid(b"X\r\nCall-ID: abc def\r\n"), None, "a space after");
        assert_eq!(
            cid(b"X\r\nCall-ID: abc;x\r\n"),
            None,
            "not a word byte after"
        );
        assert_eq!(cid(b"X\r\nCall-ID: abc@\r\n"), None, "empty domain");
        assert_eq!(
            cid(b"X\r\nCall-ID: a,b\r\n"),
            None,
            "a comma is no word byte"
        );
        assert_eq!(cid(b"X\r\nCall-ID: o'neil\r\n"), Some(&b"o'neil"[..]));
        assert_eq!(cid(b"X\r\nCall-ID: a@b@c\r\n"), None, "second @");
    }

    #[test]
    fn compact_name_needs_a_non_letter_after() {
        // "Im" is another header; "i9" starts a compact header with no colon.
        assert_eq!(cid(b"X\r\nImportance: high\r\ni: c1\r\n"), Some(&b"c1"[..]));
        assert_eq!(cid(b"X\r\ni\xe9: c1\r\ni: c2\r\n"), Some(&b"c2"[..]));
        // A header that starts like the name but has no colon ends the search.
        assert_eq!(cid(b"X\r\ni=session\r\ni: c2\r\n"), None);
        assert_eq!(cid(b"X\r\nCall-IDs: a\r\nCall-ID: b\r\n"), None);
    }

    #[test]
    fn blanks_and_continuations() {
        // Spaces and tabs around the colon.
        assert_eq!(cid(b"X\r\nCall-ID\t: abc\r\n"), Some(&b"abc"[..]));
        assert_eq!(cid(b"X\r\nCall-ID:\t abc\r\n"), Some(&b"abc"[..]));
        // A continuation line: the value starts after its blanks.
        assert_eq!(cid(b"X\r\nCall-ID:\r\n \tXabc\r\n"), Some(&b"Xabc"[..]));
        assert_eq!(cid(b"X\nCall-ID\n : abc\n"), Some(&b"abc"[..]));
        // Only one: blanks after a continuation are the value's first byte.
        assert_eq!(cid(b"X\r\nCall-ID: \r\n  \r\n abc\r\n"), None);
        // A line end that does not continue: no value, no Call-ID.
        assert_eq!(cid(b"X\r\nCall-ID:\r\nabc\r\n"), None);
        assert_eq!(cid(b"X\r\nCall-ID: \r\n"), None);
        // Continuation lines are no header starts.
        assert_eq!(cid(b"X\r\nSubject: x\r\n Call-ID: a\r\n"), None);
    }

    #[test]
    fn bad_value_resumes_the_search() {
        assert_eq!(
            cid(b"X\r\nCall-ID: @bad\r\nCall-ID: good\r\n"),
            Some(&b"good"[..])
        );
        // The second resume adds the absolute offset again and overshoots the
        // third header, as the kernel does.
        let two_bad = b"X\r\ni: @1\r\ni: @2\r\ni: ok\r\n".as_slice();
        assert_eq!(cid(two_bad), None);
    }

    #[test]
    fn length_limit() {
        let mut m = b"X\r\nCall-ID: ".to_vec();
        m.extend(core::iter::repeat_n(b'a', CALL_ID_MAX));
        m.extend(b"\r\n");
        assert_eq!(cid(&m).map(<[u8]>::len), Some(CALL_ID_MAX));
        m.insert(12, b'a');
        assert_eq!(cid(&m), None);
    }

    #[test]
    fn latin1_letters_are_word_bytes() {
        assert_eq!(cid(b"X\r\ni: caf\xe9\r\n"), Some(&b"caf\xe9"[..]));
        assert_eq!(cid(b"X\r\ni: a\xd7b\r\n"), None, "0xD7 is no letter");
    }

    #[test]
    fn body_is_searched_too() {
        let m = b"MESSAGE x SIP/2.0\r\nContent-Length: 9\r\n\r\ni: inbody\r\n";
        assert_eq!(cid(m), Some(&b"inbody"[..]));
    }

    #[test]
    fn word_bytes() {
        for c in b"!\"%'()*+-./:<>?[\\]_`{}~09azAZ\xc0\xff" {
            assert!(is_word(*c), "{}", *c as char);
        }
        for c in b" #$&,;=@^|\t\r\n\x00\x7f\x80\xbf\xd7\xf7" {
            assert!(!is_word(*c), "{c:#x}");
        }
    }

    /// What every Call-ID found must look like: a slice of the payload of 1..=255
    /// word bytes (one `@` at most, not at an end), followed by CR or LF.
    fn check_well_formed(payload: &[u8]) {
        if let Some(v) = call_id(payload) {
            let off = v.as_ptr() as usize - payload.as_ptr() as usize;
            assert!(off > 0 && off + v.len() <= payload.len());
            assert!(!v.is_empty() && v.len() <= CALL_ID_MAX);
            assert!(matches!(payload[off + v.len()], b'\r' | b'\n'));
            assert!(v.iter().filter(|&&c| c == b'@').count() <= 1);
            assert!(v[0] != b'@' && v[v.len() - 1] != b'@');
            assert!(v.iter().all(|&c| c == b'@' || is_word(c)));
        }
    }

    /// SIP-ish bytes: header names, separators, line ends and word bytes, so that
    /// the interesting paths are reached often.
    fn sip_ish() -> impl Strategy<Value = Vec<u8>> {
        let pieces = prop::sample::select(vec![
            &b"\r\n"[..],
            b"\r",
            b"\n",
            b"Call-ID",
            b"call-id",
            b"i",
            b"I",
            b":",
            b" ",
            b"\t",
            b"@",
            b"abc",
            b"x.y",
            b";",
            b"\xe9",
            b"\xd7",
        ]);
        prop::collection::vec(pieces, 0..40).prop_map(|v| v.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn never_panics_on_any_bytes(payload in prop::collection::vec(any::<u8>(), 0..700)) {
            check_well_formed(&payload);
        }

        #[test]
        fn never_panics_on_sip_like_bytes(payload in sip_ish()) {
            check_well_formed(&payload);
        }

        #[test]
        fn a_well_formed_header_is_found(
            first in "[A-Z]{3,8} sip:[a-z]{1,8}@[a-z.]{1,12} SIP/2\\.0",
            id in "[A-Za-z0-9.!%*_+`'~()<>:\\\\/\\[\\]?{}\"-]{1,40}(@[A-Za-z0-9.-]{1,20})?",
            compact in any::<bool>(),
            eol in prop::sample::select(vec!["\r\n", "\n", "\r"]),
        ) {
            let name = if compact { "i" } else { "Call-ID" };
            let msg = format!("{first}{eol}Via: SIP/2.0/UDP h{eol}{name}: {id}{eol}CSeq: 1 X{eol}{eol}");
            prop_assert_eq!(call_id(msg.as_bytes()), Some(id.as_bytes()));
        }
    }
}
