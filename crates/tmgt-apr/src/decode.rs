//! Tensor data to float32, per dtype, with the stored size checked against the shape first.

use crate::{AprDtype, AprTensor, Packing};

/// Values per APR_Q4 block, and its bytes (f16 scale + 16 nibble bytes).
const Q4_BLOCK: u64 = 32;
const Q4_BLOCK_BYTES: u64 = 18;

pub(crate) enum Problem {
    Unsupported,
    /// The stored size does not fit the shape and dtype.
    Size(String),
}

pub(crate) fn packing(t: &AprTensor) -> Option<Packing> {
    let n = t.elements();
    match t.dtype {
        AprDtype::AprQ4 => (Some(t.size) == n.div_ceil(Q4_BLOCK).checked_mul(Q4_BLOCK_BYTES))
            .then_some(Packing::Flat),
        AprDtype::Q4K | AprDtype::Q6K => {
            let (block, bytes) = t.dtype.ggml()?.block()?;
            // apr's `quantize_q4_k_matrix` pads the rows of 2-D tensors only.
            if let [rows, row] = t.shape[..]
                && row > 0
            {
                let padded = row.div_ceil(block).checked_mul(block)?;
                let size = (padded / block).checked_mul(bytes)?.checked_mul(rows);
                if size == Some(t.size) {
                    return Some(Packing::RowPadded { row, padded });
                }
            }
            (Some(t.size) == n.div_ceil(block).checked_mul(bytes)).then_some(Packing::Flat)
        }
        _ => Some(Packing::Flat),
    }
}

pub(crate) fn decode(t: &AprTensor, raw: &[u8]) -> Result<Vec<f32>, Problem> {
    let n = usize::try_from(t.elements()).map_err(|_| Problem::Size("too many values".into()))?;
    // `None`: the shape's byte count overflows, which no stored size can match.
    let expect = |bytes: Option<u64>| {
        if Some(raw.len() as u64) == bytes {
            Ok(())
        } else {
            Err(Problem::Size(match bytes {
                Some(bytes) => format!(
                    "{} bytes stored, but {n} {} values take {bytes}",
                    raw.len(),
                    t.dtype
                ),
                None => format!(
                    "{} values of shape {:?} overflow a byte count",
                    t.dtype, t.shape
                ),
            }))
        }
    };
    let n64 = n as u64;
    match t.dtype {
        AprDtype::F32 => {
            expect(n64.checked_mul(4))?;
            Ok(raw
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect())
        }
        AprDtype::F16 => {
            expect(n64.checked_mul(2))?;
            Ok(raw
                .chunks_exact(2)
                .map(|b| tmgt_gguf::f16_to_f32(u16::from_le_bytes([b[0], b[1]])))
                .collect())
        }
        AprDtype::BF16 => {
            expect(n64.checked_mul(2))?;
            Ok(raw
                .chunks_exact(2)
                .map(|b| f32::from_bits(u32::from(u16::from_le_bytes([b[0], b[1]])) << 16))
                .collect())
        }
        AprDtype::AprQ8 => {
            // apr-format writes nothing at all for an empty tensor.
            if n == 0 {
                expect(Some(0))?;
                return Ok(Vec::new());
            }
            expect(n64.checked_add(4))?;
            let scale = f32::from_le_bytes([raw[0], raw[1], raw[2], raw[3]]);
            Ok(raw[4..]
                .iter()
                .map(|&q| f32::from(i8::from_le_bytes([q])) * scale)
                .collect())
        }
        AprDtype::AprQ4 => {
            expect(n64.div_ceil(Q4_BLOCK).checked_mul(Q4_BLOCK_BYTES))?;
            let mut out = Vec::with_capacity(n);
            for block in raw.chunks_exact(Q4_BLOCK_BYTES as usize) {
                let scale = tmgt_gguf::f16_to_f32(u16::from_le_bytes([block[0], block[1]]));
                for &b in &block[2..] {
                    out.push(f32::from(i16::from(b & 0x0f) - 8) * scale);
                    out.push(f32::from(i16::from(b >> 4) - 8) * scale);
                }
            }
            out.truncate(n);
            Ok(out)
        }
        AprDtype::Q4K | AprDtype::Q6K => {
            let kind = t.dtype.ggml().ok_or(Problem::Unsupported)?;
            let Some(packing) = packing(t) else {
                return Err(Problem::Size(format!(
                    "{} bytes stored fit neither whole {kind} blocks over the {n} values nor \
                     {kind} blocks per zero-padded row of shape {:?}",
                    raw.len(),
                    t.shape
                )));
            };
            let all = tmgt_gguf::dequantize(kind, raw)
                .ok_or_else(|| Problem::Size(format!("not whole {kind} blocks")))?;
            Ok(match packing {
                Packing::Flat => all.into_iter().take(n).collect(),
                Packing::RowPadded { row, padded } => all
                    .chunks_exact(padded as usize)
                    .flat_map(|r| r[..row as usize].iter().copied())
                    .collect(),
            })
        }
        AprDtype::F64
        | AprDtype::I32
        | AprDtype::I64
        | AprDtype::I8
        | AprDtype::U8
        | AprDtype::Unknown(_) => Err(Problem::Unsupported),
    }
}
