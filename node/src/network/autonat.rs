//! AutoNAT v1 (`/libp2p/autonat/1.0.0`, what kubo speaks): peers dial us back to tell
//! whether our addresses are reachable, and we do the same for them, rate limited.
//!
//! The result decides the public DHT's mode in [`KadMode::Auto`](super::KadMode::Auto) (a
//! confirmed public address makes the node a DHT server, as in kubo) and is reported as
//! [`NetworkEvent::NatStatusChanged`](super::NetworkEvent::NatStatusChanged), a log line and
//! the `chorus_network_nat_status` gauge.
//!
//! By default only peers at global addresses are asked or served (libp2p's and kubo's
//! behaviour): on a LAN or loopback the status stays unknown. A server dials back only the
//! IP address it observed the asking peer at, so a request cannot aim it at a third party.

use std::time::Duration;

use libp2p::autonat::v1 as autonat;
use libp2p::{Multiaddr, PeerId};

/// Delay before the first probe: libp2p's and go-libp2p's AutoNAT boot delay (15 s), time
/// for the bootstrap connections to come up.
pub const DEFAULT_AUTONAT_BOOT_DELAY: Duration = Duration::from_secs(15);

/// Delay between probes while the status is unknown or not yet confident: libp2p's and
/// go-libp2p's retry interval (90 s).
pub const DEFAULT_AUTONAT_RETRY_INTERVAL: Duration = Duration::from_secs(90);

/// Delay between probes once the status is confident: go-libp2p's refresh interval (15 min).
pub const DEFAULT_AUTONAT_REFRESH_INTERVAL: Duration = Duration::from_secs(15 * 60);

/// Dial-back requests served in [`AUTONAT_THROTTLE_PERIOD`] from all peers: kubo's
/// `AutoNAT.Throttle.GlobalLimit` (30).
pub const AUTONAT_GLOBAL_LIMIT: usize = 30;

/// Dial-back requests served in [`AUTONAT_THROTTLE_PERIOD`] per peer: kubo's
/// `AutoNAT.Throttle.PeerLimit` (3).
pub const AUTONAT_PEER_LIMIT: usize = 3;

/// The window of the two limits above: kubo's `AutoNAT.Throttle.Interval` (1 min).
pub const AUTONAT_THROTTLE_PERIOD: Duration = Duration::from_secs(60);

/// AutoNAT settings; see the constants for where each default comes from.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct AutonatConfig {
    /// Run AutoNAT at all (default: on, as kubo's `AutoNAT.ServiceMode`).
    pub enabled: bool,
    /// Also probe through, and serve, peers on private and loopback addresses (default: off;
    /// for tests and private networks, where "reachable" means reachable on that network).
    pub private_addresses: bool,
    /// See [`DEFAULT_AUTONAT_BOOT_DELAY`].
    pub boot_delay: Duration,
    /// See [`DEFAULT_AUTONAT_RETRY_INTERVAL`].
    pub retry_interval: Duration,
}

impl Default for AutonatConfig {
    fn default() -> Self {
        AutonatConfig {
            enabled: true,
            private_addresses: false,
            boot_delay: DEFAULT_AUTONAT_BOOT_DELAY,
            retry_interval: DEFAULT_AUTONAT_RETRY_INTERVAL,
        }
    }
}

impl AutonatConfig {
    /// Turns AutoNAT on or off.
    pub fn with_enabled(mut self, on: bool) -> Self {
        self.enabled = on;
        self
    }

    /// Probes through and serves peers on private and loopback addresses too.
    pub fn with_private_addresses(mut self, on: bool) -> Self {
        self.private_addresses = on;
        self
    }

    /// Sets the delay before the first probe and between unconfident ones.
    pub fn with_timing(mut self, boot_delay: Duration, retry_interval: Duration) -> Self {
        self.boot_delay = boot_delay;
        self.retry_interval = retry_interval;
        self
    }

    /// The libp2p behaviour (client and server) for `peer`.
    pub(crate) fn behaviour(&self, peer: PeerId) -> autonat::Behaviour {
        let config = autonat::Config {
            boot_delay: self.boot_delay,
            retry_interval: self.retry_interval,
            refresh_interval: DEFAULT_AUTONAT_REFRESH_INTERVAL,
            throttle_clients_global_max: AUTONAT_GLOBAL_LIMIT,
            throttle_clients_peer_max: AUTONAT_PEER_LIMIT,
            throttle_clients_period: AUTONAT_THROTTLE_PERIOD,
            only_global_ips: !self.private_addresses,
            ..autonat::Config::default()
        };
        autonat::Behaviour::new(peer, config)
    }
}

/// Whether this node is reachable from outside, as AutoNAT last concluded.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum NatStatus {
    /// Not known yet (no probe answered, or no peer to ask).
    #[default]
    Unknown,
    /// Peers could not dial us back: behind a NAT or firewall.
    Private,
    /// A peer dialed us back at this address.
    Public(Multiaddr),
}

impl NatStatus {
    /// The value of the `nat_status` gauge: 0 unknown, 1 private, 2 public.
    pub(crate) fn gauge(&self) -> i64 {
        match self {
            NatStatus::Unknown => 0,
            NatStatus::Private => 1,
            NatStatus::Public(_) => 2,
        }
    }
}

impl From<autonat::NatStatus> for NatStatus {
    fn from(s: autonat::NatStatus) -> Self {
        match s {
            autonat::NatStatus::Public(a) => NatStatus::Public(a),
            autonat::NatStatus::Private => NatStatus::Private,
            autonat::NatStatus::Unknown => NatStatus::Unknown,
        }
    }
}

/// A finished AutoNAT probe, as [`NetworkEvent::AutonatProbe`](super::NetworkEvent::AutonatProbe)
/// reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeOutcome {
    /// The dial-back reached this address.
    Reachable(Multiaddr),
    /// The probe failed (no server, dial-back failed, refused, throttled, ...).
    Failed(String),
}
