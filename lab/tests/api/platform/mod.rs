//! The platform's own schema: adoption of the Supabase-shaped and the documented-minimum
//! databases, and migrations.

pub(crate) mod adoption;
mod migrations;
mod setup;
mod webhook_events;
