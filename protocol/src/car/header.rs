//! The CAR v1 header, `{roots: [CID], version: 1}` in dag-cbor, encoded and decoded by hand.
//!
//! dag-cbor puts map keys in length-then-bytes order (`roots` before `version`) and encodes a CID
//! as tag 42 around a byte string holding `0x00` (the identity multibase) and the CID bytes.

use cid::Cid;

use super::error::CarError;

/// CBOR tag for CIDs in dag-cbor.
const CID_TAG: u64 = 42;
/// Most roots accepted in a header; kubo writes one, a few more are tolerated.
pub const MAX_ROOTS: usize = 1024;

fn put_head(out: &mut Vec<u8>, major: u8, v: u64) {
    let m = major << 5;
    if v < 24 {
        out.push(m | v as u8);
    } else if v <= 0xff {
        out.extend_from_slice(&[m | 24, v as u8]);
    } else if v <= 0xffff {
        out.push(m | 25);
        out.extend_from_slice(&(v as u16).to_be_bytes());
    } else if v <= 0xffff_ffff {
        out.push(m | 26);
        out.extend_from_slice(&(v as u32).to_be_bytes());
    } else {
        out.push(m | 27);
        out.extend_from_slice(&v.to_be_bytes());
    }
}

/// Encodes the dag-cbor header body (without the varint length prefix).
pub fn encode_header(roots: &[Cid], version: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + roots.len() * 40);
    put_head(&mut out, 5, 2);
    put_head(&mut out, 3, 5);
    out.extend_from_slice(b"roots");
    put_head(&mut out, 4, roots.len() as u64);
    for r in roots {
        let bytes = r.to_bytes();
        put_head(&mut out, 6, CID_TAG);
        put_head(&mut out, 2, bytes.len() as u64 + 1);
        out.push(0);
        out.extend_from_slice(&bytes);
    }
    put_head(&mut out, 3, 7);
    out.extend_from_slice(b"version");
    put_head(&mut out, 0, version);
    out
}

/// A decoded header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CarHeader {
    /// 1 for CAR v1, 2 for the v2 pragma.
    pub version: u64,
    /// Root CIDs (empty in the v2 pragma).
    pub roots: Vec<Cid>,
}

struct Cbor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cbor<'a> {
    fn err(what: &'static str) -> CarError {
        CarError::Header(what)
    }

    fn byte(&mut self) -> Result<u8, CarError> {
        let b = *self.buf.get(self.pos).ok_or(Self::err("truncated"))?;
        self.pos += 1;
        Ok(b)
    }

    fn take(&mut self, n: u64) -> Result<&'a [u8], CarError> {
        let n = usize::try_from(n).map_err(|_| Self::err("length overflow"))?;
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or(Self::err("truncated"))?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    /// Reads a head: (major type, argument). Indefinite lengths are not dag-cbor.
    fn head(&mut self) -> Result<(u8, u64), CarError> {
        let b = self.byte()?;
        let (major, info) = (b >> 5, b & 0x1f);
        let v = match info {
            0..=23 => u64::from(info),
            24 => u64::from(self.byte()?),
            25 => u64::from(u16::from_be_bytes([self.byte()?, self.byte()?])),
            26 => {
                let s = self.take(4)?;
                u64::from(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
            }
            27 => {
                let s = self.take(8)?;
                u64::from_be_bytes([s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]])
            }
            _ => return Err(Self::err("indefinite or reserved CBOR length")),
        };
        Ok((major, v))
    }

    fn text(&mut self) -> Result<&'a [u8], CarError> {
        match self.head()? {
            (3, n) => self.take(n),
            _ => Err(Self::err("map key is not a string")),
        }
    }

    fn cid(&mut self) -> Result<Cid, CarError> {
        if self.head()? != (6, CID_TAG) {
            return Err(Self::err("root is not a tag-42 CID"));
        }
        let bytes = match self.head()? {
            (2, n) => self.take(n)?,
            _ => return Err(Self::err("CID tag does not wrap a byte string")),
        };
        let Some((&0, mut rest)) = bytes.split_first() else {
            return Err(Self::err("CID bytes lack the 0x00 multibase prefix"));
        };
        let cid = Cid::read_bytes(&mut rest).map_err(|_| Self::err("invalid root CID"))?;
        if !rest.is_empty() {
            return Err(Self::err("trailing bytes after root CID"));
        }
        Ok(cid)
    }
}

/// Decodes a header body. Accepts `{version: 2}` (the v2 pragma) without roots.
pub fn decode_header(buf: &[u8]) -> Result<CarHeader, CarError> {
    let mut c = Cbor { buf, pos: 0 };
    let (major, entries) = c.head()?;
    if major != 5 {
        return Err(Cbor::err("header is not a CBOR map"));
    }
    let mut version = None;
    let mut roots = None;
    for _ in 0..entries {
        match c.text()? {
            b"version" => match c.head()? {
                (0, v) => version = Some(v),
                _ => return Err(Cbor::err("version is not an unsigned integer")),
            },
            b"roots" => {
                let n = match c.head()? {
                    (4, n) => n,
                    _ => return Err(Cbor::err("roots is not an array")),
                };
                if n > MAX_ROOTS as u64 {
                    return Err(Cbor::err("too many roots"));
                }
                let mut list = Vec::with_capacity(n as usize);
                for _ in 0..n {
                    list.push(c.cid()?);
                }
                roots = Some(list);
            }
            _ => return Err(Cbor::err("unknown header key")),
        }
    }
    if c.pos != buf.len() {
        return Err(Cbor::err("trailing bytes after header"));
    }
    let version = version.ok_or(Cbor::err("missing version"))?;
    match (version, roots) {
        (1, Some(roots)) if !roots.is_empty() => Ok(CarHeader { version, roots }),
        (1, _) => Err(Cbor::err("CAR v1 header without roots")),
        (2, None) => Ok(CarHeader {
            version,
            roots: Vec::new(),
        }),
        (v, _) => Err(CarError::Version(v)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v2_pragma_is_a_version_2_header() {
        // The fixed CARv2 pragma after its varint length (0x0a).
        let pragma = [0xa1, 0x67, b'v', b'e', b'r', b's', b'i', b'o', b'n', 0x02];
        assert_eq!(decode_header(&pragma).unwrap().version, 2);
    }

    #[test]
    fn header_roundtrip_and_spec_bytes() {
        let cid: Cid = "bafkreicysg23kiwv34eg2d7qweipxwosdo2py4ldv42nbauguluen5v6am"
            .parse()
            .unwrap();
        let enc = encode_header(&[cid], 1);
        assert_eq!(&enc[..8], &[0xa2, 0x65, b'r', b'o', b'o', b't', b's', 0x81]);
        assert_eq!(&enc[8..12], &[0xd8, 0x2a, 0x58, 37]);
        assert_eq!(&enc[enc.len() - 9..], b"\x67version\x01");
        let dec = decode_header(&enc).unwrap();
        assert_eq!(dec.roots, vec![cid]);
        assert_eq!(dec.version, 1);
    }

    #[test]
    fn garbage_headers_are_errors() {
        for bad in [
            &[][..],
            &[0xa1][..],
            &[0xbf][..],
            &[0x01][..],
            &[0xa1, 0x63, b'f', b'o', b'o', 0x01][..],
        ] {
            assert!(decode_header(bad).is_err(), "{bad:?}");
        }
    }
}
