using System.Runtime.CompilerServices;
using EdgeLlm.Agent.Hosting;
using EdgeLlm.Runtime.Adapters;
using EdgeLlm.Runtime.Chat;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace EdgeLlm.Agent.Updates;

/// <summary>
/// The LoRA adapter the device applies to every answer (installed from an adapter bundle), or none. An adapter is
/// loaded onto a model as <see cref="AdapterRef.Key"/> the first time that model answers with it, so a base model
/// loaded later (a model update, a rollback) picks the adapter up without anyone reloading anything; a base model the
/// adapter does not fit answers without it (logged once per model).
/// </summary>
internal sealed class ActiveAdapter
{
    private readonly ConditionalWeakTable<LocalModel, ModelAdapters> _models = new();
    private readonly ILogger<ActiveAdapter> _logger;
    private AdapterRef? _current;

    public ActiveAdapter(IOptions<AgentOptions> options, ILogger<ActiveAdapter> logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        _logger = logger;
        Slots = new AdapterSlots(options.Value.DataDir);
        try
        {
            var state = Slots.ReadState();
            Slots.DeleteLeftovers(state);
            _current = state.Active is { } a && File.Exists(Slots.FileOf(a)) ? a : null;
        }
        catch (Exception ex) when (ex is InvalidDataException or IOException or UnauthorizedAccessException)
        {
            AdapterLog.StateUnreadable(logger, ex.Message);
        }
    }

    public AdapterSlots Slots { get; }

    /// <summary>The adapter answers use, or null for the base model alone.</summary>
    public AdapterRef? Current => Volatile.Read(ref _current);

    /// <summary>Makes <paramref name="adapter"/> the one new answers use (it is already loaded on <paramref name="model"/>).</summary>
    public void Set(AdapterRef? adapter, LocalModel? model)
    {
        if (adapter is not null && model is not null)
        {
            MarkLoaded(model, adapter.Key);
        }

        Volatile.Write(ref _current, adapter);
    }

    /// <summary>
    /// The adapter name to generate with on <paramref name="model"/> (loading it onto the model the first time), or null
    /// for the base model: none is active, or the active one does not fit this model.
    /// </summary>
    public string? For(LocalModel model)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (Current is not { } adapter)
        {
            return null;
        }

        var loaded = Loaded(model);
        lock (loaded)
        {
            if (loaded.Keys.Contains(adapter.Key))
            {
                return adapter.Key;
            }

            if (loaded.Refused.Contains(adapter.Key))
            {
                return null;
            }

            try
            {
                model.Model.Adapters.Load(adapter.Key, Slots.FileOf(adapter));
                loaded.Keys.Add(adapter.Key);
                return adapter.Key;
            }
            catch (Exception ex) when (ex is AdapterFileException or ArgumentException or IOException)
            {
                loaded.Refused.Add(adapter.Key);
                AdapterLog.DoesNotFit(_logger, adapter.ToString(), model.Model.Folder, ex.Message);
                return null;
            }
        }
    }

    /// <summary>Records that <paramref name="key"/> is loaded on <paramref name="model"/> (by an installation).</summary>
    public void MarkLoaded(LocalModel model, string key)
    {
        var loaded = Loaded(model);
        lock (loaded)
        {
            loaded.Keys.Add(key);
        }
    }

    private ModelAdapters Loaded(LocalModel model) => _models.GetValue(model, _ => new ModelAdapters());

    private sealed class ModelAdapters
    {
        public HashSet<string> Keys { get; } = new(StringComparer.Ordinal);
        public HashSet<string> Refused { get; } = new(StringComparer.Ordinal);
    }
}

/// <summary>Log lines of adapter installation.</summary>
internal static partial class AdapterLog
{
    [LoggerMessage(440, LogLevel.Warning, "Adapters: adapters.json cannot be read ({Error}); answering without an adapter")]
    public static partial void StateUnreadable(ILogger logger, string error);

    [LoggerMessage(441, LogLevel.Warning, "Adapter {Adapter} does not fit the model in {Folder} ({Error}); that model answers without it")]
    public static partial void DoesNotFit(ILogger logger, string adapter, string folder, string error);

    [LoggerMessage(442, LogLevel.Information, "Adapter update {Adapter}: {Outcome}")]
    public static partial void Installed(ILogger logger, string adapter, string outcome);
}
