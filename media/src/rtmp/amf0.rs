//! AMF0, the encoding of RTMP commands and `onMetaData`: the types encoders send, with
//! nesting and sizes bounded so hostile input errors instead of exhausting stack or memory.

use bytes::{Buf, BufMut, BytesMut};

/// Nested objects/arrays deeper than this are rejected.
const MAX_DEPTH: usize = 16;
/// Elements in one decoded message (all objects and arrays together).
const MAX_ELEMENTS: usize = 4096;

#[derive(Debug, Clone, PartialEq)]
pub enum Amf0Value {
    Number(f64),
    Boolean(bool),
    /// Encoded as a long string when longer than 65535 bytes.
    String(String),
    Object(Vec<(String, Amf0Value)>),
    Null,
    Undefined,
    EcmaArray(Vec<(String, Amf0Value)>),
    StrictArray(Vec<Amf0Value>),
    Date {
        millis: f64,
        tz_minutes: i16,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Amf0Error {
    #[error("AMF0 value ends early")]
    Truncated,
    #[error("unsupported AMF0 type marker {0:#04x}")]
    UnsupportedType(u8),
    #[error("AMF0 nesting too deep")]
    TooDeep,
    #[error("AMF0 message has too many elements")]
    TooManyElements,
}

const NUMBER: u8 = 0x00;
const BOOLEAN: u8 = 0x01;
const STRING: u8 = 0x02;
const OBJECT: u8 = 0x03;
const NULL: u8 = 0x05;
const UNDEFINED: u8 = 0x06;
const ECMA_ARRAY: u8 = 0x08;
const OBJECT_END: u8 = 0x09;
const STRICT_ARRAY: u8 = 0x0A;
const DATE: u8 = 0x0B;
const LONG_STRING: u8 = 0x0C;

impl Amf0Value {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Amf0Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_number(&self) -> Option<f64> {
        match self {
            Amf0Value::Number(n) => Some(*n),
            _ => None,
        }
    }

    /// The properties of an object or ECMA array.
    pub fn properties(&self) -> Option<&[(String, Amf0Value)]> {
        match self {
            Amf0Value::Object(p) | Amf0Value::EcmaArray(p) => Some(p),
            _ => None,
        }
    }

    /// A property of an object or ECMA array, by name.
    pub fn get(&self, key: &str) -> Option<&Amf0Value> {
        self.properties()?
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }

    pub fn encode(&self, out: &mut BytesMut) {
        match self {
            Amf0Value::Number(n) => {
                out.put_u8(NUMBER);
                out.put_f64(*n);
            }
            Amf0Value::Boolean(b) => {
                out.put_u8(BOOLEAN);
                out.put_u8(u8::from(*b));
            }
            Amf0Value::String(s) => match u16::try_from(s.len()) {
                Ok(len) => {
                    out.put_u8(STRING);
                    out.put_u16(len);
                    out.put_slice(s.as_bytes());
                }
                Err(_) => {
                    let bytes = &s.as_bytes()[..s.len().min(u32::MAX as usize)];
                    out.put_u8(LONG_STRING);
                    out.put_u32(bytes.len() as u32);
                    out.put_slice(bytes);
                }
            },
            Amf0Value::Object(props) => {
                out.put_u8(OBJECT);
                encode_properties(props, out);
            }
            Amf0Value::Null => out.put_u8(NULL),
            Amf0Value::Undefined => out.put_u8(UNDEFINED),
            Amf0Value::EcmaArray(props) => {
                out.put_u8(ECMA_ARRAY);
                out.put_u32(u32::try_from(props.len()).unwrap_or(u32::MAX));
                encode_properties(props, out);
            }
            Amf0Value::StrictArray(items) => {
                out.put_u8(STRICT_ARRAY);
                out.put_u32(u32::try_from(items.len()).unwrap_or(u32::MAX));
                for item in items {
                    item.encode(out);
                }
            }
            Amf0Value::Date { millis, tz_minutes } => {
                out.put_u8(DATE);
                out.put_f64(*millis);
                out.put_i16(*tz_minutes);
            }
        }
    }
}

/// Property names longer than 65535 bytes cannot be encoded and are cut (only ours are encoded).
fn encode_properties(props: &[(String, Amf0Value)], out: &mut BytesMut) {
    for (key, value) in props {
        let key = &key.as_bytes()[..key.len().min(usize::from(u16::MAX))];
        out.put_u16(key.len() as u16);
        out.put_slice(key);
        value.encode(out);
    }
    out.put_slice(&[0, 0, OBJECT_END]);
}

/// Encodes a sequence of values (a command or a data message).
pub fn encode_all(values: &[Amf0Value]) -> BytesMut {
    let mut out = BytesMut::new();
    for v in values {
        v.encode(&mut out);
    }
    out
}

/// Decodes every value in `data`.
pub fn decode_all(mut data: &[u8]) -> Result<Vec<Amf0Value>, Amf0Error> {
    let mut budget = MAX_ELEMENTS;
    let mut values = Vec::new();
    while data.has_remaining() {
        values.push(decode_value(&mut data, 0, &mut budget)?);
    }
    Ok(values)
}

fn take_budget(budget: &mut usize) -> Result<(), Amf0Error> {
    *budget = budget.checked_sub(1).ok_or(Amf0Error::TooManyElements)?;
    Ok(())
}

fn need(data: &[u8], n: usize) -> Result<(), Amf0Error> {
    if data.len() < n {
        Err(Amf0Error::Truncated)
    } else {
        Ok(())
    }
}

fn decode_string(data: &mut &[u8], len: usize) -> Result<String, Amf0Error> {
    need(data, len)?;
    let s = String::from_utf8_lossy(&data[..len]).into_owned();
    data.advance(len);
    Ok(s)
}

fn decode_short_string(data: &mut &[u8]) -> Result<String, Amf0Error> {
    need(data, 2)?;
    let len = usize::from(data.get_u16());
    decode_string(data, len)
}

fn decode_value(
    data: &mut &[u8],
    depth: usize,
    budget: &mut usize,
) -> Result<Amf0Value, Amf0Error> {
    take_budget(budget)?;
    need(data, 1)?;
    let marker = data.get_u8();
    Ok(match marker {
        NUMBER => {
            need(data, 8)?;
            Amf0Value::Number(data.get_f64())
        }
        BOOLEAN => {
            need(data, 1)?;
            Amf0Value::Boolean(data.get_u8() != 0)
        }
        STRING => Amf0Value::String(decode_short_string(data)?),
        LONG_STRING => {
            need(data, 4)?;
            let len = data.get_u32() as usize;
            Amf0Value::String(decode_string(data, len)?)
        }
        OBJECT => Amf0Value::Object(decode_properties(data, depth + 1, budget)?),
        NULL => Amf0Value::Null,
        UNDEFINED => Amf0Value::Undefined,
        ECMA_ARRAY => {
            // The count is a hint encoders get wrong; the object-end marker is what counts.
            need(data, 4)?;
            data.advance(4);
            Amf0Value::EcmaArray(decode_properties(data, depth + 1, budget)?)
        }
        STRICT_ARRAY => {
            if depth + 1 > MAX_DEPTH {
                return Err(Amf0Error::TooDeep);
            }
            need(data, 4)?;
            let count = data.get_u32() as usize;
            // Every element takes at least one byte: a bigger count is a lie.
            need(data, count)?;
            let mut items = Vec::with_capacity(count.min(64));
            for _ in 0..count {
                items.push(decode_value(data, depth + 1, budget)?);
            }
            Amf0Value::StrictArray(items)
        }
        DATE => {
            need(data, 10)?;
            Amf0Value::Date {
                millis: data.get_f64(),
                tz_minutes: data.get_i16(),
            }
        }
        other => return Err(Amf0Error::UnsupportedType(other)),
    })
}

fn decode_properties(
    data: &mut &[u8],
    depth: usize,
    budget: &mut usize,
) -> Result<Vec<(String, Amf0Value)>, Amf0Error> {
    if depth > MAX_DEPTH {
        return Err(Amf0Error::TooDeep);
    }
    let mut props = Vec::new();
    loop {
        let key = decode_short_string(data)?;
        if key.is_empty() && data.first() == Some(&OBJECT_END) {
            data.advance(1);
            return Ok(props);
        }
        let value = decode_value(data, depth, budget)?;
        props.push((key, value));
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn round_trip(v: Amf0Value) {
        let bytes = encode_all(std::slice::from_ref(&v));
        assert_eq!(decode_all(&bytes).unwrap(), vec![v]);
    }

    #[test]
    fn every_type_round_trips() {
        round_trip(Amf0Value::Number(1935.5));
        round_trip(Amf0Value::Number(-0.0));
        round_trip(Amf0Value::Boolean(true));
        round_trip(Amf0Value::Boolean(false));
        round_trip(Amf0Value::String(String::new()));
        round_trip(Amf0Value::String("NetConnection.Connect.Success".into()));
        round_trip(Amf0Value::String("ü".repeat(40_000))); // 80000 bytes: a long string
        round_trip(Amf0Value::Null);
        round_trip(Amf0Value::Undefined);
        round_trip(Amf0Value::Date {
            millis: 1.7e12,
            tz_minutes: -60,
        });
        round_trip(Amf0Value::Object(vec![
            ("app".into(), Amf0Value::String("live".into())),
            ("capabilities".into(), Amf0Value::Number(31.0)),
            (
                "nested".into(),
                Amf0Value::Object(vec![("x".into(), Amf0Value::Null)]),
            ),
        ]));
        round_trip(Amf0Value::EcmaArray(vec![
            ("width".into(), Amf0Value::Number(1280.0)),
            ("stereo".into(), Amf0Value::Boolean(true)),
        ]));
        round_trip(Amf0Value::EcmaArray(vec![]));
        round_trip(Amf0Value::StrictArray(vec![
            Amf0Value::Number(1.0),
            Amf0Value::String("a".into()),
        ]));
    }

    #[test]
    fn known_bytes() {
        let bytes = encode_all(&[
            Amf0Value::String("connect".into()),
            Amf0Value::Number(1.0),
            Amf0Value::Object(vec![("app".into(), Amf0Value::String("live".into()))]),
        ]);
        let expected: &[u8] = &[
            0x02, 0x00, 0x07, b'c', b'o', b'n', b'n', b'e', b'c', b't', // "connect"
            0x00, 0x3F, 0xF0, 0, 0, 0, 0, 0, 0, // 1.0
            0x03, 0x00, 0x03, b'a', b'p', b'p', 0x02, 0x00, 0x04, b'l', b'i', b'v', b'e', 0, 0, 9,
        ];
        assert_eq!(&bytes[..], expected);
    }

    #[test]
    fn ecma_array_count_is_only_a_hint() {
        // Count says 5, one property follows, then the end marker.
        let bytes = [0x08, 0, 0, 0, 5, 0, 1, b'a', 0x05, 0, 0, 9];
        assert_eq!(
            decode_all(&bytes).unwrap(),
            vec![Amf0Value::EcmaArray(vec![("a".into(), Amf0Value::Null)])]
        );
    }

    #[test]
    fn hostile_input_errors_without_panicking() {
        assert_eq!(decode_all(&[0x00, 1, 2]), Err(Amf0Error::Truncated));
        assert_eq!(
            decode_all(&[0x02, 0xFF, 0xFF, b'a']),
            Err(Amf0Error::Truncated)
        );
        assert_eq!(
            decode_all(&[0x0C, 0xFF, 0xFF, 0xFF, 0xFF]),
            Err(Amf0Error::Truncated)
        );
        assert_eq!(
            decode_all(&[0x0A, 0xFF, 0xFF, 0xFF, 0xFF, 5]),
            Err(Amf0Error::Truncated)
        );
        assert_eq!(decode_all(&[0x03, 0, 1, b'a']), Err(Amf0Error::Truncated));
        assert_eq!(
            decode_all(&[0x07, 0, 1]),
            Err(Amf0Error::UnsupportedType(0x07))
        );
        assert_eq!(decode_all(&[0x11]), Err(Amf0Error::UnsupportedType(0x11)));
        let mut deep = Vec::new();
        for _ in 0..100 {
            deep.extend_from_slice(&[0x03, 0, 1, b'k']);
        }
        assert_eq!(decode_all(&deep), Err(Amf0Error::TooDeep));
        let many = [0x05].repeat(MAX_ELEMENTS + 1);
        assert_eq!(decode_all(&many), Err(Amf0Error::TooManyElements));

        // Every prefix of a valid command, and pseudo-random bytes, decode or error: no panic.
        let valid = encode_all(&[
            Amf0Value::String("publish".into()),
            Amf0Value::Number(5.0),
            Amf0Value::Null,
            Amf0Value::EcmaArray(vec![(
                "k".into(),
                Amf0Value::StrictArray(vec![Amf0Value::Boolean(true)]),
            )]),
        ]);
        for len in 0..valid.len() {
            let _ = decode_all(&valid[..len]);
        }
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        for _ in 0..2000 {
            let mut buf = vec![0u8; 64];
            for b in &mut buf {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                *b = (state % 14) as u8; // mostly valid markers, to get deeper
            }
            let _ = decode_all(&buf);
        }
    }

    #[test]
    fn property_lookup() {
        let v = Amf0Value::Object(vec![(
            "flashVer".into(),
            Amf0Value::String("FMLE/3.0".into()),
        )]);
        assert_eq!(
            v.get("flashVer").and_then(Amf0Value::as_str),
            Some("FMLE/3.0")
        );
        assert_eq!(v.get("missing"), None);
        assert_eq!(Amf0Value::Null.get("x"), None);
    }
}
