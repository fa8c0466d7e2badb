//! The web app (`web/`, built into `web/dist` and committed), served from inside the binary
//! at `/`, so `eats serve` opens a working app with nothing else installed.
//!
//! Paths of the server's own (`/api/...`, `/docs`, `/openapi.json`, ops) go on to the API;
//! every other `GET` is a file of the build, or `index.html` for the app's own routes
//! (`/orders/…`), so a reload or a shared link opens the right page. Vite names the files
//! under `assets/` by their content's hash, so they are cached for a year; `index.html`,
//! which names the current ones, is revalidated every time. The app's pages carry a
//! Content-Security-Policy that allows only this origin.

use poem::http::{header, Method, StatusCode};
use poem::{Endpoint, IntoResponse, Request, Response};
use rust_embed::RustEmbed;

#[derive(RustEmbed)]
#[folder = "web/dist"]
struct Dist;

/// Only this origin: the build inlines no scripts or styles, fetches nothing elsewhere
/// (no CDN, no map tiles), and may not be framed.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; font-src 'self'; connect-src 'self'; object-src 'none'; \
     base-uri 'self'; form-action 'self'; frame-ancestors 'none'";

/// Paths that belong to the server, never to the app: a miss there is the API's 404.
const SERVER_PATHS: [&str; 6] = [
    "/api/",
    "/docs",
    "/openapi.json",
    "/healthz",
    "/readyz",
    "/metrics",
];

fn server_path(path: &str) -> bool {
    path == "/api" || SERVER_PATHS.iter().any(|p| path.starts_with(p))
}

/// `inner` (the API and ops routes), with the web app in front of every other `GET`.
pub struct WebApp<E>(pub E);

impl<E: Endpoint> Endpoint for WebApp<E> {
    type Output = Response;

    async fn call(&self, request: Request) -> poem::Result<Response> {
        let method = request.method();
        if (method == Method::GET || method == Method::HEAD) && !server_path(request.uri().path()) {
            let seen = request
                .headers()
                .get(header::IF_NONE_MATCH)
                .and_then(|v| v.to_str().ok());
            return Ok(asset(request.uri().path(), seen));
        }
        self.0.call(request).await.map(IntoResponse::into_response)
    }
}

/// The file at `path`, or `index.html` when there is none (a route of the app).
/// `seen` is the client's `If-None-Match`: the same ETag answers 304 without the body.
fn asset(path: &str, seen: Option<&str>) -> Response {
    let name = path.trim_start_matches('/');
    let (name, file) = match Dist::get(name).filter(|_| !name.is_empty()) {
        Some(file) => (name, file),
        None => match Dist::get("index.html") {
            Some(file) => ("index.html", file),
            None => {
                return Response::builder()
                    .status(StatusCode::NOT_FOUND)
                    .body("the web app was not built into this binary")
            }
        },
    };
    let cache = if name.starts_with("assets/") {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    let etag = format!(
        "\"{}\"",
        file.metadata
            .sha256_hash()
            .iter()
            .take(16)
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );
    let response = Response::builder()
        .header(header::CACHE_CONTROL, cache)
        .header(header::ETAG, &etag)
        .header(header::CONTENT_SECURITY_POLICY, CSP);
    if seen == Some(etag.as_str()) {
        return response.status(StatusCode::NOT_MODIFIED).finish();
    }
    response
        .header(header::CONTENT_TYPE, file.metadata.mimetype())
        .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
        .header(header::REFERRER_POLICY, "no-referrer")
        .body(file.data.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_servers_own_paths_never_fall_back_to_the_app() {
        for path in [
            "/api",
            "/api/v1/nope",
            "/docs",
            "/docs/index.html",
            "/openapi.json",
            "/metrics",
        ] {
            assert!(server_path(path), "{path}");
        }
        for path in ["/", "/orders/1", "/apix", "/assets/index-abc.js"] {
            assert!(!server_path(path), "{path}");
        }
    }
}
