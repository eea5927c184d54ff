namespace EdgeLlm.Runtime.ChatTemplates;

/// <summary>
/// The project's own chat templates for the families <c>edgellm model synth</c> writes, so a synthesized
/// folder's tokenizer_config.json carries a template that renders like the real family's format.
/// Each renders byte-identically in Hugging Face transformers (checked by tests/reference/generate-templates.sh).
/// </summary>
internal static class BuiltInTemplates
{
    /// <summary>ChatML (Qwen2/2.5, SmolLM2): <c>&lt;|im_start|&gt;role\ncontent&lt;|im_end|&gt;\n</c>; no default system prompt.</summary>
    public const string ChatMl = """
        {%- for message in messages %}
            {{- '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}
        {%- endfor %}
        {%- if add_generation_prompt %}
            {{- '<|im_start|>assistant\n' }}
        {%- endif %}
        """;

    /// <summary>
    /// Llama 3.x: bos, then header-delimited turns closed by <c>&lt;|eot_id|&gt;</c>; the system turn states
    /// today's date from <c>strftime_now</c> (or a <c>date_string</c> variable) as Llama 3.1+ does.
    /// </summary>
    public const string Llama3 = """
        {{- bos_token }}
        {%- if date_string is not defined %}
            {%- set date_string = strftime_now('%d %b %Y') if strftime_now is defined else '26 Jul 2024' %}
        {%- endif %}
        {%- if messages[0]['role'] == 'system' %}
            {%- set system_message = messages[0]['content'] | trim %}
            {%- set messages = messages[1:] %}
        {%- else %}
            {%- set system_message = '' %}
        {%- endif %}
        {{- '<|start_header_id|>system<|end_header_id|>\n\n' }}
        {{- 'Cutting Knowledge Date: December 2023\nToday Date: ' + date_string + '\n\n' }}
        {{- system_message + '<|eot_id|>' }}
        {%- for message in messages %}
            {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' + message['content'] | trim + '<|eot_id|>' }}
        {%- endfor %}
        {%- if add_generation_prompt %}
            {{- '<|start_header_id|>assistant<|end_header_id|>\n\n' }}
        {%- endif %}
        """;

    /// <summary>Phi-3/3.5: <c>&lt;|role|&gt;\ncontent&lt;|end|&gt;\n</c>; the generation prompt is <c>&lt;|assistant|&gt;\n</c>, otherwise the text ends with eos.</summary>
    public const string Phi3 = """
        {%- for message in messages %}
            {{- '<|' + message['role'] + '|>\n' + message['content'] + '<|end|>\n' }}
        {%- endfor %}
        {%- if add_generation_prompt %}
            {{- '<|assistant|>\n' }}
        {%- else %}
            {{- eos_token }}
        {%- endif %}
        """;
}
