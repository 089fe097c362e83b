//! Suite `serve`: apr's OpenAI-compatible server (`apr serve run FILE`), started and stopped
//! by tmgt, held against the oracle and `apr run` (prompt ids, greedy tokens), against itself
//! (stream and response, seeds, concurrent requests) and against the OpenAI API every client
//! library speaks (stop sequences, bad input and its errors, lifecycle). Every request a result
//! used is in its facts with the `curl` line that replays it.

mod bad_input;
mod bad_input_refused;
mod chat;
mod chat_logprobs;
mod chat_stream;
mod chat_templates;
mod chat_versus_run;
mod completion;
mod completion_logprobs;
mod error_envelope;
mod greedy;
mod greedy_gguf;
mod greedy_native;
mod greedy_safetensors;
mod lifecycle;
mod load;

mod prompt_ids;
mod prompt_ids_gguf;
mod seeds;
mod serving;
mod stop;
mod stream;
mod stream_protocol;
mod usage;
mod versus_run;
