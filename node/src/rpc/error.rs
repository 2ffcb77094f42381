//! RPC errors in kubo's shape: `{"Message":…,"Code":…,"Type":"error"}` with kubo's statuses
//! (400 for malformed arguments, 404 for unknown endpoints, 405 for a wrong method, 500 for a
//! command that ran and failed).

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chorus_protocol::unixfs::ReadError;
use chorus_storage::{Cid, PinError, StoreError};
use serde::Serialize;
use thiserror::Error;

use crate::core::CoreError;
use crate::fetch::FetchError;

/// kubo's message when a command needs the network (`ErrNotOnline`).
pub const OFFLINE_MESSAGE: &str =
    "this action must be run in online mode, try running 'chorus daemon' first";

/// go-ipfs-cmds error codes carried in the `Code` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorCode {
    /// `ErrNormal` (0): the command failed.
    Normal = 0,
    /// `ErrClient` (1): the request was malformed.
    Client = 1,
    /// `ErrImplementation` (2): a bug on our side.
    Implementation = 2,
    /// `ErrNotFound` (3): no such endpoint.
    NotFound = 3,
}

/// An RPC failure; renders as kubo's JSON error object.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ApiError {
    /// A required positional argument (`arg=`) is missing.
    #[error("argument \"{name}\" is required")]
    MissingArgument {
        /// kubo's name for the argument.
        name: &'static str,
    },
    /// An argument or option could not be parsed.
    #[error("invalid value {value:?} for {name}: {reason}")]
    InvalidArgument {
        /// Argument or option name.
        name: String,
        /// What was sent.
        value: String,
        /// Why it was refused.
        reason: String,
    },
    /// The request body is not what the command expects.
    #[error("invalid request body: {reason}")]
    InvalidBody {
        /// What is wrong with it.
        reason: String,
    },
    /// The request is over one of the listener's bounds (upload parts, part headers).
    #[error("request too large: {reason}")]
    TooLarge {
        /// Which bound.
        reason: String,
    },
    /// The client stopped sending the request body.
    #[error("request body timed out: no data within limits.http_body_idle_timeout_secs")]
    RequestTimeout,
    /// The command needs the network and the node is offline.
    #[error("{OFFLINE_MESSAGE}")]
    Offline,
    /// The command ran and failed.
    #[error("{0}")]
    Failed(String),
    /// A block could not be obtained.
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// Reading UnixFS content failed (missing block, not a file, corrupt node, ...).
    #[error(transparent)]
    Read(#[from] ReadError),
    /// The pin set refused or failed.
    #[error(transparent)]
    Pin(#[from] PinError),
    /// The blockstore failed.
    #[error("{context}: {source}")]
    Store {
        /// What was being done (operation and CID).
        context: String,
        /// The store's error.
        #[source]
        source: StoreError,
    },
    /// No such endpoint.
    #[error("404 page not found: {path}")]
    UnknownEndpoint {
        /// The requested path.
        path: String,
    },
    /// The endpoint exists but not for this HTTP method.
    #[error("{method} is not allowed on the RPC API: use POST")]
    MethodNotAllowed {
        /// The refused method.
        method: String,
    },
    /// What was asked about does not exist (e.g. `chain/owner` of an unregistered CID).
    #[error("{0}")]
    NotFound(String),
    /// The bearer token is missing or wrong.
    #[error("missing or invalid API authorization")]
    Forbidden,
    /// The request named a host the API does not answer for (DNS rebinding protection).
    #[error(
        "host {host:?} is not allowed to use the API: use localhost or an IP address, or set api.auth_token"
    )]
    HostNotAllowed {
        /// The `Host` header as sent.
        host: String,
    },
    /// The core failed.
    #[error(transparent)]
    Core(#[from] CoreError),
    /// A blocking task died before answering.
    #[error("internal error while {context}")]
    Internal {
        /// What was being done.
        context: String,
    },
}

impl ApiError {
    /// Shorthand for [`ApiError::InvalidArgument`].
    pub fn invalid(name: &str, value: &str, reason: impl ToString) -> Self {
        ApiError::InvalidArgument {
            name: name.to_owned(),
            value: value.to_owned(),
            reason: reason.to_string(),
        }
    }

    /// Shorthand for a store failure while working on `cid`.
    pub fn store(op: &str, cid: &Cid, source: StoreError) -> Self {
        ApiError::Store {
            context: format!("{op} {cid}"),
            source,
        }
    }

    /// HTTP status and go-ipfs-cmds code of this error.
    pub fn status_and_code(&self) -> (StatusCode, ErrorCode) {
        match self {
            ApiError::MissingArgument { .. }
            | ApiError::InvalidArgument { .. }
            | ApiError::InvalidBody { .. } => (StatusCode::BAD_REQUEST, ErrorCode::Client),
            ApiError::UnknownEndpoint { .. } | ApiError::NotFound(_) => {
                (StatusCode::NOT_FOUND, ErrorCode::NotFound)
            }
            ApiError::TooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, ErrorCode::Client),
            ApiError::RequestTimeout => (StatusCode::REQUEST_TIMEOUT, ErrorCode::Client),
            ApiError::MethodNotAllowed { .. } => {
                (StatusCode::METHOD_NOT_ALLOWED, ErrorCode::Client)
            }
            ApiError::Forbidden | ApiError::HostNotAllowed { .. } => {
                (StatusCode::FORBIDDEN, ErrorCode::Client)
            }
            ApiError::Internal { .. } => {
                (StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::Implementation)
            }
            ApiError::Offline
            | ApiError::Failed(_)
            | ApiError::Fetch(_)
            | ApiError::Read(_)
            | ApiError::Pin(_)
            | ApiError::Store { .. } => (StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::Normal),
            ApiError::Core(CoreError::Refused(r)) if r.is_malformed() => {
                (StatusCode::BAD_REQUEST, ErrorCode::Client)
            }
            ApiError::Core(CoreError::Refused(_)) => (StatusCode::FORBIDDEN, ErrorCode::Client),
            ApiError::Core(CoreError::TaskFailed { .. }) => {
                (StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::Implementation)
            }
            ApiError::Core(_) => (StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::Normal),
        }
    }
}

/// The JSON body kubo sends for errors.
#[derive(Debug, Serialize)]
pub(crate) struct ErrorBody {
    #[serde(rename = "Message")]
    pub(crate) message: String,
    #[serde(rename = "Code")]
    pub(crate) code: u8,
    #[serde(rename = "Type")]
    pub(crate) kind: &'static str,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        if status.is_server_error() {
            tracing::warn!(error = %self, "RPC command failed");
        }
        let body = ErrorBody {
            message: self.to_string(),
            code: code as u8,
            kind: "error",
        };
        (status, Json(body)).into_response()
    }
}
