//! `/api/v0/config`, `config/show` and `config/replace`: the node's settings, kubo's shapes,
//! over the binary's [`ConfigService`](crate::ConfigService) (the same code as `chorus config`).

use axum::body::Body;
use axum::extract::{Extension, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Serialize;
use serde_json::Value;

use super::args::Args;
use super::error::ApiError;
use super::respond::{body_error, multipart, ndjson};
use super::upload_guard::UploadLimits;
use crate::config_service::ConfigService;
use crate::context::NodeContext;

/// Largest config file `config/replace` accepts.
const MAX_CONFIG_BYTES: usize = 1024 * 1024;

#[derive(Debug, Serialize)]
struct KeyValue {
    #[serde(rename = "Key")]
    key: String,
    #[serde(rename = "Value")]
    value: Value,
}

fn service(ctx: &NodeContext) -> Result<std::sync::Arc<dyn ConfigService>, ApiError> {
    ctx.core()
        .config_service()
        .ok_or_else(|| ApiError::Failed("this node has no config file to edit".to_owned()))
}

fn failed(e: crate::config_service::ConfigError) -> ApiError {
    ApiError::Failed(e.0)
}

/// `config?arg=KEY` reads a key; `config?arg=KEY&arg=VALUE` sets it (a string, or JSON with
/// `json=true`, a boolean with `bool=true`), answering `{"Key","Value"}` as kubo does.
pub(crate) async fn config(
    State(ctx): State<NodeContext>,
    args: Args,
) -> Result<Response, ApiError> {
    let service = service(&ctx)?;
    let key = args.required("key")?.to_owned();
    let as_json = args.bool("json", false)?;
    let as_bool = args.bool("bool", false)?;
    let value = match args.positional().get(1) {
        None => service.get(&key).map_err(failed)?,
        Some(raw) => {
            let value = if as_json {
                serde_json::from_str(raw)
                    .map_err(|e| ApiError::invalid("value", raw, format!("not JSON: {e}")))?
            } else if as_bool {
                Value::Bool(
                    super::args::parse_bool(raw)
                        .ok_or_else(|| ApiError::invalid("value", raw, "expected a boolean"))?,
                )
            } else {
                Value::String(raw.clone())
            };
            service.set(&key, &value).map_err(failed)?;
            value
        }
    };
    ndjson(&[KeyValue { key, value }])
}

/// `config/show`: every setting as JSON.
pub(crate) async fn show(State(ctx): State<NodeContext>) -> Result<Response, ApiError> {
    let value = service(&ctx)?.show().map_err(failed)?;
    ndjson(&[value])
}

/// `config/replace`: a multipart file holding the new `config.toml`.
pub(crate) async fn replace(
    State(ctx): State<NodeContext>,
    Extension(upload): Extension<UploadLimits>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let service = service(&ctx)?;
    let (mut parts, rest) = multipart(&headers, body, upload)?;
    let mut text = Vec::new();
    if let Some(mut field) = parts.next_field().await.map_err(body_error)? {
        while let Some(chunk) = field.chunk().await.map_err(body_error)? {
            if text.len() + chunk.len() > MAX_CONFIG_BYTES {
                return Err(ApiError::InvalidBody {
                    reason: format!("config larger than {MAX_CONFIG_BYTES} bytes"),
                });
            }
            text.extend_from_slice(&chunk);
        }
    } else {
        return Err(ApiError::InvalidBody {
            reason: "no config file in the request (expected a multipart file)".to_owned(),
        });
    }
    drop(parts);
    rest.drain().await;
    let text = String::from_utf8(text).map_err(|_| ApiError::InvalidBody {
        reason: "the config is not UTF-8".to_owned(),
    })?;
    service.replace(&text).map_err(failed)?;
    ndjson::<Value>(&[])
}
