//! The `calltrack` binary as an operator runs it: the demo, `serve` on a fresh machine
//! (its own embedded PostgreSQL), the local trial, `simulate`.

mod demo;
mod fresh_machine;
mod simulate;
mod trial;
