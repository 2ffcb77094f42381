//! ETags and `If-None-Match` for immutable content.

/// `Cache-Control` of everything under `/ipfs/`: content-addressed bytes never change.
pub const IMMUTABLE_CACHE_CONTROL: &str = "public, max-age=29030400, immutable";

/// Whether an `If-None-Match` header value matches `etag` (weak comparison, RFC 9110 §13.1.2).
pub fn if_none_match_matches(header: &str, etag: &str) -> bool {
    let want = strip_weak(etag.trim());
    header.split(',').map(str::trim).any(|candidate| {
        candidate == "*" || (!candidate.is_empty() && strip_weak(candidate) == want)
    })
}

fn strip_weak(tag: &str) -> &str {
    tag.strip_prefix("W/").unwrap_or(tag)
}

/// FNV-1a (64-bit): a stable, dependency-free digest for ETag suffixes (not for security).
pub fn fnv1a(parts: &[&str]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for b in part.bytes().chain(std::iter::once(0)) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matching() {
        let tag = "\"bafyabc\"";
        assert!(if_none_match_matches("\"bafyabc\"", tag));
        assert!(if_none_match_matches("W/\"bafyabc\"", tag));
        assert!(if_none_match_matches("\"x\", \"bafyabc\"", tag));
        assert!(if_none_match_matches("*", tag));
        assert!(!if_none_match_matches("\"bafyabd\"", tag));
        assert!(!if_none_match_matches("", tag));
        assert!(!if_none_match_matches("bafyabc", tag));
    }

    #[test]
    fn digest_separates_parts() {
        assert_ne!(fnv1a(&["ab", "c"]), fnv1a(&["a", "bc"]));
        assert_eq!(fnv1a(&["x"]), fnv1a(&["x"]));
    }
}
