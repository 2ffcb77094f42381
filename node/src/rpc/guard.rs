//! The checks every RPC call passes before its handler: bearer token, `Host` (DNS rebinding)
//! and browser origin, then HTTP method.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::config::ApiConfig;
use super::error::ApiError;

/// Refuses requests without a valid token when tokens are configured.
pub(crate) async fn require_auth(
    State(config): State<Arc<ApiConfig>>,
    req: Request,
    next: Next,
) -> Response {
    if config.auth_required() && !authorized(&config, &req) {
        return ApiError::Forbidden.into_response();
    }
    if let Some(host) = req.headers().get(header::HOST) {
        let name = String::from_utf8_lossy(host.as_bytes());
        if !config.host_allowed(&name) {
            return ApiError::HostNotAllowed {
                host: name.into_owned(),
            }
            .into_response();
        }
    }
    if let Some(origin) = req.headers().get(header::ORIGIN) {
        let host = req
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok());
        let allowed = origin
            .to_str()
            .is_ok_and(|o| config.origin_allowed(o, host));
        if !allowed {
            return ApiError::Forbidden.into_response();
        }
    }
    next.run(req).await
}

/// Allows POST (and GET when configured); everything else is 405 as in kubo ≥ 0.5.
pub(crate) async fn require_method(
    State(config): State<Arc<ApiConfig>>,
    req: Request,
    next: Next,
) -> Response {
    let method = req.method();
    let allowed = *method == Method::POST || (config.allow_get && *method == Method::GET);
    if !allowed {
        let mut response = ApiError::MethodNotAllowed {
            method: method.to_string(),
        }
        .into_response();
        let allow = if config.allow_get {
            "GET, POST"
        } else {
            "POST"
        };
        response
            .headers_mut()
            .insert(header::ALLOW, header::HeaderValue::from_static(allow));
        return response;
    }
    next.run(req).await
}

fn authorized(config: &ApiConfig, req: &Request) -> bool {
    let Some(value) = req.headers().get(header::AUTHORIZATION) else {
        return false;
    };
    let Ok(value) = value.to_str() else {
        return false;
    };
    let Some((scheme, token)) = value.trim().split_once(' ') else {
        return false;
    };
    if !scheme.eq_ignore_ascii_case("bearer") {
        return false;
    }
    let token = token.trim().as_bytes();
    // Check every configured token without early exit so timing says nothing about which
    // prefix matched.
    config
        .bearer_tokens
        .iter()
        .fold(false, |ok, t| ok | constant_time_eq(t.as_bytes(), token))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
