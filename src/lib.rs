//! snowbridge: reliable ServiceNow sessions for scripts.
//!
//! The crate is a pipeline, one module per stage:
//!
//! 1. [`obtain`]: get a session: a browser login through Chrome and chromedriver, an import
//!    from the user's own Chrome profile, or token and certificate auth.
//! 2. [`vault`]: keep it: one encrypted file per instance, written atomically under a lock.
//! 3. [`session`]: use it: an HTTP session over the vault's cookies that knows when it has
//!    expired, and [`api`], the ServiceNow JSONv2, Table and Attachment APIs on top of it.
//! 4. [`fallback`]: where the API refuses, do the work through the browser with the same session.
//!
//! [`browser`] runs Chrome through chromedriver for the login and the fallback alike.
//!
//! Around them: [`instance`] (instance files), [`paths`] (where state lives), [`cookie`] (the one
//! cookie type every stage speaks), [`secret`] and [`error`]. The `emulator` (feature `emulator`) is a separate room:
//! a local ServiceNow stand-in for tests and demos that nothing else in the crate imports.

#![warn(missing_docs)]

pub mod api;
mod blocking;
#[cfg(feature = "browser")]
#[cfg_attr(docsrs, doc(cfg(feature = "browser")))]
pub mod browser;
pub mod cookie;
#[cfg(feature = "emulator")]
#[cfg_attr(docsrs, doc(cfg(feature = "emulator")))]
pub mod emulator;
pub mod error;
#[cfg(feature = "browser")]
#[cfg_attr(docsrs, doc(cfg(feature = "browser")))]
pub mod fallback;
mod files;
mod front;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
pub mod instance;
pub mod keyring;
pub mod obtain;
pub mod paths;
pub mod prompt;
pub mod secret;
pub mod session;
pub mod tls;
pub mod vault;

pub use api::{DisplayValue, Query, Record};
pub use error::{Error, ErrorKind, NextStep, Refusal, Result};
pub use front::{
    AttachReport, Connection, IncidentState, Login, Records, Resolution, Resolved, Snowbridge,
    SnowbridgeBuilder, Via,
};
pub use obtain::Connected;
pub use prompt::{NoPerson, Prompter};

/// The `tracing` target of notices meant for the person using snowbridge (a private key others
/// can read, cookies that could not be removed from a browser profile): the library reports them
/// as `WARN` events under this target and prints nothing; a caller shows them as it sees fit (the
/// CLI prints them whatever `-v` says).
pub const NOTICE_TARGET: &str = "snowbridge::notice";
