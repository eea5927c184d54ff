using System.Text.Json;
using EdgeLlm.Contracts.Fleet;

namespace EdgeLlm.Fleet.Tests.Contracts;

/// <summary>A property a client leaves out gets the contract's documented default, not null or 0.</summary>
public sealed class ContractDefaultsTests
{
    [Fact]
    public void Absent_token_fields_take_their_defaults()
    {
        var request = JsonSerializer.Deserialize("{}", FleetJsonContext.Default.CreateTokenRequest)!;
        Assert.Equal(1, request.Uses);
        Assert.Equal(86_400, request.ExpiresInSeconds);
        Assert.Empty(request.Tags);
    }

    [Fact]
    public void Explicit_token_fields_are_kept()
    {
        var request = JsonSerializer.Deserialize("""{"uses":0,"expires_in_seconds":5,"tags":["a"]}""", FleetJsonContext.Default.CreateTokenRequest)!;
        Assert.Equal(0, request.Uses);
        Assert.Equal(5, request.ExpiresInSeconds);
        Assert.Equal(["a"], request.Tags);
    }

    [Fact]
    public void An_enrollment_without_hardware_has_empty_hardware()
    {
        var request = JsonSerializer.Deserialize("""{"token":"eet_x","device_id":"d1"}""", FleetJsonContext.Default.EnrollRequest)!;
        Assert.NotNull(request.Hardware);
        Assert.Empty(request.Hardware.Accelerators);
    }

    [Fact]
    public void An_empty_report_is_healthy_with_no_adapters_or_errors()
    {
        var state = JsonSerializer.Deserialize("{}", FleetJsonContext.Default.ReportedState)!;
        Assert.Equal("ok", state.Health);
        Assert.Empty(state.Adapters);
        Assert.Empty(state.Errors);
    }

    [Fact]
    public void A_desired_state_without_adapters_has_an_empty_list()
    {
        var state = JsonSerializer.Deserialize("""{"revision":3}""", FleetJsonContext.Default.DesiredState)!;
        Assert.Equal(3, state.Revision);
        Assert.Empty(state.Adapters);
        var update = JsonSerializer.Deserialize("{}", FleetJsonContext.Default.DesiredStateUpdate)!;
        Assert.Empty(update.Adapters);
    }

    [Fact]
    public void An_explicit_null_for_a_list_is_refused()
    {
        Assert.Throws<JsonException>(() => JsonSerializer.Deserialize("""{"tags":null}""", FleetJsonContext.Default.CreateTokenRequest));
    }
}
