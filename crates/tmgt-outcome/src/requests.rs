use serde::{Deserialize, Serialize};

/// One HTTP request a result sent to a server tmgt started (an `apr serve` of one of the
/// model's files), kept beside the apr calls a result used: a ticket replays it with `curl`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestRecord {
    /// The command line that started the server, its port included.
    pub server: String,
    pub method: String,
    pub path: String,
    pub status: u16,
    pub ms: u64,
    /// The request as a `curl` command against that server.
    pub curl: String,
}
