//! `apr serve` under tmgt's supervision, and a typed client of its HTTP API.
//!
//! A server is started per file on a port tmgt chose free (retried on a bind race), with
//! `APR_API_KEY`/`APR_API_KEY_HASH` removed from its environment, and is ready when
//! `GET /health` answers 200, within a limit that grows with the file's size. It is stopped
//! with SIGINT (the only signal apr serve shuts down on) and SIGKILL after a grace period,
//! killed at once when tmgt is interrupted, and, being spawned with SIGKILL as its
//! parent-death signal, never outlives tmgt. Its output is kept for error messages. Every
//! request is an [`Exchange`] a ticket can replay with `curl`.

pub mod api;
mod error;
mod http;
mod keeper;
mod pool;
mod server;

pub use error::ServeError;
pub use http::{Client, Event, Exchange, Reply};
pub use pool::{Scoped, cancel_with, configure, private, scoped, shared, shutdown, spec};
pub use server::{Server, ServerSpec, Stopped};
