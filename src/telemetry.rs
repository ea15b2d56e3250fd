//! Logs: human-readable by default, JSON lines with `log.format = "json"`. `RUST_LOG`
//! overrides `log.level`.
//!
//! Logged values come from clients too (a JSON key in an error, a header, a stream name). In the
//! human format every field value and message has its control characters escaped
//! ([`EscapedFields`]), so a value cannot end the line and forge the next one, or recolour the
//! terminal; the JSON encoder escapes them already.

use std::fmt::{self, Write as _};

use tracing::field::{Field, Visit};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::FormatFields;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::{EnvFilter, fmt as subscriber_fmt};

use crate::config::{LogConfig, LogFormat};

pub fn init(config: &LogConfig) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&config.level));
    let builder = subscriber_fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // try_init: a second call (tests) keeps the first subscriber.
    let _ = match config.format {
        LogFormat::Human => builder.fmt_fields(EscapedFields).try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init(),
    };
}

/// The human format's fields: `message key=value key=value`, control characters escaped as
/// `\n`, `\r`, `\t` or `\u{1b}`.
pub struct EscapedFields;

impl<'w> FormatFields<'w> for EscapedFields {
    fn format_fields<R: RecordFields>(&self, writer: Writer<'w>, fields: R) -> fmt::Result {
        let mut visitor = EscapingVisitor {
            writer,
            first: true,
            result: Ok(()),
        };
        fields.record(&mut visitor);
        visitor.result
    }
}

struct EscapingVisitor<'w> {
    writer: Writer<'w>,
    first: bool,
    result: fmt::Result,
}

impl EscapingVisitor<'_> {
    fn field(&mut self, field: &Field, value: fmt::Arguments<'_>) {
        if self.result.is_err() {
            return;
        }
        let sep = if std::mem::take(&mut self.first) {
            ""
        } else {
            " "
        };
        let mut w = Escaper(&mut self.writer);
        self.result = if field.name() == "message" {
            write!(w.0, "{sep}").and_then(|()| w.write_fmt(value))
        } else {
            write!(w.0, "{sep}{}=", field.name()).and_then(|()| w.write_fmt(value))
        };
    }
}

impl Visit for EscapingVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.field(field, format_args!("{value}"));
        } else {
            self.field(field, format_args!("{value:?}"));
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.field(field, format_args!("{value:?}"));
    }
}

/// Writes through, escaping control characters (C0, DEL and C1).
struct Escaper<'a, 'w>(&'a mut Writer<'w>);

impl fmt::Write for Escaper<'_, '_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let mut rest = s;
        while let Some(i) = rest.find(|c: char| c.is_control()) {
            self.0.write_str(&rest[..i])?;
            let c = rest[i..].chars().next().unwrap_or('\0');
            match c {
                '\n' => self.0.write_str("\\n")?,
                '\r' => self.0.write_str("\\r")?,
                '\t' => self.0.write_str("\\t")?,
                c => write!(self.0, "\\u{{{:x}}}", u32::from(c))?,
            }
            rest = &rest[i + c.len_utf8()..];
        }
        self.0.write_str(rest)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::io;
    use std::sync::{Arc, Mutex};

    use super::*;

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn client_text_cannot_forge_a_line_or_colour_the_terminal() {
        let out = Buffer::default();
        let sink = out.clone();
        let subscriber = subscriber_fmt()
            .with_ansi(false)
            .with_writer(move || sink.clone())
            .fmt_fields(EscapedFields)
            .finish();
        let key = "name\n2026-12-06T00:00:00Z  INFO admin logged in\u{1b}[31m";
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("request", path = %"/a\r\nb");
            let _g = span.enter();
            tracing::warn!(field = %key, debug = ?key, "unknown field `{key}`");
        });
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(!text.contains('\u{1b}'), "{text}");
        assert!(!text.contains('\r'), "{text}");
        assert!(
            text.contains(
                r"unknown field `name\n2026-12-06T00:00:00Z  INFO admin logged in\u{1b}[31m`"
            ),
            "{text}"
        );
        assert!(text.contains(r"field=name\n2026"), "{text}");
        assert!(text.contains(r#"debug="name\n2026"#), "{text}");
        assert!(text.contains(r"path=/a\r\nb"), "{text}");
    }
}
