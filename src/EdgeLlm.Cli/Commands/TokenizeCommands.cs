using System.CommandLine;
using System.Globalization;
using EdgeLlm.Runtime.Tokenization;

namespace EdgeLlm.Cli.Commands;

/// <summary>`edgellm tokenize` and `edgellm detokenize`: the model's tokenizer, ids identical to Hugging Face's.</summary>
internal static class TokenizeCommands
{
    public static Command BuildTokenize()
    {
        var model = CommonOptions.Model();
        var text = new Option<string?>("--text") { Description = "Text to tokenize." };
        var file = new Option<string?>("--file") { Description = "UTF-8 file whose whole content is tokenized." };
        var noSpecial = new Option<bool>("--no-special-tokens") { Description = "Do not add BOS/EOS the way Hugging Face's encode does by default." };
        var json = CommonOptions.Json();
        var cmd = new Command("tokenize", "Turn text into token ids (needs only tokenizer.json and tokenizer_config.json).")
        {
            model, text, file, noSpecial, json,
        };
        cmd.SetAction(parse => CliOutput.Run(parse.GetValue(json), () =>
        {
            var input = ReadInput(parse.GetValue(text), parse.GetValue(file));
            var tokenizer = HfTokenizer.Load(parse.GetValue(model)!);
            var ids = tokenizer.Encode(input, addSpecialTokens: !parse.GetValue(noSpecial));
            if (parse.GetValue(json))
            {
                CliOutput.WriteJson(new { ids });
            }
            else
            {
                Console.WriteLine(string.Join(' ', ids));
            }

            return 0;
        }));
        return cmd;
    }

    public static Command BuildDetokenize()
    {
        var model = CommonOptions.Model();
        var ids = new Option<string>("--ids") { Description = "Token ids separated by commas or spaces.", Required = true };
        var skip = new Option<bool>("--skip-special-tokens") { Description = "Leave special tokens out of the text." };
        var json = CommonOptions.Json();
        var cmd = new Command("detokenize", "Turn token ids back into text.") { model, ids, skip, json };
        cmd.SetAction(parse => CliOutput.Run(parse.GetValue(json), () =>
        {
            var tokenizer = HfTokenizer.Load(parse.GetValue(model)!);
            var parsed = ParseIds(parse.GetValue(ids)!, tokenizer.VocabSize);
            var result = tokenizer.Decode(parsed, skipSpecialTokens: parse.GetValue(skip));
            if (parse.GetValue(json))
            {
                CliOutput.WriteJson(new { text = result });
            }
            else
            {
                Console.WriteLine(result);
            }

            return 0;
        }));
        return cmd;
    }

    internal static string ReadInput(string? text, string? file) => (text, file) switch
    {
        (not null, null) => text,
        (null, not null) => File.ReadAllText(file),
        (null, null) => throw new ArgumentException("give --text or --file"),
        _ => throw new ArgumentException("give either --text or --file, not both"),
    };

    internal static int[] ParseIds(string text, int vocabSize)
    {
        var parts = text.Split([',', ' ', '\t', '\n', '[', ']'], StringSplitOptions.RemoveEmptyEntries);
        var ids = new int[parts.Length];
        for (var i = 0; i < parts.Length; i++)
        {
            if (!int.TryParse(parts[i], NumberStyles.None, CultureInfo.InvariantCulture, out ids[i]) || ids[i] >= vocabSize)
            {
                throw new ArgumentException($"--ids: '{parts[i]}' is not a token id of this tokenizer (0..{vocabSize - 1})");
            }
        }

        return ids;
    }
}
