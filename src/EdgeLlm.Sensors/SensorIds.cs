using System.Text;

namespace EdgeLlm.Sensors;

/// <summary>Sensor ids are lower case letters, digits and underscores, so they are safe in topics, SQL and prompts.</summary>
internal static class SensorIds
{
    public static string Sanitize(string text)
    {
        var sb = new StringBuilder(text.Length);
        foreach (var c in text.Trim().ToLowerInvariant())
        {
            if (char.IsAsciiLetterOrDigit(c))
            {
                sb.Append(c);
            }
            else if (sb.Length > 0 && sb[^1] != '_')
            {
                sb.Append('_');
            }
        }

        return sb.ToString().TrimEnd('_');
    }
}
