using EdgeLlm.Agent.Hosting;
using EdgeLlm.Runtime.Tests;

namespace EdgeLlm.Provisioning.Tests;

/// <summary>
/// Each template of provisioning/config goes through the agent's own configuration and validators
/// (AgentHost.CreateBuilder with --config, then AgentHost.ValidateOptions), as <c>edgellm agent</c> does before READY=1.
/// </summary>
public sealed class ConfigTemplateTests : IDisposable
{
    private readonly TempDir _dir = TestPaths.NewTempDir();

    public void Dispose() => _dir.Dispose();

    [Theory]
    [InlineData("field-gateway.json")]
    [InlineData("fleet-device.json")]
    [InlineData("factory-airgapped.json")]
    public void Template_is_a_valid_agent_configuration(string template)
    {
        // The factory template names the site's TLS files under /etc/edgellm/tls; here they are stand-ins.
        var settings = new Dictionary<string, string?> { ["Agent:DataDir"] = _dir.Path };
        if (template == "factory-airgapped.json")
        {
            foreach (var key in new[] { "CaFile", "ClientCertFile", "ClientKeyFile" })
            {
                var file = Path.Combine(_dir.Path, key + ".pem");
                File.WriteAllText(file, "stand-in");
                settings[$"Broker:{key}"] = file;
            }
        }

        Validate(Path.Combine(TestPaths.RepoRoot, "provisioning", "config", template), settings);
    }

    [Fact]
    public void Factory_template_without_its_tls_files_is_refused_naming_them()
    {
        var ex = Assert.ThrowsAny<Exception>(() => Validate(
            Path.Combine(TestPaths.RepoRoot, "provisioning", "config", "factory-airgapped.json"),
            new Dictionary<string, string?> { ["Agent:DataDir"] = _dir.Path }));
        Assert.Contains("Broker:CaFile", ex.Message, StringComparison.Ordinal);
    }

    private static void Validate(string configFile, Dictionary<string, string?> settings)
    {
        var switches = new AgentSwitches { ConfigFile = configFile, Model = "none", Settings = settings };
        using var host = AgentHost.CreateBuilder(switches).Build();
        AgentHost.ValidateOptions(host.Services);
    }
}
