//! The behaviour-relevant fields a converted file must carry, grouped into the families the
//! checks judge one by one.

/// A family of fields: one check each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Family {
    /// What the weights' shapes mean: architecture, layer count, widths, heads, vocabulary,
    /// context length.
    Shape,
    /// The numbers the forward pass uses besides the weights: RoPE bases and dimensions, norm
    /// epsilon, the attention window, soft-capping.
    Numerics,
    /// Which ids are BOS, EOS, padding and unknown, and whether BOS/EOS are added.
    SpecialTokens,
    /// How text becomes ids: the tokenizer model, pre-tokenizer, token texts and types, merges.
    Vocabulary,
    /// How a chat is laid out.
    ChatTemplate,
}

/// One field, under tmgt's own name (each format has its own key).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Field {
    Architecture,
    Layers,
    Hidden,
    FeedForward,
    Heads,
    KvHeads,
    HeadDim,
    Vocab,
    Context,
    RopeTheta,
    /// The RoPE base of the local (sliding-window) layers, where they have their own.
    RopeThetaLocal,
    /// How RoPE positions are scaled past the trained context: none, linear, yarn, longrope.
    RopeScaling,
    /// The factor of a linear or YaRN scaling.
    RopeScalingFactor,
    RopeDims,
    NormEps,
    /// How many past positions a sliding-window layer attends to; none for full attention.
    SlidingWindow,
    /// `cap * tanh(x / cap)` on the attention scores (Gemma 2).
    AttnSoftcap,
    /// The same on the output logits.
    FinalSoftcap,
    Bos,
    Eos,
    Pad,
    Unknown,
    AddBos,
    AddEos,
    TokenizerModel,
    PreTokenizer,
    Tokens,
    TokenTypes,
    Merges,
    ChatTemplate,
}

impl Field {
    pub(crate) const ALL: [Field; 30] = [
        Field::Architecture,
        Field::Layers,
        Field::Hidden,
        Field::FeedForward,
        Field::Heads,
        Field::KvHeads,
        Field::HeadDim,
        Field::Vocab,
        Field::Context,
        Field::RopeTheta,
        Field::RopeThetaLocal,
        Field::RopeScaling,
        Field::RopeScalingFactor,
        Field::RopeDims,
        Field::NormEps,
        Field::SlidingWindow,
        Field::AttnSoftcap,
        Field::FinalSoftcap,
        Field::Bos,
        Field::Eos,
        Field::Pad,
        Field::Unknown,
        Field::AddBos,
        Field::AddEos,
        Field::TokenizerModel,
        Field::PreTokenizer,
        Field::Tokens,
        Field::TokenTypes,
        Field::Merges,
        Field::ChatTemplate,
    ];

    pub(crate) fn family(self) -> Family {
        match self {
            Field::Architecture
            | Field::Layers
            | Field::Hidden
            | Field::FeedForward
            | Field::Heads
            | Field::KvHeads
            | Field::HeadDim
            | Field::Vocab
            | Field::Context => Family::Shape,
            Field::RopeTheta
            | Field::RopeThetaLocal
            | Field::RopeScaling
            | Field::RopeScalingFactor
            | Field::RopeDims
            | Field::NormEps
            | Field::SlidingWindow
            | Field::AttnSoftcap
            | Field::FinalSoftcap => Family::Numerics,
            Field::Bos
            | Field::Eos
            | Field::Pad
            | Field::Unknown
            | Field::AddBos
            | Field::AddEos => Family::SpecialTokens,
            Field::TokenizerModel
            | Field::PreTokenizer
            | Field::Tokens
            | Field::TokenTypes
            | Field::Merges => Family::Vocabulary,
            Field::ChatTemplate => Family::ChatTemplate,
        }
    }
}
