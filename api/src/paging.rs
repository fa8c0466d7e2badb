//! Opaque list cursors and page limits, shared by every list endpoint.
//!
//! A cursor is the key of the last row a client saw ([`eats_projections::page`]), serialised
//! and sealed with a checksum over the key and the list it came from (the list's name and its
//! filters). A cursor that was edited, truncated or given to another list is refused with
//! 422 naming `cursor`, instead of silently starting somewhere else. Cursors are not secrets
//! and grant nothing: every query still filters by the caller, so a forged key can only
//! position the caller inside their own rows.

use serde::de::DeserializeOwned;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::problem::{invalid, ApiError, Problem, ProblemKind};

const TAG_BYTES: usize = 8;

fn tag(scope: &str, key: &[u8]) -> [u8; TAG_BYTES] {
    let digest = Sha256::new()
        .chain_update(b"eats-cursor-v1\0")
        .chain_update(scope.as_bytes())
        .chain_update(b"\0")
        .chain_update(key)
        .finalize();
    let mut tag = [0; TAG_BYTES];
    tag.copy_from_slice(&digest[..TAG_BYTES]);
    tag
}

/// The cursor for `key` in the list named by `scope`.
pub(crate) fn encode<K: Serialize>(scope: &str, key: &K) -> Result<String, ApiError> {
    let json = serde_json::to_vec(key).map_err(|e| {
        tracing::error!(error = %e, scope, "a page key did not serialise");
        ApiError::from(Problem::new(
            ProblemKind {
                status: 500,
                slug: "internal-error",
                title: "Internal error",
                field: None,
            },
            "the next-page cursor could not be built",
        ))
    })?;
    let mut sealed = tag(scope, &json).to_vec();
    sealed.extend_from_slice(&json);
    Ok(hex::encode(sealed))
}

/// The `next` of a response: the cursor of the page's last key, if there is another page.
pub(crate) fn next<K: Serialize>(scope: &str, key: Option<&K>) -> Result<Option<String>, ApiError> {
    key.map(|k| encode(scope, k)).transpose()
}

/// The key sealed in `cursor`, if it was given out by the list named by `scope`.
pub(crate) fn decode<K: DeserializeOwned>(scope: &str, cursor: &str) -> Result<K, ApiError> {
    let refused = || {
        invalid(
            "cursor",
            "cursor is not one this list gave out (edited, truncated, or from another list \
             or filter); start again without it",
        )
    };
    let sealed = hex::decode(cursor).map_err(|_| refused())?;
    if sealed.len() <= TAG_BYTES {
        return Err(refused());
    }
    let (seal, json) = sealed.split_at(TAG_BYTES);
    if seal != tag(scope, json) {
        return Err(refused());
    }
    serde_json::from_slice(json).map_err(|_| refused())
}

/// The optional cursor of a request, decoded.
pub(crate) fn after<K: DeserializeOwned>(
    scope: &str,
    cursor: Option<&str>,
) -> Result<Option<K>, ApiError> {
    cursor.map(|c| decode(scope, c)).transpose()
}

/// The page size asked for, or `default`; 422 naming `limit` outside 1..=`max`.
pub(crate) fn limit(asked: Option<i64>, default: i64, max: i64) -> Result<i64, ApiError> {
    let limit = asked.unwrap_or(default);
    if (1..=max).contains(&limit) {
        Ok(limit)
    } else {
        Err(invalid(
            "limit",
            format!("limit must be between 1 and {max}"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_reads_back_only_in_its_own_list() {
        let cursor = encode("queue:a", &(1, "x".to_string())).expect("encodes");
        let key: (i64, String) = decode("queue:a", &cursor).expect("its own list");
        assert_eq!(key, (1, "x".to_string()));
        assert!(decode::<(i64, String)>("queue:b", &cursor).is_err());
    }

    #[test]
    fn an_edited_or_garbled_cursor_is_refused() {
        let cursor = encode("queue:a", &(1, "x".to_string())).expect("encodes");
        let mut edited = hex::decode(&cursor).expect("hex");
        let last = edited.len() - 2;
        edited[last] ^= 1;
        assert!(decode::<(i64, String)>("queue:a", &hex::encode(edited)).is_err());
        assert!(decode::<(i64, String)>("queue:a", "not a cursor").is_err());
        assert!(decode::<(i64, String)>("queue:a", "").is_err());
    }
}
