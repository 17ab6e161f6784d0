//! Webhooks out, the part that needs no database: the Standard Webhooks signature
//! ([`signature`]), which URLs and addresses may receive a delivery ([`target`]), and one
//! delivery attempt with the retry schedule ([`delivery`]). The outbox and the worker that
//! claims messages and records attempts are built on these.
//!
//! The specification followed is <https://www.standardwebhooks.com/>: headers `webhook-id`,
//! `webhook-timestamp` and `webhook-signature`, HMAC-SHA256 over `id.timestamp.body` keyed with
//! the bytes of a `whsec_` secret.

pub mod delivery;
pub mod signature;
pub mod target;

pub use delivery::{
    Attempt, DEFAULT_TIMEOUT, Deliverer, DelivererError, DeliveryConfig, Message, Outcome,
    retry_schedule,
};
pub use signature::{SecretError, WebhookSecret, sign, signature_header, verify};
pub use target::{EndpointUrl, TargetError, resolve_checked};
