using System.CommandLine;

namespace EdgeLlm.Cli.Commands;

/// <summary>`edgellm status`: the device's retained status from the broker.</summary>
internal static class StatusCommand
{
    public static Command Build()
    {
        var device = new DeviceClientOptions();
        var json = CommonOptions.Json();
        var wait = new Option<int>("--wait") { Description = "Seconds to wait for the retained status.", DefaultValueFactory = _ => 5 };
        var cmd = new Command("status", "Show a device's status (state, model, provider, queue depth) as retained on its broker.") { json, wait };
        device.AddTo(cmd);
        cmd.SetAction((parse, ct) => CliOutput.RunAsync(parse.GetValue(json), async () =>
        {
            await using var client = await device.ConnectAsync(parse, ct).ConfigureAwait(false);
            var status = await client.StatusAsync(TimeSpan.FromSeconds(parse.GetValue(wait)), ct).ConfigureAwait(false)
                ?? throw new IOException($"no status retained for device '{client.DeviceId}' on the broker; check --device and --broker");
            if (parse.GetValue(json))
            {
                CliOutput.WriteJson(status);
            }
            else
            {
                Console.WriteLine($"device:   {client.DeviceId}");
                Console.WriteLine($"state:    {status.State} since {status.Since}");
                Console.WriteLine($"model:    {(status.Model is null ? "none" : $"{status.Model.Id} ({status.Model.Version})")}");
                Console.WriteLine($"provider: {status.Provider ?? "-"}");
                Console.WriteLine($"queue:    {status.QueueDepth}");
                Console.WriteLine($"version:  {status.Version}");
            }

            return 0;
        }));
        return cmd;
    }
}
