using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace EdgeLlm.Runtime.Generation;

/// <summary>
/// One token sequence on a loaded model: its key/value cache, input buffers, IO binding and run options, all
/// created once. <see cref="Append"/> feeds tokens and returns the logits of the last one. A one-token append
/// (the decode step) rebinds only the attention mask; it allocates no arrays and copies no cache.
/// Not thread-safe: one caller at a time.
/// </summary>
internal sealed unsafe class GenerationSequence : IDisposable
{
    private readonly OnnxModel _model;
    private readonly ModelSignature _signature;
    private readonly int _vocab;
    private readonly OrtIoBinding _binding;
    private readonly RunOptions _runOptions;
    private readonly KvCache _cache;

    // Pinned so that OrtValues can view them for the whole life of the sequence.
    private readonly long[] _mask;
    private readonly long[] _decodeInput;
    private readonly long[] _maskShape = [1, 0];
    private readonly OrtValue _decodeIds;
    private readonly OrtValue? _decodePositions;
    private readonly OrtValue _decodeLogits;
    private readonly void* _decodeLogitsData;
    private readonly float[] _lastLogits;
    private OrtValue? _maskValue;
    private bool _decodeBound;
    private CancellationToken _terminateToken;
    private bool _disposed;

    internal GenerationSequence(OnnxModel model, int maxLength, Adapters.LoadedAdapter? adapter = null)
    {
        _model = model;
        _signature = model.Signature;
        _vocab = model.Config.VocabSize;
        MaxLength = maxLength;
        var decoder = model.Config.Decoder;

        _mask = GC.AllocateArray<long>(maxLength, pinned: true);
        _mask.AsSpan().Fill(1);
        _decodeInput = GC.AllocateArray<long>(2, pinned: true);
        _lastLogits = new float[_vocab];

        _binding = model.Session.CreateIoBinding();
        _runOptions = new RunOptions();
        try
        {
            if (adapter is not null)
            {
                model.Adapters.Activate(_binding, adapter);
            }

            _cache = new KvCache(_signature, decoder.NumKeyValueHeads, decoder.HeadSize, maxLength, model.Config.Search.PastPresentShareBuffer);
            _decodeIds = View(_decodeInput, 0, 1, [1, 1]);
            _decodePositions = _signature.PositionIds is null ? null : View(_decodeInput, 1, 1, [1, 1]);
            _decodeLogits = OrtValue.CreateAllocatedTensorValue(OrtAllocator.DefaultInstance, _signature.LogitsType, [1, 1, _vocab]);
            _decodeLogitsData = Unsafe.AsPointer(ref MemoryMarshal.GetReference(_decodeLogits.GetTensorMutableRawData()));
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>Tokens in the cache so far.</summary>
    public int Length { get; private set; }

    /// <summary>Tokens the cache can hold.</summary>
    public int MaxLength { get; }

    /// <summary>
    /// Makes a run in progress stop when <paramref name="token"/> is cancelled (ONNX Runtime's terminate flag);
    /// <see cref="Append"/> then throws <see cref="OperationCanceledException"/>. Dispose the result when done.
    /// </summary>
    public CancellationTokenRegistration TerminateOn(CancellationToken token)
    {
        _terminateToken = token;
        return token.Register(static state => ((RunOptions)state!).Terminate = true, _runOptions);
    }

    /// <summary>
    /// Feeds <paramref name="tokens"/> after the cached ones and returns the logits for the next token.
    /// The span is valid until the next call.
    /// </summary>
    /// <exception cref="OperationCanceledException">The token given to <see cref="TerminateOn"/> was cancelled.</exception>
    public ReadOnlySpan<float> Append(scoped ReadOnlySpan<int> tokens)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (tokens.IsEmpty)
        {
            throw new ArgumentException("At least one token is needed.", nameof(tokens));
        }

        if (Length + tokens.Length > MaxLength)
        {
            throw new InvalidOperationException($"The sequence holds {MaxLength} tokens; {Length} are used and {tokens.Length} more do not fit.");
        }

        foreach (var token in tokens)
        {
            if ((uint)token >= (uint)_vocab)
            {
                throw new ArgumentOutOfRangeException(nameof(tokens), token, $"Token id {token} is outside the model's vocabulary (0..{_vocab - 1}).");
            }
        }

        return tokens.Length == 1 ? Decode(tokens[0]) : Extend(tokens);
    }

    /// <summary>Starts the sequence with the first <see cref="PrefixHit.Tokens"/> positions of a cached prompt's state instead of running them.</summary>
    public void LoadPrefix(PrefixHit hit)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (Length != 0)
        {
            throw new InvalidOperationException($"A cached prefix can only start a sequence; this one already holds {Length} tokens.");
        }

        ArgumentOutOfRangeException.ThrowIfGreaterThan(hit.Tokens, Math.Min(MaxLength, hit.Entry.Length));
        _cache.Import(hit.Entry.Tensors, hit.Entry.Length, hit.Tokens);
        Length = hit.Tokens;
    }

    /// <summary>Bytes <see cref="ExportState"/> returns for the tokens in the cache now.</summary>
    public long StateBytes => _cache.StateBytes(Length);

    /// <summary>A copy of the cache's state for the <see cref="Length"/> tokens so far (see <see cref="PrefixEntry.Tensors"/>).</summary>
    public byte[][] ExportState()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return _cache.Export(Length);
    }

    private ReadOnlySpan<float> Decode(int token)
    {
        _decodeInput[0] = token;
        _decodeInput[1] = Length;
        if (!_decodeBound)
        {
            _binding.BindInput(_signature.InputIds, _decodeIds);
            if (_decodePositions is not null)
            {
                _binding.BindInput(_signature.PositionIds!, _decodePositions);
            }

            _binding.BindOutput(_signature.Logits, _decodeLogits);
            _decodeBound = true;
        }

        BindMask(Length + 1);
        _cache.Bind(_binding, Length, 1);
        Run();
        Length++;

        if (_signature.LogitsType == TensorElementType.Float)
        {
            return new ReadOnlySpan<float>(_decodeLogitsData, _vocab);
        }

        ConvertHalf(new ReadOnlySpan<Half>(_decodeLogitsData, _vocab), _lastLogits);
        return _lastLogits;
    }

    // Prefill or a multi-token continuation: not on the per-token path, so temporary buffers are fine here.
    private ReadOnlySpan<float> Extend(scoped ReadOnlySpan<int> tokens)
    {
        var n = tokens.Length;
        var ids = new long[n];
        var positions = _signature.PositionIds is null ? null : new long[n];
        for (var i = 0; i < n; i++)
        {
            ids[i] = tokens[i];
            if (positions is not null)
            {
                positions[i] = Length + i;
            }
        }

        _decodeBound = false;
        using var idsValue = OrtValue.CreateTensorValueFromMemory(ids, [1, n]);
        using var positionsValue = positions is null ? null : OrtValue.CreateTensorValueFromMemory(positions, [1, n]);

        // A graph with last-position logits ([1, 1, vocab] whatever the run's length) writes into the decode buffer.
        var rows = _signature.LastPositionLogitsOnly ? 1 : n;
        using var ownLogits = rows == 1 ? null : OrtValue.CreateAllocatedTensorValue(OrtAllocator.DefaultInstance, _signature.LogitsType, [1, rows, _vocab]);
        var logits = ownLogits ?? _decodeLogits;
        _binding.BindInput(_signature.InputIds, idsValue);
        if (positionsValue is not null)
        {
            _binding.BindInput(_signature.PositionIds!, positionsValue);
        }

        _binding.BindOutput(_signature.Logits, logits);
        BindMask(Length + n);
        _cache.Bind(_binding, Length, n);
        Run();
        Length += n;

        var last = (long)(rows - 1) * _vocab;
        if (_signature.LogitsType == TensorElementType.Float)
        {
            logits.GetTensorDataAsSpan<float>().Slice((int)last, _vocab).CopyTo(_lastLogits);
        }
        else
        {
            ConvertHalf(logits.GetTensorDataAsSpan<Half>().Slice((int)last, _vocab), _lastLogits);
        }

        // Point the logits output back at the decode buffer so the binding no longer holds the large prefill tensor.
        _binding.BindOutput(_signature.Logits, _decodeLogits);
        return _lastLogits;
    }

    private void BindMask(int total)
    {
        _maskShape[1] = total;
        var value = View(_mask, 0, total, _maskShape);
        _binding.BindInput(_signature.AttentionMask, value);
        _maskValue?.Dispose();
        _maskValue = value;
    }

    private void Run()
    {
        var started = Stopwatch.GetTimestamp();
        try
        {
            _model.Session.RunWithBinding(_runOptions, _binding);
        }
        catch (OnnxRuntimeException ex) when (_runOptions.Terminate)
        {
            throw new OperationCanceledException("Generation was cancelled while the model was running.", ex, _terminateToken);
        }
        catch (OnnxRuntimeException ex)
        {
            throw new InvalidOperationException(
                $"ONNX Runtime failed to run {Path.Combine(_model.Folder, _model.Config.Decoder.FileName)} at sequence length {Length}: {ex.Message.Trim()}", ex);
        }

        finally
        {
            _model.CountRun(Stopwatch.GetTimestamp() - started);
        }

        _cache.Advance();
    }

    private static OrtValue View(long[] pinned, int offset, int length, long[] shape)
    {
        var pointer = (nint)Unsafe.AsPointer(ref pinned[offset]);
        return OrtValue.CreateTensorValueWithData(OrtMemoryInfo.DefaultInstance, TensorElementType.Int64, shape, pointer, (long)length * sizeof(long));
    }

    private static void ConvertHalf(ReadOnlySpan<Half> source, Span<float> destination)
    {
        for (var i = 0; i < source.Length; i++)
        {
            destination[i] = (float)source[i];
        }
    }

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        _binding?.Dispose();
        _cache?.Dispose();
        _maskValue?.Dispose();
        _decodeIds?.Dispose();
        _decodePositions?.Dispose();
        _decodeLogits?.Dispose();
        _runOptions?.Dispose();
    }
}
