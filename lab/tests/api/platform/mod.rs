//! The platform's own schema: adoption of the Supabase-shaped and the documented-minimum
//! databases, and migrations.

mod migrations;
pub(crate) mod platform;
