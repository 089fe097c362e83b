//! Suite `chat`: how people prompt an instruct model. Every other suite sends a raw prompt; here
//! each conversation of the chat oracles (`<oracle>/chat/<template>/`, made by `tmgt oracle`
//! with HF's own `apply_chat_template`) goes through `apr run --chat` on a copy of llama.cpp's
//! GGUF that carries the template, so apr's renderer (minijinja), its BOS policy and its
//! encoder are held against Jinja2 and HF's tokenizer on any template, and the rendered
//! prompt's continuation against HF's. A raw prompt must stay raw wherever the file lies.

mod batch;
pub mod cases;
mod continuation;
mod raw_stays_raw;
mod rendered_ids;
mod session;
mod surfaces;
