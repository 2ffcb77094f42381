//! chorus's Ethereum half (issue 16): who uploaded what and when, decided on chain.
//!
//! - [`typed_data`]: the EIP-712 messages an artist's wallet signs (`Upload`, `Delist`) and the
//!   JSON a wallet's `eth_signTypedData_v4` takes;
//! - [`proof`]: an upload's signature as it arrives with the upload, and its verification;
//! - [`nonces`]: nonces already used, so a signature is accepted once;
//! - [`gate`]: the one admission check every upload path runs before its write is committed;
//! - [`wallet`]: the operator's key in the repo (the daemon relays with it);
//! - [`contracts`]: bindings to the checked-in registry contracts (`deploy/contracts/out`);
//! - [`deploy`]: deploying both contracts to a chain;
//! - [`store`]: the chain database in the repo (relay queue, follower cursor, ownership index);
//! - [`relay`]: the persistent queue that registers uploads on chain from the operator wallet;
//! - [`follower`]: follows the registry's events with confirmations and reorg rollback.
//!
//! Nothing here touches blocks: the node's core calls the gate and enqueues relay jobs after its
//! own durability point.

pub mod config;
pub mod contracts;
pub mod deploy;
pub mod endpoint;
pub mod events;
pub mod follower;
pub mod gate;
pub mod nodes;
pub mod nonces;
pub mod owners;
pub mod proof;
pub mod relay;
pub mod sign;
pub mod store;
pub mod typed_data;
pub mod wallet;

pub use alloy::primitives::{Address, B256, U256};
pub use alloy::signers::local::PrivateKeySigner;
pub use alloy::sol_types::SolEvent;
pub use config::ChainConfig;
pub use gate::{Admission, UploadGate};
pub use proof::{Refusal, UploadProof};
