//! The development sign-in: a role and a name get a token, so the web app works on a machine
//! with no identity provider. Off unless the server turned it on ([`Auth::with_dev_login`]);
//! then it answers 404, as if it did not exist.

use chrono::Utc;
use poem::Request;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, OpenApi};
use uuid::Uuid;

use crate::auth::{Auth, Role};
use crate::problem::{ApiError, Problem, ProblemKind};
use crate::types::{DevLogin, DevRole, DevToken};
use crate::ApiTags;

/// How long a development token lasts: a working day.
const TTL_HOURS: i64 = 12;

/// Namespace of the user ids the sign-in derives from role and name (UUID v5).
const USERS: Uuid = Uuid::from_u128(0x0000ea75_de00_4000_8000_000000000000);

/// The development sign-in.
pub struct DevApi;

/// A token was minted.
#[derive(ApiResponse)]
pub enum Minted {
    /// The token and who it names.
    #[oai(status = 200)]
    Ok(Json<DevToken>),
}

impl From<DevRole> for Role {
    fn from(role: DevRole) -> Self {
        match role {
            DevRole::Customer => Role::Customer,
            DevRole::StoreOwner => Role::StoreOwner,
            DevRole::Rider => Role::Rider,
            DevRole::Admin => Role::Admin,
        }
    }
}

/// The user a role and name sign in as: the same pair is always the same user.
pub fn user_id(role: Role, name: &str) -> Uuid {
    Uuid::new_v5(&USERS, format!("{role}:{}", name.trim()).as_bytes())
}

#[OpenApi(tag = "ApiTags::Dev")]
impl DevApi {
    /// Development sign-in: a token for any role and name, without a password. Only on a
    /// server that enabled it (on by default in embedded mode, `EATS_DEV_LOGIN=1` elsewhere);
    /// otherwise 404 `dev-login-disabled`, and tokens come from your identity provider.
    #[oai(path = "/dev/login", method = "post", operation_id = "devLogin")]
    async fn login(&self, request: &Request, body: Json<DevLogin>) -> Result<Minted, ApiError> {
        let auth = request
            .data::<Auth>()
            .filter(|auth| auth.dev_login())
            .ok_or_else(disabled)?;
        let role = Role::from(body.0.role);
        let name = body.0.name.0.trim().to_string();
        let sub = user_id(role, &name);
        let ttl = chrono::Duration::hours(TTL_HOURS);
        let token = auth.mint(sub, role, ttl).map_err(|e| {
            ApiError::from(Problem::new(
                ProblemKind {
                    status: 500,
                    slug: "cannot-mint",
                    title: "Cannot mint a token",
                    field: None,
                },
                e.to_string(),
            ))
        })?;
        Ok(Minted::Ok(Json(DevToken {
            token,
            user_id: sub.to_string(),
            role: body.0.role,
            name,
            expires_at: Utc::now() + ttl,
        })))
    }
}

fn disabled() -> ApiError {
    Problem::new(
        ProblemKind {
            status: 404,
            slug: "dev-login-disabled",
            title: "Development sign-in is off",
            field: None,
        },
        "this server takes tokens from its identity provider; the development sign-in is off \
         (EATS_DEV_LOGIN=1 turns it on)",
    )
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_role_and_name_are_the_same_user_and_another_role_is_not() {
        assert_eq!(
            user_id(Role::Customer, "김민지"),
            user_id(Role::Customer, " 김민지 ")
        );
        assert_ne!(
            user_id(Role::Customer, "김민지"),
            user_id(Role::Rider, "김민지")
        );
    }
}
