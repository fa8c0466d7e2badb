#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

#[allow(missing_docs)]
mod generated;

pub use generated::*;
/// The HTTP client underneath, re-exported so callers can tune it without a second dependency.
pub use reqwest;

/// Why [`authenticated`] could not build a client.
#[derive(Debug)]
pub enum AuthError {
    /// The token holds characters an HTTP header cannot carry.
    InvalidToken(reqwest::header::InvalidHeaderValue),
    /// reqwest could not build its client (e.g. no TLS backend).
    Client(reqwest::Error),
}

impl std::fmt::Display for AuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::InvalidToken(e) => write!(f, "the token is not a valid header value: {e}"),
            Self::Client(e) => write!(f, "building the HTTP client: {e}"),
        }
    }
}

impl std::error::Error for AuthError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::InvalidToken(e) => Some(e),
            Self::Client(e) => Some(e),
        }
    }
}

/// A client for the server at `server` (its origin, e.g. `http://127.0.0.1:8080`; `/api/v1` is
/// added) that sends `token` as `Authorization: Bearer` on every request: every operation
/// but the ops endpoints needs it, and progenitor's [`Client::new`] sends none.
pub fn authenticated(server: &str, token: &str) -> Result<Client, AuthError> {
    let mut bearer = reqwest::header::HeaderValue::from_str(&format!("Bearer {token}"))
        .map_err(AuthError::InvalidToken)?;
    bearer.set_sensitive(true);
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(reqwest::header::AUTHORIZATION, bearer);
    let http = reqwest::Client::builder()
        .default_headers(headers)
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .map_err(AuthError::Client)?;
    Ok(Client::new_with_client(
        &format!("{}/api/v1", server.trim_end_matches('/')),
        http,
    ))
}
