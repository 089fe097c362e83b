//! `tmgt-llama-worker`: llama.cpp in a process of its own, serving tmgt's requests on stdin.

fn main() -> std::process::ExitCode {
    llamacpp_worker::serve()
}
