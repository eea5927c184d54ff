namespace EdgeLlm.Runtime.Synthesis;

/// <summary>
/// What distinguishes the decoder families the synthesizer writes: the genai_config <c>model.type</c>,
/// whether the q/k/v projections carry a bias (Qwen2), and the tokenizer's special tokens and chat template.
/// The first of <see cref="EosTokens"/> is tokenizer_config.json's <c>eos_token</c>.
/// </summary>
internal sealed record ModelFamily(
    string Name,
    string ModelType,
    bool QkvBias,
    IReadOnlyList<string> SpecialTokens,
    string? BosToken,
    IReadOnlyList<string> EosTokens,
    string PadToken,
    bool AddBosToken,
    string TokenizerClass,
    string ChatTemplate)
{
    // The templates keep all text inside {{ }} expressions so whitespace control never matters,
    // and use only the Jinja subset the real families' templates use (for, if, loop.first, +, trim).
    public const string ChatMlTemplate =
        "{% for message in messages %}" +
        "{% if loop.first and message['role'] != 'system' %}{{ '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}{% endif %}" +
        "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}" +
        "{% endfor %}" +
        "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

    public const string Llama3Template =
        "{{ bos_token }}" +
        "{% for message in messages %}" +
        "{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + (message['content'] | trim) + '<|eot_id|>' }}" +
        "{% endfor %}" +
        "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}";

    public const string Phi3Template =
        "{% for message in messages %}" +
        "{{ '<|' + message['role'] + '|>\\n' + message['content'] + '<|end|>\\n' }}" +
        "{% endfor %}" +
        "{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% else %}{{ eos_token }}{% endif %}";

    public static readonly IReadOnlyList<ModelFamily> All =
    [
        new("qwen2", ModelType: "qwen2", QkvBias: true,
            SpecialTokens: ["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
            BosToken: null, EosTokens: ["<|im_end|>", "<|endoftext|>"], PadToken: "<|endoftext|>",
            AddBosToken: false, TokenizerClass: "Qwen2Tokenizer", ChatTemplate: ChatMlTemplate),
        new("llama", ModelType: "llama", QkvBias: false,
            SpecialTokens: ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eom_id|>", "<|eot_id|>", "<|python_tag|>", "<|finetune_right_pad_id|>"],
            BosToken: "<|begin_of_text|>", EosTokens: ["<|eot_id|>", "<|end_of_text|>", "<|eom_id|>"], PadToken: "<|finetune_right_pad_id|>",
            AddBosToken: true, TokenizerClass: "PreTrainedTokenizerFast", ChatTemplate: Llama3Template),
        new("phi3", ModelType: "phi3", QkvBias: false,
            SpecialTokens: ["<s>", "</s>", "<|endoftext|>", "<|assistant|>", "<|end|>", "<|system|>", "<|user|>"],
            BosToken: "<s>", EosTokens: ["<|endoftext|>", "<|end|>"], PadToken: "<|endoftext|>",
            AddBosToken: false, TokenizerClass: "PreTrainedTokenizerFast", ChatTemplate: Phi3Template),
    ];
}
