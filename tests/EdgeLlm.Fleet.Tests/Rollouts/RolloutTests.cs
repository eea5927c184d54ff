using System.Net;
using System.Net.Http.Json;
using EdgeLlm.Contracts.Fleet;
using EdgeLlm.Fleet.Dashboard;
using EdgeLlm.Fleet.Rollouts;
using EdgeLlm.Fleet.Storage;
using EdgeLlm.Fleet.Tests.Api;
using EdgeLlm.Fleet.Tests.Support;
using Microsoft.Extensions.DependencyInjection;

namespace EdgeLlm.Fleet.Tests.Rollouts;

/// <summary>
/// Rollouts through the real server and store with simulated devices: each enrolls, has a desired state and PUTs what
/// it reports; time is a <see cref="Microsoft.Extensions.Time.Testing.FakeTimeProvider"/> and the tests step on demand.
/// </summary>
[Collection(PostgresClusterDefinition.Name)]
public sealed class RolloutTests(PostgresFixture postgres)
{
    private const string Tag = "line-a";
    private static readonly ArtifactRef Old = new() { Name = "qwen3", Version = "1.0.0", Sha256 = new string('a', 64) };
    private static readonly ArtifactRef New = new() { Name = "qwen3", Version = "2.0.0", Sha256 = new string('b', 64) };

    [Theory]
    [InlineData(StoreKind.Sqlite)]
    [InlineData(StoreKind.Postgres)]
    public async Task A_canary_stage_soaks_then_everyone_gets_the_bundle(StoreKind kind)
    {
        await using var server = await FleetTestServer.StartAsync(kind, postgres);
        var devices = await FleetAsync(server, 10);

        var rollout = await CreateAsync(server, Request(stages: [20, 100], soakSeconds: 1800));

        Assert.Equal((RolloutStates.Running, 0), (rollout.State, rollout.CurrentStage));
        var canary = Members(rollout, 0);
        Assert.Equal(2, canary.Count);
        await AssertDesiredAsync(devices, canary);
        var desired = await DesiredAsync(devices[canary[0]]);
        Assert.True(desired.QueryLogUpload);
        Assert.Equal(["lora-a@1"], desired.Adapters.Select(a => $"{a.Name}@{a.Version}"));

        foreach (var id in canary)
        {
            await ReportAsync(devices[id], New, "active");
        }

        server.Time.Advance(TimeSpan.FromMinutes(29));
        rollout = await StepAsync(server, rollout.Id);
        Assert.Equal(0, rollout.CurrentStage);
        Assert.Equal((2, 2, 0, 0), Counts(rollout.Stages[0]));
        await AssertDesiredAsync(devices, canary);

        server.Time.Advance(TimeSpan.FromMinutes(1));
        rollout = await StepAsync(server, rollout.Id);
        Assert.Equal((RolloutStates.Running, 1), (rollout.State, rollout.CurrentStage));
        Assert.Equal((10, 2, 0, 8), Counts(rollout.Stages[1]));
        await AssertDesiredAsync(devices, [.. devices.Keys]);

        foreach (var device in devices.Values)
        {
            await ReportAsync(device, New, "active");
        }

        server.Time.Advance(TimeSpan.FromMinutes(30));
        rollout = await StepAsync(server, rollout.Id);
        Assert.Equal(RolloutStates.Completed, rollout.State);
        Assert.Equal((10, 10, 0, 0), Counts(rollout.Stages[1]));
        Assert.All(rollout.Devices, d => Assert.Equal(Old, d.PreviousModel));
    }

    [Theory]
    [InlineData(StoreKind.Sqlite)]
    [InlineData(StoreKind.Postgres)]
    public async Task A_bundle_the_canary_rolls_back_halts_the_rollout_before_the_rest(StoreKind kind)
    {
        await using var server = await FleetTestServer.StartAsync(kind, postgres);
        var devices = await FleetAsync(server, 10);
        var rollout = await CreateAsync(server, Request(stages: [20, 100], soakSeconds: 60));
        var canary = Members(rollout, 0);

        await ReportAsync(devices[canary[0]], Old, "rolled_back: smoke test failed: no answer in 30 s");
        await ReportAsync(devices[canary[1]], New, "active");
        server.Time.Advance(TimeSpan.FromHours(1));
        rollout = await StepAsync(server, rollout.Id);

        Assert.Equal(RolloutStates.Halted, rollout.State);
        Assert.Contains("1 of 2 devices failed", rollout.Reason, StringComparison.Ordinal);
        Assert.Equal("rolled_back: smoke test failed: no answer in 30 s", rollout.Devices.Single(d => d.DeviceId == canary[0]).Detail);
        server.Time.Advance(TimeSpan.FromHours(1));
        rollout = await StepAsync(server, rollout.Id);
        Assert.Equal((RolloutStates.Halted, 0), (rollout.State, rollout.CurrentStage));
        await AssertDesiredAsync(devices, canary);
        Assert.All(rollout.Devices.Where(d => !canary.Contains(d.DeviceId)), d => Assert.Equal(RolloutDeviceStates.Waiting, d.State));
        var audit = await AuditAsync(server);
        Assert.Contains(audit, e => e is { Action: "rollout.halt", Actor: RolloutEngine.SystemActor } && e.Target == rollout.Id);
    }

    [Fact]
    public async Task A_canary_back_on_its_old_model_with_this_updates_failure_among_its_errors_counts_as_failed()
    {
        await using var server = await FleetTestServer.StartAsync(StoreKind.Sqlite, postgres);
        var devices = await FleetAsync(server, 10);
        var rollout = await CreateAsync(server, Request(stages: [20, 100], soakSeconds: 60));
        var canary = Members(rollout, 0);

        // What an agent reports once it serves the old model again: ready, with the update's end in its errors.
        await ReportAsync(devices[canary[0]], Old, "ready", ["update qwen3 2.0.0: rolled_back: no answer contains \"OK\""]);
        // A failure of another version of the bundle says nothing about this one.
        await ReportAsync(devices[canary[1]], Old, "ready", ["update qwen3 1.5.0: rolled_back: load failed"]);
        rollout = await StepAsync(server, rollout.Id);

        var judged = rollout.Devices.Where(d => canary.Contains(d.DeviceId)).ToDictionary(d => d.DeviceId);
        Assert.Equal((RolloutDeviceStates.Failed, "rolled_back: no answer contains \"OK\""), (judged[canary[0]].State, judged[canary[0]].Detail));
        Assert.Equal(RolloutDeviceStates.Pending, judged[canary[1]].State);
    }

    [Fact]
    public async Task A_failing_canary_report_halts_the_rollout_without_waiting_for_the_step_period()
    {
        // An hour between steps, on a clock the test never moves: only the report itself can wake the evaluation.
        await using var server = await FleetTestServer.StartAsync(StoreKind.Sqlite, postgres, "--Fleet:RolloutStepSeconds=3600");
        var devices = await FleetAsync(server, 10);
        var rollout = await CreateAsync(server, Request(stages: [20, 100], soakSeconds: 60));
        var canary = Members(rollout, 0);

        await ReportAsync(devices[canary[0]], Old, "smoke_test_failed: no answer contains \"OK\"");
        await ReportAsync(devices[canary[1]], Old, "smoke_test_failed: no answer contains \"OK\"");

        var halted = await UntilAsync(() => server.Admin.GetFromJsonAsync(RolloutRoutes.Rollout(rollout.Id), FleetJsonContext.Default.RolloutInfo)!, r => r!.State != RolloutStates.Running);
        Assert.Equal(RolloutStates.Halted, halted!.State);
        await AssertDesiredAsync(devices, canary);
    }

    private static async Task<T> UntilAsync<T>(Func<Task<T>> read, Func<T, bool> done)
    {
        // Bounded in count: the evaluation runs on the server's loop, woken by the report.
        for (var i = 0; i < 300; i++)
        {
            var value = await read();
            if (done(value))
            {
                return value;
            }

            await Task.Delay(100);
        }

        return await read();
    }

    [Theory]
    [InlineData(StoreKind.Sqlite)]
    [InlineData(StoreKind.Postgres)]
    public async Task Concurrent_steps_advance_a_stage_once_and_set_each_device_once(StoreKind kind)
    {
        await using var server = await FleetTestServer.StartAsync(kind, postgres);
        var devices = await FleetAsync(server, 6);
        var rollout = await CreateAsync(server, Request(stages: [50, 100], soakSeconds: 60));
        foreach (var id in Members(rollout, 0))
        {
            await ReportAsync(devices[id], New, "active");
        }

        server.Time.Advance(TimeSpan.FromMinutes(1));
        var steps = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => StepAsync(server, rollout.Id)));

        Assert.All(steps, s => Assert.Equal((RolloutStates.Running, 1), Where(s)));
        var store = server.App.Services.GetRequiredService<IFleetStore>();
        foreach (var id in devices.Keys)
        {
            // Revision 1 is the fleet's own desired state; the rollout sets each device exactly once more.
            Assert.Equal(2, (await store.GetDesiredAsync(id, CancellationToken.None)).Revision);
        }

        var stored = (await store.GetRolloutAsync(rollout.Id, CancellationToken.None))!.Info;
        Assert.All(stored.Devices, d => Assert.Equal((RolloutDeviceStates.Pending == d.State ? 1 : 0, Old), (d.Stage, d.PreviousModel)));
    }

    [Fact]
    public async Task A_failure_reported_before_the_stage_started_does_not_count_and_refused_does()
    {
        await using var server = await FleetTestServer.StartAsync(StoreKind.Sqlite, postgres);
        var devices = await FleetAsync(server, 2);
        foreach (var device in devices.Values)
        {
            await ReportAsync(device, Old, "rolled_back: an older update");
        }

        server.Time.Advance(TimeSpan.FromSeconds(1));
        var rollout = await CreateAsync(server, Request(stages: [100], soakSeconds: 0, maxFailure: 0.5));
        rollout = await StepAsync(server, rollout.Id);
        Assert.Equal((RolloutStates.Running, 0, 2), (rollout.State, rollout.Stages[0].Failed, rollout.Stages[0].Pending));

        await ReportAsync(devices.Values.First(), Old, "refused: unknown_key");
        await ReportAsync(devices.Values.Last(), New, "active");
        rollout = await StepAsync(server, rollout.Id);
        Assert.Equal((RolloutStates.Completed, 1, 1), (rollout.State, rollout.Stages[0].Failed, rollout.Stages[0].Succeeded));
    }

    [Fact]
    public async Task Pause_holds_the_stage_resume_continues_and_abort_ends_it()
    {
        await using var server = await FleetTestServer.StartAsync(StoreKind.Sqlite, postgres);
        var devices = await FleetAsync(server, 4);
        var rollout = await CreateAsync(server, Request(stages: [25, 100], soakSeconds: 60));
        var canary = Members(rollout, 0);
        await ReportAsync(devices[canary[0]], New, "active");

        Assert.Equal(RolloutStates.Paused, (await ChangeAsync(server, RolloutRoutes.Pause(rollout.Id), HttpStatusCode.OK)).State);
        await ChangeAsync(server, RolloutRoutes.Pause(rollout.Id), HttpStatusCode.Conflict);
        server.Time.Advance(TimeSpan.FromHours(1));
        Assert.Equal((RolloutStates.Paused, 0), Where(await StepAsync(server, rollout.Id)));
        await AssertDesiredAsync(devices, canary);

        var resumed = await ChangeAsync(server, RolloutRoutes.Resume(rollout.Id), HttpStatusCode.OK);
        Assert.Equal((RolloutStates.Running, 1), Where(resumed));
        await AssertDesiredAsync(devices, [.. devices.Keys]);

        Assert.Equal(RolloutStates.Aborted, (await ChangeAsync(server, RolloutRoutes.Abort(rollout.Id), HttpStatusCode.OK)).State);
        await ChangeAsync(server, RolloutRoutes.Resume(rollout.Id), HttpStatusCode.Conflict);
        await ChangeAsync(server, RolloutRoutes.Abort(rollout.Id), HttpStatusCode.Conflict);
        await ChangeAsync(server, RolloutRoutes.Pause("ro_nope"), HttpStatusCode.NotFound);
        await AssertDesiredAsync(devices, [.. devices.Keys]);
        Assert.Equal(["rollout.abort", "rollout.resume", "rollout.pause", "rollout.create"],
            (await AuditAsync(server)).Where(e => e.Target == rollout.Id && e.Action != "rollout.step").Select(e => e.Action));
    }

    [Theory]
    [InlineData(StoreKind.Sqlite)]
    [InlineData(StoreKind.Postgres)]
    public async Task Rollback_restores_each_devices_previous_model_and_keeps_the_rest_of_its_desired_state(StoreKind kind)
    {
        await using var server = await FleetTestServer.StartAsync(kind, postgres);
        var devices = await FleetAsync(server, 4);
        var bare = devices.Keys.First();
        await SetDesiredAsync(server, bare, null);
        var rollout = await CreateAsync(server, Request(stages: [50, 100], soakSeconds: 0));
        foreach (var id in Members(rollout, 0))
        {
            await ReportAsync(devices[id], New, "active");
        }

        rollout = await StepAsync(server, rollout.Id);
        Assert.Equal(1, rollout.CurrentStage);
        await AssertDesiredAsync(devices, [.. devices.Keys]);

        var rolledBack = await ChangeAsync(server, RolloutRoutes.Rollback(rollout.Id), HttpStatusCode.OK);

        Assert.Equal(RolloutStates.RolledBack, rolledBack.State);
        Assert.All(rolledBack.Devices, d => Assert.Equal(RolloutDeviceStates.Restored, d.State));
        foreach (var (id, device) in devices)
        {
            var desired = await DesiredAsync(device);
            Assert.Equal(id == bare ? null : Old, desired.Model);
            Assert.Equal(id != bare, desired.QueryLogUpload);
        }

        Assert.Equal(RolloutStates.RolledBack, (await StepAsync(server, rollout.Id)).State);
        Assert.Null((await DesiredAsync(devices[bare])).Model);
    }

    [Fact]
    public async Task Stage_membership_is_deterministic_and_each_stage_holds_the_earlier_ones()
    {
        var ids = Enumerable.Range(0, 200).Select(i => $"dev-{i:D3}").ToList();
        var order = RolloutPlan.Order("ro_1", ids);
        Assert.Equal(order, RolloutPlan.Order("ro_1", Enumerable.Reverse(ids)));
        Assert.NotEqual(order, RolloutPlan.Order("ro_2", ids));
        Assert.NotEqual(ids, order);
        Assert.Equal([2, 10, 50, 200], RolloutPlan.StageSizes(200, [1, 5, 25, 100]));
        Assert.Equal([1, 1, 3], RolloutPlan.StageSizes(3, [5, 25, 100]));

        var plan = RolloutPlan.Create("ro_1", New, null, Request(stages: [5, 25, 100]), ids, DateTimeOffset.UnixEpoch, "ops");
        Assert.Equal(order, plan.Devices.Select(d => d.DeviceId));
        Assert.Equal([10, 50, 200], plan.Stages.Select(s => s.Devices));
        Assert.Equal(order.Take(10), plan.Devices.Where(d => d.Stage == 0).Select(d => d.DeviceId));
        Assert.Equal(order.Take(50), plan.Devices.Where(d => d.Stage <= 1).Select(d => d.DeviceId));

        await using var server = await FleetTestServer.StartAsync(StoreKind.Sqlite, postgres);
        await FleetAsync(server, 8);
        var created = await CreateAsync(server, Request(stages: [25, 100]));
        Assert.Equal(RolloutPlan.Order(created.Id, created.Devices.Select(d => d.DeviceId)).Take(2), Members(created, 0));
    }

    [Fact]
    public async Task Invalid_requests_are_400_unknown_bundles_404_and_overlapping_targets_409()
    {
        await using var server = await FleetTestServer.StartAsync(StoreKind.Sqlite, postgres);
        await FleetAsync(server, 3);
        await server.EnrollAsync("other-1", "line-b");
        string[] invalid =
        [
            """{"bundle":"qwen3","target":{"all":true}}""",
            """{"bundle":"qwen3","version":"2.0.0","channel":"stable","target":{"all":true}}""",
            """{"bundle":"qwen3","channel":"nightly","target":{"all":true}}""",
            """{"bundle":"qwen3","version":"2.0.0","target":{"all":true,"tag":"line-a"}}""",
            """{"bundle":"qwen3","version":"2.0.0","target":{}}""",
            """{"bundle":"qwen3","version":"2.0.0","target":{"devices":["dev-00","dev-00"]}}""",
            """{"bundle":"qwen3","version":"2.0.0","target":{"devices":["nobody"]}}""",
            """{"bundle":"qwen3","version":"2.0.0","target":{"tag":"no-such-tag"}}""",
            """{"bundle":"qwen3","version":"2.0.0","target":{"all":true},"stages":[25,10,100]}""",
            """{"bundle":"qwen3","version":"2.0.0","target":{"all":true},"stages":[5,50]}""",
            """{"bundle":"qwen3","version":"2.0.0","target":{"all":true},"stages":[0,100]}""",
            """{"bundle":"qwen3","version":"2.0.0","target":{"all":true},"soak_seconds":-1}""",
            """{"bundle":"qwen3","version":"2.0.0","target":{"all":true},"max_failure_rate":1.5}""",
            """{"bundle":"manual","version":"1.0.0","target":{"all":true}}""",
            """{"target":{"all":true}}""",
        ];
        foreach (var body in invalid)
        {
            using var response = await server.Admin.PostAsync(RolloutRoutes.Rollouts, FleetTestServer.RawJson(body));
            Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"{body}: {(int)response.StatusCode}");
            await FleetTestServer.ErrorAsync(response, HttpStatusCode.BadRequest, FleetErrorCodes.InvalidRequest);
        }

        foreach (var body in new[] { """{"bundle":"qwen3","version":"9.9.9","target":{"all":true}}""", """{"bundle":"qwen3","channel":"beta","target":{"all":true}}""" })
        {
            using var response = await server.Admin.PostAsync(RolloutRoutes.Rollouts, FleetTestServer.RawJson(body));
            await FleetTestServer.ErrorAsync(response, HttpStatusCode.NotFound, FleetErrorCodes.NotFound);
        }

        var first = await CreateAsync(server, Request(stages: [100]) with { Channel = BundleChannels.Stable, Version = null });
        Assert.Equal((New, BundleChannels.Stable), (first.Bundle, first.Channel));
        using (var overlap = await server.Admin.PostAsync(RolloutRoutes.Rollouts, Body(Request(stages: [100]) with { Target = new RolloutTarget { Devices = ["dev-01"] } })))
        {
            Assert.Contains(first.Id, await FleetTestServer.ErrorAsync(overlap, HttpStatusCode.Conflict, FleetErrorCodes.Conflict), StringComparison.Ordinal);
        }

        var other = await CreateAsync(server, Request(stages: [100]) with { Target = new RolloutTarget { Tag = "line-b" } });
        Assert.Equal(["other-1"], other.Devices.Select(d => d.DeviceId));
        await ChangeAsync(server, RolloutRoutes.Abort(first.Id), HttpStatusCode.OK);
        await CreateAsync(server, Request(stages: [100]) with { Target = new RolloutTarget { Devices = ["dev-01"] } });

        using var list = await server.Admin.GetAsync(RolloutRoutes.Rollouts);
        var summaries = await FleetTestServer.ReadAsync(list, HttpStatusCode.OK, FleetJsonContext.Default.IReadOnlyListRolloutSummary);
        Assert.Equal(3, summaries.Count);
        Assert.Contains(summaries, s => s.Id == first.Id && s.State == RolloutStates.Aborted);
        using var missing = await server.Admin.GetAsync(RolloutRoutes.Rollout("ro_nope"));
        await FleetTestServer.ErrorAsync(missing, HttpStatusCode.NotFound, FleetErrorCodes.NotFound);
    }

    [Fact]
    public async Task The_dashboard_lists_rollouts_with_counts_and_encodes_what_operators_wrote()
    {
        await using var server = await FleetTestServer.StartAsync(StoreKind.Sqlite, postgres);
        var devices = await FleetAsync(server, 4);
        var sneaky = server.Client((await server.CreateKeyAsync(FleetRoles.Operator, "<script>alert(1)</script>")).Key);
        var rollout = await CreateAsync(server, Request(stages: [50, 100]));
        foreach (var id in Members(rollout, 0))
        {
            await ReportAsync(devices[id], New, "active");
        }

        await StepAsync(server, rollout.Id);
        using (var pause = await sneaky.PostAsync(RolloutRoutes.Pause(rollout.Id), null))
        {
            Assert.Equal(HttpStatusCode.OK, pause.StatusCode);
        }

        using var request = new HttpRequestMessage(HttpMethod.Get, "/");
        request.Headers.Add("Cookie", $"{DashboardEndpoints.SessionCookie}={server.AdminKey}");
        using var response = await server.Anonymous.SendAsync(request);
        var html = await response.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var section = html[html.IndexOf("<section id=\"rollouts\">", StringComparison.Ordinal)..];
        Assert.Contains($"<td>{rollout.Id}</td><td>qwen3@2.0.0</td><td class=\"state-paused\">paused</td><td>2/2 (100%)</td><td>2</td><td>0</td><td>4/4</td>", section, StringComparison.Ordinal);
        Assert.DoesNotContain("<script>alert", html, StringComparison.Ordinal);
        Assert.Contains("&lt;script&gt;", section, StringComparison.Ordinal);
    }

    /// <summary>Devices dev-00… tagged <see cref="Tag"/>, each desiring <see cref="Old"/> with an adapter and query-log upload; bundles registered.</summary>
    private static async Task<Dictionary<string, EnrolledDevice>> FleetAsync(FleetTestServer server, int count)
    {
        var store = server.App.Services.GetRequiredService<IFleetStore>();
        foreach (var (bundle, kind) in new[] { (Old, "model"), (New, "model"), (Old with { Name = "manual" }, "manuals") })
        {
            await store.AddBundleAsync(
                new BundleRecord(bundle.Name, bundle.Version, kind, bundle.Sha256!, 1234, "0123456789abcdef", "{}", server.Time.GetUtcNow(), "ops"), CancellationToken.None);
        }

        await store.SetChannelAsync(new ChannelRecord(New.Name, BundleChannels.Stable, New.Version, server.Time.GetUtcNow(), "ops"), CancellationToken.None);
        var devices = new Dictionary<string, EnrolledDevice>(StringComparer.Ordinal);
        for (var i = 0; i < count; i++)
        {
            var device = await server.EnrollAsync($"dev-{i:D2}", Tag);
            await SetDesiredAsync(server, device.DeviceId, Old);
            devices[device.DeviceId] = device;
        }

        return devices;
    }

    private static async Task SetDesiredAsync(FleetTestServer server, string deviceId, ArtifactRef? model)
    {
        var update = new DesiredStateUpdate { Model = model, Adapters = model is null ? [] : [new ArtifactRef { Name = "lora-a", Version = "1" }], QueryLogUpload = model is not null };
        using var response = await server.Admin.PutAsync(FleetRoutes.DeviceDesired(deviceId), FleetTestServer.Json(update, FleetJsonContext.Default.DesiredStateUpdate));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    private static CreateRolloutRequest Request(IReadOnlyList<int> stages, long soakSeconds = 0, double maxFailure = 0.2) => new()
    {
        Bundle = New.Name,
        Version = New.Version,
        Target = new RolloutTarget { Tag = Tag },
        Stages = stages,
        SoakSeconds = soakSeconds,
        MaxFailureRate = maxFailure,
    };

    private static HttpContent Body(CreateRolloutRequest request) => FleetTestServer.Json(request, FleetJsonContext.Default.CreateRolloutRequest);

    private static async Task<RolloutInfo> CreateAsync(FleetTestServer server, CreateRolloutRequest request)
    {
        using var response = await server.Admin.PostAsync(RolloutRoutes.Rollouts, Body(request));
        return await FleetTestServer.ReadAsync(response, HttpStatusCode.Created, FleetJsonContext.Default.RolloutInfo);
    }

    private static Task<RolloutInfo> StepAsync(FleetTestServer server, string id) => ChangeAsync(server, RolloutRoutes.Step(id), HttpStatusCode.OK);

    private static async Task<RolloutInfo> ChangeAsync(FleetTestServer server, string route, HttpStatusCode expected)
    {
        using var response = await server.Admin.PostAsync(route, null);
        if (expected != HttpStatusCode.OK)
        {
            await FleetTestServer.ErrorAsync(response, expected, expected == HttpStatusCode.NotFound ? FleetErrorCodes.NotFound : FleetErrorCodes.Conflict);
            return null!;
        }

        return await FleetTestServer.ReadAsync(response, expected, FleetJsonContext.Default.RolloutInfo);
    }

    private static async Task ReportAsync(EnrolledDevice device, ArtifactRef model, string state, IReadOnlyList<string>? errors = null)
    {
        var reported = new ReportedState { Model = model, State = state, Errors = errors ?? [] };
        using var response = await device.Http.PutAsync(FleetRoutes.Reported, FleetTestServer.Json(reported, FleetJsonContext.Default.ReportedState));
        Assert.True(response.IsSuccessStatusCode, $"report: {(int)response.StatusCode}");
    }

    private static async Task<DesiredState> DesiredAsync(EnrolledDevice device) =>
        (await device.Http.GetFromJsonAsync(FleetRoutes.Desired, FleetJsonContext.Default.DesiredState))!;

    /// <summary>Exactly <paramref name="updated"/> desire <see cref="New"/>; every other device still desires <see cref="Old"/>.</summary>
    private static async Task AssertDesiredAsync(Dictionary<string, EnrolledDevice> devices, IReadOnlyList<string> updated)
    {
        foreach (var (id, device) in devices)
        {
            var model = (await DesiredAsync(device)).Model;
            Assert.True(model == (updated.Contains(id) ? New : Old), $"{id} desires {model?.Version}");
        }
    }

    private static async Task<IReadOnlyList<AuditEntry>> AuditAsync(FleetTestServer server)
    {
        using var response = await server.Admin.GetAsync(FleetRoutes.Audit);
        return await FleetTestServer.ReadAsync(response, HttpStatusCode.OK, FleetJsonContext.Default.IReadOnlyListAuditEntry);
    }

    private static List<string> Members(RolloutInfo rollout, int stage) => [.. rollout.Devices.Where(d => d.Stage <= stage).Select(d => d.DeviceId)];

    private static (int Devices, int Succeeded, int Failed, int Pending) Counts(RolloutStage s) => (s.Devices, s.Succeeded, s.Failed, s.Pending);

    private static (string State, int Stage) Where(RolloutInfo r) => (r.State, r.CurrentStage);
}
