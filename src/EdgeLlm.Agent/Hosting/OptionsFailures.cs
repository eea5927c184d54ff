namespace EdgeLlm.Agent.Hosting;

/// <summary>Turns validator failures into lines that name the full configuration key.</summary>
internal static class OptionsFailures
{
    /// <summary>Validator failures name the member only ("MaxPayloadBytes: The field AgentOptions.MaxPayloadBytes must be …"); make that the full key.</summary>
    public static string Named(string section, string failure)
    {
        ArgumentNullException.ThrowIfNull(failure);
        if (failure.StartsWith(section + ":", StringComparison.Ordinal))
        {
            return failure;
        }

        var colon = failure.IndexOf(": ", StringComparison.Ordinal);
        if (colon <= 0 || failure[..colon].Contains(' ', StringComparison.Ordinal))
        {
            return $"{section}: {failure}";
        }

        var message = System.Text.RegularExpressions.Regex.Replace(failure[(colon + 2)..], @"^The field \S+ ", "");
        return $"{section}:{failure[..colon]}: {message}";
    }
}
