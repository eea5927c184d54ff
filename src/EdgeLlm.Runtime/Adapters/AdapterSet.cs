using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace EdgeLlm.Runtime.Adapters;

/// <summary>
/// The LoRA adapters loaded for one model, by name. Each is checked against the model when loaded: every parameter
/// must be an input the model lets an adapter replace (an overridable initializer, as LoRA models have) with the
/// same element type and shape, and LoRA factor pairs must be complete and of one rank. A sequence activates at
/// most one adapter by binding its tensors as inputs of its own IO binding, so sequences running at the same time
/// can use different adapters. Thread-safe. Owned by the model; adapters stay loaded until the model is disposed.
/// </summary>
/// <remarks>
/// ONNX Runtime's own route, <c>RunOptions.AddActiveLoraAdapter</c>, feeds the adapter's tensors in <c>Run</c> only:
/// <c>RunWithBinding</c>, which the generation loop uses, ignores the run options' adapters (ONNX Runtime 1.31). So
/// the adapter's parameters are bound as inputs directly, once per sequence: the same tensors, the same effect,
/// no per-token cost. The tensors view the adapter file's bytes, read once into pinned memory and shared by all
/// sequences (inputs are only read).
/// </remarks>
internal sealed class AdapterSet : IDisposable
{
    /// <summary>The folder beside the model whose <c>*.onnx_adapter</c> files are loaded with the model, each named after its file.</summary>
    public const string FolderName = "adapters";

    private readonly Dictionary<string, LoadedAdapter> _adapters = new(StringComparer.Ordinal);
    private readonly IReadOnlyDictionary<string, NodeMetadata> _inputs;
    private readonly string _modelPath;
    private bool _disposed;

    /// <param name="session">The model's session; its overridable initializers are what adapters may replace.</param>
    /// <param name="modelPath">The model file, for messages.</param>
    public AdapterSet(InferenceSession session, string modelPath)
    {
        ArgumentNullException.ThrowIfNull(session);
        _inputs = session.OverridableInitializerMetadata;
        _modelPath = modelPath;
    }

    /// <summary>
    /// An adapter set for <paramref name="session"/> holding every <c>*.onnx_adapter</c> in <c>{modelFolder}/adapters</c>
    /// (none when the folder does not exist), each named after its file without the extension.
    /// </summary>
    /// <exception cref="AdapterFileException">An adapter in the folder is malformed or does not fit the model.</exception>
    public static AdapterSet Open(InferenceSession session, string modelFolder, string modelPath)
    {
        var set = new AdapterSet(session, modelPath);
        try
        {
            set.LoadFolder(Path.Combine(modelFolder, FolderName));
            return set;
        }
        catch
        {
            set.Dispose();
            throw;
        }
    }

    /// <summary>The names of the loaded adapters, sorted.</summary>
    public IReadOnlyList<string> Names
    {
        get
        {
            lock (_adapters)
            {
                return _adapters.Keys.Order(StringComparer.Ordinal).ToArray();
            }
        }
    }

    /// <summary>True when the model has inputs an adapter can replace (it was exported with LoRA branches).</summary>
    public bool ModelAcceptsAdapters => _inputs.Count > 0;

    /// <summary>Loads the adapter file <paramref name="path"/> under <paramref name="name"/>.</summary>
    /// <exception cref="AdapterFileException">The file is malformed, or a parameter does not fit the model.</exception>
    /// <exception cref="ArgumentException">The name is empty or already taken.</exception>
    public LoadedAdapter Load(string name, string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        var full = Path.GetFullPath(path);
        lock (_adapters)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_adapters.ContainsKey(name))
            {
                throw AlreadyLoaded(name, full);
            }
        }

        var contents = AdapterFile.Read(full);
        Check(contents, full);
        var adapter = new LoadedAdapter(this, name, full, contents);
        lock (_adapters)
        {
            if (_disposed || !_adapters.TryAdd(name, adapter))
            {
                adapter.Release();
                ObjectDisposedException.ThrowIf(_disposed, this);
                throw AlreadyLoaded(name, full);
            }
        }

        return adapter;
    }

    /// <summary>Loads every <c>*.onnx_adapter</c> file of <paramref name="folder"/>, named after the file; nothing when the folder does not exist.</summary>
    /// <returns>The adapters loaded, by file name.</returns>
    public IReadOnlyList<LoadedAdapter> LoadFolder(string folder)
    {
        if (!Directory.Exists(folder))
        {
            return [];
        }

        var loaded = new List<LoadedAdapter>();
        foreach (var file in Directory.GetFiles(folder, "*" + AdapterFile.Extension).Order(StringComparer.Ordinal))
        {
            loaded.Add(Load(Path.GetFileNameWithoutExtension(file), file));
        }

        return loaded;
    }

    /// <summary>The adapter named <paramref name="name"/>, or null for a null name (the base model).</summary>
    /// <exception cref="ArgumentException">No adapter of that name is loaded; the message lists those that are.</exception>
    public LoadedAdapter? Resolve(string? name)
    {
        if (name is null)
        {
            return null;
        }

        lock (_adapters)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_adapters.TryGetValue(name, out var adapter))
            {
                return adapter;
            }
        }

        var names = Names;
        var loaded = names.Count == 0
            ? $"none are loaded (put .onnx_adapter files in the model's {FolderName}/ folder)"
            : $"loaded: {string.Join(", ", names)}";
        throw new ArgumentException($"Unknown adapter '{name}' for {_modelPath}; {loaded}.", nameof(name));
    }

    /// <summary>Makes every run with <paramref name="binding"/> use <paramref name="adapter"/>: binds its parameters as inputs.</summary>
    internal void Activate(OrtIoBinding binding, LoadedAdapter adapter)
    {
        ArgumentNullException.ThrowIfNull(binding);
        ArgumentNullException.ThrowIfNull(adapter);
        if (!ReferenceEquals(adapter.Owner, this))
        {
            throw new ArgumentException($"Adapter '{adapter.Name}' was loaded for another model, not {_modelPath}.", nameof(adapter));
        }

        lock (_adapters)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            foreach (var (name, value) in adapter.Values)
            {
                binding.BindInput(name, value);
            }
        }
    }

    public void Dispose()
    {
        lock (_adapters)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            foreach (var adapter in _adapters.Values)
            {
                adapter.Release();
            }

            _adapters.Clear();
        }
    }

    private ArgumentException AlreadyLoaded(string name, string file) =>
        new($"An adapter named '{name}' is already loaded on {_modelPath}; choose another name for {file}.", nameof(name));

    private void Check(AdapterContents contents, string file)
    {
        if (_inputs.Count == 0)
        {
            throw new AdapterFileException(file,
                $"cannot apply: {_modelPath} has no inputs an adapter can replace (it was exported without LoRA branches); use the LoRA export of the model.");
        }

        var byName = contents.Parameters.ToDictionary(p => p.Name, StringComparer.Ordinal);
        foreach (var parameter in contents.Parameters)
        {
            if (!_inputs.TryGetValue(parameter.Name, out var input))
            {
                var names = string.Join(", ", _inputs.Keys.Take(4)) + (_inputs.Count > 4 ? $", … ({_inputs.Count} in all)" : "");
                throw new AdapterFileException(file,
                    $"parameter '{parameter.Name}' is not an input of {_modelPath} (its LoRA inputs: {names}); use an adapter made for this model.");
            }

            CheckShape(parameter, input, file);
            var partnerName = LoraNames.Partner(parameter.Name);
            if (partnerName is null)
            {
                continue;
            }

            if (!byName.TryGetValue(partnerName, out var partner))
            {
                throw new AdapterFileException(file,
                    $"parameter '{parameter.Name}' has no '{partnerName}'; a LoRA branch needs both factors, so the adapter is incomplete.");
            }

            var rank = parameter.Dims[^1];
            if (LoraNames.IsA(parameter.Name) && (partner.Dims.Count == 0 || partner.Dims[0] != rank))
            {
                throw new AdapterFileException(file,
                    $"parameter '{parameter.Name}' {parameter.Shape} has rank {rank} but '{partnerName}' is {partner.Shape}; the factors of one branch must share their rank.");
            }
        }
    }

    private void CheckShape(AdapterParameter parameter, NodeMetadata input, string file)
    {
        var expectedType = (AdapterDataType)(int)input.ElementDataType;
        var dims = input.Dimensions;
        var fits = parameter.DataType == expectedType && parameter.Dims.Count == dims.Length;
        for (var i = 0; fits && i < dims.Length; i++)
        {
            // A negative size is a symbolic dimension (the LoRA rank), which any size fits.
            fits = dims[i] < 0 || dims[i] == parameter.Dims[i];
        }

        if (!fits)
        {
            var symbolic = input.SymbolicDimensions;
            var shape = string.Join(", ", dims.Select((d, i) => d >= 0 ? d.ToString() : (i < symbolic.Length && symbolic[i].Length > 0 ? symbolic[i] : "?")));
            throw new AdapterFileException(file,
                $"parameter '{parameter.Name}' is {parameter.DataType} {parameter.Shape}, but {_modelPath} takes {expectedType} [{shape}] there; use an adapter made for this model.");
        }
    }
}

/// <summary>
/// An adapter loaded on a model: activate it with <see cref="Generation.GenerationOptions.Adapter"/>. Its
/// <see cref="AdapterSet"/> owns and releases it.
/// </summary>
internal sealed class LoadedAdapter
{
    private readonly AdapterContents _contents;

    internal LoadedAdapter(AdapterSet owner, string name, string path, AdapterContents contents)
    {
        Owner = owner;
        Name = name;
        Path = path;
        _contents = contents;
        var values = new List<(string, OrtValue)>(contents.Parameters.Count);
        try
        {
            foreach (var parameter in contents.Parameters)
            {
                values.Add((parameter.Name, View(parameter)));
            }
        }
        catch
        {
            values.ForEach(v => v.Item2.Dispose());
            throw;
        }

        Values = values;
    }

    public string Name { get; }

    /// <summary>The adapter file (full path).</summary>
    public string Path { get; }

    /// <summary>Number of tensors it replaces.</summary>
    public int Parameters => _contents.Parameters.Count;

    /// <summary>Bytes of parameter data.</summary>
    public long Bytes => _contents.Parameters.Sum(p => (long)p.Data.Length);

    internal AdapterSet Owner { get; }

    /// <summary>Each parameter as a tensor over the pinned file bytes, by the input name it replaces.</summary>
    internal IReadOnlyList<(string Name, OrtValue Value)> Values { get; }

    internal void Release()
    {
        foreach (var (_, value) in Values)
        {
            value.Dispose();
        }
    }

    private static unsafe OrtValue View(AdapterParameter parameter)
    {
        // The reader hands out slices of one pinned array, so the address stays valid for the adapter's life.
        if (!MemoryMarshal.TryGetArray(parameter.Data, out var segment) || segment.Array is null)
        {
            throw new InvalidOperationException($"Adapter parameter '{parameter.Name}' is not backed by an array.");
        }

        var address = (nint)Unsafe.AsPointer(ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(segment.Array), segment.Offset));
        return OrtValue.CreateTensorValueWithData(OrtMemoryInfo.DefaultInstance, (TensorElementType)(int)parameter.DataType,
            parameter.Dims.ToArray(), address, segment.Count);
    }
}
