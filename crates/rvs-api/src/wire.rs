//! Framing of the control protocol: each message is a big-endian u32 length followed
//! by that many bytes of JSON. A client sends an [`Envelope`], the server answers a
//! [`Response`] (`Result<Reply, ApiError>`), and so on while the connection lasts.
//!
//! The JSON is serde's default shape, so any language can speak it:
//!
//! ```text
//! -> {"version":1,"request":{"DelService":{"Addr":{"proto":"Tcp","addr":"10.0.0.1","port":80}}}}
//! <- {"Err":{"kind":"NoService","message":"no service TCP 10.0.0.1:80"}}
//! -> {"version":1,"request":"Flush"}
//! <- {"Ok":"Done"}
//! ```
//!
//! A request of another protocol version is answered with a `Protocol` error naming
//! both versions, whatever its body.

use crate::request::{ApiError, Envelope, ErrorKind, Request, Response, PROTOCOL_VERSION};
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use std::io::{self, Read, Write};

/// The largest frame accepted (connection listings can be large).
pub const MAX_FRAME: u32 = 256 << 20;

#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("the peer closed the connection")]
    Closed,
    #[error("frame of {0} bytes is larger than the {MAX_FRAME} allowed")]
    TooLarge(u32),
    #[error("malformed message: {0}")]
    Json(#[from] serde_json::Error),
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// The body length announced by a frame header, refusing oversized frames.
pub fn frame_len(header: [u8; 4]) -> Result<usize, WireError> {
    let len = u32::from_be_bytes(header);
    if len > MAX_FRAME {
        return Err(WireError::TooLarge(len));
    }
    Ok(len as usize)
}

/// A whole frame (header and JSON body) for `value`.
pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, WireError> {
    let mut out = vec![0; 4];
    serde_json::to_writer(&mut out, value)?;
    let len = out.len() - 4;
    let len = u32::try_from(len)
        .ok()
        .filter(|&n| n <= MAX_FRAME)
        .ok_or(WireError::TooLarge(u32::try_from(len).unwrap_or(u32::MAX)))?;
    out[..4].copy_from_slice(&len.to_be_bytes());
    Ok(out)
}

/// Reads one frame's body; `Closed` if the peer closed before its first byte.
pub fn read_frame<R: Read>(r: &mut R) -> Result<Vec<u8>, WireError> {
    let mut header = [0; 4];
    match r.read_exact(&mut header) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Err(WireError::Closed),
        Err(e) => return Err(e.into()),
    }
    let mut body = vec![0; frame_len(header)?];
    r.read_exact(&mut body)?;
    Ok(body)
}

pub fn write_frame<W: Write, T: Serialize>(w: &mut W, value: &T) -> Result<(), WireError> {
    w.write_all(&encode(value)?)?;
    w.flush()?;
    Ok(())
}

pub fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, WireError> {
    Ok(serde_json::from_slice(body)?)
}

/// The envelope with the request left undecoded, so that a request of another
/// protocol version is answered with a version error rather than a parse error.
#[derive(Deserialize)]
struct RawEnvelope {
    version: u32,
    request: serde_json::Value,
}

/// The request in a frame from a client, or the `Protocol` error to answer.
pub fn decode_envelope(body: &[u8]) -> Result<Request, ApiError> {
    let raw: RawEnvelope = serde_json::from_slice(body).map_err(|e| {
        ApiError::new(
            ErrorKind::Protocol,
            format!("malformed request envelope: {e}"),
        )
    })?;
    if raw.version != PROTOCOL_VERSION {
        return Err(version_mismatch(raw.version));
    }
    serde_json::from_value(raw.request)
        .map_err(|e| ApiError::new(ErrorKind::Protocol, format!("malformed request: {e}")))
}

fn version_mismatch(client: u32) -> ApiError {
    ApiError::new(
        ErrorKind::Protocol,
        format!(
            "protocol version mismatch: the client speaks version {client}, rvsd speaks \
             version {PROTOCOL_VERSION} (use an rvsadm of the same release as rvsd)"
        ),
    )
}

/// The envelope a client sends for `request`.
pub fn envelope(request: Request) -> Envelope {
    Envelope {
        version: PROTOCOL_VERSION,
        request,
    }
}

/// Decodes a server's answer.
pub fn decode_response(body: &[u8]) -> Result<Response, WireError> {
    decode(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::Reply;

    #[test]
    fn frames_round_trip_through_a_byte_stream() {
        let mut buf = Vec::new();
        write_frame(&mut buf, &envelope(Request::Flush)).unwrap();
        write_frame(&mut buf, &envelope(Request::GetSnapshot)).unwrap();
        let first = encode(&envelope(Request::Flush)).unwrap();
        assert_eq!(&buf[..first.len()], &first[..]);
        assert_eq!(
            u32::from_be_bytes(first[..4].try_into().unwrap()) as usize,
            first.len() - 4
        );
        let mut r = &buf[..];
        assert_eq!(
            decode_envelope(&read_frame(&mut r).unwrap()),
            Ok(Request::Flush)
        );
        assert_eq!(
            decode_envelope(&read_frame(&mut r).unwrap()),
            Ok(Request::GetSnapshot)
        );
        assert!(matches!(read_frame(&mut r), Err(WireError::Closed)));
    }

    #[test]
    fn oversized_and_truncated_frames_are_refused() {
        let header = (MAX_FRAME + 1).to_be_bytes();
        assert!(matches!(frame_len(header), Err(WireError::TooLarge(_))));
        let mut r = &[0, 0, 0, 9, b'{'][..];
        assert!(matches!(read_frame(&mut r), Err(WireError::Io(_))));
    }

    #[test]
    fn another_version_gets_a_version_error_even_with_an_unknown_request() {
        let body = br#"{"version":2,"request":{"Teleport":7}}"#;
        let e = decode_envelope(body).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Protocol);
        assert!(e.message.contains("version 2"), "{}", e.message);
        let e = decode_envelope(br#"{"version":1,"request":{"Teleport":7}}"#).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Protocol);
        assert!(e.message.starts_with("malformed request"), "{}", e.message);
    }

    #[test]
    fn the_documented_json_is_what_is_sent() {
        use rvs_core::model::{Protocol, ServiceKey};
        let key = ServiceKey::Addr {
            proto: Protocol::Tcp,
            addr: "10.0.0.1".parse().unwrap(),
            port: 80,
        };
        let frame = encode(&envelope(Request::DelService(key))).unwrap();
        assert_eq!(
            std::str::from_utf8(&frame[4..]).unwrap(),
            r#"{"version":1,"request":{"DelService":{"Addr":{"proto":"Tcp","addr":"10.0.0.1","port":80}}}}"#
        );
        let refusal: Response = Err(ApiError::new(
            ErrorKind::NoService,
            "no service TCP 10.0.0.1:80",
        ));
        assert_eq!(
            std::str::from_utf8(&encode(&refusal).unwrap()[4..]).unwrap(),
            r#"{"Err":{"kind":"NoService","message":"no service TCP 10.0.0.1:80"}}"#
        );
        let done: Response = Ok(Reply::Done);
        assert_eq!(&encode(&done).unwrap()[4..], br#"{"Ok":"Done"}"#);
    }

    #[test]
    fn responses_round_trip() {
        let answers: Vec<Response> = vec![
            Ok(Reply::Done),
            Err(ApiError::new(
                ErrorKind::Exists,
                "service TCP 10.0.0.1:80 already exists",
            )),
        ];
        for a in answers {
            let frame = encode(&a).unwrap();
            assert_eq!(decode_response(&frame[4..]).unwrap(), a);
        }
    }
}
