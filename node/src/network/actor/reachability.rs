//! Reachability: AutoNAT's verdict on our addresses, and the public DHT's mode that follows
//! from it in [`KadMode::Auto`] (a server only while reachable, as kubo).

use libp2p::{autonat::v1 as autonat, kad};
use tracing::{debug, info, trace};

use super::Actor;
use super::connections::is_lan_addr;
use crate::network::autonat::{NatStatus, ProbeOutcome};
use crate::network::config::KadMode;
use crate::network::event::NetworkEvent;

/// The reachability part of the actor.
pub(super) struct Reachability {
    kad_mode: KadMode,
    /// AutoNAT's latest verdict.
    nat_status: NatStatus,
}

impl Reachability {
    pub(super) fn new(kad_mode: KadMode) -> Self {
        Reachability {
            kad_mode,
            nat_status: NatStatus::Unknown,
        }
    }
}

impl Actor {
    /// In [`KadMode::Auto`], serves the public DHT only while this node is reachable, as
    /// kubo: AutoNAT's verdict when it has one, else whether an announced address is public.
    /// Announced addresses also go into our provider records: kubo ignores records without
    /// addresses.
    pub(super) fn update_wan_mode(&mut self) {
        if self.reachability.kad_mode != KadMode::Auto {
            return;
        }
        let public = match &self.reachability.nat_status {
            NatStatus::Public(_) => true,
            NatStatus::Private => false,
            NatStatus::Unknown => self.swarm.external_addresses().any(|a| !is_lan_addr(a)),
        };
        let mode = if public {
            kad::Mode::Server
        } else {
            kad::Mode::Client
        };
        if let Some(kad) = self.swarm.behaviour_mut().kad.as_mut() {
            kad.set_mode(Some(mode));
        }
    }

    pub(super) fn on_autonat(&mut self, event: autonat::Event) {
        let (peer, asked_by_us, outcome) = match event {
            autonat::Event::StatusChanged { old, new } => {
                let status = NatStatus::from(new);
                info!(old = ?old, new = ?status, "AutoNAT reachability changed");
                if let Some(m) = &self.metrics {
                    m.nat_status.set(status.gauge());
                }
                self.reachability.nat_status = status.clone();
                self.update_wan_mode();
                self.emit(NetworkEvent::NatStatusChanged { status });
                return;
            }
            autonat::Event::OutboundProbe(autonat::OutboundProbeEvent::Response {
                peer,
                address,
                ..
            }) => (Some(peer), true, ProbeOutcome::Reachable(address)),
            autonat::Event::OutboundProbe(autonat::OutboundProbeEvent::Error {
                peer,
                error,
                ..
            }) => (peer, true, ProbeOutcome::Failed(format!("{error:?}"))),
            autonat::Event::InboundProbe(autonat::InboundProbeEvent::Response {
                peer,
                address,
                ..
            }) => (Some(peer), false, ProbeOutcome::Reachable(address)),
            autonat::Event::InboundProbe(autonat::InboundProbeEvent::Error {
                peer, error, ..
            }) => (
                Some(peer),
                false,
                ProbeOutcome::Failed(format!("{error:?}")),
            ),
            other => {
                trace!(event = ?other, "autonat event");
                return;
            }
        };
        debug!(?peer, asked_by_us, ?outcome, "AutoNAT probe finished");
        if let Some(m) = &self.metrics {
            let role = if asked_by_us { "client" } else { "server" };
            let result = match outcome {
                ProbeOutcome::Reachable(_) => "reachable",
                ProbeOutcome::Failed(_) => "failed",
            };
            m.autonat_probes
                .get_or_create(&vec![
                    ("role".to_owned(), role.to_owned()),
                    ("result".to_owned(), result.to_owned()),
                ])
                .inc();
        }
        self.emit(NetworkEvent::AutonatProbe {
            peer,
            asked_by_us,
            outcome,
        });
    }
}
