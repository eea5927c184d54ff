using System.Net;
using System.Text.RegularExpressions;

namespace EdgeLlm.Agent.Fleet;

/// <summary>
/// Removes what identifies people and machines from query log text before it may leave the device: e-mail addresses →
/// <c>[email]</c>, serial numbers matching the configured patterns → <c>[serial]</c>, IPv6 and IPv4 addresses →
/// <c>[ip]</c>, phone numbers (international <c>+…</c> and common national formats) → <c>[phone]</c>, in that order.
/// A pattern that runs too long (hostile input) redacts the whole text.
/// </summary>
internal sealed partial class Redactor
{
    public static readonly TimeSpan MatchTimeout = TimeSpan.FromMilliseconds(250);

    private readonly Regex[] _serials;

    public Redactor(IEnumerable<string> serialPatterns) =>
        _serials = [.. serialPatterns.Select(p => new Regex(p, RegexOptions.CultureInvariant, MatchTimeout))];

    public string Redact(string text)
    {
        try
        {
            text = Email().Replace(text, "[email]");
            foreach (var serial in _serials)
            {
                text = serial.Replace(text, "[serial]");
            }

            // A candidate counts only when it parses as an address: "12:30:45" or "std::map" are left alone.
            text = Ipv6().Replace(text, m => IPAddress.TryParse(m.Value.Split('%')[0], out var a) && a.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? "[ip]" : m.Value);
            text = Ipv4().Replace(text, "[ip]");
            return Phone().Replace(text, m => DigitCount(m.Value) is >= 7 and <= 15 ? "[phone]" : m.Value);
        }
        catch (RegexMatchTimeoutException)
        {
            return "[redacted]";
        }
    }

    private static int DigitCount(string s) => s.Count(char.IsAsciiDigit);

    [GeneratedRegex(@"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}", RegexOptions.CultureInvariant, 250)]
    private static partial Regex Email();

    [GeneratedRegex(@"(?<![0-9A-Za-z:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:(?:\d{1,3}\.){3}\d{1,3}|[0-9A-Fa-f]{1,4})?(?:%[0-9A-Za-z]+)?(?![0-9A-Za-z:]|\.\d)", RegexOptions.CultureInvariant, 250)]
    private static partial Regex Ipv6();

    [GeneratedRegex(@"(?<![\d.])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?!\d|\.\d)", RegexOptions.CultureInvariant, 250)]
    private static partial Regex Ipv4();

    // International (+CC …), a parenthesised area code ((555) 123-4567), North American 555-123-4567 / 555.123.4567 /
    // 555 123 4567, and national numbers with a trunk 0 (020 7946 0958, 030/1234567, 0171-1234567).
    [GeneratedRegex(@"(?<![\w+])(?:\+\d{1,3}(?:[ .-]?\(?\d{1,5}\)?){1,6}|\(\d{2,5}\)[ .-]?\d{3,4}[ .-]?\d{3,5}|\d{3}([.-])\d{3}\1\d{4}|\d{3} \d{3} \d{4}|0\d{2,4}[ /-]?\d{3,4}[ -]?\d{2,5})(?!\w)", RegexOptions.CultureInvariant, 250)]
    private static partial Regex Phone();
}
