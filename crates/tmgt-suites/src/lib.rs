//! The suite crates a `tmgt` build runs. Each registers its checks through `inventory`;
//! naming it here keeps the linker from dropping those registrations (dtolnay/inventory#50),
//! so adding a suite crate is one dependency and one line in this crate, and no runner file.

use checks_chat as _;
use checks_global as _;
use checks_inference as _;
use checks_llamacpp as _;
use checks_localize as _;
use checks_long as _;
use checks_metadata as _;
use checks_operations as _;
use checks_sampling as _;
use checks_serve as _;
use checks_structure as _;
use checks_weights as _;
