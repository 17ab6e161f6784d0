//! PostgreSQL away, hung or killed under the service: the fail-open answers, the spool and its
//! replay, deadlines, and a `calltrack serve` child on a private cluster that is stopped,
//! frozen and killed.

mod auto_conditions;
mod deadlines;
mod fail_open;
mod fallback;
mod rollups;
mod serve_children;
