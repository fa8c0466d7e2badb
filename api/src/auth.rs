//! Bearer JWTs: HS256 with a shared secret, or RS256 with a public key.
//!
//! Claims are `sub` (the user's UUID), `role` and `exp`, and `nbf` when the issuer sets it.
//! A token that is missing, forged, expired, not yet valid (`nbf` in the future, beyond the
//! leeway) or names an unknown role is refused with 401; a valid token for the wrong role
//! with 403.

use std::sync::Arc;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use poem::Request;
use poem_openapi::auth::Bearer;
use poem_openapi::SecurityScheme;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::problem::{ApiError, Problem, ProblemKind};

/// What a user may be.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, strum::Display, strum::EnumString,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Role {
    /// Orders food.
    Customer,
    /// Runs a store.
    StoreOwner,
    /// Delivers.
    Rider,
    /// Operates eats.
    Admin,
}

/// The claims eats reads from a token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user.
    pub sub: Uuid,
    /// Their role.
    pub role: Role,
    /// Expiry, seconds since the epoch.
    pub exp: i64,
}

/// How tokens are checked (and, with a secret, minted).
#[derive(Clone)]
pub struct Auth {
    decoding: Arc<DecodingKey>,
    encoding: Option<Arc<EncodingKey>>,
    validation: Validation,
    dev_login: bool,
}

/// The signing configuration is unusable.
#[derive(Debug, thiserror::Error)]
#[error("invalid JWT key: {0}")]
pub struct InvalidKey(String);

impl Auth {
    /// HS256 with `secret` (at least 32 bytes).
    pub fn hs256(secret: &[u8]) -> Result<Self, InvalidKey> {
        if secret.len() < 32 {
            return Err(InvalidKey(
                "EATS_JWT_SECRET must be at least 32 bytes".into(),
            ));
        }
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_required_spec_claims(&["exp", "sub"]);
        validation.leeway = 5;
        validation.validate_nbf = true;
        Ok(Self {
            decoding: Arc::new(DecodingKey::from_secret(secret)),
            encoding: Some(Arc::new(EncodingKey::from_secret(secret))),
            validation,
            dev_login: false,
        })
    }

    /// RS256 verified with the PEM `public_key`; such tokens are minted elsewhere.
    pub fn rs256(public_key: &[u8]) -> Result<Self, InvalidKey> {
        let decoding =
            DecodingKey::from_rsa_pem(public_key).map_err(|e| InvalidKey(e.to_string()))?;
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_required_spec_claims(&["exp", "sub"]);
        validation.leeway = 5;
        validation.validate_nbf = true;
        Ok(Self {
            decoding: Arc::new(decoding),
            encoding: None,
            validation,
            dev_login: false,
        })
    }

    /// The same, with the development sign-in (`POST /dev/login`) on: anyone may then mint a
    /// token for any role and name, so it is for a machine of one's own, never for a
    /// deployment with real users. Refused when tokens cannot be minted (RS256).
    pub fn with_dev_login(mut self) -> Result<Self, InvalidKey> {
        if self.encoding.is_none() {
            return Err(InvalidKey(
                "the development sign-in mints tokens, which needs EATS_JWT_SECRET, not a public key"
                    .into(),
            ));
        }
        self.dev_login = true;
        Ok(self)
    }

    /// Whether `POST /dev/login` mints tokens here.
    pub fn dev_login(&self) -> bool {
        self.dev_login
    }

    /// Checks a token's signature, expiry and claims.
    pub fn verify(&self, token: &str) -> Result<Claims, Problem> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map(|data| data.claims)
            .map_err(|e| {
                let detail = match e.kind() {
                    jsonwebtoken::errors::ErrorKind::ExpiredSignature => {
                        "the token has expired".to_string()
                    }
                    jsonwebtoken::errors::ErrorKind::InvalidSignature => {
                        "the token's signature is invalid".to_string()
                    }
                    jsonwebtoken::errors::ErrorKind::ImmatureSignature => {
                        "the token is not valid yet (nbf)".to_string()
                    }
                    _ => format!("the token is invalid: {e}"),
                };
                unauthorized(detail)
            })
    }

    /// A token for `sub` as `role`, valid for `ttl`; for development and tests.
    pub fn mint(&self, sub: Uuid, role: Role, ttl: chrono::Duration) -> Result<String, InvalidKey> {
        let key = self
            .encoding
            .as_ref()
            .ok_or_else(|| InvalidKey("tokens can only be minted with EATS_JWT_SECRET".into()))?;
        let claims = Claims {
            sub,
            role,
            exp: (chrono::Utc::now() + ttl).timestamp(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, key)
            .map_err(|e| InvalidKey(e.to_string()))
    }
}

fn unauthorized(detail: impl Into<String>) -> Problem {
    Problem::new(
        ProblemKind {
            status: 401,
            slug: "unauthorized",
            title: "Not authenticated",
            field: None,
        },
        detail,
    )
}

/// A bearer JWT: `Authorization: Bearer <token>` with claims `sub`, `role` and `exp`.
#[derive(SecurityScheme)]
#[oai(ty = "bearer", bearer_format = "JWT", checker = "check")]
pub struct User(pub Claims);

async fn check(request: &Request, bearer: Bearer) -> poem::Result<Claims> {
    let auth = request
        .data::<Auth>()
        .ok_or_else(|| ApiError::from(unauthorized("authentication is not configured")))?;
    auth.verify(&bearer.token)
        .map_err(|p| ApiError::from(p).into())
}

impl User {
    /// The user, if they have `role`; 403 otherwise.
    pub fn require(&self, role: Role) -> Result<Uuid, ApiError> {
        if self.0.role == role {
            Ok(self.0.sub)
        } else {
            Err(Problem::new(
                ProblemKind {
                    status: 403,
                    slug: "wrong-role",
                    title: "Not allowed for this role",
                    field: None,
                },
                format!("this needs the {role} role; the token has {}", self.0.role),
            )
            .into())
        }
    }
}

/// The verified token user of a request, cached in its extensions by the outermost layer.
#[derive(Clone, Debug)]
pub struct Principal(pub String);

/// The token's user id when it is present and valid, for rate limiting and idempotency keys.
pub fn principal(request: &Request) -> Option<String> {
    if let Some(Principal(user)) = request.extensions().get::<Principal>() {
        return Some(user.clone());
    }
    let auth = request.data::<Auth>()?;
    let header = request.headers().get("authorization")?.to_str().ok()?;
    let token = header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))?;
    auth.verify(token).ok().map(|c| c.sub.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    #[test]
    fn a_minted_token_verifies_and_a_tampered_one_does_not() {
        let auth = Auth::hs256(SECRET).expect("key");
        let sub = Uuid::new_v4();
        let token = auth
            .mint(sub, Role::Rider, chrono::Duration::minutes(5))
            .expect("mint");
        assert_eq!(auth.verify(&token).expect("valid").sub, sub);
        let other = Auth::hs256(b"another-secret-another-secret-32b").expect("key");
        assert_eq!(other.verify(&token).map_err(|p| p.status), Err(401));
        let expired = auth
            .mint(sub, Role::Rider, chrono::Duration::minutes(-5))
            .expect("mint");
        assert!(auth
            .verify(&expired)
            .expect_err("expired")
            .detail
            .contains("expired"));
    }

    #[test]
    fn a_token_whose_nbf_is_in_the_future_is_refused() {
        let auth = Auth::hs256(SECRET).expect("key");
        let now = chrono::Utc::now().timestamp();
        let claims = serde_json::json!({
            "sub": Uuid::new_v4(), "role": "customer", "exp": now + 3_600, "nbf": now + 600,
        });
        let key = EncodingKey::from_secret(SECRET);
        let token =
            jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &key).expect("encode");
        let refused = auth.verify(&token).expect_err("not valid yet");
        assert_eq!(
            (refused.status, refused.detail.contains("nbf")),
            (401, true)
        );
    }

    #[test]
    fn short_secrets_are_refused() {
        assert!(Auth::hs256(b"short").is_err());
    }
}
