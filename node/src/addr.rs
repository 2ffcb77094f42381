//! Listen addresses for the HTTP faces, written either as `IP:PORT` or as a kubo-style
//! multiaddr (`/ip4/127.0.0.1/tcp/5001`), and the rule that keeps the RPC API off public
//! interfaces unless the operator asked for it.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use libp2p::multiaddr::{Multiaddr, Protocol};
use thiserror::Error;

/// kubo's default RPC API address.
pub const DEFAULT_API_ADDR: &str = "127.0.0.1:5001";
/// kubo's default gateway address.
pub const DEFAULT_GATEWAY_ADDR: &str = "127.0.0.1:8080";

/// Why a listen address was rejected.
#[derive(Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum AddrError {
    /// Neither `IP:PORT` nor a multiaddr.
    #[error("invalid listen address {input:?}: {reason}")]
    Invalid {
        /// What the user wrote.
        input: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The API would listen on a non-loopback interface without authentication.
    #[error(
        "refusing to serve the RPC API on non-loopback address {addr} without authentication: \
         configure an API bearer token or set the explicit opt-out"
    )]
    PublicApiRefused {
        /// The refused address.
        addr: SocketAddr,
    },
}

/// A TCP listen address (port 0 asks the OS for a free port).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ListenAddr(SocketAddr);

impl ListenAddr {
    /// The socket address to bind.
    pub fn socket_addr(&self) -> SocketAddr {
        self.0
    }

    /// The same address as a multiaddr (`/ip4/…/tcp/…`), the form kubo writes to `<repo>/api`.
    pub fn to_multiaddr(&self) -> Multiaddr {
        socket_to_multiaddr(self.0)
    }
}

/// Converts a socket address into `/ip4|ip6/<ip>/tcp/<port>`.
pub fn socket_to_multiaddr(addr: SocketAddr) -> Multiaddr {
    let ip = match addr.ip() {
        IpAddr::V4(v4) => Protocol::Ip4(v4),
        IpAddr::V6(v6) => Protocol::Ip6(v6),
    };
    Multiaddr::empty().with(ip).with(Protocol::Tcp(addr.port()))
}

impl From<SocketAddr> for ListenAddr {
    fn from(addr: SocketAddr) -> Self {
        ListenAddr(addr)
    }
}

impl fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for ListenAddr {
    type Err = AddrError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let s = input.trim();
        let invalid = |reason: &str| AddrError::Invalid {
            input: input.to_owned(),
            reason: reason.to_owned(),
        };
        if !s.starts_with('/') {
            return s
                .parse::<SocketAddr>()
                .map(ListenAddr)
                .map_err(|e| invalid(&e.to_string()));
        }
        let ma: Multiaddr = s
            .parse()
            .map_err(|e: libp2p::multiaddr::Error| invalid(&e.to_string()))?;
        let mut parts = ma.iter();
        let ip = match parts.next() {
            Some(Protocol::Ip4(ip)) => IpAddr::V4(ip),
            Some(Protocol::Ip6(ip)) => IpAddr::V6(ip),
            _ => return Err(invalid("multiaddr must start with /ip4 or /ip6")),
        };
        let port = match parts.next() {
            Some(Protocol::Tcp(port)) => port,
            _ => return Err(invalid("multiaddr must continue with /tcp/<port>")),
        };
        if parts.next().is_some() {
            return Err(invalid("only /ip4|ip6/<ip>/tcp/<port> is supported"));
        }
        Ok(ListenAddr(SocketAddr::new(ip, port)))
    }
}

/// Refuses an API bind on a non-loopback address unless authentication is configured or the
/// operator explicitly opted out: the RPC API can add, pin and delete content, so exposing it
/// without a token would hand the node to anyone who can reach the port.
pub fn check_api_bind(
    addr: SocketAddr,
    auth_configured: bool,
    allow_unauthenticated_public: bool,
) -> Result<(), AddrError> {
    if addr.ip().is_loopback() || auth_configured || allow_unauthenticated_public {
        Ok(())
    } else {
        Err(AddrError::PublicApiRefused { addr })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_forms() {
        let a: ListenAddr = "127.0.0.1:5001".parse().unwrap();
        let b: ListenAddr = "/ip4/127.0.0.1/tcp/5001".parse().unwrap();
        assert_eq!(a, b);
        let z: ListenAddr = "/ip4/127.0.0.1/tcp/0".parse().unwrap();
        assert_eq!(z.socket_addr().port(), 0);
        let v6: ListenAddr = "/ip6/::1/tcp/8080".parse().unwrap();
        assert_eq!(v6.to_string(), "[::1]:8080");
        assert_eq!(a.to_multiaddr().to_string(), "/ip4/127.0.0.1/tcp/5001");
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            "",
            "localhost",
            "127.0.0.1",
            "/ip4/127.0.0.1",
            "/ip4/127.0.0.1/udp/5001",
            "/ip4/127.0.0.1/tcp/5001/ws",
            "/dns4/example.com/tcp/80",
            "/ip4/999.0.0.1/tcp/1",
        ] {
            assert!(
                bad.parse::<ListenAddr>().is_err(),
                "{bad} should be rejected"
            );
        }
    }

    #[test]
    fn api_bind_policy() {
        let lo: SocketAddr = "127.0.0.1:5001".parse().unwrap();
        let lo6: SocketAddr = "[::1]:5001".parse().unwrap();
        let public: SocketAddr = "0.0.0.0:5001".parse().unwrap();
        assert!(check_api_bind(lo, false, false).is_ok());
        assert!(check_api_bind(lo6, false, false).is_ok());
        assert_eq!(
            check_api_bind(public, false, false),
            Err(AddrError::PublicApiRefused { addr: public })
        );
        assert!(check_api_bind(public, true, false).is_ok());
        assert!(check_api_bind(public, false, true).is_ok());
    }
}
