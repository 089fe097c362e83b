//! The few llama.cpp entry points `llama-cpp-2` has no safe wrapper for: quantization, the
//! log callback, the version strings. Each `unsafe` block is one C call with arguments that
//! live across it.
#![allow(unsafe_code)] // FFI into llama.cpp; see the SAFETY comment on each block.

use llama_cpp_2::llama_backend::LlamaBackend;
use llamacpp_runtime::{Ftype, LlamaError};
use std::ffi::{CStr, CString, c_char, c_void};
use std::path::Path;
use std::sync::{Mutex, OnceLock, PoisonError};

/// What llama.cpp logged since the current call started (bounded).
static LOG: Mutex<String> = Mutex::new(String::new());
const LOG_LIMIT: usize = 64 * 1024;

static BACKEND: OnceLock<Result<LlamaBackend, String>> = OnceLock::new();

/// llama.cpp's backend, started once with the log routed to [`take_log`]; the call's log is
/// emptied.
pub(crate) fn backend() -> Result<&'static LlamaBackend, LlamaError> {
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
    Ok(backend)
}

/// The warnings and errors llama.cpp logged since [`backend`], one line each.
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
        Ftype::F16 => llama_cpp_sys_2::LLAMA_FTYPE_MOSTLY_F16,
        Ftype::BF16 => llama_cpp_sys_2::LLAMA_FTYPE_MOSTLY_BF16,
        Ftype::Q8_0 => llama_cpp_sys_2::LLAMA_FTYPE_MOSTLY_Q8_0,
        Ftype::Q6_K => llama_cpp_sys_2::LLAMA_FTYPE_MOSTLY_Q6_K,
        Ftype::Q5_K_M => llama_cpp_sys_2::LLAMA_FTYPE_MOSTLY_Q5_K_M,
        Ftype::Q5_0 => llama_cpp_sys_2::LLAMA_FTYPE_MOSTLY_Q5_0,
        Ftype::Q4_K_M => llama_cpp_sys_2::LLAMA_FTYPE_MOSTLY_Q4_K_M,
        Ftype::Q4_0 => llama_cpp_sys_2::LLAMA_FTYPE_MOSTLY_Q4_0,
        Ftype::IQ4_XS => llama_cpp_sys_2::LLAMA_FTYPE_MOSTLY_IQ4_XS,
        Ftype::Q3_K_M => llama_cpp_sys_2::LLAMA_FTYPE_MOSTLY_Q3_K_M,
        Ftype::Q2_K => llama_cpp_sys_2::LLAMA_FTYPE_MOSTLY_Q2_K,
        Ftype::IQ3_S => llama_cpp_sys_2::LLAMA_FTYPE_MOSTLY_IQ3_S,
        Ftype::IQ3_XXS => llama_cpp_sys_2::LLAMA_FTYPE_MOSTLY_IQ3_XXS,
        Ftype::Q2_K_S => llama_cpp_sys_2::LLAMA_FTYPE_MOSTLY_Q2_K_S,
        Ftype::IQ2_S => llama_cpp_sys_2::LLAMA_FTYPE_MOSTLY_IQ2_S,
        Ftype::IQ2_XS => llama_cpp_sys_2::LLAMA_FTYPE_MOSTLY_IQ2_XS,
        Ftype::IQ2_XXS => llama_cpp_sys_2::LLAMA_FTYPE_MOSTLY_IQ2_XXS,
        Ftype::TQ2_0 => llama_cpp_sys_2::LLAMA_FTYPE_MOSTLY_TQ2_0,
        Ftype::IQ1_M => llama_cpp_sys_2::LLAMA_FTYPE_MOSTLY_IQ1_M,
        Ftype::TQ1_0 => llama_cpp_sys_2::LLAMA_FTYPE_MOSTLY_TQ1_0,
        Ftype::IQ1_S => llama_cpp_sys_2::LLAMA_FTYPE_MOSTLY_IQ1_S,
    };
    // F32 from a quantized file is llama.cpp dequantizing it, which it calls requantizing.
    params.allow_requantize = ftype == Ftype::F32;
    let importance = if ftype.needs_importance() {
        UniformImportance::of(input)?
    } else {
        UniformImportance::default()
    };
    params.imatrix = importance.as_ptr();
    // SAFETY: both paths are NUL-terminated strings and `params` a valid struct, all alive
    // across the call; `params.imatrix` is null or points into `importance`, alive too.
    let code =
        unsafe { llama_cpp_sys_2::llama_model_quantize(c_in.as_ptr(), c_out.as_ptr(), &params) };
    if code == 0 {
        Ok(())
    } else {
        Err(LlamaError::Quantize {
            input: input.to_path_buf(),
            output: output.to_path_buf(),
            ftype,
            code,
            log: take_log(),
        })
    }
}

/// A stated, synthetic importance matrix: every column of every matrix equally important (a
/// weight of 1), for the types llama.cpp will not make without one. With equal weights the
/// grid search minimises the plain squared error of each block; the layouts and kernels a
/// runtime must get right are the same whatever the weights.
#[derive(Default)]
struct UniformImportance {
    names: Vec<CString>,
    ones: Vec<f32>,
    entries: Vec<llama_cpp_sys_2::llama_model_imatrix_data>,
}

impl UniformImportance {
    /// One entry per tensor of two or more dimensions in the GGUF `path`, as long as the
    /// values one row meets (times the experts, where a third dimension holds them).
    fn of(path: &Path) -> Result<Self, LlamaError> {
        let c_file = c_path(path)?;
        let mut meta: *mut llama_cpp_sys_2::ggml_context = std::ptr::null_mut();
        let params = llama_cpp_sys_2::gguf_init_params {
            no_alloc: true,
            ctx: &mut meta,
        };
        // SAFETY: a NUL-terminated path and parameters whose `ctx` points at `meta`, which
        // receives a ggml context of the tensors' shapes (no data); nulls are checked.
        let gguf = unsafe { llama_cpp_sys_2::gguf_init_from_file(c_file.as_ptr(), params) };
        if gguf.is_null() || meta.is_null() {
            return Err(LlamaError::Backend(format!(
                "gguf_init_from_file({}) failed: {}",
                path.display(),
                take_log()
            )));
        }
        let mut rows = Vec::new();
        // SAFETY: `meta` and `gguf` are live until freed at the end of this block; every
        // tensor pointer comes from `meta`'s own list and its name is NUL-terminated.
        unsafe {
            let mut t = llama_cpp_sys_2::ggml_get_first_tensor(meta);
            while !t.is_null() {
                if llama_cpp_sys_2::ggml_n_dims(t) >= 2 {
                    let name = CStr::from_ptr((*t).name.as_ptr()).to_owned();
                    rows.push((name, ((*t).ne[0] * (*t).ne[2]) as usize));
                }
                t = llama_cpp_sys_2::ggml_get_next_tensor(meta, t);
            }
            llama_cpp_sys_2::ggml_free(meta);
            llama_cpp_sys_2::gguf_free(gguf);
        }
        let longest = rows.iter().map(|(_, n)| *n).max().unwrap_or(0);
        let mut importance = UniformImportance {
            names: Vec::new(),
            ones: vec![1.0; longest],
            entries: Vec::new(),
        };
        for (name, size) in rows {
            importance.names.push(name);
            let name = importance
                .names
                .last()
                .map_or(std::ptr::null(), |n| n.as_ptr());
            importance
                .entries
                .push(llama_cpp_sys_2::llama_model_imatrix_data {
                    name,
                    data: importance.ones.as_ptr(),
                    size,
                });
        }
        // llama.cpp reads entries up to one whose name is null.
        importance
            .entries
            .push(llama_cpp_sys_2::llama_model_imatrix_data {
                name: std::ptr::null(),
                data: std::ptr::null(),
                size: 0,
            });
        Ok(importance)
    }

    /// The entries for `llama_model_quantize_params::imatrix`: null when there are none.
    fn as_ptr(&self) -> *const llama_cpp_sys_2::llama_model_imatrix_data {
        if self.entries.is_empty() {
            std::ptr::null()
        } else {
            self.entries.as_ptr()
        }
    }
}

/// `tensor`'s values read by ggml's GGUF reader (its offset, size and type) and decoded by the
/// type's `to_float`, independent of tmgt's own reader.
pub(crate) fn dequantize(path: &Path, tensor: &str) -> Result<Vec<f32>, LlamaError> {
    let fail = |reason: String| LlamaError::Dequantize {
        path: path.to_path_buf(),
        tensor: tensor.to_string(),
        reason,
    };
    let c_file = c_path(path)?;
    let c_name = CString::new(tensor).map_err(|_| fail("the name holds a NUL".into()))?;
    let params = llama_cpp_sys_2::gguf_init_params {
        no_alloc: true,
        ctx: std::ptr::null_mut(),
    };
    // SAFETY: a NUL-terminated path and plain parameters; a null result is checked.
    let ctx = unsafe { llama_cpp_sys_2::gguf_init_from_file(c_file.as_ptr(), params) };
    if ctx.is_null() {
        return Err(fail(format!("gguf_init_from_file failed: {}", take_log())));
    }
    // SAFETY: `ctx` is a live context until `gguf_free` below; the name is NUL-terminated.
    let (at, size, kind) = unsafe {
        let id = llama_cpp_sys_2::gguf_find_tensor(ctx, c_name.as_ptr());
        let found = (id >= 0).then(|| {
            (
                llama_cpp_sys_2::gguf_get_data_offset(ctx)
                    + llama_cpp_sys_2::gguf_get_tensor_offset(ctx, id),
                llama_cpp_sys_2::gguf_get_tensor_size(ctx, id),
                llama_cpp_sys_2::gguf_get_tensor_type(ctx, id),
            )
        });
        llama_cpp_sys_2::gguf_free(ctx);
        found.ok_or_else(|| fail("no such tensor".into()))?
    };
    // SAFETY: plain lookups of a type id ggml itself read from the file.
    let (traits, block, type_size) = unsafe {
        (
            llama_cpp_sys_2::ggml_get_type_traits(kind),
            llama_cpp_sys_2::ggml_blck_size(kind),
            llama_cpp_sys_2::ggml_type_size(kind),
        )
    };
    if type_size == 0 || block <= 0 || size % type_size != 0 {
        return Err(fail(format!(
            "{size} bytes do not make whole blocks of type {kind}"
        )));
    }
    let elements = size / type_size * block as usize;
    let mut bytes = vec![0u8; size];
    {
        use std::io::{Read, Seek, SeekFrom};
        let mut file = std::fs::File::open(path).map_err(|e| fail(e.to_string()))?;
        file.seek(SeekFrom::Start(at as u64))
            .and_then(|_| file.read_exact(&mut bytes))
            .map_err(|e| fail(e.to_string()))?;
    }
    // F32 has no `to_float`: its bytes are the values.
    if kind == llama_cpp_sys_2::GGML_TYPE_F32 {
        return Ok(bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect());
    }
    // SAFETY: ggml returns a pointer into its static table of type traits.
    let to_float = unsafe { traits.as_ref() }
        .and_then(|t| t.to_float)
        .ok_or_else(|| fail(format!("ggml type {kind} has no to_float")))?;
    let mut values = vec![0f32; elements];
    let count = i64::try_from(elements).map_err(|_| fail("too many values".into()))?;
    // SAFETY: `bytes` holds `elements` values of type `kind` in whole blocks, and `values`
    // has room for all of them.
    unsafe { to_float(bytes.as_ptr().cast(), values.as_mut_ptr(), count) };
    Ok(values)
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
