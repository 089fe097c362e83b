//! The chat and sampling oracles: conversations rendered by a chat template with HF's own
//! renderer and continued greedily (`<oracle>/chat/<template>/`), and the prompts continued
//! with a repetition penalty (`<oracle>/sampling/penalty-<P>/`), both made by `tmgt oracle`.

use crate::long::read_json as read;
use crate::{Oracle, OracleError, Provenance};
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// The folder of a model's chat oracles, one subfolder per template.
pub const CHAT_DIR: &str = "chat";
/// The folder of a model's sampling oracles, one subfolder per repetition penalty.
pub const SAMPLING_DIR: &str = "sampling";

/// One message of a conversation.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
pub struct Message {
    pub role: String,
    pub content: String,
}

/// A conversation as one template renders it: HF's text, its ids and greedy continuation (a
/// prompt oracle whose prompt is the rendered text), or the template's own refusal.
#[derive(Debug, Clone)]
pub enum ChatCase {
    Rendered(Box<ChatOracle>),
    Refused(Box<RefusedChat>),
}

/// A rendered conversation.
#[derive(Debug, Clone)]
pub struct ChatOracle {
    /// The conversation's name (its file stem).
    pub conversation: String,
    pub messages: Vec<Message>,
    pub template_sha256: String,
    /// `prompt` is the rendered text, `prompt_token_ids` HF's ids of it without specials added.
    pub oracle: Oracle,
}

/// A conversation the template refuses to render (its `raise_exception`).
#[derive(Debug, Clone, Deserialize)]
pub struct RefusedChat {
    #[serde(skip)]
    pub conversation: String,
    pub messages: Vec<Message>,
    pub template_sha256: String,
    /// HF's message.
    pub render_error: String,
    #[serde(default)]
    pub provenance: Option<Provenance>,
    #[serde(skip)]
    pub path: PathBuf,
}

impl ChatCase {
    pub fn conversation(&self) -> &str {
        match self {
            ChatCase::Rendered(c) => &c.conversation,
            ChatCase::Refused(r) => &r.conversation,
        }
    }

    pub fn messages(&self) -> &[Message] {
        match self {
            ChatCase::Rendered(c) => &c.messages,
            ChatCase::Refused(r) => &r.messages,
        }
    }

    pub fn template_sha256(&self) -> &str {
        match self {
            ChatCase::Rendered(c) => &c.template_sha256,
            ChatCase::Refused(r) => &r.template_sha256,
        }
    }

    /// The model files the oracle was made from.
    pub fn provenance(&self) -> Option<&Provenance> {
        match self {
            ChatCase::Rendered(c) => c.oracle.provenance.as_ref(),
            ChatCase::Refused(r) => r.provenance.as_ref(),
        }
    }

    /// The conversation is one user message, which `apr run --prompt` can send.
    pub fn single_user_turn(&self) -> Option<&str> {
        match self.messages() {
            [only] if only.role == "user" => Some(&only.content),
            _ => None,
        }
    }
}

#[derive(Deserialize)]
struct ChatFields {
    messages: Vec<Message>,
    template_sha256: String,
}

/// Every conversation `<dir>/chat/<template>/` holds, by name.
///
/// # Errors
/// A folder that cannot be read, or a file that does not parse.
pub fn chat_cases(dir: &Path, template: &str) -> Result<Vec<ChatCase>, OracleError> {
    let folder = dir.join(CHAT_DIR).join(template);
    let mut names = json_names(&folder)?;
    names.sort();
    names
        .into_iter()
        .map(|name| case(&folder, &name, &name))
        .collect()
}

/// A dialogue fed turn by turn: turn k holds the system prompt, the user turns so far and HF's
/// replies to the earlier ones (as a chat keeps them), or the template's refusal, which ends it.
#[derive(Debug, Clone)]
pub struct Dialogue {
    /// Its name in the conversations file.
    pub name: String,
    pub turns: Vec<ChatCase>,
}

impl Dialogue {
    /// The system prompt, where the dialogue has one.
    pub fn system(&self) -> Option<&str> {
        let first = self.turns.first()?.messages().first()?;
        (first.role == "system").then_some(first.content.as_str())
    }

    /// The user turns, in order, as far as the template renders them (a refused turn last).
    pub fn user_turns(&self) -> Vec<String> {
        self.turns
            .last()
            .map(|t| {
                t.messages()
                    .iter()
                    .filter(|m| m.role == "user")
                    .map(|m| m.content.clone())
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Every dialogue `<dir>/chat/<template>/dialogue-<name>/` holds, by name, its turns in order.
///
/// # Errors
/// A folder that cannot be read, or a file that does not parse.
pub fn dialogues(dir: &Path, template: &str) -> Result<Vec<Dialogue>, OracleError> {
    let folder = dir.join(CHAT_DIR).join(template);
    let entries = std::fs::read_dir(&folder).map_err(|source| OracleError::Read {
        path: folder.clone(),
        source,
    })?;
    let mut names: Vec<String> = entries
        .flatten()
        .filter(|e| e.path().is_dir())
        .filter_map(|e| {
            e.file_name()
                .to_string_lossy()
                .strip_prefix(DIALOGUE_PREFIX)
                .map(str::to_string)
        })
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|name| {
            let sub = folder.join(format!("{DIALOGUE_PREFIX}{name}"));
            let mut files: Vec<(usize, String)> = json_names(&sub)?
                .into_iter()
                .filter_map(|f| {
                    let k = f.strip_prefix("turn-")?.split('.').next()?.parse().ok()?;
                    Some((k, f))
                })
                .collect();
            files.sort();
            let turns = files
                .into_iter()
                .map(|(_, file)| {
                    let label = format!("{DIALOGUE_PREFIX}{name}/{file}");
                    case(&sub, &file, &label)
                })
                .collect::<Result<_, _>>()?;
            Ok(Dialogue { name, turns })
        })
        .collect()
}

/// The folder prefix of a dialogue's turns.
const DIALOGUE_PREFIX: &str = "dialogue-";

/// The `.json` files of a folder.
fn json_names(folder: &Path) -> Result<Vec<String>, OracleError> {
    let entries = std::fs::read_dir(folder).map_err(|source| OracleError::Read {
        path: folder.to_path_buf(),
        source,
    })?;
    Ok(entries
        .flatten()
        .filter(|e| e.path().is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .collect())
}

/// The case of one file of `folder`, named by `label` (the file name, or a dialogue's
/// `dialogue-<name>/turn-<k>`) without its `.json` or `.refused.json`.
fn case(folder: &Path, file: &str, label: &str) -> Result<ChatCase, OracleError> {
    let path = folder.join(file);
    if let Some(conversation) = label.strip_suffix(".refused.json") {
        let mut refused: RefusedChat = read(&path)?;
        refused.conversation = conversation.to_string();
        refused.path = path;
        return Ok(ChatCase::Refused(Box::new(refused)));
    }
    let fields: ChatFields = read(&path)?;
    let oracle = crate::load(folder, file.trim_end_matches(".json"))?;
    Ok(ChatCase::Rendered(Box::new(ChatOracle {
        conversation: label.trim_end_matches(".json").to_string(),
        messages: fields.messages,
        template_sha256: fields.template_sha256,
        oracle,
    })))
}

/// The folder of the prompts' continuations with repetition penalty `penalty`.
pub fn penalty_dir(dir: &Path, penalty: f64) -> PathBuf {
    dir.join(SAMPLING_DIR).join(format!("penalty-{penalty}"))
}
