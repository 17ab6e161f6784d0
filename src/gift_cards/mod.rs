//! Gift-card inventory commands.

mod import;

pub use import::{ImportArgs, import, import_file};
