//! What a message's text may be: trimmed, without control characters, 1..=500 characters;
//! blocked terms matched after Unicode NFKC normalisation and case folding; emote codes.

use unicode_normalization::UnicodeNormalization;

use super::protocol::MAX_MESSAGE_CHARS;

/// The built-in emotes: `:code:` in a message; the image is `/emotes/{code}.svg`.
pub const EMOTES: &[&str] = &[
    "wave", "heart", "fire", "laugh", "clap", "gg", "hype", "sad", "wow", "think",
];

/// Why a text was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TextError {
    Empty,
    TooLong(usize),
}

/// Removes control characters (newlines and tabs become spaces), then trims. The result has
/// 1..=[`MAX_MESSAGE_CHARS`] characters.
pub fn clean(text: &str) -> Result<String, TextError> {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c == '\n' || c == '\t' || c == '\r' {
            out.push(' ');
        } else if c.is_control() || is_invisible_format(c) {
            continue;
        } else {
            out.push(c);
        }
    }
    let trimmed = out.trim();
    let chars = trimmed.chars().count();
    if chars == 0 {
        return Err(TextError::Empty);
    }
    if chars > MAX_MESSAGE_CHARS {
        return Err(TextError::TooLong(chars));
    }
    Ok(if trimmed.len() == out.len() {
        out
    } else {
        trimmed.to_owned()
    })
}

/// Bidi overrides and similar characters that can disguise text.
fn is_invisible_format(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}')
}

/// The form blocked terms are compared in: NFKC, lower case, zero-width characters removed
/// (so "ＢＡＤ", "Bad" and "b\u{200B}ad" all match "bad").
pub fn normalize(text: &str) -> String {
    text.nfkc()
        .filter(|c| {
            !matches!(
                c,
                '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}' | '\u{00AD}'
            )
        })
        .flat_map(char::to_lowercase)
        .collect()
}

/// The first blocked term (already normalised) that occurs in `text`.
pub fn find_blocked<'a>(text: &str, normalized_terms: &'a [String]) -> Option<&'a str> {
    if normalized_terms.is_empty() {
        return None;
    }
    let text = normalize(text);
    normalized_terms
        .iter()
        .find(|t| !t.is_empty() && text.contains(t.as_str()))
        .map(String::as_str)
}

/// Whether the text is only emote codes separated by whitespace.
pub fn is_emote_only(text: &str) -> bool {
    let mut any = false;
    for word in text.split_whitespace() {
        let Some(code) = word.strip_prefix(':').and_then(|w| w.strip_suffix(':')) else {
            return false;
        };
        if !EMOTES.contains(&code) {
            return false;
        }
        any = true;
    }
    any
}

/// Checks and cleans a channel's blocked-terms list: at most 500 terms of 1..=100 characters,
/// trimmed, duplicates (after normalisation) removed, order kept.
pub fn clean_terms(terms: &[String]) -> Result<Vec<String>, String> {
    if terms.len() > 500 {
        return Err("at most 500 blocked terms".into());
    }
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for t in terms {
        let t = t.trim();
        if t.is_empty() {
            continue;
        }
        if t.chars().count() > 100 {
            return Err(format!(
                "blocked terms are at most 100 characters: {t:.20}…"
            ));
        }
        if seen.insert(normalize(t)) {
            out.push(t.to_owned());
        }
    }
    Ok(out)
}

/// A duration in words for messages people read: 600 -> "10 minutes", 5400 -> "1 hour 30
/// minutes". At most the two largest units, rounded down, stopping at a gap ("1 hour", not
/// "1 hour 5 seconds"); the same rules as the web app's `formatDuration` (web/src/format.ts).
pub fn duration_words(secs: u64) -> String {
    const UNITS: [(u64, &str); 7] = [
        (365 * 86400, "year"),
        (30 * 86400, "month"),
        (7 * 86400, "week"),
        (86400, "day"),
        (3600, "hour"),
        (60, "minute"),
        (1, "second"),
    ];
    if secs == 0 {
        return "0 seconds".to_owned();
    }
    let mut rest = secs;
    let mut out: Vec<String> = Vec::new();
    for (size, name) in UNITS {
        if out.len() == 2 {
            break;
        }
        let n = rest / size;
        if n > 0 {
            out.push(format!("{n} {name}{}", if n == 1 { "" } else { "s" }));
            rest -= n * size;
        } else if !out.is_empty() {
            break;
        }
    }
    out.join(" ")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn clean_trims_strips_controls_and_counts_characters() {
        assert_eq!(clean("  hi  ").unwrap(), "hi");
        assert_eq!(clean("a\u{0}b\u{7}c\nd").unwrap(), "abc d");
        assert_eq!(clean("\u{202E}evil").unwrap(), "evil");
        assert_eq!(clean("   \n\t "), Err(TextError::Empty));
        assert_eq!(clean("\u{1}\u{2}"), Err(TextError::Empty));
        let ok = "é".repeat(500);
        assert_eq!(clean(&ok).unwrap().chars().count(), 500);
        assert_eq!(clean(&"é".repeat(501)), Err(TextError::TooLong(501)));
        // Trimming happens before counting.
        assert!(clean(&format!("  {}  ", "x".repeat(500))).is_ok());
    }

    #[test]
    fn blocked_terms_match_after_normalisation() {
        let terms = vec![normalize("BadWord"), normalize("ｓｐａｍ")];
        assert_eq!(find_blocked("this is a badword!", &terms), Some("badword"));
        assert_eq!(find_blocked("ＢＡＤＷＯＲＤ", &terms), Some("badword"));
        assert_eq!(find_blocked("bad\u{200B}word", &terms), Some("badword"));
        assert_eq!(find_blocked("SPAM here", &terms), Some("spam"));
        assert_eq!(find_blocked("all good", &terms), None);
        assert_eq!(find_blocked("anything", &[]), None);
    }

    #[test]
    fn emote_only_means_only_known_codes() {
        assert!(is_emote_only(":wave:"));
        assert!(is_emote_only(" :wave:  :heart: "));
        assert!(!is_emote_only(":wave: hi"));
        assert!(!is_emote_only(":nope:"));
        assert!(!is_emote_only(""));
    }

    #[test]
    fn terms_are_cleaned_and_deduplicated() {
        let t = clean_terms(&["  a ".into(), "A".into(), "".into(), "b".into()]).unwrap();
        assert_eq!(t, vec!["a", "b"]);
        assert!(clean_terms(&["x".repeat(101)]).is_err());
    }

    #[test]
    fn durations_read_in_words() {
        assert_eq!(duration_words(0), "0 seconds");
        assert_eq!(duration_words(1), "1 second");
        assert_eq!(duration_words(30), "30 seconds");
        assert_eq!(duration_words(600), "10 minutes");
        assert_eq!(duration_words(3600), "1 hour");
        assert_eq!(duration_words(3605), "1 hour");
        assert_eq!(duration_words(5400), "1 hour 30 minutes");
        assert_eq!(duration_words(3725), "1 hour 2 minutes");
        assert_eq!(duration_words(14 * 86400), "2 weeks");
        assert_eq!(duration_words(90 * 86400), "3 months");
    }
}
