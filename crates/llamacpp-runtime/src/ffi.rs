//! The few llama.cpp entry points `llama-cpp-2` has no safe wrapper for: quantization, the
//! log callback, the version strings. Each `unsafe` block is one C call with arguments that
//! live across it.
#![allow(unsafe_code)] // FFI into llama.cpp; see the SAFETY comment on each block.

use crate::{Ftype, LlamaError};
use llama_cpp_2::llama_backend::LlamaBackend;
use std::ffi::{CStr, CString, c_char, c_void};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Duration;

/// What llama.cpp logged since the current call started (bounded).
static LOG: Mutex<String> = Mutex::new(String::new());
const LOG_LIMIT: usize = 64 * 1024;

/// Serialises every llama.cpp call: the logger is process-wide, and llama.cpp documents
/// context creation from one model on several threads as unsafe.
static CALLS: Mutex<()> = Mutex::new(());

static BACKEND: OnceLock<Result<LlamaBackend, String>> = OnceLock::new();

/// CPU time spent inside llama.cpp calls so far, in nanoseconds.
static CPU_NANOS: AtomicU64 = AtomicU64::new(0);

/// Bytes of model weights the current llama.cpp call holds (0 between calls): with
/// [`BUFFERS_HELD`], the part of tmgt's memory that is the second runtime's, reported apart
/// from the harness's own.
static WEIGHTS_HELD: AtomicU64 = AtomicU64::new(0);

/// Bytes of the buffers the current call's llama.cpp says it allocated besides the mapped
/// weights (KV cache, compute and output buffers, repacked weights), from its own log lines.
static BUFFERS_HELD: AtomicU64 = AtomicU64::new(0);

/// What the current call holds: its model file and the buffers llama.cpp allocated.
pub(crate) fn held_bytes() -> u64 {
    WEIGHTS_HELD.load(Ordering::Relaxed) + BUFFERS_HELD.load(Ordering::Relaxed)
}

/// The bytes of `llama_context: CPU compute buffer size = 98.50 MiB` and its kind (KV,
/// output, repacked model); `None` for other lines and for the mapped file itself, which the
/// weights already count.
fn buffer_bytes(line: &str) -> Option<u64> {
    let (what, size) = line.split_once(" buffer size =")?;
    if what.contains("CPU_Mapped") {
        return None;
    }
    let mib: f64 = size.trim().strip_suffix("MiB")?.trim().parse().ok()?;
    Some((mib * 1024.0 * 1024.0) as u64)
}

/// CPU time this process spent inside llama.cpp: every call runs on the calling thread (one
/// llama.cpp thread), so the thread's CPU clock across the call is the call's cost.
pub(crate) fn cpu_time() -> Duration {
    Duration::from_nanos(CPU_NANOS.load(Ordering::Relaxed))
}

fn thread_cpu() -> Option<Duration> {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_THREAD_CPUTIME_ID)
        .ok()
        .map(Duration::from)
}

/// The held call lock, with the backend started and the call's log emptied. Dropping it adds
/// the call's CPU time to [`cpu_time`].
pub(crate) struct Guard {
    _lock: MutexGuard<'static, ()>,
    pub(crate) backend: &'static LlamaBackend,
    cpu_at_start: Option<Duration>,
}

impl Guard {
    /// Records the weights this call holds until the guard drops (calls are serialised, so
    /// one counter is the whole process's).
    pub(crate) fn hold_weights(&self, bytes: u64) {
        WEIGHTS_HELD.store(bytes, Ordering::Relaxed);
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        WEIGHTS_HELD.store(0, Ordering::Relaxed);
        BUFFERS_HELD.store(0, Ordering::Relaxed);
        // llama.cpp frees hundreds of megabytes of model and buffers per call; without this
        // glibc keeps them resident in the heap as tmgt's own.
        trim_heap();
        if let (Some(start), Some(now)) = (self.cpu_at_start, thread_cpu()) {
            let spent = u64::try_from(now.saturating_sub(start).as_nanos()).unwrap_or(u64::MAX);
            CPU_NANOS.fetch_add(spent, Ordering::Relaxed);
        }
    }
}

/// Hands the heap's free pages back to the system, in every thread's arena.
pub(crate) fn trim_heap() {
    // SAFETY: glibc's malloc_trim takes a padding size and touches only the allocator's own
    // free lists.
    unsafe {
        nix::libc::malloc_trim(0);
    }
}

pub(crate) fn lock() -> Result<Guard, LlamaError> {
    let lock = CALLS.lock().unwrap_or_else(PoisonError::into_inner);
    let cpu_at_start = thread_cpu();
    let backend = BACKEND
        .get_or_init(|| {
            let backend = LlamaBackend::init().map_err(|e| e.to_string())?;
            // SAFETY: `capture` is a plain function that never unwinds; the user data is
            // unused (null).
            unsafe { llama_cpp_sys_2::llama_log_set(Some(capture), std::ptr::null_mut()) };
            Ok(backend)
        })
        .as_ref()
        .map_err(|e| LlamaError::Backend(e.clone()))?;
    LOG.lock().unwrap_or_else(PoisonError::into_inner).clear();
    Ok(Guard {
        _lock: lock,
        backend,
        cpu_at_start,
    })
}

/// The warnings and errors llama.cpp logged since [`lock`], one line each.
pub(crate) fn take_log() -> String {
    let mut log = LOG.lock().unwrap_or_else(PoisonError::into_inner);
    let text = std::mem::take(&mut *log);
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    if lines.is_empty() {
        "llama.cpp logged no warning or error".into()
    } else {
        lines.join(" | ")
    }
}

/// llama.cpp's log callback: keeps warnings and errors (and their continuations).
extern "C" fn capture(level: llama_cpp_sys_2::ggml_log_level, text: *const c_char, _: *mut c_void) {
    use std::sync::atomic::{AtomicBool, Ordering};
    // Whether the last non-continuation line was kept, so continuations follow it.
    static KEEPING: AtomicBool = AtomicBool::new(false);
    let keep = match level {
        llama_cpp_sys_2::GGML_LOG_LEVEL_WARN | llama_cpp_sys_2::GGML_LOG_LEVEL_ERROR => true,
        llama_cpp_sys_2::GGML_LOG_LEVEL_CONT => KEEPING.load(Ordering::Relaxed),
        _ => false,
    };
    if level != llama_cpp_sys_2::GGML_LOG_LEVEL_CONT {
        KEEPING.store(keep, Ordering::Relaxed);
    }
    if text.is_null() {
        return;
    }
    // SAFETY: llama.cpp passes a NUL-terminated string valid for the duration of the call.
    let text = unsafe { CStr::from_ptr(text) }.to_string_lossy();
    if let Some(bytes) = buffer_bytes(&text) {
        BUFFERS_HELD.fetch_add(bytes, Ordering::Relaxed);
    }
    if !keep {
        return;
    }
    let mut log = LOG.lock().unwrap_or_else(PoisonError::into_inner);
    if log.len() + text.len() <= LOG_LIMIT {
        log.push_str(&text);
    }
}

pub(crate) fn c_path(path: &Path) -> Result<CString, LlamaError> {
    path.to_str()
        .and_then(|s| CString::new(s).ok())
        .ok_or_else(|| LlamaError::Path {
            path: path.to_path_buf(),
        })
}

pub(crate) fn quantize(input: &Path, output: &Path, ftype: Ftype) -> Result<(), LlamaError> {
    let c_in = c_path(input)?;
    let c_out = c_path(output)?;
    // SAFETY: returns a plain struct by value.
    let mut params = unsafe { llama_cpp_sys_2::llama_model_quantize_default_params() };
    params.nthread = 1;
    params.ftype = match ftype {
        Ftype::F32 => llama_cpp_sys_2::LLAMA_FTYPE_ALL_F32,
        Ftype::Q8_0 => llama_cpp_sys_2::LLAMA_FTYPE_MOSTLY_Q8_0,
        Ftype::Q4_0 => llama_cpp_sys_2::LLAMA_FTYPE_MOSTLY_Q4_0,
    };
    // F32 from a quantized file is llama.cpp dequantizing it, which it calls requantizing.
    params.allow_requantize = ftype == Ftype::F32;
    // SAFETY: both paths are NUL-terminated strings and `params` a valid struct, all alive
    // across the call; the pointers inside `params` are the defaults' nulls.
    let code =
        unsafe { llama_cpp_sys_2::llama_model_quantize(c_in.as_ptr(), c_out.as_ptr(), &params) };
    if code == 0 {
        Ok(())
    } else {
        Err(LlamaError::Quantize {
            input: input.to_path_buf(),
            output: output.to_path_buf(),
            ftype: ftype.as_str(),
            code,
            log: take_log(),
        })
    }
}

pub(crate) fn version() -> String {
    let read = |p: *const c_char| {
        if p.is_null() {
            String::new()
        } else {
            // SAFETY: llama.cpp returns pointers to static NUL-terminated strings.
            unsafe { CStr::from_ptr(p) }
                .to_string_lossy()
                .trim()
                .to_string()
        }
    };
    // SAFETY: both return static strings and take no arguments.
    let (version, system) = unsafe {
        (
            llama_cpp_sys_2::llama_version(),
            llama_cpp_sys_2::llama_print_system_info(),
        )
    };
    format!("llama.cpp {} ({})", read(version), read(system))
}

#[cfg(test)]
mod tests {
    use super::buffer_bytes;

    #[test]
    fn buffer_lines_count_all_but_the_mapped_file() {
        let mib = 1024 * 1024;
        assert_eq!(
            buffer_bytes("llama_context:        CPU compute buffer size =    98.50 MiB\n"),
            Some(98 * mib + mib / 2)
        );
        assert_eq!(
            buffer_bytes("llama_kv_cache:        CPU KV buffer size =    11.25 MiB"),
            Some(11 * mib + mib / 4)
        );
        assert_eq!(
            buffer_bytes("load_tensors:   CPU_REPACK model buffer size =    40.00 MiB"),
            Some(40 * mib)
        );
        assert_eq!(
            buffer_bytes("load_tensors:   CPU_Mapped model buffer size =   515.00 MiB"),
            None
        );
        assert_eq!(buffer_bytes("llama_context: n_ctx = 256"), None);
    }
}
