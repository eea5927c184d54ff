using System.Globalization;
using System.Text;

using EdgeLlm.Runtime.Generation;

namespace EdgeLlm.Runtime.ModelFolders;

/// <summary>What a model folder holds, for `edgellm model info` and the agent's status.</summary>
public sealed record ModelFolderInfo
{
    /// <summary>Marker file written by <c>edgellm model synth</c>: the weights are random.</summary>
    public const string SynthMarkerFile = "edgellm_synth.json";

    public required string Folder { get; init; }
    public required string ModelType { get; init; }
    public required int Layers { get; init; }
    public required int HiddenSize { get; init; }
    public required int AttentionHeads { get; init; }
    public required int KeyValueHeads { get; init; }
    public required int HeadSize { get; init; }
    public required int VocabSize { get; init; }
    public required int ContextLength { get; init; }
    public required IReadOnlyList<int> EosTokenIds { get; init; }
    public int? BosTokenId { get; init; }

    /// <summary>Bytes on disk of every file in the folder.</summary>
    public required long TotalBytes { get; init; }

    /// <summary>Bytes of KV cache one sequence of full context needs in fp32.</summary>
    public required long KvCacheBytesPerSequence { get; init; }

    public required IReadOnlyDictionary<string, long> Files { get; init; }

    /// <summary>True when the folder was written by <c>edgellm model synth</c> (random weights).</summary>
    public required bool Synthesized { get; init; }

    public static ModelFolderInfo Read(string folder)
    {
        if (!Directory.Exists(folder))
        {
            throw new ModelFolderException(folder, null, "folder not found");
        }

        var config = GenAiConfig.Load(folder);
        var files = new SortedDictionary<string, long>(StringComparer.Ordinal);
        foreach (var file in Directory.EnumerateFiles(folder))
        {
            files[Path.GetFileName(file)] = new FileInfo(file).Length;
        }

        var d = config.Decoder;
        return new ModelFolderInfo
        {
            Folder = Path.GetFullPath(folder),
            ModelType = config.ModelType,
            Layers = d.NumHiddenLayers,
            HiddenSize = d.HiddenSize,
            AttentionHeads = d.NumAttentionHeads,
            KeyValueHeads = d.NumKeyValueHeads,
            HeadSize = d.HeadSize,
            VocabSize = config.VocabSize,
            ContextLength = config.ContextLength,
            EosTokenIds = config.EosTokenIds,
            BosTokenId = config.BosTokenId,
            TotalBytes = files.Values.Sum(),
            KvCacheBytesPerSequence = KvCache.Float32Bytes(d.NumHiddenLayers, d.NumKeyValueHeads, d.HeadSize, config.Search.MaxLength),
            Files = files,
            Synthesized = IsSynthesized(folder),
        };
    }

    /// <summary>True when <paramref name="folder"/> carries the marker of a synthesized (random-weight) model.</summary>
    public static bool IsSynthesized(string folder) => File.Exists(Path.Combine(folder, SynthMarkerFile));

    public string ToText()
    {
        var sb = new StringBuilder();
        sb.AppendLine(CultureInfo.InvariantCulture, $"folder:        {Folder}");
        sb.AppendLine(CultureInfo.InvariantCulture, $"type:          {ModelType}{(Synthesized ? " (synthesized: random weights)" : "")}");
        sb.AppendLine(CultureInfo.InvariantCulture, $"layers:        {Layers}, hidden {HiddenSize}, heads {AttentionHeads} (kv {KeyValueHeads}), head size {HeadSize}");
        sb.AppendLine(CultureInfo.InvariantCulture, $"vocabulary:    {VocabSize}, bos {BosTokenId?.ToString(CultureInfo.InvariantCulture) ?? "-"}, eos {string.Join(",", EosTokenIds)}");
        sb.AppendLine(CultureInfo.InvariantCulture, $"context:       {ContextLength} tokens; KV cache {KvCacheBytesPerSequence / (1024.0 * 1024.0):F1} MiB per full sequence");
        sb.Append(CultureInfo.InvariantCulture, $"files:         {TotalBytes / (1024.0 * 1024.0):F1} MiB in {Files.Count} files");
        foreach (var (name, size) in Files)
        {
            sb.AppendLine().Append(CultureInfo.InvariantCulture, $"  {name,-28} {size,14:N0}");
        }

        return sb.ToString();
    }
}
