//! Gateway failures and their statuses: bad input is 4xx, missing content is 404 (or 504 when
//! the network ran out of time), genuine server faults are 5xx.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chorus_protocol::unixfs::ReadError;
use chorus_storage::Cid;
use thiserror::Error;

use crate::fetch::FetchError;

/// Why a gateway request failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum GatewayError {
    /// Malformed CID, path or parameters.
    #[error("{0}")]
    BadRequest(String),
    /// The path does not exist in the (present) DAG, or its root is unavailable offline.
    #[error("{0}")]
    NotFound(String),
    /// The network did not deliver content in time.
    #[error("{0}")]
    Timeout(String),
    /// Content exists but cannot be rendered this way (non-UnixFS codec, HAMT variant, ...).
    #[error("{0}")]
    NotImplemented(String),
    /// The DAG is malformed (a block decodes to nonsense).
    #[error("{0}")]
    BadContent(String),
    /// This node failed (store I/O, dead task).
    #[error("{0}")]
    Internal(String),
    /// The chain delisted this content (its owner took it down): 451, as a denylist answers.
    #[error("{0}")]
    Delisted(String),
    /// A `Range` that starts past the end.
    #[error("range not satisfiable for {size} bytes")]
    RangeNotSatisfiable {
        /// The entity size, for `Content-Range: bytes */size`.
        size: u64,
    },
}

impl GatewayError {
    /// Classifies a block fetch failure.
    pub fn from_fetch(err: &FetchError) -> Self {
        match err {
            FetchError::NotFoundOffline { .. } => GatewayError::NotFound(err.to_string()),
            FetchError::Timeout { .. } => GatewayError::Timeout(err.to_string()),
            _ => GatewayError::Internal(err.to_string()),
        }
    }

    /// Classifies a UnixFS read failure.
    pub fn from_read(err: ReadError) -> Self {
        match &err {
            ReadError::Fetch { source, .. } => match source.downcast_ref::<FetchError>() {
                Some(fetch) => GatewayError::from_fetch(fetch),
                None => GatewayError::Internal(err.to_string()),
            },
            ReadError::NotFound { .. } | ReadError::NotADirectory { .. } => {
                GatewayError::NotFound(err.to_string())
            }
            ReadError::InvalidPath(_) => GatewayError::BadRequest(err.to_string()),
            ReadError::UnsupportedCodec { .. }
            | ReadError::Unsupported { .. }
            | ReadError::NotAFile { .. }
            | ReadError::TooManyEntries { .. } => GatewayError::NotImplemented(err.to_string()),
            ReadError::Decode { .. } | ReadError::Corrupt { .. } => {
                GatewayError::BadContent(err.to_string())
            }
            _ => GatewayError::Internal(err.to_string()),
        }
    }

    /// A CID whose codec the deserialized response cannot render.
    pub fn unsupported_codec(cid: &Cid) -> Self {
        GatewayError::NotImplemented(format!(
            "{cid} has codec 0x{:x}, which is not UnixFS; request ?format=raw or ?format=car",
            cid.codec()
        ))
    }

    /// The response status.
    pub fn status(&self) -> StatusCode {
        match self {
            GatewayError::BadRequest(_) => StatusCode::BAD_REQUEST,
            GatewayError::NotFound(_) => StatusCode::NOT_FOUND,
            GatewayError::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
            GatewayError::NotImplemented(_) => StatusCode::NOT_IMPLEMENTED,
            GatewayError::BadContent(_) => StatusCode::BAD_GATEWAY,
            GatewayError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            GatewayError::RangeNotSatisfiable { .. } => StatusCode::RANGE_NOT_SATISFIABLE,
            GatewayError::Delisted(_) => StatusCode::UNAVAILABLE_FOR_LEGAL_REASONS,
        }
    }
}

impl IntoResponse for GatewayError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() && status != StatusCode::GATEWAY_TIMEOUT {
            tracing::warn!(error = %self, "gateway request failed");
        }
        let mut response = (
            status,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!("{}\n", self),
        )
            .into_response();
        if let GatewayError::RangeNotSatisfiable { size } = self
            && let Ok(v) = header::HeaderValue::from_str(&format!("bytes */{size}"))
        {
            response.headers_mut().insert(header::CONTENT_RANGE, v);
        }
        response
    }
}
