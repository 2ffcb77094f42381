//! `[limits]`: what one request, one upload or one piece of content may cost the node.
//!
//! The defaults are the library's, each named there with its origin and worst case:
//! [`ListLimits`], [`HttpLimits`], [`UploadLimits`].

use std::time::Duration;

use chorus_node::HttpLimits;
use chorus_node::rpc::UploadLimits;
use chorus_protocol::unixfs::ListLimits;
use serde::{Deserialize, Serialize};

/// `[limits]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// Entries one directory listing may hold (gateway page, `ls`, `get`, CAR export).
    pub max_directory_entries: usize,
    /// Open connections per HTTP listener; more are answered 429 and closed.
    pub http_max_connections: usize,
    /// Seconds to send a request's headers (and to idle between keep-alive requests).
    pub http_header_timeout_secs: u64,
    /// Seconds a request body may go without a byte (then 408).
    pub http_body_idle_timeout_secs: u64,
    /// Parts of one multipart upload (then 413).
    pub max_upload_parts: usize,
    /// Header bytes of one multipart part (then 413).
    pub max_part_header_bytes: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        let http = HttpLimits::default();
        let upload = UploadLimits::default();
        LimitsConfig {
            max_directory_entries: ListLimits::default().max_entries,
            http_max_connections: http.max_connections,
            http_header_timeout_secs: http.header_timeout.as_secs(),
            http_body_idle_timeout_secs: http.body_idle_timeout.as_secs(),
            max_upload_parts: upload.max_parts,
            max_part_header_bytes: upload.max_part_header_bytes,
        }
    }
}

impl LimitsConfig {
    /// The bounds on directory listings.
    pub fn list(&self) -> ListLimits {
        ListLimits {
            max_entries: self.max_directory_entries,
        }
    }

    /// The bounds of every HTTP listener.
    pub fn http(&self) -> HttpLimits {
        HttpLimits {
            max_connections: self.http_max_connections,
            header_timeout: Duration::from_secs(self.http_header_timeout_secs),
            body_idle_timeout: Duration::from_secs(self.http_body_idle_timeout_secs),
        }
    }

    /// The bounds on RPC multipart uploads.
    pub fn upload(&self) -> UploadLimits {
        UploadLimits {
            max_parts: self.max_upload_parts,
            max_part_header_bytes: self.max_part_header_bytes,
        }
    }

    /// The `[limits]` section of the file `chorus init` writes.
    pub fn commented_toml(&self) -> String {
        format!(
            r#"[limits]
# What one request, upload or piece of content may cost this node.
# Entries one directory listing may hold (gateway page, ls, get, CAR export); a larger
# directory is refused with a clear error (HTTP 501 on the gateway).
max_directory_entries = {}
# Open connections per HTTP listener (API, gateway, metrics); more are answered 429.
http_max_connections = {}
# Seconds a client has to send a request's headers; also the longest keep-alive idle.
http_header_timeout_secs = {}
# Seconds a request body may go without a byte before the request fails with 408.
http_body_idle_timeout_secs = {}
# Parts one multipart upload may hold (RPC add: one per file and directory); more: 413.
max_upload_parts = {}
# Header bytes of one multipart part; more: 413.
max_part_header_bytes = {}
"#,
            self.max_directory_entries,
            self.http_max_connections,
            self.http_header_timeout_secs,
            self.http_body_idle_timeout_secs,
            self.max_upload_parts,
            self.max_part_header_bytes,
        )
    }
}
