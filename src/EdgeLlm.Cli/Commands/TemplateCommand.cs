using System.CommandLine;
using System.Text.Json;
using EdgeLlm.Runtime.ChatTemplates;

namespace EdgeLlm.Cli.Commands;

/// <summary>`edgellm template`: render the model's chat template, byte-identical to Hugging Face's apply_chat_template.</summary>
internal static class TemplateCommand
{
    public static Command Build()
    {
        var model = CommonOptions.Model();
        var messages = new Option<string>("--messages") { Description = "JSON file: an array of {\"role\", \"content\"}.", Required = true };
        var addPrompt = new Option<bool>("--add-generation-prompt") { Description = "End with the assistant's turn header, as for generation." };
        var json = CommonOptions.Json();
        var cmd = new Command("template", "Render a conversation with the model's chat template.") { model, messages, addPrompt, json };
        cmd.SetAction(parse => CliOutput.Run(parse.GetValue(json), () =>
        {
            var turns = ReadMessages(parse.GetValue(messages)!);
            var template = ChatTemplate.Load(parse.GetValue(model)!);
            var text = template.Render(turns, parse.GetValue(addPrompt));
            if (parse.GetValue(json))
            {
                CliOutput.WriteJson(new { text });
            }
            else
            {
                Console.Write(text);
            }

            return 0;
        }));
        return cmd;
    }

    /// <summary>Reads a JSON array of {role, content}; every malformed entry is named by its index.</summary>
    internal static List<ChatTurn> ReadMessages(string path)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(path));
        if (doc.RootElement.ValueKind != JsonValueKind.Array)
        {
            throw new ArgumentException($"{path}: expected a JSON array of {{\"role\", \"content\"}} objects");
        }

        var turns = new List<ChatTurn>();
        var i = 0;
        foreach (var m in doc.RootElement.EnumerateArray())
        {
            if (m.ValueKind != JsonValueKind.Object
                || !m.TryGetProperty("role", out var role) || role.ValueKind != JsonValueKind.String
                || !m.TryGetProperty("content", out var content) || content.ValueKind != JsonValueKind.String)
            {
                throw new ArgumentException($"{path}: message [{i}] needs string fields \"role\" and \"content\"");
            }

            turns.Add(new ChatTurn(role.GetString()!, content.GetString()!));
            i++;
        }

        return turns;
    }
}
