using System.Globalization;
using System.Text;

namespace EdgeLlm.Fleet.Tests.Api;

/// <summary>
/// Reads HTTP/1.1 responses off a raw connection, so a test can choose when each byte of a request is sent: what
/// HttpClient cannot do. Every read is bounded in time.
/// </summary>
internal sealed class RawHttpReader(Stream stream)
{
    private static readonly TimeSpan ReadTimeout = TimeSpan.FromSeconds(15);
    private readonly byte[] _buffer = new byte[16 * 1024];
    private int _start;
    private int _end;

    /// <summary>The next response's status code and body (Content-Length or chunked).</summary>
    public async Task<(int Status, string Body)> ReadResponseAsync()
    {
        var statusLine = await ReadLineAsync();
        var parts = statusLine.Split(' ', 3);
        Assert.True(parts.Length >= 2 && parts[0].StartsWith("HTTP/1.", StringComparison.Ordinal), $"not a status line: '{statusLine}'");
        var status = int.Parse(parts[1], CultureInfo.InvariantCulture);
        long? length = null;
        var chunked = false;
        for (var line = await ReadLineAsync(); line.Length > 0; line = await ReadLineAsync())
        {
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            var (name, value) = (line[..colon].Trim(), line[(colon + 1)..].Trim());
            if (name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase))
            {
                length = long.Parse(value, CultureInfo.InvariantCulture);
            }
            else if (name.Equals("Transfer-Encoding", StringComparison.OrdinalIgnoreCase))
            {
                chunked = value.Contains("chunked", StringComparison.OrdinalIgnoreCase);
            }
        }

        var body = new MemoryStream();
        if (chunked)
        {
            for (var size = await ReadChunkSizeAsync(); size > 0; size = await ReadChunkSizeAsync())
            {
                await ReadExactlyAsync(body, size);
                Assert.Equal("", await ReadLineAsync());
            }

            Assert.Equal("", await ReadLineAsync());
        }
        else
        {
            await ReadExactlyAsync(body, length ?? 0);
        }

        return (status, Encoding.UTF8.GetString(body.ToArray()));
    }

    /// <summary>Whether the peer closes the connection (end of stream or reset) with nothing more to read.</summary>
    public async Task<bool> AtEndAsync()
    {
        if (_start < _end)
        {
            return false;
        }

        try
        {
            return await FillAsync() == 0;
        }
        catch (IOException)
        {
            return true;
        }
    }

    private async Task<long> ReadChunkSizeAsync()
    {
        var line = await ReadLineAsync();
        var semicolon = line.IndexOf(';', StringComparison.Ordinal);
        return long.Parse(semicolon < 0 ? line : line[..semicolon], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
    }

    private async Task<string> ReadLineAsync()
    {
        var line = new StringBuilder();
        while (true)
        {
            if (_start == _end && await FillAsync() == 0)
            {
                throw new EndOfStreamException($"the connection closed in the middle of a line: '{line}'");
            }

            var b = _buffer[_start++];
            if (b == '\n')
            {
                return line.ToString().TrimEnd('\r');
            }

            line.Append((char)b);
        }
    }

    private async Task ReadExactlyAsync(Stream into, long count)
    {
        while (count > 0)
        {
            if (_start == _end && await FillAsync() == 0)
            {
                throw new EndOfStreamException($"the connection closed with {count} bytes of the body unread");
            }

            var take = (int)Math.Min(count, _end - _start);
            into.Write(_buffer, _start, take);
            _start += take;
            count -= take;
        }
    }

    private async Task<int> FillAsync()
    {
        using var timeout = new CancellationTokenSource(ReadTimeout);
        _start = 0;
        _end = await stream.ReadAsync(_buffer, timeout.Token);
        return _end;
    }
}
