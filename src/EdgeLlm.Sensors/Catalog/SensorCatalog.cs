using System.Text;
using EdgeLlm.Sensors.Sysfs;

namespace EdgeLlm.Sensors.Catalog;

/// <summary>
/// Every sensor the device knows, and name resolution the way operators write: by id, name or alias, in any case,
/// with <c>_</c>, <c>-</c> and spaces alike, and with a small typo (one edit up to 7 letters, two beyond).
/// </summary>
public sealed class SensorCatalog
{
    private readonly Dictionary<string, SensorDefinition> _byId;
    private readonly (string Term, string[] Words, SensorDefinition Sensor)[] _terms;

    public SensorCatalog(IEnumerable<SensorDefinition> sensors)
    {
        Sensors = [.. sensors.OrderBy(s => s.Id, StringComparer.Ordinal)];
        _byId = Sensors.ToDictionary(s => s.Id, StringComparer.Ordinal);
        _terms = [.. Sensors.SelectMany(s => new[] { s.Id, s.Name }.Concat(s.Aliases).Select(Normalize).Where(t => t.Length > 0).Distinct().Select(t => (t, t.Split(' '), s)))];
    }

    /// <summary>All sensors, ordered by id.</summary>
    public IReadOnlyList<SensorDefinition> Sensors { get; }

    /// <summary>Sensors by id.</summary>
    public IReadOnlyDictionary<string, SensorDefinition> ById => _byId;

    /// <summary>The sensor with this exact id, or null.</summary>
    public SensorDefinition? Get(string id) => _byId.GetValueOrDefault(id);

    /// <summary>
    /// The sensor <paramref name="text"/> names (id, name or alias; case, separators and small typos tolerated), or
    /// null when nothing matches or two sensors match equally well.
    /// </summary>
    public SensorDefinition? Resolve(string text)
    {
        if (_byId.TryGetValue(text, out var exact))
        {
            return exact;
        }

        var wanted = Normalize(text);
        if (wanted.Length == 0)
        {
            return null;
        }

        SensorDefinition? best = null;
        var bestDistance = int.MaxValue;
        var tie = false;
        foreach (var (term, _, sensor) in _terms)
        {
            var d = Close(wanted, term, Allowed(term));
            if (d > Allowed(term))
            {
                // Close's "no match" is the term's limit + 1, which a longer text's own allowance could otherwise accept.
                continue;
            }

            if (d < bestDistance)
            {
                (best, bestDistance, tie) = (sensor, d, false);
            }
            else if (d == bestDistance && !ReferenceEquals(best, sensor))
            {
                tie = true;
            }
        }

        return bestDistance <= Allowed(wanted) && !tie ? best : null;
    }

    /// <summary>The sensors a free-text question mentions by id, name or alias (typos tolerated), in order of mention.</summary>
    /// <remarks>Where two sensors match overlapping words, the closer (then the longer) match wins.</remarks>
    public IReadOnlyList<SensorDefinition> FindMentioned(string question)
    {
        var words = Normalize(question).Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var candidates = new List<(int Start, int Length, int Distance, SensorDefinition Sensor)>();
        foreach (var (term, termWords, sensor) in _terms)
        {
            // Single short words ("in", "temp") are too common in questions to count as a mention with typos.
            var allowed = termWords.Length == 1 && term.Length < 5 ? 0 : Allowed(term);
            for (var i = 0; i + termWords.Length <= words.Length; i++)
            {
                var d = Close(string.Join(' ', words, i, termWords.Length), term, allowed);
                if (d <= allowed)
                {
                    candidates.Add((i, termWords.Length, d, sensor));
                }
            }
        }

        var taken = new bool[words.Length];
        var found = new List<(int Start, SensorDefinition Sensor)>();
        foreach (var c in candidates.OrderBy(c => c.Distance).ThenByDescending(c => c.Length).ThenBy(c => c.Start))
        {
            if (found.Any(f => ReferenceEquals(f.Sensor, c.Sensor)) || taken.AsSpan(c.Start, c.Length).Contains(true))
            {
                continue;
            }

            taken.AsSpan(c.Start, c.Length).Fill(true);
            found.Add((c.Start, c.Sensor));
        }

        return [.. found.OrderBy(f => f.Start).Select(f => f.Sensor)];
    }

    /// <summary>Builds the catalog from discovered sysfs channels and the configuration; settings override by id.</summary>
    /// <param name="options">The Sensors section.</param>
    /// <param name="discovered">Channels found under the sysfs root.</param>
    /// <param name="unmatched">Ids in <c>Sensors:Sensors</c> that name no known sensor (a typo or an absent device).</param>
    internal static SensorCatalog Build(SensorOptions options, IEnumerable<SysfsChannel> discovered, out IReadOnlyList<string> unmatched)
    {
        var period = options.DefaultPeriod;
        var sensors = new Dictionary<string, SensorDefinition>(StringComparer.Ordinal);
        foreach (var c in discovered)
        {
            sensors[c.Id] = new SensorDefinition(c.Id, c.Name, [], c.Unit, period, c.Kind);
        }

        foreach (var g in options.Gpio)
        {
            sensors[g.Id] = new SensorDefinition(g.Id, g.Name ?? g.Id.Replace('_', ' '), [.. g.Aliases], g.Mode == GpioInputMode.EdgeCount ? "count" : "", period, SensorSourceKind.Gpio);
        }

        foreach (var m in options.Mqtt)
        {
            sensors[m.Id] = new SensorDefinition(m.Id, m.Name ?? m.Id.Replace('_', ' '), [.. m.Aliases], m.Unit, period, SensorSourceKind.Mqtt);
        }

        var missing = new List<string>();
        foreach (var s in options.Sensors)
        {
            if (!sensors.TryGetValue(s.Id, out var d))
            {
                missing.Add(s.Id);
                continue;
            }

            var thresholds = s.High is null && s.Low is null && s.RatePerMinute is null ? null : new SensorThresholds(s.High, s.Low, s.Hysteresis, s.RatePerMinute);
            sensors[s.Id] = d with
            {
                Name = s.Name ?? d.Name,
                Aliases = [.. d.Aliases.Concat(s.Aliases).Distinct()],
                Period = s.Period ?? d.Period,
                Thresholds = thresholds ?? d.Thresholds,
            };
        }

        unmatched = missing;
        return new SensorCatalog(sensors.Values);
    }

    internal static string Normalize(string text)
    {
        var sb = new StringBuilder(text.Length);
        foreach (var c in text.ToLowerInvariant())
        {
            if (char.IsLetterOrDigit(c) || c is '%' or '°')
            {
                sb.Append(c);
            }
            else if (sb.Length > 0 && sb[^1] != ' ')
            {
                sb.Append(' ');
            }
        }

        return sb.ToString().TrimEnd();
    }

    private static int Allowed(string term) => term.Length switch
    {
        <= 3 => 0,
        <= 7 => 1,
        _ => 2,
    };

    /// <summary>
    /// Edit distance, except that numbers and short words must match exactly: "motor 3" is not a typo of "motor 2",
    /// nor "gpu thermal" of "cpu thermal".
    /// </summary>
    private static int Close(string a, string b, int limit) =>
        a == b ? 0
        : a.Where(char.IsAsciiDigit).SequenceEqual(b.Where(char.IsAsciiDigit)) && ShortWords(a).SequenceEqual(ShortWords(b)) ? Distance(a, b, limit)
        : limit + 1;

    private static IEnumerable<string> ShortWords(string text) => text.Split(' ').Where(w => w.Length <= 3).Order(StringComparer.Ordinal);

    /// <summary>Optimal string alignment distance (a swap of neighbours is one edit), giving up above <paramref name="limit"/>.</summary>
    internal static int Distance(string a, string b, int limit)
    {
        if (Math.Abs(a.Length - b.Length) > limit)
        {
            return limit + 1;
        }

        var prev2 = new int[b.Length + 1];
        var prev = new int[b.Length + 1];
        var cur = new int[b.Length + 1];
        for (var j = 0; j <= b.Length; j++)
        {
            prev[j] = j;
        }

        for (var i = 1; i <= a.Length; i++)
        {
            cur[0] = i;
            var rowMin = cur[0];
            for (var j = 1; j <= b.Length; j++)
            {
                var cost = a[i - 1] == b[j - 1] ? 0 : 1;
                cur[j] = Math.Min(Math.Min(prev[j] + 1, cur[j - 1] + 1), prev[j - 1] + cost);
                if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                {
                    cur[j] = Math.Min(cur[j], prev2[j - 2] + 1);
                }

                rowMin = Math.Min(rowMin, cur[j]);
            }

            if (rowMin > limit)
            {
                return limit + 1;
            }

            (prev2, prev, cur) = (prev, cur, prev2);
        }

        return prev[b.Length];
    }
}
