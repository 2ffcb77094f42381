//! Bitswap 1.2.0 / 1.1.0 / 1.0.0 as a libp2p `NetworkBehaviour`.
//!
//! - [`protocol`]: protocol names, versions, framing and size limits.
//! - [`pb`]: the wire structs, field for field boxo's `message.proto`.
//! - [`message`]: the typed [`Message`], encoding per version and verifying decode.
//! - [`handler`]: one connection: inbound streams read, one long-lived outbound stream written.
//! - [`behaviour`]: network-wide state, both roles; never touches storage.
//! - [`server_queue`]: the fair (deficit round robin) queue of server lookups.
//! - [`session`]: an I/O-free fetch session (WANT_HAVE first, then WANT_BLOCK, retries).
//! - [`client`]: the I/O-free client over a session: one fetch per CID and its waiters,
//!   withdrawal when they leave, read-back of blocks stored moments ago.
//! - [`stats`]: counters for the node's metrics.
//!
//! Wiring: add [`Behaviour`] to the swarm; on [`Event::Wants`] and [`Event::TasksAvailable`]
//! (and whenever a lookup worker frees up) pull [`Behaviour::next_task`], look the CID up in
//! the blockstore with bounded concurrency and answer with
//! [`Behaviour::send_block`] / [`Behaviour::send_presence`]. To fetch, call
//! [`Behaviour::want`] and wait for [`Event::Block`]; drop interest with [`Behaviour::cancel`].
//!
//! Driving a fetch with a [`Session`]: feed it [`Event::Have`] / [`Event::DontHave`] /
//! [`Event::Block`] (`on_have`, `on_dont_have`, `on_block`), new connections and provider
//! dials (`add_peer`; [`Event::PeerReady`] only comes once a stream is up), closed connections
//! and [`Event::PeerUnsupported`] (`remove_peer`), and call `tick` at its `deadline`;
//! perform its [`Action`]s with
//! [`Behaviour::want`], a DHT provider lookup, or [`Behaviour::cancel`]. The behaviour's
//! wantlist is shared by all sessions: cancel a CID there only when no session still wants it.

pub mod behaviour;
pub mod client;
pub mod config;
pub mod event;
pub(crate) mod framing;
pub mod handler;
pub mod message;
pub mod pb;
pub mod protocol;
pub mod recent;
pub mod server_queue;
pub mod session;
pub mod stats;

pub use behaviour::Behaviour;
pub use client::{Client, Step};
pub use config::Config;
pub use event::{Event, Misbehaviour, Task};
pub use message::{InvalidItem, Message, Presence, WantEntry, WantType};
pub use protocol::Version;
pub use session::{Action, Session, SessionConfig};
pub use stats::Stats;
