//! Streaming CAR v1 / v2 reading that yields only verified blocks.
//!
//! [`CarDecoder`] is sans-I/O: push bytes, pull items. [`CarReader`] drives it from a
//! `std::io::Read`, [`read_car_stream`] from an async stream of `Bytes`.

use std::io::Read;

use bytes::{Buf, Bytes, BytesMut};
use chorus_storage::Block;
use cid::Cid;
use futures::{Stream, StreamExt};

use super::error::CarError;
use super::header::{CarHeader, decode_header};

/// Largest header or block section accepted by default (4 MiB: bitswap peers refuse blocks
/// over 2 MiB, and kubo's own CAR reader bounds sections similarly), so a hostile length prefix
/// cannot make the reader allocate without limit.
pub const DEFAULT_MAX_SECTION: usize = 4 << 20;
/// Length of the CARv2 pragma plus fixed header (11 + 40 bytes).
const V2_PREFIX_LEN: u64 = 51;

/// One item of a CAR: the header first, then blocks in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CarItem {
    /// The (inner v1) header with the roots.
    Header(CarHeader),
    /// A verified block.
    Block(Block),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Expecting the first header (v1 header or v2 pragma).
    Outer,
    /// Expecting the 40-byte v2 header.
    V2Header,
    /// Skipping padding before the v2 payload.
    V2Skip(u64),
    /// Expecting the inner v1 header of a v2 payload.
    Inner,
    /// Reading block sections.
    Blocks,
    /// The v2 payload ended; the rest (index) is ignored.
    Done,
}

/// Incremental CAR parser.
#[derive(Debug)]
pub struct CarDecoder {
    buf: BytesMut,
    state: State,
    /// Input offset of `buf[0]`.
    offset: u64,
    /// Bytes left in a v2 payload, `None` for v1.
    payload_left: Option<u64>,
    max_section: usize,
}

impl Default for CarDecoder {
    fn default() -> Self {
        Self::new()
    }
}

enum Varint {
    Value(u64, usize),
    NeedMore,
}

/// A section length: a multiformats unsigned varint (minimal, at most 9 bytes), read as go-car
/// reads it (through go-varint, which refuses the same encodings).
fn read_varint(buf: &[u8], offset: u64) -> Result<Varint, CarError> {
    use unsigned_varint::decode::{self, Error};
    match decode::u64(buf) {
        Ok((v, rest)) => Ok(Varint::Value(v, buf.len() - rest.len())),
        Err(Error::Insufficient) => Ok(Varint::NeedMore),
        Err(Error::NotMinimal) => Err(CarError::Section {
            offset,
            what: "length varint not minimally encoded",
        }),
        Err(_) => Err(CarError::Section {
            offset,
            what: "length varint longer than 9 bytes",
        }),
    }
}

impl CarDecoder {
    /// A decoder with the [`DEFAULT_MAX_SECTION`] bound.
    pub fn new() -> Self {
        CarDecoder {
            buf: BytesMut::new(),
            state: State::Outer,
            offset: 0,
            payload_left: None,
            max_section: DEFAULT_MAX_SECTION,
        }
    }

    /// Changes the per-section bound.
    pub fn with_max_section(mut self, max: usize) -> Self {
        self.max_section = max;
        self
    }

    /// Appends input bytes.
    pub fn push(&mut self, data: &[u8]) {
        if self.state != State::Done {
            self.buf.extend_from_slice(data);
        }
    }

    fn consume(&mut self, n: usize) -> Bytes {
        self.offset += n as u64;
        if let Some(left) = &mut self.payload_left {
            *left = left.saturating_sub(n as u64);
        }
        self.buf.split_to(n).freeze()
    }

    /// Takes one varint-prefixed section if complete.
    fn section(&mut self) -> Result<Option<Bytes>, CarError> {
        let (len, prefix) = match read_varint(&self.buf, self.offset)? {
            Varint::NeedMore => return Ok(None),
            Varint::Value(len, prefix) => (len, prefix),
        };
        if len > self.max_section as u64 {
            return Err(CarError::SectionTooLarge {
                len,
                offset: self.offset,
                max: self.max_section,
            });
        }
        if len == 0 {
            return Err(CarError::Section {
                offset: self.offset,
                what: "empty section",
            });
        }
        let total = prefix + len as usize;
        if let Some(left) = self.payload_left
            && total as u64 > left
        {
            return Err(CarError::Section {
                offset: self.offset,
                what: "section runs past the CARv2 payload",
            });
        }
        if self.buf.len() < total {
            self.buf.reserve(total - self.buf.len());
            return Ok(None);
        }
        let mut s = self.consume(total);
        s.advance(prefix);
        Ok(Some(s))
    }

    /// Parses the next item, or `Ok(None)` if more input is needed (or the CAR is complete).
    pub fn next_item(&mut self) -> Result<Option<CarItem>, CarError> {
        loop {
            match self.state {
                State::Outer | State::Inner => {
                    let Some(sec) = self.section()? else {
                        return Ok(None);
                    };
                    let header = decode_header(&sec)?;
                    match (self.state, header.version) {
                        (State::Outer, 2) => self.state = State::V2Header,
                        (_, 1) => {
                            self.state = State::Blocks;
                            return Ok(Some(CarItem::Header(header)));
                        }
                        (_, v) => return Err(CarError::Version(v)),
                    }
                }
                State::V2Header => {
                    if self.buf.len() < 40 {
                        return Ok(None);
                    }
                    let h = self.consume(40);
                    let u = |i: usize| {
                        let mut b = [0u8; 8];
                        b.copy_from_slice(&h[i..i + 8]);
                        u64::from_le_bytes(b)
                    };
                    let (data_offset, data_size) = (u(16), u(24));
                    if data_offset < V2_PREFIX_LEN {
                        return Err(CarError::V2Header("data offset inside the header"));
                    }
                    if data_size == 0 {
                        return Err(CarError::V2Header("empty data payload"));
                    }
                    self.state = State::V2Skip(data_offset - V2_PREFIX_LEN);
                    // Padding is counted down by `consume` too, leaving exactly the payload.
                    self.payload_left = Some(
                        data_size
                            .checked_add(data_offset - V2_PREFIX_LEN)
                            .ok_or(CarError::V2Header("data offset plus size overflows"))?,
                    );
                }
                State::V2Skip(0) => self.state = State::Inner,
                State::V2Skip(n) => {
                    if self.buf.is_empty() {
                        return Ok(None);
                    }
                    let k = (n.min(self.buf.len() as u64)) as usize;
                    self.consume(k);
                    self.state = State::V2Skip(n - k as u64);
                }
                State::Blocks => {
                    if self.payload_left == Some(0) {
                        self.state = State::Done;
                        self.buf = BytesMut::new();
                        return Ok(None);
                    }
                    let at = self.offset;
                    let Some(sec) = self.section()? else {
                        return Ok(None);
                    };
                    let mut rest = &sec[..];
                    let cid = Cid::read_bytes(&mut rest).map_err(|_| CarError::Section {
                        offset: at,
                        what: "invalid CID",
                    })?;
                    let data = sec.slice(sec.len() - rest.len()..);
                    let block = Block::new(cid, data).map_err(|e| CarError::Block(Box::new(e)))?;
                    return Ok(Some(CarItem::Block(block)));
                }
                State::Done => return Ok(None),
            }
        }
    }

    /// Checks, once the input has ended, that the CAR ended on a section boundary.
    pub fn finish(&self) -> Result<(), CarError> {
        let complete = match self.state {
            State::Done => true,
            State::Blocks => self.buf.is_empty() && self.payload_left.unwrap_or(0) == 0,
            _ => false,
        };
        if complete {
            Ok(())
        } else {
            Err(CarError::Truncated {
                offset: self.offset + self.buf.len() as u64,
            })
        }
    }
}

/// Reads a CAR from a blocking reader, item by item.
#[derive(Debug)]
pub struct CarReader<R> {
    input: R,
    decoder: CarDecoder,
    chunk: Vec<u8>,
    eof: bool,
    failed: bool,
}

/// Bytes read from the input per `read` call.
const READ_CHUNK: usize = 64 * 1024;

impl<R: Read> CarReader<R> {
    /// Wraps `input`.
    pub fn new(input: R) -> Self {
        CarReader {
            input,
            decoder: CarDecoder::new(),
            chunk: vec![0u8; READ_CHUNK],
            eof: false,
            failed: false,
        }
    }

    fn next_inner(&mut self) -> Result<Option<CarItem>, CarError> {
        loop {
            if let Some(item) = self.decoder.next_item()? {
                return Ok(Some(item));
            }
            if self.eof {
                self.decoder.finish()?;
                return Ok(None);
            }
            let n = match self.input.read(&mut self.chunk) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.into()),
            };
            if n == 0 {
                self.eof = true;
            } else {
                self.decoder.push(&self.chunk[..n]);
            }
        }
    }
}

impl<R: Read> Iterator for CarReader<R> {
    type Item = Result<CarItem, CarError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        match self.next_inner() {
            Ok(Some(item)) => Some(Ok(item)),
            Ok(None) => {
                self.failed = true;
                None
            }
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

/// Reads a CAR from an async stream of byte chunks (an HTTP body, a file).
///
/// Ends after the first error. Memory is bounded by one section plus one input chunk.
pub fn read_car_stream<St, E>(input: St) -> impl Stream<Item = Result<CarItem, CarError>> + Send
where
    St: Stream<Item = Result<Bytes, E>> + Send + Unpin,
    E: std::error::Error + Send + Sync + 'static,
{
    let state = (input, CarDecoder::new(), false);
    futures::stream::try_unfold(state, |(mut input, mut dec, mut eof)| async move {
        loop {
            if let Some(item) = dec.next_item()? {
                return Ok(Some((item, (input, dec, eof))));
            }
            if eof {
                dec.finish()?;
                return Ok(None);
            }
            match input.next().await {
                Some(Ok(bytes)) => dec.push(&bytes),
                Some(Err(e)) => return Err(CarError::Input(Box::new(e))),
                None => eof = true,
            }
        }
    })
}
