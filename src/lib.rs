//! session-keeper: keeps a web dashboard's login session alive.
#![deny(missing_docs)]

pub mod core;
