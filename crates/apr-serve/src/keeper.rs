//! Servers are spawned by one thread that lives as long as tmgt, in their own process group
//! and with SIGKILL as their parent-death signal: the kernel delivers it when the spawning
//! thread ends, so spawning from a short-lived job thread would kill the server with it, and
//! spawning from this one kills it only with tmgt, however tmgt ends (SIGKILL included).

use std::os::unix::process::CommandExt;
use std::process::{Child, Command};
use std::sync::mpsc::{Sender, channel};
use std::sync::{LazyLock, Mutex, PoisonError};

type Request = (Command, Sender<std::io::Result<Child>>);

static KEEPER: LazyLock<Mutex<Sender<Request>>> = LazyLock::new(|| {
    let (tx, rx) = channel::<Request>();
    std::thread::Builder::new()
        .name("apr-serve-keeper".into())
        .spawn(move || {
            for (mut cmd, reply) in rx {
                let _ = reply.send(spawn_here(&mut cmd));
            }
        })
        .expect("a thread for spawning servers");
    Mutex::new(tx)
});

/// Spawns `cmd` from the keeper thread.
pub(crate) fn spawn(cmd: Command) -> std::io::Result<Child> {
    let (tx, rx) = channel();
    KEEPER
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .send((cmd, tx))
        .map_err(|_| std::io::Error::other("the server keeper thread is gone"))?;
    rx.recv()
        .map_err(|_| std::io::Error::other("the server keeper thread is gone"))?
}

#[allow(unsafe_code)]
fn spawn_here(cmd: &mut Command) -> std::io::Result<Child> {
    cmd.process_group(0);
    // SAFETY: between fork and exec only async-signal-safe calls are allowed; `prctl` is a
    // raw system call and allocates nothing.
    unsafe {
        cmd.pre_exec(|| {
            nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)
                .map_err(std::io::Error::from)
        });
    }
    cmd.spawn()
}
