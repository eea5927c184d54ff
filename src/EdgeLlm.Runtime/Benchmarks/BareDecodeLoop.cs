using System.Diagnostics;
using System.Runtime.CompilerServices;
using EdgeLlm.Runtime.Generation;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace EdgeLlm.Runtime.Benchmarks;

/// <summary>
/// The floor for decode speed: after a prefill, one <c>RunWithBinding</c> per token on buffers and attention-mask views
/// that were all created before the clock starts — no sampling, no token checks, no logits reading. The generator's
/// decode speed is compared with this loop's to show what the generation loop itself costs.
/// </summary>
internal static unsafe class BareDecodeLoop
{
    /// <summary>Decode tokens per second of <paramref name="steps"/> runs after <paramref name="prompt"/>. The decode input and positions stay fixed: they change values, not the work.</summary>
    public static double TokensPerSecond(OnnxModel model, int[] prompt, int steps)
    {
        var signature = model.Signature;
        var decoder = model.Config.Decoder;
        var vocab = model.Config.VocabSize;
        var total = prompt.Length + steps;
        var mask = GC.AllocateArray<long>(total, pinned: true);
        mask.AsSpan().Fill(1);
        var ids = GC.AllocateArray<long>(prompt.Length, pinned: true);
        var positions = GC.AllocateArray<long>(prompt.Length, pinned: true);
        for (var i = 0; i < prompt.Length; i++)
        {
            ids[i] = prompt[i];
            positions[i] = i;
        }

        var owned = new List<IDisposable>();
        try
        {
            var cache = Own(owned, new KvCache(signature, decoder.NumKeyValueHeads, decoder.HeadSize, total, model.Config.Search.PastPresentShareBuffer));
            var binding = Own(owned, model.Session.CreateIoBinding());
            var runOptions = Own(owned, new RunOptions());

            var prefillRows = signature.LastPositionLogitsOnly ? 1 : prompt.Length;
            binding.BindInput(signature.InputIds, Own(owned, View(ids, 0, prompt.Length, [1, prompt.Length])));
            if (signature.PositionIds is { } positionName)
            {
                binding.BindInput(positionName, Own(owned, View(positions, 0, prompt.Length, [1, prompt.Length])));
            }

            binding.BindInput(signature.AttentionMask, Own(owned, View(mask, 0, prompt.Length, [1, prompt.Length])));
            binding.BindOutput(signature.Logits, Own(owned, OrtValue.CreateAllocatedTensorValue(OrtAllocator.DefaultInstance, signature.LogitsType, [1, prefillRows, vocab])));
            cache.Bind(binding, 0, prompt.Length);
            model.Session.RunWithBinding(runOptions, binding);
            cache.Advance();

            var masks = new OrtValue[steps];
            for (var i = 0; i < steps; i++)
            {
                masks[i] = Own(owned, View(mask, 0, prompt.Length + i + 1, [1, prompt.Length + i + 1]));
            }

            binding.BindInput(signature.InputIds, Own(owned, View(ids, 0, 1, [1, 1])));
            if (signature.PositionIds is { } decodePositions)
            {
                binding.BindInput(decodePositions, Own(owned, View(positions, prompt.Length - 1, 1, [1, 1])));
            }

            binding.BindOutput(signature.Logits, Own(owned, OrtValue.CreateAllocatedTensorValue(OrtAllocator.DefaultInstance, signature.LogitsType, [1, 1, vocab])));
            var start = Stopwatch.GetTimestamp();
            for (var i = 0; i < steps; i++)
            {
                binding.BindInput(signature.AttentionMask, masks[i]);
                cache.Bind(binding, prompt.Length + i, 1);
                model.Session.RunWithBinding(runOptions, binding);
                cache.Advance();
            }

            return steps / Stopwatch.GetElapsedTime(start).TotalSeconds;
        }
        finally
        {
            for (var i = owned.Count - 1; i >= 0; i--)
            {
                owned[i].Dispose();
            }
        }
    }

    private static T Own<T>(List<IDisposable> owned, T value)
        where T : IDisposable
    {
        owned.Add(value);
        return value;
    }

    private static OrtValue View(long[] pinned, int offset, int length, long[] shape) =>
        OrtValue.CreateTensorValueWithData(OrtMemoryInfo.DefaultInstance, TensorElementType.Int64, shape,
            (nint)Unsafe.AsPointer(ref pinned[offset]), (long)length * sizeof(long));
}
