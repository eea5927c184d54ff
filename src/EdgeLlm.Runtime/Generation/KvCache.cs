using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Microsoft.ML.OnnxRuntime;

namespace EdgeLlm.Runtime.Generation;

/// <summary>
/// The key/value cache of one sequence, allocated once at the sequence's maximum length.
/// Shared-buffer mode (the model builder's GroupQueryAttention default) binds each layer's past input and present
/// output to the same tensor [1, kv_heads, max_length, head_size], which the model updates in place.
/// Otherwise the present output is [1, kv_heads, past + new, head_size]: two buffers per tensor take turns as past
/// and present, so the model writes the grown cache straight into the buffer the next step reads, with no copies.
/// </summary>
internal sealed unsafe class KvCache : IDisposable
{
    private readonly ModelSignature _signature;
    private readonly bool _shared;
    private readonly long[] _shape;
    private readonly long _capacityBytes;

    // Shared mode: one tensor per layer and kind. Growing mode: two native buffers per layer and kind, and the views bound now.
    private readonly OrtValue[] _sharedValues;
    private readonly nint[] _buffers;
    private readonly OrtValue?[] _views;
    private int _front;
    private bool _bound;

    public KvCache(ModelSignature signature, int kvHeads, int headSize, int maxLength, bool shareBuffer)
    {
        _signature = signature;
        _shared = shareBuffer;
        _shape = [1, kvHeads, maxLength, headSize];
        _capacityBytes = (long)kvHeads * maxLength * headSize * signature.KvElementSize;
        var tensors = signature.PastKeys.Length * 2;
        if (shareBuffer)
        {
            _sharedValues = new OrtValue[tensors];
            _buffers = [];
            _views = [];
            try
            {
                for (var i = 0; i < tensors; i++)
                {
                    // Not cleared: attention reads only the positions already written, and untouched pages of a
                    // long context cost no memory until the sequence grows into them.
                    _sharedValues[i] = OrtValue.CreateAllocatedTensorValue(OrtAllocator.DefaultInstance, signature.KvType, _shape);
                }
            }
            catch
            {
                Dispose();
                throw;
            }
        }
        else
        {
            _sharedValues = [];
            _buffers = new nint[tensors * 2];
            _views = new OrtValue?[tensors * 2];
            try
            {
                for (var i = 0; i < _buffers.Length; i++)
                {
                    _buffers[i] = (nint)NativeMemory.AlignedAlloc((nuint)Math.Max(_capacityBytes, 1), 64);
                }
            }
            catch
            {
                Dispose();
                throw;
            }
        }
    }

    /// <summary>Binds the cache for a run that adds <paramref name="newTokens"/> to <paramref name="pastLength"/> cached ones.</summary>
    public void Bind(OrtIoBinding binding, int pastLength, int newTokens)
    {
        if (_shared)
        {
            if (!_bound)
            {
                var layers = _signature.PastKeys.Length;
                for (var i = 0; i < layers; i++)
                {
                    binding.BindInput(_signature.PastKeys[i], _sharedValues[2 * i]);
                    binding.BindOutput(_signature.PresentKeys[i], _sharedValues[2 * i]);
                    binding.BindInput(_signature.PastValues[i], _sharedValues[(2 * i) + 1]);
                    binding.BindOutput(_signature.PresentValues[i], _sharedValues[(2 * i) + 1]);
                }

                _bound = true;
            }

            return;
        }

        BindGrowing(binding, pastLength, newTokens);
    }

    /// <summary>Called after a successful run: in growing mode the present buffers become the next past.</summary>
    public void Advance()
    {
        if (!_shared)
        {
            _front ^= 1;
        }
    }

    private void BindGrowing(OrtIoBinding binding, int pastLength, int newTokens)
    {
        var layers = _signature.PastKeys.Length;
        for (var i = 0; i < layers; i++)
        {
            for (var kind = 0; kind < 2; kind++)
            {
                var tensor = (2 * i) + kind;
                var past = _buffers[(2 * tensor) + _front];
                var present = _buffers[(2 * tensor) + (_front ^ 1)];
                var pastView = View(past, pastLength);
                var presentView = View(present, pastLength + newTokens);
                binding.BindInput(kind == 0 ? _signature.PastKeys[i] : _signature.PastValues[i], pastView);
                binding.BindOutput(kind == 0 ? _signature.PresentKeys[i] : _signature.PresentValues[i], presentView);

                // The binding holds its own reference to each view's tensor; our handles can go.
                _views[2 * tensor]?.Dispose();
                _views[(2 * tensor) + 1]?.Dispose();
                _views[2 * tensor] = pastView;
                _views[(2 * tensor) + 1] = presentView;
            }
        }
    }

    /// <summary>
    /// Bytes of a float32 key/value cache of <paramref name="tokens"/> tokens over all layers (keys and values):
    /// what a sequence of that length costs, for estimates made before a session exists.
    /// </summary>
    public static long Float32Bytes(int layers, int kvHeads, int headSize, int tokens) =>
        2L * layers * kvHeads * headSize * sizeof(float) * tokens;

    /// <summary>Bytes of the cache state of <paramref name="length"/> tokens, over all tensors.</summary>
    public long StateBytes(int length) => _shape[1] * length * _shape[3] * _signature.KvElementSize * (long)_signature.PastKeys.Length * 2;

    /// <summary>Copies the state of the first <paramref name="length"/> positions out, one gap-free [kv_heads, length, head_size] array per tensor.</summary>
    public byte[][] Export(int length)
    {
        var tensors = new byte[_signature.PastKeys.Length * 2][];
        var row = (int)(_shape[3] * _signature.KvElementSize);
        for (var t = 0; t < tensors.Length; t++)
        {
            var target = GC.AllocateUninitializedArray<byte>((int)(_shape[1] * length * row));
            var (source, stride) = Current(t, length);
            for (var h = 0; h < _shape[1]; h++)
            {
                new ReadOnlySpan<byte>((byte*)source + (h * stride), length * row).CopyTo(target.AsSpan(h * length * row));
            }

            tensors[t] = target;
        }

        return tensors;
    }

    /// <summary>Fills the first <paramref name="length"/> positions from a state of <paramref name="stateLength"/> positions made by <see cref="Export"/>; the cache must be empty.</summary>
    public void Import(byte[][] state, int stateLength, int length)
    {
        var row = (int)(_shape[3] * _signature.KvElementSize);
        for (var t = 0; t < state.Length; t++)
        {
            var (target, stride) = Current(t, length);
            for (var h = 0; h < _shape[1]; h++)
            {
                state[t].AsSpan(h * stateLength * row, length * row).CopyTo(new Span<byte>((byte*)target + (h * stride), length * row));
            }
        }
    }

    /// <summary>Where tensor <paramref name="t"/>'s state of <paramref name="length"/> positions lives, and the bytes from one head to the next.</summary>
    private (nint Data, long HeadStride) Current(int t, int length)
    {
        var row = _shape[3] * _signature.KvElementSize;
        if (_shared)
        {
            var data = (nint)Unsafe.AsPointer(ref MemoryMarshal.GetReference(_sharedValues[t].GetTensorMutableRawData()));
            return (data, _shape[2] * row);
        }

        // Growing mode: after a run the front buffer is the next past, laid out gap-free for the current length.
        return (_buffers[(2 * t) + _front], length * row);
    }

    private OrtValue View(nint buffer, int length)
    {
        _shape[2] = length;
        var bytes = (long)_shape[1] * length * _shape[3] * _signature.KvElementSize;
        return OrtValue.CreateTensorValueWithData(OrtMemoryInfo.DefaultInstance, _signature.KvType, _shape, buffer, bytes);
    }

    public void Dispose()
    {
        foreach (var value in _sharedValues)
        {
            value?.Dispose();
        }

        for (var i = 0; i < _views.Length; i++)
        {
            _views[i]?.Dispose();
            _views[i] = null;
        }

        for (var i = 0; i < _buffers.Length; i++)
        {
            if (_buffers[i] != 0)
            {
                NativeMemory.AlignedFree((void*)_buffers[i]);
                _buffers[i] = 0;
            }
        }
    }
}
