//! In-process servers over HTTP on a database of their own: webhooks, the API, rewards,
//! SMS, numbers, reconciliation. Seconds in all; the group to run while working.

mod agents;
pub(crate) mod auto_conditions;
mod call_flow;
mod fixtures;
mod freshness;
mod gift_cards;
pub(crate) mod group_commit;
mod hardening;
mod malformed;
mod manage;
pub(crate) mod metrics;
pub(crate) mod numbers;
mod openapi;
mod outcome;
mod phone_matching;
mod recipients;
mod reconcile;
mod recording;
mod rewards;
pub(crate) mod rollups;
pub(crate) mod row_security;
mod session_list;
mod setup;
mod signature;
mod sms;
mod stats;
mod status;
mod voice;
mod webhook_delivery;
mod webhook_endpoints;
pub(crate) mod webhook_events;
mod webhook_worker;
