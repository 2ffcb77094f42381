//! Bounds on a multipart upload that multer does not enforce: the number of parts and the
//! size of each part's headers.
//!
//! multer reads a part's headers by buffering until it sees the blank line that ends them,
//! so one part whose headers never end holds the whole body in memory (a 210 MB header was
//! accepted); it also has no cap on the number of parts. Data sizes cannot be capped (an
//! `add` may be gigabytes). The guard sits between the request body and multer and scans the
//! raw bytes for the delimiters (`\r\n--boundary`): it counts parts, and counts the bytes from
//! each delimiter to the end of that part's headers (`\r\n\r\n`). Either bound failing ends
//! the body with an [`UploadLimitError`], which the RPC answers with 413.
//!
//! The scan is written here rather than found in a crate because it must see exactly the
//! bytes multer sees; it is `memchr`'s substring search over each chunk, with the last few
//! bytes of the previous chunk carried over so a delimiter split between chunks is found.

use memchr::memmem;
use thiserror::Error;

/// kubo's Go `mime/multipart` reader allows 10 MiB of headers per part; its clients send a
/// `Content-Disposition` naming a path (at most 4 KiB on Linux) and a `Content-Type`, so
/// 64 KiB is room for any of them while bounding what multer buffers.
pub const DEFAULT_MAX_PART_HEADER_BYTES: usize = 64 * 1024;
/// Parts of one upload (RPC `add`: one per file and directory). Go's reader as kubo streams
/// it has no cap; each part costs a line of output and an entry of the directory being built
/// (a few hundred bytes), so this default bounds that at tens of MB.
pub const DEFAULT_MAX_UPLOAD_PARTS: usize = 100_000;

/// The end of a part's headers.
const HEADERS_END: &[u8] = b"\r\n\r\n";

/// Bounds on one multipart upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UploadLimits {
    /// Parts one upload may hold.
    pub max_parts: usize,
    /// Bytes from a part's delimiter to the end of its headers.
    pub max_part_header_bytes: usize,
}

impl Default for UploadLimits {
    fn default() -> Self {
        UploadLimits {
            max_parts: DEFAULT_MAX_UPLOAD_PARTS,
            max_part_header_bytes: DEFAULT_MAX_PART_HEADER_BYTES,
        }
    }
}

/// An upload over its [`UploadLimits`].
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum UploadLimitError {
    /// More parts than allowed.
    #[error("the upload has more than {limit} parts (limits.max_upload_parts)")]
    TooManyParts {
        /// The limit.
        limit: usize,
    },
    /// A part's headers are longer than allowed.
    #[error("a part's headers are longer than {limit} bytes (limits.max_part_header_bytes)")]
    PartHeaderTooLarge {
        /// The limit.
        limit: usize,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// In a part's data (or the preamble): looking for the next delimiter.
    Data,
    /// Just past a delimiter: `--` next means the closing one, anything else a new part.
    AfterDelimiter,
    /// In a part's headers, `seen` bytes so far.
    Headers { seen: usize },
    /// Past the closing delimiter: the epilogue is not scanned.
    Closed,
}

/// The scanner: feed it the body's chunks in order.
#[derive(Debug)]
pub(crate) struct PartScanner {
    delimiter: Vec<u8>,
    limits: UploadLimits,
    stage: Stage,
    parts: usize,
    /// Unscanned bytes carried from the previous chunk, then the current chunk.
    window: Vec<u8>,
}

impl PartScanner {
    /// A scanner for the body of a `multipart/*; boundary=<boundary>` request.
    pub(crate) fn new(boundary: &str, limits: UploadLimits) -> Self {
        let mut delimiter = b"\r\n--".to_vec();
        delimiter.extend_from_slice(boundary.as_bytes());
        PartScanner {
            delimiter,
            limits,
            stage: Stage::Data,
            parts: 0,
            // The first delimiter may open the body with no CRLF before it.
            window: b"\r\n".to_vec(),
        }
    }

    /// Scans the next chunk of the body.
    pub(crate) fn feed(&mut self, chunk: &[u8]) -> Result<(), UploadLimitError> {
        if self.stage == Stage::Closed {
            return Ok(());
        }
        self.window.extend_from_slice(chunk);
        let mut pos = 0;
        let keep_from = loop {
            let rest = &self.window[pos..];
            match self.stage {
                Stage::Closed => break self.window.len(),
                Stage::Data => match memmem::find(rest, &self.delimiter) {
                    Some(i) => {
                        pos += i + self.delimiter.len();
                        self.stage = Stage::AfterDelimiter;
                    }
                    // Keep what could be the start of a delimiter split by the chunking.
                    None => {
                        break self
                            .window
                            .len()
                            .saturating_sub(self.delimiter.len() - 1)
                            .max(pos);
                    }
                },
                Stage::AfterDelimiter => {
                    if rest.len() < 2 {
                        break pos;
                    }
                    if rest.starts_with(b"--") {
                        self.stage = Stage::Closed;
                        continue;
                    }
                    self.parts += 1;
                    if self.parts > self.limits.max_parts {
                        return Err(UploadLimitError::TooManyParts {
                            limit: self.limits.max_parts,
                        });
                    }
                    self.stage = Stage::Headers { seen: 0 };
                }
                Stage::Headers { seen } => {
                    let (consumed, found) = match memmem::find(rest, HEADERS_END) {
                        Some(i) => (i + HEADERS_END.len(), true),
                        None => (rest.len().saturating_sub(HEADERS_END.len() - 1), false),
                    };
                    let seen = seen + consumed;
                    if seen > self.limits.max_part_header_bytes {
                        return Err(UploadLimitError::PartHeaderTooLarge {
                            limit: self.limits.max_part_header_bytes,
                        });
                    }
                    pos += consumed;
                    if !found {
                        self.stage = Stage::Headers { seen };
                        break pos;
                    }
                    self.stage = Stage::Data;
                }
            }
        };
        self.window.drain(..keep_from);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(parts: &[(&str, &str)]) -> Vec<u8> {
        let mut b = Vec::new();
        for (headers, data) in parts {
            b.extend_from_slice(format!("--XyZ\r\n{headers}\r\n\r\n{data}\r\n").as_bytes());
        }
        b.extend_from_slice(b"--XyZ--\r\nepilogue");
        b
    }

    fn scan(bytes: &[u8], chunk: usize, limits: UploadLimits) -> Result<usize, UploadLimitError> {
        let mut s = PartScanner::new("XyZ", limits);
        for c in bytes.chunks(chunk.max(1)) {
            s.feed(c)?;
        }
        Ok(s.parts)
    }

    #[test]
    fn counts_parts_at_every_chunking() {
        let b = body(&[
            (
                "Content-Disposition: form-data; name=\"file\"; filename=\"a\"",
                "aaa",
            ),
            (
                "Content-Type: application/octet-stream",
                "--XyZ is not at a line start",
            ),
            ("Content-Disposition: form-data; name=\"file\"", ""),
        ]);
        for chunk in 1..=b.len() {
            assert_eq!(
                scan(&b, chunk, UploadLimits::default()),
                Ok(3),
                "chunk {chunk}"
            );
        }
    }

    #[test]
    fn refuses_too_many_parts() {
        let b = body(&[("A: 1", "x"), ("A: 2", "y"), ("A: 3", "z")]);
        let limits = UploadLimits {
            max_parts: 2,
            ..UploadLimits::default()
        };
        for chunk in [1, 7, b.len()] {
            assert_eq!(
                scan(&b, chunk, limits),
                Err(UploadLimitError::TooManyParts { limit: 2 })
            );
        }
    }

    #[test]
    fn refuses_endless_part_headers_before_they_end() {
        let limits = UploadLimits {
            max_part_header_bytes: 100,
            ..UploadLimits::default()
        };
        let ok = body(&[(&format!("X: {}", "h".repeat(80)), "data")]);
        assert_eq!(scan(&ok, 3, limits), Ok(1));
        // Headers that never end: refused once 100 bytes have gone by, not at the body's end.
        let mut s = PartScanner::new("XyZ", limits);
        s.feed(b"--XyZ\r\nX: ").unwrap();
        let mut refused = false;
        for _ in 0..20 {
            if s.feed(&[b'h'; 10]).is_err() {
                refused = true;
                break;
            }
        }
        assert!(refused);
        assert!(s.window.len() < 20, "the scanner keeps only a short tail");
    }

    #[test]
    fn data_is_not_buffered() {
        let mut s = PartScanner::new("XyZ", UploadLimits::default());
        s.feed(b"--XyZ\r\nA: 1\r\n\r\n").unwrap();
        for _ in 0..100 {
            s.feed(&[7u8; 4096]).unwrap();
        }
        assert!(s.window.len() < 16);
        s.feed(b"\r\n--XyZ--").unwrap();
        assert_eq!(s.parts, 1);
    }
}
