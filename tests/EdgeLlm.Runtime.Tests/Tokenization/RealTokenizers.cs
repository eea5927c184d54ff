using System.Collections.Concurrent;
using System.Text.Json;
using EdgeLlm.Runtime.Tokenization;

namespace EdgeLlm.Runtime.Tests.Tokenization;

/// <summary>The real tokenizers and their transformers.js reference outputs, each loaded once per test run.</summary>
internal static class RealTokenizers
{
    private static readonly ConcurrentDictionary<string, Lazy<HfTokenizer>> Tokenizers = new();
    private static readonly ConcurrentDictionary<string, Lazy<IReadOnlyList<ReferenceCase>>> References = new();

    public static HfTokenizer Get(string name) =>
        Tokenizers.GetOrAdd(name, n => new Lazy<HfTokenizer>(() => HfTokenizer.Load(TestPaths.RealTokenizer(n)))).Value;

    public static IReadOnlyList<ReferenceCase> Reference(string name) =>
        References.GetOrAdd(name, n => new Lazy<IReadOnlyList<ReferenceCase>>(() => ReadReference(n))).Value;

    private static List<ReferenceCase> ReadReference(string name)
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(TestPaths.Reference("tokenizers", name + ".json")));
        var cases = new List<ReferenceCase>();
        foreach (var c in doc.RootElement.GetProperty("cases").EnumerateArray())
        {
            cases.Add(new ReferenceCase(
                c.GetProperty("text").GetString()!,
                [.. c.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32())],
                [.. c.GetProperty("idsNoSpecial").EnumerateArray().Select(e => e.GetInt32())],
                c.GetProperty("decoded").GetString()!,
                c.GetProperty("decodedSkipSpecial").GetString()!));
        }

        return cases;
    }
}

internal sealed record ReferenceCase(string Text, int[] Ids, int[] IdsNoSpecial, string Decoded, string DecodedSkipSpecial);
