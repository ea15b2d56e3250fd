//! A chat socket's text frame: `ClientMsg` JSON, then the checks a room applies to a `send`
//! before anything else (text cleaning, blocked terms, emote-only) and the words a timeout is
//! announced with.
//!
//! The protocol and text modules are compiled from `actors/src/chat/` itself: depending on
//! streamhall-actors would build sea-orm, actix and the rest with the fuzzer's instrumentation,
//! for two files that need serde, chrono, ts-rs and unicode-normalization only.
#![no_main]

// Only the client side of the protocol is used here.
#[allow(dead_code)]
#[path = "../../../actors/src/chat"]
mod chat {
    pub mod protocol;
    pub mod text;
}

use chat::protocol::{ClientMsg, MAX_FRAME_BYTES, MAX_MESSAGE_CHARS};
use chat::text;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if data.len() > MAX_FRAME_BYTES {
        return;
    }
    let Ok(msg) = serde_json::from_slice::<ClientMsg>(data) else {
        return;
    };
    let _ = msg.action();
    let json =
        serde_json::to_string(&msg).unwrap_or_else(|e| panic!("ClientMsg does not serialize: {e}"));
    let again: ClientMsg =
        serde_json::from_str(&json).unwrap_or_else(|e| panic!("{json} does not parse back: {e}"));
    assert_eq!(again, msg);
    match msg {
        ClientMsg::Send {
            client_id,
            text: raw,
        } => {
            let _ = client_id.chars().count();
            if let Ok(clean) = text::clean(&raw) {
                let n = clean.chars().count();
                assert!((1..=MAX_MESSAGE_CHARS).contains(&n));
                assert!(!clean.chars().any(char::is_control));
                assert_eq!(clean.trim(), clean);
                assert_eq!(
                    text::clean(&clean).as_deref(),
                    Ok(clean.as_str()),
                    "clean is not idempotent"
                );
                let terms = [text::normalize("bad"), text::normalize(&client_id)];
                let _ = text::find_blocked(&clean, &terms);
                let _ = text::is_emote_only(&clean);
            }
        }
        ClientMsg::Timeout {
            user,
            seconds,
            reason,
        } => {
            let _ = text::duration_words(u64::from(seconds));
            let _ = text::clean_terms(&[user, reason.unwrap_or_default()]);
        }
        ClientMsg::Ban { user, reason } => {
            let _ = text::clean_terms(&[user, reason.unwrap_or_default()]);
        }
        ClientMsg::SetMode {
            slow_seconds,
            followers_only,
            ..
        } => {
            let _ = text::duration_words(u64::from(slow_seconds));
            let _ = text::duration_words(u64::from(followers_only.unwrap_or(0)) * 60);
        }
        _ => {}
    }
});
