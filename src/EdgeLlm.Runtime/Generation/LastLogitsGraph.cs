using System.Security.Cryptography;
using EdgeLlm.Runtime.Onnx;
using Microsoft.Extensions.Logging;

namespace EdgeLlm.Runtime.Generation;

/// <summary>The graph a session should load: the model file itself, or its last-position-logits rewrite.</summary>
/// <param name="RewrittenPath">The cached rewrite, or null to load the model file as it is.</param>
/// <param name="Reason">Why the rewrite is used or not (for the log).</param>
/// <param name="Written">True when this load wrote the cache file; false when it was reused.</param>
internal sealed record PreparedGraph(string? RewrittenPath, string Reason, bool Written);

/// <summary>
/// Finds or writes the last-position-logits rewrite (<see cref="LastLogitsRewrite"/>) of a model file. The rewrite is
/// cached as <c>.edgellm/{model}.last-logits.{hash}.onnx</c> in the model's folder, keyed by the SHA-256 of the model
/// file and the rewrite's version, so the next load only hashes the (weight-free) graph file. The cached graph keeps
/// the model's external data references as they are; ONNX Runtime refuses data paths that leave the model file's
/// folder, so the session loads it from memory with the original folder as the external data folder.
/// When the model folder is read-only, <see cref="RuntimeOptions.GraphCacheDirectory"/> or the temp folder is used.
/// </summary>
internal static partial class LastLogitsGraph
{
    public const string CacheFolderName = ".edgellm";

    /// <summary>Largest model file rewritten: graphs with external data are a few MB at most.</summary>
    public const long MaxGraphBytes = 256L * 1024 * 1024;

    public static PreparedGraph Prepare(string modelPath, string logitsName, string? fallbackCacheDirectory, ILogger logger)
    {
        byte[] bytes;
        try
        {
            if (new FileInfo(modelPath).Length > MaxGraphBytes)
            {
                return NotUsed(logger, modelPath, $"the model file is larger than {MaxGraphBytes >> 20} MiB (weights inline, not in external data); a rewritten copy would duplicate them");
            }

            bytes = File.ReadAllBytes(modelPath);
        }
        catch (IOException ex)
        {
            return NotUsed(logger, modelPath, $"the model file cannot be read ({ex.Message})");
        }

        var name = CacheFileName(modelPath, logitsName, bytes);
        var folders = CacheFolders(modelPath, fallbackCacheDirectory);
        foreach (var folder in folders)
        {
            var cached = Path.Combine(folder, name);
            if (File.Exists(cached))
            {
                Reused(logger, modelPath, cached);
                return new PreparedGraph(cached, $"reused {cached}", Written: false);
            }
        }

        OnnxModelFile model;
        try
        {
            model = OnnxProtoReader.Read(bytes, modelPath);
        }
        catch (InvalidDataException ex)
        {
            return NotUsed(logger, modelPath, ex.Message);
        }

        if (!LastLogitsRewrite.TryRewrite(model, logitsName, out var reason))
        {
            return NotUsed(logger, modelPath, reason);
        }

        var rewritten = model.ToBytes();
        var failures = new List<string>();
        foreach (var folder in folders)
        {
            var target = Path.Combine(folder, name);
            try
            {
                Directory.CreateDirectory(folder);
                var temporary = $"{target}.{Environment.ProcessId}.tmp";
                File.WriteAllBytes(temporary, rewritten);
                File.Move(temporary, target, overwrite: true);
                RemoveStale(folder, target);
                Written(logger, modelPath, target, reason);
                return new PreparedGraph(target, $"{reason}; cached as {target}", Written: true);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                failures.Add($"{folder}: {ex.Message}");
            }
        }

        return NotUsed(logger, modelPath, $"no folder to cache the rewritten graph in ({string.Join("; ", failures)})");
    }

    /// <summary>Where the rewrite of <paramref name="modelPath"/> is looked for and written, in order.</summary>
    internal static IReadOnlyList<string> CacheFolders(string modelPath, string? fallbackCacheDirectory)
    {
        var folders = new List<string> { Path.Combine(Path.GetDirectoryName(Path.GetFullPath(modelPath))!, CacheFolderName) };
        if (!string.IsNullOrWhiteSpace(fallbackCacheDirectory))
        {
            folders.Add(Path.GetFullPath(fallbackCacheDirectory));
        }

        folders.Add(Path.Combine(Path.GetTempPath(), "edgellm-graphs"));
        return folders;
    }

    internal static string CacheFileName(string modelPath, string logitsName, byte[] modelBytes)
    {
        Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
        using (var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256))
        {
            sha.AppendData(BitConverter.GetBytes(LastLogitsRewrite.Version));
            sha.AppendData(System.Text.Encoding.UTF8.GetBytes(logitsName));
            sha.AppendData(modelBytes);
            sha.GetHashAndReset(hash);
        }

        return $"{Path.GetFileNameWithoutExtension(modelPath)}.last-logits.{Convert.ToHexStringLower(hash[..8])}.onnx";
    }

    /// <summary>Rewrites of an earlier version of the same model file are never loaded again; they only take space.</summary>
    private static void RemoveStale(string folder, string current)
    {
        var prefix = Path.GetFileName(current)[..(Path.GetFileName(current).LastIndexOf(".last-logits.", StringComparison.Ordinal) + ".last-logits.".Length)];
        foreach (var file in Directory.EnumerateFiles(folder, prefix + "*.onnx"))
        {
            if (file != current)
            {
                try
                {
                    File.Delete(file);
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
                {
                    // Another process may be loading it right now; it goes the next time.
                }
            }
        }
    }

    private static PreparedGraph NotUsed(ILogger logger, string modelPath, string reason)
    {
        Skipped(logger, modelPath, reason);
        return new PreparedGraph(null, reason, Written: false);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Logits for all positions kept for {Model}: {Reason}")]
    private static partial void Skipped(ILogger logger, string model, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Last-position logits graph of {Model} written to {Path}: {Reason}")]
    private static partial void Written(ILogger logger, string model, string path, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Last-position logits graph {Path} could not be loaded, using the original graph: {Reason}")]
    internal static partial void LoadFailed(ILogger logger, string path, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Last-position logits graph of {Model} reused from {Path}")]
    private static partial void Reused(ILogger logger, string model, string path);
}
