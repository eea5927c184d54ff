using EdgeLlm.Agent.Fleet;
using EdgeLlm.Agent.Hosting;
using EdgeLlm.Agent.Knowledge;
using EdgeLlm.Agent.Updates;
using EdgeLlm.Knowledge;
using EdgeLlm.Runtime.Tests;
using EdgeLlm.Sensors;
using Microsoft.Extensions.Configuration;

namespace EdgeLlm.Provisioning.Tests;

/// <summary>
/// Each template of provisioning/config goes through the agent's own configuration and validators
/// (AgentHost.CreateBuilder with --config, then AgentHost.ValidateOptions), as <c>edgellm agent</c> does before READY=1.
/// </summary>
public sealed class ConfigTemplateTests : IDisposable
{
    private readonly TempDir _dir = TestPaths.NewTempDir();

    public void Dispose() => _dir.Dispose();

    public static TheoryData<string> Templates => new() { "field-gateway.json", "fleet-device.json", "factory-airgapped.json" };

    [Theory]
    [MemberData(nameof(Templates))]
    public void Template_is_a_valid_agent_configuration(string template)
    {
        Validate(TemplatePath(template), template == Factory ? FactorySettings(withKey: true) : new() { ["Agent:DataDir"] = _dir.Path });
    }

    [Theory]
    [MemberData(nameof(Templates))]
    public void Template_sets_only_options_the_agent_has(string template)
    {
        var config = new ConfigurationBuilder().AddJsonFile(TemplatePath(template)).Build();
        foreach (var section in config.GetChildren())
        {
            // The agent's own list of sections and the options classes each binds to.
            var types = AgentConfigSchema.Find(section.Key)?.Types;
            Assert.True(types is not null, $"{template}: '{section.Key}' is not a section of the agent's configuration");
            foreach (var setting in section.GetChildren())
            {
                // A section bound to several classes: each setting must be known to one of them, down to its last level.
                var errors = types.Select(t => Unknown(setting, t)).ToList();
                Assert.True(errors.Contains(null), $"{template}: {setting.Path} is not an option: {string.Join("; ", errors)}");
            }
        }
    }

    [Fact]
    public void Factory_template_without_its_tls_files_is_refused_naming_them()
    {
        var ex = Assert.ThrowsAny<Exception>(() => Validate(TemplatePath(Factory), new Dictionary<string, string?> { ["Agent:DataDir"] = _dir.Path }));
        Assert.Contains("Broker:CaFile", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Factory_template_without_its_trusted_publisher_key_is_refused_naming_it()
    {
        var settings = FactorySettings(withKey: false);
        var ex = Assert.ThrowsAny<Exception>(() => Validate(TemplatePath(Factory), settings));
        Assert.Contains($"Updates:TrustedKeys: {settings["Updates:TrustedKeys:0"]} does not exist", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Factory_template_imports_from_a_folder_the_unit_lets_the_agent_read()
    {
        var config = new ConfigurationBuilder().AddJsonFile(TemplatePath(Factory)).Build();
        var folder = config["Updates:ImportFolder"];
        Assert.StartsWith("/media/", folder, StringComparison.Ordinal);
        Assert.Equal(["/etc/edgellm/keys/publisher.pub"], config.GetSection("Updates:TrustedKeys").Get<string[]>() ?? []);
        // ProtectSystem=strict leaves /media readable; the agent never writes to the import folder.
        var unit = File.ReadAllLines(Path.Combine(TestPaths.RepoRoot, "provisioning", "systemd", "edgellm-agent.service"));
        Assert.Contains("ProtectSystem=strict", unit);
        Assert.Contains("ReadOnlyPaths=-/media", unit);
        Assert.DoesNotContain(unit, l => l.StartsWith("InaccessiblePaths=", StringComparison.Ordinal) || l.StartsWith("TemporaryFileSystem=", StringComparison.Ordinal));
    }

    private const string Factory = "factory-airgapped.json";

    private static string TemplatePath(string template) => Path.Combine(TestPaths.RepoRoot, "provisioning", "config", template);

    /// <summary>The factory template with only its paths moved here: stand-ins for the site's TLS files, a USB folder, the publisher key.</summary>
    private Dictionary<string, string?> FactorySettings(bool withKey)
    {
        var settings = new Dictionary<string, string?> { ["Agent:DataDir"] = _dir.Path };
        foreach (var key in new[] { "CaFile", "ClientCertFile", "ClientKeyFile" })
        {
            var file = Path.Combine(_dir.Path, key + ".pem");
            File.WriteAllText(file, "stand-in");
            settings[$"Broker:{key}"] = file;
        }

        var usb = Directory.CreateDirectory(Path.Combine(_dir.Path, "usb")).FullName;
        settings["Updates:ImportFolder"] = usb;
        var publisher = Path.Combine(_dir.Path, "keys", "publisher.pub");
        if (withKey)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(publisher)!);
            using var key = EdgeLlm.Contracts.Bundles.BundleSigningKey.Generate();
            File.WriteAllText(publisher, key.ExportPublicKeyPem());
        }

        settings["Updates:TrustedKeys:0"] = publisher;
        return settings;
    }

    /// <summary>Null when <paramref name="setting"/> binds to <paramref name="type"/> with no key left over, else the binder's complaint.</summary>
    private static string? Unknown(IConfigurationSection setting, Type type)
    {
        var single = new ConfigurationBuilder().AddInMemoryCollection(
            setting.AsEnumerable().Select(kv => new KeyValuePair<string, string?>(kv.Key[(setting.Path.IndexOf(':', StringComparison.Ordinal) + 1)..], kv.Value))).Build();
        try
        {
            single.Bind(Activator.CreateInstance(type, nonPublic: true)!, o => o.ErrorOnUnknownConfiguration = true);
            return null;
        }
        catch (InvalidOperationException ex)
        {
            return $"{type.Name}: {ex.Message}";
        }
    }

    private static void Validate(string configFile, Dictionary<string, string?> settings)
    {
        var switches = new AgentSwitches { ConfigFile = configFile, Model = "none", Settings = settings };
        using var host = AgentHost.CreateBuilder(switches).Build();
        AgentHost.ValidateOptions(host.Services);
    }
}
