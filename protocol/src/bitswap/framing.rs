//! Reading and writing length-prefixed Bitswap frames without intermediate copies.
//!
//! The wire format is the same as `unsigned_varint::codec::UviBytes` (an unsigned-varint
//! length, then that many bytes), but block payloads make up nearly every byte of a transfer,
//! so both directions avoid the generic codec's buffers: [`FrameReader`] reads each frame
//! straight into one buffer of the frame's exact size (so decoded blocks can be slices of
//! it), and [`FrameWriter`] writes an [`OutFrame`]'s chunks, block bytes included, directly
//! from the blocks' own buffers into the stream.

use std::{
    io,
    pin::Pin,
    task::{Context, Poll, ready},
};

use bytes::{Bytes, BytesMut};
use futures::{AsyncRead, AsyncWrite, Stream};

use super::protocol::MAX_MESSAGE_SIZE;

/// Longest unsigned varint of a `u64` (7 bits a byte).
const MAX_VARINT_LEN: usize = 10;

/// One encoded frame (length prefix included) as a list of chunks, block data among them as
/// shared references rather than copies.
#[derive(Debug, Clone, Default)]
pub(crate) struct OutFrame {
    /// The chunks, in wire order.
    pub(crate) chunks: Vec<Bytes>,
    /// Length of the protobuf message (without the length prefix).
    pub(crate) message_len: usize,
}

impl OutFrame {
    /// All the chunks joined (tests and diagnostics).
    #[cfg(test)]
    pub(crate) fn to_vec(&self) -> Vec<u8> {
        self.chunks.iter().flat_map(|c| c.iter().copied()).collect()
    }
}

/// Reads frames of at most [`MAX_MESSAGE_SIZE`] bytes; a longer one is an error of kind
/// `PermissionDenied`, as `UviBytes` reports it.
pub(crate) struct FrameReader<S> {
    stream: S,
    /// Varint bytes of the next frame's length read so far.
    header: [u8; MAX_VARINT_LEN],
    header_len: usize,
    /// The frame being filled, once its length is known.
    body: Option<Filling>,
}

/// First buffer of a frame; it then doubles as bytes arrive, up to the frame's length.
const INITIAL_FRAME_BUFFER: usize = 64 * 1024;

/// A frame being read: the buffer grows with the bytes that actually arrive, so a peer that
/// announces a 4 MiB frame and sends three bytes costs 64 KiB, not 4 MiB (× 32 streams ×
/// hundreds of connections).
struct Filling {
    /// Zeroed, readable space; `filled` bytes of it hold the frame so far.
    buf: BytesMut,
    filled: usize,
    /// The announced frame length.
    len: usize,
}

impl Filling {
    fn new(len: usize) -> Self {
        Filling {
            buf: BytesMut::zeroed(len.min(INITIAL_FRAME_BUFFER)),
            filled: 0,
            len,
        }
    }

    /// Space to read the next bytes into, growing the buffer (doubling, capped at the
    /// frame length) when the current one is full.
    fn space(&mut self) -> &mut [u8] {
        if self.filled == self.buf.len() {
            let grown = (self.buf.len() * 2).clamp(INITIAL_FRAME_BUFFER, self.len);
            self.buf.resize(grown, 0);
        }
        &mut self.buf[self.filled..]
    }
}

impl<S> FrameReader<S> {
    /// A reader at the start of a frame.
    pub(crate) fn new(stream: S) -> Self {
        FrameReader {
            stream,
            header: [0; MAX_VARINT_LEN],
            header_len: 0,
            body: None,
        }
    }

    /// Whether the reader sits between frames (nothing of the next frame read yet).
    pub(crate) fn is_idle(&self) -> bool {
        self.header_len == 0 && self.body.is_none()
    }
}

impl<S: AsyncRead + Unpin> Stream for FrameReader<S> {
    type Item = io::Result<Bytes>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if let Some(body) = &mut this.body {
                if body.filled == body.len {
                    let buf = this.body.take().map(|b| b.buf).unwrap_or_default();
                    return Poll::Ready(Some(Ok(buf.freeze())));
                }
                let n = ready!(Pin::new(&mut this.stream).poll_read(cx, body.space()))?;
                if n == 0 {
                    return Poll::Ready(Some(Err(io::ErrorKind::UnexpectedEof.into())));
                }
                body.filled += n;
                continue;
            }
            // One byte at a time: a length is a few bytes and precedes ~1 MiB of data.
            let mut byte = [0u8; 1];
            let n = ready!(Pin::new(&mut this.stream).poll_read(cx, &mut byte))?;
            if n == 0 {
                return Poll::Ready(if this.header_len == 0 {
                    None
                } else {
                    Some(Err(io::ErrorKind::UnexpectedEof.into()))
                });
            }
            let Some(slot) = this.header.get_mut(this.header_len) else {
                return Poll::Ready(Some(Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "frame length varint too long",
                ))));
            };
            *slot = byte[0];
            this.header_len += 1;
            if byte[0] & 0x80 != 0 {
                continue;
            }
            let len = unsigned_varint::decode::u64(&this.header[..this.header_len])
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?
                .0;
            this.header_len = 0;
            let len = usize::try_from(len).unwrap_or(usize::MAX);
            if len > MAX_MESSAGE_SIZE {
                return Poll::Ready(Some(Err(io::Error::new(
                    io::ErrorKind::PermissionDenied,
                    "len > max",
                ))));
            }
            this.body = Some(Filling::new(len));
        }
    }
}

/// Writes one [`OutFrame`] at a time, chunk by chunk, then flushes.
pub(crate) struct FrameWriter<S> {
    stream: S,
    /// Chunks still to write, the first possibly partly written.
    pending: std::collections::VecDeque<Bytes>,
}

impl<S: AsyncWrite + Unpin> FrameWriter<S> {
    /// A writer with nothing pending.
    pub(crate) fn new(stream: S) -> Self {
        FrameWriter {
            stream,
            pending: Default::default(),
        }
    }

    /// Queues a frame; call [`poll_flush`](Self::poll_flush) until it is ready.
    pub(crate) fn start_send(&mut self, frame: OutFrame) {
        self.pending
            .extend(frame.chunks.into_iter().filter(|c| !c.is_empty()));
    }

    /// Writes everything queued and flushes the stream.
    pub(crate) fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while let Some(chunk) = self.pending.front_mut() {
            let n = ready!(Pin::new(&mut self.stream).poll_write(cx, chunk))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            let _ = chunk.split_to(n.min(chunk.len()));
            if chunk.is_empty() {
                self.pending.pop_front();
            }
        }
        Pin::new(&mut self.stream).poll_flush(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::{StreamExt, executor::block_on, io::Cursor};

    fn framed(len: usize, fill: u8) -> Vec<u8> {
        let mut buf = unsigned_varint::encode::usize_buffer();
        let mut out = unsigned_varint::encode::usize(len, &mut buf).to_vec();
        out.extend(std::iter::repeat_n(fill, len));
        out
    }

    #[test]
    fn reads_back_to_back_frames_then_ends() {
        let mut wire = framed(3, 1);
        wire.extend(framed(0, 0));
        wire.extend(framed(300_000, 7));
        let mut r = FrameReader::new(Cursor::new(wire));
        assert_eq!(block_on(r.next()).unwrap().unwrap(), vec![1u8; 3]);
        assert!(block_on(r.next()).unwrap().unwrap().is_empty());
        assert_eq!(block_on(r.next()).unwrap().unwrap(), vec![7u8; 300_000]);
        assert!(r.is_idle());
        assert!(block_on(r.next()).is_none());
    }

    #[test]
    fn oversized_and_truncated_frames_are_errors() {
        let mut buf = unsigned_varint::encode::usize_buffer();
        let over = unsigned_varint::encode::usize(MAX_MESSAGE_SIZE + 1, &mut buf).to_vec();
        let mut r = FrameReader::new(Cursor::new(over));
        let e = block_on(r.next()).unwrap().unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::PermissionDenied);

        let mut cut = framed(10, 1);
        cut.truncate(5);
        let mut r = FrameReader::new(Cursor::new(cut));
        let e = block_on(r.next()).unwrap().unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);

        let mut r = FrameReader::new(Cursor::new(vec![0x80u8]));
        assert!(block_on(r.next()).unwrap().is_err());
        let mut r = FrameReader::new(Cursor::new(vec![0xffu8; 12]));
        assert!(block_on(r.next()).unwrap().is_err());
    }

    /// Gives its bytes, then never anything more (a peer that trickles and stops).
    struct Stalls(Cursor<Vec<u8>>);

    impl AsyncRead for Stalls {
        fn poll_read(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut [u8],
        ) -> Poll<io::Result<usize>> {
            match Pin::new(&mut self.0).poll_read(cx, buf) {
                Poll::Ready(Ok(0)) => Poll::Pending,
                other => other,
            }
        }
    }

    #[test]
    fn an_announced_frame_costs_only_what_arrived() {
        let mut buf = unsigned_varint::encode::usize_buffer();
        let mut wire = unsigned_varint::encode::usize(MAX_MESSAGE_SIZE, &mut buf).to_vec();
        wire.extend_from_slice(b"abc");
        let mut r = FrameReader::new(Stalls(Cursor::new(wire)));
        let waker = futures::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        assert!(Pin::new(&mut r).poll_next(&mut cx).is_pending());
        let body = r.body.as_ref().unwrap();
        assert_eq!(body.filled, 3);
        assert!(
            body.buf.capacity() <= INITIAL_FRAME_BUFFER,
            "{}",
            body.buf.capacity()
        );

        // A full-size frame arriving in small pieces still reads back whole.
        let mut wire = framed(MAX_MESSAGE_SIZE, 9);
        wire.extend(framed(1, 2));
        let mut r = FrameReader::new(Cursor::new(wire));
        assert_eq!(
            block_on(r.next()).unwrap().unwrap(),
            vec![9u8; MAX_MESSAGE_SIZE]
        );
        assert_eq!(block_on(r.next()).unwrap().unwrap(), vec![2u8]);
    }

    #[test]
    fn writer_writes_every_chunk_in_order() {
        let mut w = FrameWriter::new(Cursor::new(Vec::new()));
        w.start_send(OutFrame {
            chunks: vec![
                Bytes::from_static(b"ab"),
                Bytes::new(),
                Bytes::from_static(b"cde"),
            ],
            message_len: 4,
        });
        block_on(futures::future::poll_fn(|cx| w.poll_flush(cx))).unwrap();
        assert_eq!(w.stream.into_inner(), b"abcde".to_vec());
    }
}
