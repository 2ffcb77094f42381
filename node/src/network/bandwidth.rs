//! Bandwidth accounting for `stats/bw`: bytes in and out over every connection (TCP and
//! QUIC alike), in total, per peer and per protocol, with smoothed rates.
//!
//! Every connection's stream muxer is wrapped ([`Bandwidth::wrap`]) when the transport hands
//! it to the swarm, so each substream's reads and writes are counted whatever behaviour owns
//! it. These are the bytes of the streams (what protocols send), not of the encryption and
//! muxer framing under them; kubo's `stats bw` counts the same way. A substream's protocol is
//! read from its multistream-select negotiation: the first protocol name the listening side
//! writes that is not the multistream header or `na` is the one agreed on. Bytes of a
//! substream count towards its protocol from the start once that name is seen.
//!
//! Rates are exponentially weighted moving averages of per-second samples
//! ([`Bandwidth::sample`], driven by the network every [`SAMPLE_INTERVAL`]).

use std::collections::HashMap;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use futures::{AsyncRead, AsyncWrite};
use libp2p::PeerId;
use libp2p::core::muxing::{StreamMuxer, StreamMuxerEvent};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;

/// How often rates are sampled: once a second, as go-libp2p's flow meters behind kubo's
/// `stats bw` tick.
pub const SAMPLE_INTERVAL: Duration = Duration::from_secs(1);

/// Time constant of the rate average. Our choice: a transfer shows in the rate within a few
/// seconds, and a stopped one fades out over about half a minute.
pub const RATE_TIME_CONSTANT: Duration = Duration::from_secs(10);

/// Distinct protocols counted separately. The names come from negotiations with peers, so
/// they are bounded: a node speaks a few dozen protocols; anything past this is not broken
/// out (it still counts in the totals).
pub const MAX_PROTOCOLS: usize = 64;

/// Peers whose counters are kept. Peers without an open connection are forgotten first when
/// the table is full; kubo's connection manager keeps at most a few hundred connections, so
/// this leaves room for those recently disconnected.
pub const MAX_PEERS: usize = 4096;

/// Bytes of the listener's side of a negotiation read to find the protocol name: the
/// multistream header (20 bytes) and a protocol name (at most 140 bytes in libp2p specs)
/// with their length prefixes fit several times.
const SNIFF_LIMIT: usize = 512;

/// The protocol names multistream-select sends that are not a protocol agreement.
const MULTISTREAM_HEADER: &[u8] = b"/multistream/1.0.0";
const MULTISTREAM_NA: &[u8] = b"na";

/// Totals and rates of one flow of traffic, as kubo's `stats/bw` reports them.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct BandwidthStats {
    /// Bytes received.
    pub total_in: u64,
    /// Bytes sent.
    pub total_out: u64,
    /// Bytes received per second, smoothed.
    pub rate_in: f64,
    /// Bytes sent per second, smoothed.
    pub rate_out: f64,
}

/// One direction's smoothing state.
#[derive(Debug, Default)]
struct Rates {
    last: Option<(Instant, u64, u64)>,
    rate_in: f64,
    rate_out: f64,
}

/// Counters of one flow (all traffic, one peer, or one protocol).
#[derive(Debug, Default)]
struct Flow {
    inbound: Counter,
    outbound: Counter,
    rates: Mutex<Rates>,
}

impl Flow {
    fn with_counters(inbound: Counter, outbound: Counter) -> Self {
        Flow {
            inbound,
            outbound,
            rates: Mutex::default(),
        }
    }

    fn add(&self, direction: Direction, n: u64) {
        match direction {
            Direction::In => self.inbound.inc_by(n),
            Direction::Out => self.outbound.inc_by(n),
        };
    }

    fn sample(&self, now: Instant) {
        let (total_in, total_out) = (self.inbound.get(), self.outbound.get());
        let mut rates = self.rates.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((then, last_in, last_out)) = rates.last {
            let dt = now.saturating_duration_since(then).as_secs_f64();
            if dt <= 0.0 {
                return;
            }
            let alpha = 1.0 - (-dt / RATE_TIME_CONSTANT.as_secs_f64()).exp();
            let now_in = total_in.saturating_sub(last_in) as f64 / dt;
            let now_out = total_out.saturating_sub(last_out) as f64 / dt;
            rates.rate_in += alpha * (now_in - rates.rate_in);
            rates.rate_out += alpha * (now_out - rates.rate_out);
        }
        rates.last = Some((now, total_in, total_out));
    }

    fn stats(&self) -> BandwidthStats {
        let rates = self.rates.lock().unwrap_or_else(PoisonError::into_inner);
        BandwidthStats {
            total_in: self.inbound.get(),
            total_out: self.outbound.get(),
            rate_in: rates.rate_in,
            rate_out: rates.rate_out,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    In,
    Out,
}

impl Direction {
    fn label(self) -> &'static str {
        match self {
            Direction::In => "in",
            Direction::Out => "out",
        }
    }
}

/// Prometheus label set: direction, and protocol for the per-protocol family.
type Labels = Vec<(String, String)>;

/// The Prometheus families the counters live in (when the node exports metrics).
#[derive(Debug, Clone, Default)]
pub(crate) struct BandwidthFamilies {
    /// `bandwidth_bytes{direction}`.
    pub(crate) total: Family<Labels, Counter>,
    /// `protocol_bandwidth_bytes{protocol,direction}`.
    pub(crate) protocols: Family<Labels, Counter>,
}

impl BandwidthFamilies {
    fn counter(family: &Family<Labels, Counter>, protocol: Option<&str>, d: Direction) -> Counter {
        let mut labels = Vec::with_capacity(2);
        if let Some(p) = protocol {
            labels.push(("protocol".to_owned(), p.to_owned()));
        }
        labels.push(("direction".to_owned(), d.label().to_owned()));
        family.get_or_create(&labels).clone()
    }
}

/// The node's bandwidth meter; see the [module docs](self). Shared by every connection and
/// read by `stats/bw`; cheap to clone behind an `Arc`.
#[derive(Debug)]
pub struct Bandwidth {
    total: Flow,
    protocols: Mutex<HashMap<String, Arc<Flow>>>,
    peers: Mutex<HashMap<PeerId, Arc<Flow>>>,
    families: Option<BandwidthFamilies>,
}

impl Default for Bandwidth {
    fn default() -> Self {
        Bandwidth::new()
    }
}

impl Bandwidth {
    /// A meter whose counters are not exported.
    pub fn new() -> Self {
        Bandwidth {
            total: Flow::default(),
            protocols: Mutex::default(),
            peers: Mutex::default(),
            families: None,
        }
    }

    /// A meter counting into Prometheus `families` (see `NetworkMetrics`).
    pub(crate) fn with_families(families: BandwidthFamilies) -> Self {
        let total = Flow::with_counters(
            BandwidthFamilies::counter(&families.total, None, Direction::In),
            BandwidthFamilies::counter(&families.total, None, Direction::Out),
        );
        Bandwidth {
            total,
            protocols: Mutex::default(),
            peers: Mutex::default(),
            families: Some(families),
        }
    }

    /// All traffic.
    pub fn total(&self) -> BandwidthStats {
        self.total.stats()
    }

    /// Traffic with `peer`, if any was counted (and not forgotten, see [`MAX_PEERS`]).
    pub fn peer(&self, peer: &PeerId) -> Option<BandwidthStats> {
        let peers = self.peers.lock().unwrap_or_else(PoisonError::into_inner);
        peers.get(peer).map(|f| f.stats())
    }

    /// Traffic on streams of `protocol` (e.g. `/ipfs/bitswap/1.2.0`), if any was counted.
    pub fn protocol(&self, protocol: &str) -> Option<BandwidthStats> {
        let protocols = self
            .protocols
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        protocols.get(protocol).map(|f| f.stats())
    }

    /// Every protocol counted so far, sorted by name.
    pub fn protocols(&self) -> Vec<(String, BandwidthStats)> {
        let protocols = self
            .protocols
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let mut all: Vec<_> = protocols
            .iter()
            .map(|(p, f)| (p.clone(), f.stats()))
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }

    /// Updates every rate; call every [`SAMPLE_INTERVAL`].
    pub fn sample(&self, now: Instant) {
        self.total.sample(now);
        let flows: Vec<Arc<Flow>> = {
            let peers = self.peers.lock().unwrap_or_else(PoisonError::into_inner);
            let protocols = self
                .protocols
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            peers.values().chain(protocols.values()).cloned().collect()
        };
        for flow in flows {
            flow.sample(now);
        }
    }

    /// Wraps the muxer of a new connection to `peer` so all its streams are counted.
    pub fn wrap<M>(self: &Arc<Self>, peer: PeerId, muxer: M) -> CountingMuxer<M> {
        CountingMuxer {
            inner: muxer,
            peer: self.peer_flow(peer),
            meter: self.clone(),
        }
    }

    /// The counters of `peer`, made room for if needed (a connection holds its peer's
    /// counters, so those of connected peers are never dropped).
    fn peer_flow(&self, peer: PeerId) -> Arc<Flow> {
        let mut peers = self.peers.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(flow) = peers.get(&peer) {
            return flow.clone();
        }
        if peers.len() >= MAX_PEERS {
            peers.retain(|_, f| Arc::strong_count(f) > 1);
        }
        let flow = Arc::new(Flow::default());
        if peers.len() < MAX_PEERS {
            peers.insert(peer, flow.clone());
        }
        flow
    }

    /// The counters of `protocol`, if there is room for another protocol.
    fn protocol_flow(&self, protocol: &str) -> Option<Arc<Flow>> {
        let mut protocols = self
            .protocols
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(flow) = protocols.get(protocol) {
            return Some(flow.clone());
        }
        if protocols.len() >= MAX_PROTOCOLS {
            return None;
        }
        let flow = Arc::new(match &self.families {
            Some(f) => Flow::with_counters(
                BandwidthFamilies::counter(&f.protocols, Some(protocol), Direction::In),
                BandwidthFamilies::counter(&f.protocols, Some(protocol), Direction::Out),
            ),
            None => Flow::default(),
        });
        protocols.insert(protocol.to_owned(), flow.clone());
        Some(flow)
    }
}

/// A connection's stream muxer whose substreams count their bytes into a [`Bandwidth`].
pub struct CountingMuxer<M> {
    inner: M,
    peer: Arc<Flow>,
    meter: Arc<Bandwidth>,
}

impl<M> CountingMuxer<M> {
    fn stream<S>(&self, inner: S, opened_by_us: bool) -> CountingStream<S> {
        CountingStream {
            inner,
            peer: self.peer.clone(),
            meter: self.meter.clone(),
            // The listener's bytes name the agreed protocol: the remote's (what we read) on
            // streams we open, ours (what we write) on streams the remote opens.
            sniff: Some(Sniff {
                direction: if opened_by_us {
                    Direction::In
                } else {
                    Direction::Out
                },
                buf: Vec::new(),
            }),
            protocol: None,
            pending: (0, 0),
        }
    }
}

impl<M> StreamMuxer for CountingMuxer<M>
where
    M: StreamMuxer + Unpin,
    M::Substream: Unpin,
{
    type Substream = CountingStream<M::Substream>;
    type Error = M::Error;

    fn poll_inbound(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Self::Substream, Self::Error>> {
        let this = self.get_mut();
        let inner = ready!(Pin::new(&mut this.inner).poll_inbound(cx))?;
        Poll::Ready(Ok(this.stream(inner, false)))
    }

    fn poll_outbound(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Self::Substream, Self::Error>> {
        let this = self.get_mut();
        let inner = ready!(Pin::new(&mut this.inner).poll_outbound(cx))?;
        Poll::Ready(Ok(this.stream(inner, true)))
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Pin::new(&mut self.get_mut().inner).poll_close(cx)
    }

    fn poll(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<StreamMuxerEvent, Self::Error>> {
        Pin::new(&mut self.get_mut().inner).poll(cx)
    }
}

/// Reading the protocol name off a negotiation.
struct Sniff {
    /// Which of our directions carries the listener's messages.
    direction: Direction,
    buf: Vec<u8>,
}

/// What the bytes seen so far say.
#[derive(Debug, PartialEq, Eq)]
enum Sniffed {
    /// Not enough bytes yet.
    Pending,
    /// The agreed protocol.
    Protocol(String),
    /// Not a multistream-select negotiation we can read.
    Unknown,
}

/// Reads multistream-select messages (unsigned-varint length, text ending in `\n`) from the
/// listener's side and returns the first protocol name that is not the header or `na`.
fn sniff(mut bytes: &[u8]) -> Sniffed {
    loop {
        // A length needing more than 3 bytes (over 2 MiB) is no negotiation.
        let head = &bytes[..bytes.len().min(3)];
        let (len, read) = match unsigned_varint::decode::u64(head) {
            Ok((len, rest)) => (len, head.len() - rest.len()),
            Err(unsigned_varint::decode::Error::Insufficient) if bytes.len() < 3 => {
                return Sniffed::Pending;
            }
            Err(_) => return Sniffed::Unknown,
        };
        let Ok(len) = usize::try_from(len) else {
            return Sniffed::Unknown;
        };
        if len > SNIFF_LIMIT {
            return Sniffed::Unknown;
        }
        let rest = &bytes[read..];
        if rest.len() < len {
            return Sniffed::Pending;
        }
        let (message, after) = rest.split_at(len);
        let Some(text) = message.strip_suffix(b"\n") else {
            return Sniffed::Unknown;
        };
        if text != MULTISTREAM_HEADER && text != MULTISTREAM_NA {
            return match std::str::from_utf8(text) {
                Ok(p) if !p.is_empty() => Sniffed::Protocol(p.to_owned()),
                _ => Sniffed::Unknown,
            };
        }
        bytes = after;
    }
}

/// A substream counting its bytes; see [`CountingMuxer`].
pub struct CountingStream<S> {
    inner: S,
    peer: Arc<Flow>,
    meter: Arc<Bandwidth>,
    sniff: Option<Sniff>,
    protocol: Option<Arc<Flow>>,
    /// Bytes (in, out) counted before the protocol was known.
    pending: (u64, u64),
}

impl<S> CountingStream<S> {
    fn record(&mut self, direction: Direction, bytes: &[u8]) {
        let n = bytes.len() as u64;
        if n == 0 {
            return;
        }
        self.meter.total.add(direction, n);
        self.peer.add(direction, n);
        if let Some(p) = &self.protocol {
            p.add(direction, n);
            return;
        }
        let Some(s) = &mut self.sniff else {
            return;
        };
        match direction {
            Direction::In => self.pending.0 += n,
            Direction::Out => self.pending.1 += n,
        }
        if s.direction != direction {
            return;
        }
        let room = SNIFF_LIMIT.saturating_sub(s.buf.len());
        s.buf.extend_from_slice(&bytes[..bytes.len().min(room)]);
        let full = s.buf.len() >= SNIFF_LIMIT;
        match sniff(&s.buf) {
            Sniffed::Pending if !full => {}
            Sniffed::Protocol(name) => {
                self.sniff = None;
                if let Some(flow) = self.meter.protocol_flow(&name) {
                    flow.add(Direction::In, self.pending.0);
                    flow.add(Direction::Out, self.pending.1);
                    self.protocol = Some(flow);
                }
            }
            Sniffed::Pending | Sniffed::Unknown => self.sniff = None,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for CountingStream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let n = ready!(Pin::new(&mut this.inner).poll_read(cx, buf))?;
        this.record(Direction::In, &buf[..n.min(buf.len())]);
        Poll::Ready(Ok(n))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for CountingStream<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let n = ready!(Pin::new(&mut this.inner).poll_write(cx, buf))?;
        this.record(Direction::Out, &buf[..n.min(buf.len())]);
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_close(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(text: &str) -> Vec<u8> {
        let body = format!("{text}\n");
        let mut v = vec![u8::try_from(body.len()).unwrap()];
        v.extend_from_slice(body.as_bytes());
        v
    }

    #[test]
    fn the_first_protocol_after_the_header_is_the_agreed_one() {
        let mut bytes = frame("/multistream/1.0.0");
        assert_eq!(sniff(&bytes), Sniffed::Pending);
        bytes.extend(frame("na"));
        assert_eq!(sniff(&bytes), Sniffed::Pending);
        let proto = frame("/ipfs/bitswap/1.2.0");
        bytes.extend_from_slice(&proto[..4]);
        assert_eq!(sniff(&bytes), Sniffed::Pending);
        bytes.extend_from_slice(&proto[4..]);
        bytes.extend_from_slice(b"\x05data!");
        assert_eq!(
            sniff(&bytes),
            Sniffed::Protocol("/ipfs/bitswap/1.2.0".to_owned())
        );
        assert_eq!(sniff(b"\x03abc"), Sniffed::Unknown);
        assert_eq!(sniff(&[0xff, 0xff, 0xff, 0x01]), Sniffed::Unknown);
    }

    #[test]
    fn streams_count_into_total_peer_and_protocol() {
        let meter = Arc::new(Bandwidth::new());
        let peer = PeerId::random();
        let muxer = meter.wrap(peer, ());
        // A stream we opened: the remote (listener) answers with the protocol.
        let mut s = muxer.stream((), true);
        s.record(Direction::Out, &frame("/multistream/1.0.0"));
        s.record(Direction::Out, &frame("/ipfs/kad/1.0.0"));
        s.record(Direction::In, &frame("/multistream/1.0.0"));
        s.record(Direction::In, &frame("/ipfs/kad/1.0.0"));
        s.record(Direction::Out, &[0; 100]);
        s.record(Direction::In, &[0; 1000]);
        let total = meter.total();
        assert_eq!(total.total_out, 20 + 17 + 100);
        assert_eq!(total.total_in, 20 + 17 + 1000);
        assert_eq!(meter.peer(&peer), Some(total));
        assert_eq!(meter.protocol("/ipfs/kad/1.0.0"), Some(total));
        // A stream the remote opened: our answer names it.
        let mut s = muxer.stream((), false);
        s.record(Direction::In, &frame("/multistream/1.0.0"));
        s.record(Direction::In, &frame("/ipfs/ping/1.0.0"));
        s.record(Direction::Out, &frame("/multistream/1.0.0"));
        s.record(Direction::Out, &frame("/ipfs/ping/1.0.0"));
        s.record(Direction::In, &[0; 32]);
        let ping = meter.protocol("/ipfs/ping/1.0.0").unwrap();
        assert_eq!((ping.total_in, ping.total_out), (20 + 18 + 32, 20 + 18));
        assert_eq!(meter.protocols().len(), 2);
    }

    #[test]
    fn rates_follow_the_traffic_and_fade() {
        let meter = Bandwidth::new();
        let t0 = Instant::now();
        meter.sample(t0);
        for s in 1..=60 {
            meter.total.add(Direction::In, 1000);
            meter.sample(t0 + Duration::from_secs(s));
        }
        let r = meter.total().rate_in;
        assert!((990.0..=1000.0).contains(&r), "{r}");
        for s in 61..=120 {
            meter.sample(t0 + Duration::from_secs(s));
        }
        let r = meter.total().rate_in;
        assert!(r < 10.0, "{r}");
        assert_eq!(meter.total().total_in, 60_000);
    }
}
