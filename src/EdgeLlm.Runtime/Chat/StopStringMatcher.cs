using System.Text;

namespace EdgeLlm.Runtime.Chat;

/// <summary>
/// Finds stop strings in streamed text. Text that could still turn out to be the start of a stop string is
/// held back, so a caller never shows the user part of a stop string and never has to take text back.
/// </summary>
internal sealed class StopStringMatcher
{
    private readonly string[] _stops;
    private readonly StringBuilder _pending = new();

    public StopStringMatcher(IEnumerable<string> stops)
    {
        _stops = stops.Where(s => s.Length > 0).Distinct(StringComparer.Ordinal).ToArray();
    }

    /// <summary>True once a stop string has been seen; later text is ignored.</summary>
    public bool Stopped { get; private set; }

    /// <summary>The stop string that ended the text, if any.</summary>
    public string? MatchedStop { get; private set; }

    /// <summary>Adds new text; returns the part that is now safe to emit (possibly empty).</summary>
    public string Append(string text)
    {
        if (Stopped || text.Length == 0)
        {
            return "";
        }

        if (_stops.Length == 0)
        {
            return text;
        }

        _pending.Append(text);
        var buffer = _pending.ToString();

        var first = -1;
        foreach (var stop in _stops)
        {
            var at = buffer.IndexOf(stop, StringComparison.Ordinal);
            if (at >= 0 && (first < 0 || at < first))
            {
                first = at;
                MatchedStop = stop;
            }
        }

        if (first >= 0)
        {
            Stopped = true;
            _pending.Clear();
            return buffer[..first];
        }

        // Hold back the longest suffix that is a proper prefix of some stop string.
        var hold = 0;
        foreach (var stop in _stops)
        {
            for (var len = Math.Min(stop.Length - 1, buffer.Length); len > hold; len--)
            {
                if (buffer.AsSpan(buffer.Length - len).SequenceEqual(stop.AsSpan(0, len)))
                {
                    hold = len;
                    break;
                }
            }
        }

        var emit = buffer[..^hold];
        _pending.Clear().Append(buffer, buffer.Length - hold, hold);
        return emit;
    }

    /// <summary>Ends the stream: whatever is held back is emitted (it did not become a stop string).</summary>
    public string Flush()
    {
        var rest = Stopped ? "" : _pending.ToString();
        _pending.Clear();
        return rest;
    }
}
