using EdgeLlm.Runtime.ModelFolders;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace EdgeLlm.Runtime.Tests.Synthesis;

/// <summary>
/// Runs a synthesized decoder the two ways a generation loop can: with a growing KV cache (past of
/// length 0, then each step's present fed back) and with past and present bound to one pre-allocated
/// max-length buffer per layer (GroupQueryAttention's shared-buffer mode).
/// </summary>
internal sealed class DecoderHarness : IDisposable
{
    private readonly InferenceSession _session;

    public DecoderHarness(string folder)
    {
        Config = GenAiConfig.Load(folder);
        using var options = new SessionOptions { IntraOpNumThreads = 1, LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR };
        _session = new InferenceSession(Path.Combine(folder, Config.Decoder.FileName), options);
    }

    public GenAiConfig Config { get; }

    public InferenceSession Session => _session;

    private DecoderConfig D => Config.Decoder;

    private long[] KvShape(long length) => [1, D.NumKeyValueHeads, length, D.HeadSize];

    /// <summary>Logits [steps.Length][tokens of that step * vocab] with a cache that grows each step.</summary>
    public float[][] RunGrowing(params long[][] steps)
    {
        var results = new float[steps.Length][];
        var past = new List<OrtValue>();
        try
        {
            for (var i = 0; i < D.NumHiddenLayers * 2; i++)
            {
                past.Add(OrtValue.CreateAllocatedTensorValue(OrtAllocator.DefaultInstance, TensorElementType.Float, KvShape(0)));
            }

            var total = 0;
            for (var s = 0; s < steps.Length; s++)
            {
                total += steps[s].Length;
                using var ids = OrtValue.CreateTensorValueFromMemory(steps[s], [1, steps[s].Length]);
                using var mask = OrtValue.CreateTensorValueFromMemory(Enumerable.Repeat(1L, total).ToArray(), [1, total]);
                var inputNames = new List<string> { D.InputIdsName, D.AttentionMaskName };
                var inputs = new List<OrtValue> { ids, mask };
                var outputNames = new List<string> { D.LogitsName };
                for (var l = 0; l < D.NumHiddenLayers; l++)
                {
                    inputNames.Add(D.PastKeyName(l));
                    inputNames.Add(D.PastValueName(l));
                    inputs.Add(past[2 * l]);
                    inputs.Add(past[(2 * l) + 1]);
                    outputNames.Add(D.PresentKeyName(l));
                    outputNames.Add(D.PresentValueName(l));
                }

                using var runOptions = new RunOptions();
                var outputs = _session.Run(runOptions, inputNames, inputs, outputNames);
                var logits = outputs[0];
                var shape = logits.GetTensorTypeAndShape().Shape;
                Assert.Equal([1L, steps[s].Length, Config.VocabSize], shape);
                results[s] = logits.GetTensorDataAsSpan<float>().ToArray();
                logits.Dispose();
                foreach (var old in past)
                {
                    old.Dispose();
                }

                past.Clear();
                for (var o = 1; o < outputs.Count; o++)
                {
                    Assert.Equal(KvShape(total), outputs[o].GetTensorTypeAndShape().Shape);
                    past.Add(outputs[o]);
                }
            }
        }
        finally
        {
            foreach (var value in past)
            {
                value.Dispose();
            }
        }

        return results;
    }

    /// <summary>Logits per step with past and present bound to the same [1, kv, maxLength, head] buffers.</summary>
    public float[][] RunShared(int maxLength, params long[][] steps)
    {
        var results = new float[steps.Length][];
        var buffers = new List<OrtValue>();
        try
        {
            for (var i = 0; i < D.NumHiddenLayers * 2; i++)
            {
                buffers.Add(OrtValue.CreateTensorValueFromMemory(new float[maxLength * D.NumKeyValueHeads * D.HeadSize], KvShape(maxLength)));
            }

            var total = 0;
            for (var s = 0; s < steps.Length; s++)
            {
                total += steps[s].Length;
                using var ids = OrtValue.CreateTensorValueFromMemory(steps[s], [1, steps[s].Length]);
                using var mask = OrtValue.CreateTensorValueFromMemory(Enumerable.Repeat(1L, total).ToArray(), [1, total]);
                var logitsData = new float[steps[s].Length * Config.VocabSize];
                using var logits = OrtValue.CreateTensorValueFromMemory(logitsData, [1, steps[s].Length, Config.VocabSize]);
                using var binding = _session.CreateIoBinding();
                binding.BindInput(D.InputIdsName, ids);
                binding.BindInput(D.AttentionMaskName, mask);
                binding.BindOutput(D.LogitsName, logits);
                for (var l = 0; l < D.NumHiddenLayers; l++)
                {
                    binding.BindInput(D.PastKeyName(l), buffers[2 * l]);
                    binding.BindInput(D.PastValueName(l), buffers[(2 * l) + 1]);
                    binding.BindOutput(D.PresentKeyName(l), buffers[2 * l]);
                    binding.BindOutput(D.PresentValueName(l), buffers[(2 * l) + 1]);
                }

                using var runOptions = new RunOptions();
                _session.RunWithBinding(runOptions, binding);
                results[s] = logitsData;
            }
        }
        finally
        {
            foreach (var value in buffers)
            {
                value.Dispose();
            }
        }

        return results;
    }

    public void Dispose() => _session.Dispose();
}
