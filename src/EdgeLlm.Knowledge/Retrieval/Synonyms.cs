using System.Reflection;

namespace EdgeLlm.Knowledge.Retrieval;

/// <summary>
/// Groups of words that mean the same to a technician (synonyms.txt, embedded), as analyzed term sequences:
/// a question saying "comms" also finds "communication", one saying "esteps" finds "rotation distance".
/// </summary>
internal static class Synonyms
{
    private static readonly Lazy<List<string[][]>> Groups = new(Load);

    /// <summary>Each group's members, every member the analyzed terms of one word or phrase.</summary>
    public static IReadOnlyList<string[][]> All => Groups.Value;

    private static List<string[][]> Load()
    {
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream("EdgeLlm.Knowledge.synonyms.txt")!;
        using var reader = new StreamReader(stream);
        var groups = new List<string[][]>();
        while (reader.ReadLine() is { } line)
        {
            if (line.StartsWith('#') || string.IsNullOrWhiteSpace(line))
            {
                continue;
            }

            var members = line.Split('|').Select(m => TextAnalyzer.Terms(m.Trim()).ToArray()).Where(m => m.Length > 0).ToArray();
            groups.Add(members);
        }

        return groups;
    }
}
