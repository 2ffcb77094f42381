//! What a gateway request asks for: the content path and the response format with its
//! trustless parameters (`format`, `Accept`, `dag-scope`, `entity-bytes`, `dups`).

use axum::http::HeaderMap;
use axum::http::header::ACCEPT;
use chorus_storage::Cid;

/// Media type of a single raw block.
pub const RAW_MEDIA_TYPE: &str = "application/vnd.ipld.raw";
/// Media type of a CAR stream.
pub const CAR_MEDIA_TYPE: &str = "application/vnd.ipld.car";

/// Why a request is malformed (answered with 400).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRequest(pub String);

/// `/ipfs/<cid>/<segments…>` with each segment percent-decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentPath {
    /// The root CID.
    pub root: Cid,
    /// Path segments below the root (decoded, never empty strings).
    pub segments: Vec<String>,
    /// Whether the request path ended in `/` (directories without it are redirected).
    pub trailing_slash: bool,
}

impl ContentPath {
    /// Parses the part of the URL path after `/ipfs/`.
    pub fn parse(rest: &str) -> Result<Self, BadRequest> {
        let mut parts = rest.split('/');
        let raw_cid = parts.next().unwrap_or_default();
        if raw_cid.is_empty() {
            return Err(BadRequest("missing CID after /ipfs/".to_owned()));
        }
        let cid_text = decode_segment(raw_cid)?;
        let root = Cid::try_from(cid_text.as_str())
            .map_err(|e| BadRequest(format!("invalid CID {cid_text:?}: {e}")))?;
        let mut segments = Vec::new();
        for seg in parts {
            if seg.is_empty() {
                continue;
            }
            let decoded = decode_segment(seg)?;
            if decoded == "." || decoded == ".." || decoded.contains('/') {
                return Err(BadRequest(format!("invalid path segment {decoded:?}")));
            }
            segments.push(decoded);
        }
        Ok(ContentPath {
            root,
            segments,
            trailing_slash: rest.ends_with('/'),
        })
    }

    /// `/ipfs/<root>/<segments>` (the `X-Ipfs-Path` value).
    pub fn display(&self) -> String {
        let mut out = format!("/ipfs/{}", self.root);
        for s in &self.segments {
            out.push('/');
            out.push_str(s);
        }
        out
    }
}

fn decode_segment(seg: &str) -> Result<String, BadRequest> {
    percent_encoding::percent_decode_str(seg)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| BadRequest(format!("path segment {seg:?} is not valid UTF-8")))
}

/// Which DAG blocks a CAR response carries after the path blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DagScope {
    /// Only the terminal block.
    Block,
    /// What is needed to read the terminal entity (a whole file, or a directory's own nodes).
    Entity,
    /// The whole DAG below the terminal block.
    All,
}

impl DagScope {
    fn as_str(self) -> &'static str {
        match self {
            DagScope::Block => "block",
            DagScope::Entity => "entity",
            DagScope::All => "all",
        }
    }
}

/// One end of an `entity-bytes` range: an offset from the start, from the end, or `*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteBound {
    /// Offset from the start.
    FromStart(u64),
    /// Offset back from the end (`-N`).
    FromEnd(u64),
    /// `*`: end of the entity.
    End,
}

/// `entity-bytes=from:to` (inclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntityBytes {
    /// First byte.
    pub from: ByteBound,
    /// Last byte.
    pub to: ByteBound,
}

impl EntityBytes {
    /// Parses `from:to`.
    pub fn parse(s: &str) -> Result<Self, BadRequest> {
        let bad = || BadRequest(format!("invalid entity-bytes {s:?}: expected from:to"));
        let (from, to) = s.split_once(':').ok_or_else(bad)?;
        let bound = |v: &str, star_ok: bool| -> Result<ByteBound, BadRequest> {
            if v == "*" && star_ok {
                Ok(ByteBound::End)
            } else if let Some(n) = v.strip_prefix('-') {
                n.parse().map(ByteBound::FromEnd).map_err(|_| bad())
            } else {
                v.parse().map(ByteBound::FromStart).map_err(|_| bad())
            }
        };
        let parsed = EntityBytes {
            from: bound(from, false)?,
            to: bound(to, true)?,
        };
        if let (ByteBound::FromStart(a), ByteBound::FromStart(b)) = (parsed.from, parsed.to)
            && b < a
        {
            return Err(bad());
        }
        Ok(parsed)
    }

    /// The byte range `start..end` (exclusive) this selects in an entity of `size` bytes;
    /// `None` when it selects nothing.
    pub fn resolve(&self, size: u64) -> Option<(u64, u64)> {
        let start = match self.from {
            ByteBound::FromStart(n) => n,
            ByteBound::FromEnd(n) => size.saturating_sub(n),
            ByteBound::End => size,
        };
        let end_inclusive_plus_one = match self.to {
            ByteBound::FromStart(n) => n.saturating_add(1).min(size),
            // `-N` names the byte N back from the end, inclusive.
            ByteBound::FromEnd(n) if n <= size => (size - n).saturating_add(1).min(size),
            ByteBound::FromEnd(_) => 0,
            ByteBound::End => size,
        };
        (start < end_inclusive_plus_one).then_some((start, end_inclusive_plus_one))
    }

    fn tag(&self) -> String {
        let b = |x: ByteBound| match x {
            ByteBound::FromStart(n) => n.to_string(),
            ByteBound::FromEnd(n) => format!("-{n}"),
            ByteBound::End => "*".to_owned(),
        };
        format!("{}:{}", b(self.from), b(self.to))
    }
}

/// Parameters of a CAR response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CarParams {
    /// Scope after the path blocks.
    pub scope: DagScope,
    /// Byte range of the terminal file, if asked.
    pub entity_bytes: Option<EntityBytes>,
    /// Send repeated blocks every time (`dups=y`).
    pub dups: bool,
}

impl CarParams {
    /// A string that distinguishes responses with different parameters (ETag suffix).
    pub fn tag(&self) -> String {
        let mut tag = self.scope.as_str().to_owned();
        if let Some(b) = &self.entity_bytes {
            tag.push('.');
            tag.push_str(&b.tag());
        }
        if self.dups {
            tag.push_str(".dups");
        }
        tag
    }
}

/// The representation a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseFormat {
    /// The deserialized UnixFS content (file bytes, directory listing).
    Unixfs,
    /// One raw block.
    Raw,
    /// A CAR stream.
    Car(CarParams),
}

/// Decides the format from `?format=`, then `Accept`, then defaults to deserialized content.
pub fn negotiate(query: Option<&str>, headers: &HeaderMap) -> Result<ResponseFormat, BadRequest> {
    let mut format = None;
    let mut scope = None;
    let mut entity_bytes = None;
    let mut dups = None;
    for (k, v) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        match &*k {
            "format" => format = Some(v.into_owned()),
            "dag-scope" => scope = Some(v.into_owned()),
            "entity-bytes" => entity_bytes = Some(EntityBytes::parse(&v)?),
            "car-dups" => dups = Some(v == "y"),
            _ => {}
        }
    }
    let accept = headers
        .get(ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mut is_car = false;
    match format.as_deref() {
        Some("raw") => return Ok(ResponseFormat::Raw),
        Some("car") => is_car = true,
        Some("") | None => {
            for item in accept.split(',') {
                let mut params = item.split(';').map(str::trim);
                let media = params.next().unwrap_or("").to_ascii_lowercase();
                if media == RAW_MEDIA_TYPE {
                    return Ok(ResponseFormat::Raw);
                }
                if media == CAR_MEDIA_TYPE {
                    is_car = true;
                    for p in params {
                        if let Some((k, v)) = p.split_once('=') {
                            let (k, v) = (k.trim(), v.trim().trim_matches('"'));
                            if k == "version" && v != "1" {
                                return Err(BadRequest(format!(
                                    "unsupported CAR version {v}: only version=1 is served"
                                )));
                            }
                            if k == "dups" && dups.is_none() {
                                dups = Some(v == "y");
                            }
                        }
                    }
                    break;
                }
            }
        }
        Some(other) => {
            return Err(BadRequest(format!(
                "unsupported format {other:?}: use raw or car"
            )));
        }
    }
    if !is_car {
        return Ok(ResponseFormat::Unixfs);
    }
    let scope = match scope.as_deref() {
        None | Some("") => {
            if entity_bytes.is_some() {
                DagScope::Entity
            } else {
                DagScope::All
            }
        }
        Some("all") => DagScope::All,
        Some("entity") => DagScope::Entity,
        Some("block") => DagScope::Block,
        Some(other) => {
            return Err(BadRequest(format!(
                "invalid dag-scope {other:?}: use block, entity or all"
            )));
        }
    };
    Ok(ResponseFormat::Car(CarParams {
        scope,
        entity_bytes,
        dups: dups.unwrap_or(false),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    const CID: &str = "bafkreicysg23kiwv34eg2d7qweipxwosdo2py4ldv42nbauguluen5v6am";

    #[test]
    fn paths() {
        let p = ContentPath::parse(&format!("{CID}/a%20b/c.mp3")).unwrap();
        assert_eq!(p.root.to_string(), CID);
        assert_eq!(p.segments, ["a b", "c.mp3"]);
        assert!(!p.trailing_slash);
        assert_eq!(p.display(), format!("/ipfs/{CID}/a b/c.mp3"));
        let d = ContentPath::parse(&format!("{CID}/")).unwrap();
        assert!(d.trailing_slash && d.segments.is_empty());
        assert!(ContentPath::parse("").is_err());
        assert!(ContentPath::parse("notacid").is_err());
        assert!(ContentPath::parse(&format!("{CID}/..")).is_err());
        assert!(ContentPath::parse(&format!("{CID}/%2e%2e")).is_err());
        assert!(ContentPath::parse(&format!("{CID}/a%2Fb")).is_err());
        assert!(ContentPath::parse(&format!("{CID}/%ff")).is_err());
    }

    #[test]
    fn formats() {
        let none = HeaderMap::new();
        assert_eq!(negotiate(None, &none).unwrap(), ResponseFormat::Unixfs);
        assert_eq!(
            negotiate(Some("format=raw"), &none).unwrap(),
            ResponseFormat::Raw
        );
        let car = negotiate(Some("format=car"), &none).unwrap();
        assert_eq!(
            car,
            ResponseFormat::Car(CarParams {
                scope: DagScope::All,
                entity_bytes: None,
                dups: false
            })
        );
        let mut h = HeaderMap::new();
        h.insert(ACCEPT, HeaderValue::from_static("application/vnd.ipld.raw"));
        assert_eq!(negotiate(None, &h).unwrap(), ResponseFormat::Raw);
        // format wins over Accept.
        assert!(matches!(
            negotiate(Some("format=car"), &h).unwrap(),
            ResponseFormat::Car(_)
        ));
        h.insert(
            ACCEPT,
            HeaderValue::from_static("application/vnd.ipld.car; version=1; order=dfs; dups=y"),
        );
        let ResponseFormat::Car(p) =
            negotiate(Some("dag-scope=entity&entity-bytes=0:*"), &h).unwrap()
        else {
            panic!("expected CAR");
        };
        assert_eq!(p.scope, DagScope::Entity);
        assert!(p.dups);
        let ResponseFormat::Car(p) =
            negotiate(Some("format=car&entity-bytes=10:-5"), &none).unwrap()
        else {
            panic!("expected CAR");
        };
        assert_eq!(p.scope, DagScope::Entity);
        h.insert(
            ACCEPT,
            HeaderValue::from_static("application/vnd.ipld.car; version=2"),
        );
        assert!(negotiate(None, &h).is_err());
        assert!(negotiate(Some("format=tar"), &none).is_err());
        assert!(negotiate(Some("format=car&dag-scope=most"), &none).is_err());
        assert!(negotiate(Some("format=car&entity-bytes=5:1"), &none).is_err());
        h.insert(ACCEPT, HeaderValue::from_static("text/html,*/*"));
        assert_eq!(negotiate(None, &h).unwrap(), ResponseFormat::Unixfs);
    }

    #[test]
    fn entity_bytes() {
        let r = |s: &str, size| EntityBytes::parse(s).unwrap().resolve(size);
        assert_eq!(r("0:*", 100), Some((0, 100)));
        assert_eq!(r("10:19", 100), Some((10, 20)));
        assert_eq!(r("-10:*", 100), Some((90, 100)));
        assert_eq!(r("10:-10", 100), Some((10, 91)));
        assert_eq!(r("0:-200", 100), None);
        assert_eq!(r("90:500", 100), Some((90, 100)));
        assert_eq!(r("100:*", 100), None);
        assert_eq!(r("0:*", 0), None);
        assert!(EntityBytes::parse("*:5").is_err());
        assert!(EntityBytes::parse("5").is_err());
        assert!(EntityBytes::parse("a:b").is_err());
    }
}
