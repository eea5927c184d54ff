namespace EdgeLlm.Sensors.Mqtt;

/// <summary>MQTT topic filter matching: <c>+</c> matches one level, a final <c>#</c> matches the rest (zero levels too).</summary>
public static class TopicFilter
{
    /// <summary>True when <paramref name="filter"/> is a well-formed filter.</summary>
    public static bool IsValid(string filter)
    {
        var levels = filter.Split('/');
        for (var i = 0; i < levels.Length; i++)
        {
            var level = levels[i];
            if ((level.Contains('+', StringComparison.Ordinal) && level != "+")
                || (level.Contains('#', StringComparison.Ordinal) && (level != "#" || i != levels.Length - 1)))
            {
                return false;
            }
        }

        return filter.Length > 0;
    }

    /// <summary>True when <paramref name="topic"/> matches <paramref name="filter"/>.</summary>
    public static bool Matches(string filter, string topic)
    {
        // Wildcards at the first level do not match the broker's own $SYS-style topics (MQTT 3.1.1, 4.7.2).
        if (topic.StartsWith('$') && (filter.StartsWith('+') || filter.StartsWith('#')))
        {
            return false;
        }

        var f = filter.AsSpan();
        var t = topic.AsSpan();
        while (true)
        {
            var fEnd = f.IndexOf('/');
            var fLevel = fEnd < 0 ? f : f[..fEnd];
            if (fLevel is "#")
            {
                return true;
            }

            var tEnd = t.IndexOf('/');
            var tLevel = tEnd < 0 ? t : t[..tEnd];
            if (fLevel is not "+" && !fLevel.SequenceEqual(tLevel))
            {
                return false;
            }

            if (fEnd < 0 || tEnd < 0)
            {
                // "a/#" also matches "a": the filter's remaining level is a lone '#'.
                return (fEnd < 0 && tEnd < 0) || (tEnd < 0 && f[(fEnd + 1)..] is "#");
            }

            f = f[(fEnd + 1)..];
            t = t[(tEnd + 1)..];
        }
    }
}
