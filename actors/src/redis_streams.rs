//! Reading Redis Stream replies (XRANGE, XREAD) in either protocol, RESP2 or RESP3. Shared by
//! the chat's cluster reader and the bus; it knows nothing about either.

use std::collections::HashMap;

use deadpool_redis::redis::Value;

/// A bulk or simple string as text.
pub fn text(v: &Value) -> Option<String> {
    match v {
        Value::BulkString(b) => String::from_utf8(b.clone()).ok(),
        Value::SimpleString(s) => Some(s.clone()),
        _ => None,
    }
}

/// `[[key, body], ...]` (RESP2) or `{key: body}` (RESP3).
pub fn pairs(v: &Value) -> Vec<(String, &Value)> {
    match v {
        Value::Array(items) => items
            .iter()
            .filter_map(|item| match item {
                Value::Array(kv) if kv.len() == 2 => Some((text(&kv[0])?, &kv[1])),
                _ => None,
            })
            .collect(),
        Value::Map(kvs) => kvs
            .iter()
            .filter_map(|(k, v)| Some((text(k)?, v)))
            .collect(),
        _ => Vec::new(),
    }
}

/// Stream entries `[[id, [field, value, ...]], ...]`.
pub fn entries(v: &Value) -> Vec<(String, HashMap<String, String>)> {
    let Value::Array(items) = v else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|item| {
            let Value::Array(parts) = item else {
                return None;
            };
            let id = text(parts.first()?)?;
            let fields = match parts.get(1)? {
                Value::Array(f) => f
                    .chunks(2)
                    .filter_map(|kv| Some((text(kv.first()?)?, text(kv.get(1)?)?)))
                    .collect(),
                Value::Map(f) => f
                    .iter()
                    .filter_map(|(k, v)| Some((text(k)?, text(v)?)))
                    .collect(),
                _ => HashMap::new(),
            };
            Some((id, fields))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    #[test]
    fn xread_replies_parse_in_both_protocols() {
        let entry = Value::Array(vec![
            bulk("1-0"),
            Value::Array(vec![bulk("n"), bulk("node-a"), bulk("e"), bulk("{}")]),
        ]);
        let resp2 = Value::Array(vec![Value::Array(vec![
            bulk("k"),
            Value::Array(vec![entry.clone()]),
        ])]);
        let p = pairs(&resp2);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].0, "k");
        let e = entries(p[0].1);
        assert_eq!(e[0].0, "1-0");
        assert_eq!(e[0].1["n"], "node-a");
        let resp3 = Value::Map(vec![(bulk("k"), Value::Array(vec![entry]))]);
        assert_eq!(entries(pairs(&resp3)[0].1).len(), 1);
        assert!(pairs(&Value::Nil).is_empty());
    }
}
