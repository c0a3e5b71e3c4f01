//! Stage 1: obtaining a session.
//!
//! Everything that produces cookies (or credentials) for an instance lives here: today the import
//! from the user's own Chrome profile. This stage hands back plain [`crate::cookie::Cookie`]s and
//! a report; it never stores them (that is the vault's job) and never sends them anywhere.

pub mod chrome;
