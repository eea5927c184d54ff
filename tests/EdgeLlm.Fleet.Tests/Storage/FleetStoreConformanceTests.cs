using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using EdgeLlm.Contracts.Fleet;
using EdgeLlm.Fleet.Storage;
using Microsoft.Extensions.Time.Testing;

namespace EdgeLlm.Fleet.Tests.Storage;

/// <summary>
/// What every <see cref="IFleetStore"/> must do, run against each real implementation (SQLite in a temp folder,
/// PostgreSQL in a fresh database of the shared throw-away cluster). Each test gets an empty database.
/// </summary>
public abstract partial class FleetStoreConformanceTests : IAsyncLifetime
{
    private static readonly DateTimeOffset T0 = new(2025, 3, 1, 12, 0, 0, TimeSpan.Zero);

    /// <summary>Strings that break naively built SQL or lossy storage; all must come back byte for byte.</summary>
    private static readonly string[] Nasty =
    [
        "'; DROP TABLE devices; --",
        "Robert'); DELETE FROM telemetry WHERE ('1'='1",
        "\"double\" 'single' `back` \\ backslash \\' \\\"",
        "%_ LIKE wildcards % _ [x] ^",
        "@device $1 ? :name @@ -- /* comment */",
        "Grüße, 日本語, emoji 🚀, RTL \u05e9\u05dc\u05d5\u05dd, line\u2028separator, tab\tnew\nline\r",
        new string('x', 5 * 1024) + "'" + new string('ü', 2 * 1024) + "🚀" + new string('"', 1024),
    ];

    private readonly FakeTimeProvider _time = new(T0);

    private ITestDatabase _database = null!;

    private protected IFleetStore Store { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        _database = await NewDatabaseAsync();
        Store = await OpenStoreAsync(_database);
    }

    public async Task DisposeAsync()
    {
        await Store.DisposeAsync();
        await CleanupAsync();
    }

    /// <summary>A test's database: stores on it, and raw queries that bypass the store.</summary>
    private protected interface ITestDatabase
    {
        /// <summary>A new store instance on this database, not yet migrated.</summary>
        IFleetStore NewStore(TimeProvider time);

        /// <summary>One integer from a raw query.</summary>
        Task<long> ScalarAsync(string sql);
    }

    /// <summary>A new, empty database.</summary>
    private protected abstract Task<ITestDatabase> NewDatabaseAsync();

    /// <summary>Removes the databases this test made (its stores are disposed by then).</summary>
    private protected abstract Task CleanupAsync();

    [Fact]
    public async Task Migrate_Twice_IsANoOp_AndKeepsData()
    {
        await Store.CreateApiKeyAsync(Key("k1", "hash-1"), CancellationToken.None);
        await Store.MigrateAsync(CancellationToken.None);
        await using (var second = await OpenStoreAsync(_database))
        {
            await second.MigrateAsync(CancellationToken.None);
        }

        Assert.Equal(FleetSchema.For(SqlDialect.Sqlite).Count, await _database.ScalarAsync("SELECT COUNT(*) FROM schema_migrations"));
        Assert.Equal(1, await _database.ScalarAsync("SELECT COUNT(*) FROM api_keys"));
        Assert.NotNull(await Store.FindApiKeyAsync("hash-1", CancellationToken.None));
    }

    [Fact]
    public async Task Migrate_FromFourStoresAtOnce_OnAnEmptyDatabase_AppliesEachStepOnce()
    {
        var empty = await NewDatabaseAsync();
        var stores = Enumerable.Range(0, 4).Select(_ => empty.NewStore(_time)).ToList();
        try
        {
            var start = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var migrations = stores.Select(async s =>
            {
                await start.Task;
                await s.MigrateAsync(CancellationToken.None);
            }).ToList();
            start.SetResult();
            await Task.WhenAll(migrations);
            Assert.Equal(FleetSchema.For(SqlDialect.Sqlite).Count, await empty.ScalarAsync("SELECT COUNT(*) FROM schema_migrations"));
            await stores[0].CreateApiKeyAsync(Key("k1", "hash-1"), CancellationToken.None);
            Assert.NotNull(await stores[3].FindApiKeyAsync("hash-1", CancellationToken.None));
        }
        finally
        {
            foreach (var store in stores)
            {
                await store.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task ApiKeys_AreFoundByHash_Listed_AndRevoked()
    {
        Assert.False(await Store.AnyApiKeyAsync(CancellationToken.None));
        await Store.CreateApiKeyAsync(Key("k1", "hash-1", FleetRoles.Admin), CancellationToken.None);
        await Store.CreateApiKeyAsync(Key("k2", "hash-2", FleetRoles.Viewer, T0.AddMinutes(1)), CancellationToken.None);
        // The same key twice (two instances bootstrapping from one environment variable) stays one key.
        await Store.CreateApiKeyAsync(Key("k3", "hash-2", FleetRoles.Admin), CancellationToken.None);

        Assert.True(await Store.AnyApiKeyAsync(CancellationToken.None));
        Assert.Equal(Key("k2", "hash-2", FleetRoles.Viewer, T0.AddMinutes(1)), await Store.FindApiKeyAsync("hash-2", CancellationToken.None));
        Assert.Null(await Store.FindApiKeyAsync("hash-3", CancellationToken.None));
        Assert.Equal(["k1", "k2"], (await Store.ListApiKeysAsync(CancellationToken.None)).Select(k => k.Id));

        Assert.True(await Store.RevokeApiKeyAsync("k1", CancellationToken.None));
        Assert.False(await Store.RevokeApiKeyAsync("nope", CancellationToken.None));
        Assert.True((await Store.FindApiKeyAsync("hash-1", CancellationToken.None))!.Revoked);
        Assert.False((await Store.FindApiKeyAsync("hash-2", CancellationToken.None))!.Revoked);
    }

    [Fact]
    public async Task Enroll_WithAValidToken_CreatesTheDevice_WithTheTokensTags()
    {
        await CreateTokenAsync("tok", uses: 1, tags: ["site:north", "line-3"]);
        var hardware = new HardwareInfo { Arch = "arm64", CpuCount = 8, MemoryBytes = 8L << 30, DiskBytes = 64L << 30, Os = "Debian 12", AgentVersion = "1.2.3", Accelerators = ["npu"] };

        var result = await EnrollAsync("tok", "dev-1", "cred-1", hardware);

        Assert.Equal(EnrollOutcome.Enrolled, result.Outcome);
        Assert.Equal(["site:north", "line-3"], result.Tags);
        var device = await Store.GetDeviceAsync("dev-1", CancellationToken.None);
        Assert.NotNull(device);
        Assert.Equal(Hash("cred-1"), device.CredentialHash);
        Assert.False(device.Revoked);
        Assert.Equal(T0, device.EnrolledAt);
        Assert.Null(device.LastSeen);
        Assert.Null(device.Reported);
        Assert.Equal(["site:north", "line-3"], device.Tags);
        AssertHardware(hardware, device.Hardware);
        Assert.Equal("dev-1", (await Store.FindDeviceByCredentialAsync(Hash("cred-1"), CancellationToken.None))?.DeviceId);
        Assert.Equal(0, (await Store.ListTokensAsync(CancellationToken.None)).Single().UsesLeft);
    }

    [Fact]
    public async Task Enroll_ReusingAOneTimeToken_IsUsedUp_AndCreatesNoDevice()
    {
        await CreateTokenAsync("tok", uses: 1);
        Assert.Equal(EnrollOutcome.Enrolled, (await EnrollAsync("tok", "dev-1", "cred-1")).Outcome);

        var again = await EnrollAsync("tok", "dev-2", "cred-2");

        Assert.Equal(EnrollOutcome.TokenUsedUp, again.Outcome);
        Assert.Empty(again.Tags);
        Assert.Null(await Store.GetDeviceAsync("dev-2", CancellationToken.None));
        Assert.Null(await Store.FindDeviceByCredentialAsync(Hash("cred-2"), CancellationToken.None));
    }

    [Fact]
    public async Task Enroll_WithALimitedUseToken_AllowsExactlyThatMany()
    {
        await CreateTokenAsync("tok", uses: 3);
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(EnrollOutcome.Enrolled, (await EnrollAsync("tok", $"dev-{i}", $"cred-{i}")).Outcome);
            Assert.Equal(2 - i, (await Store.ListTokensAsync(CancellationToken.None)).Single().UsesLeft);
        }

        Assert.Equal(EnrollOutcome.TokenUsedUp, (await EnrollAsync("tok", "dev-3", "cred-3")).Outcome);
        Assert.Equal(["dev-0", "dev-1", "dev-2"], (await Store.ListDevicesAsync(CancellationToken.None)).Select(d => d.DeviceId));
    }

    [Fact]
    public async Task Enroll_WithAnExpiredToken_IsRefused_AndKeepsTheUse()
    {
        await CreateTokenAsync("tok", uses: 2, expiresAt: T0.AddHours(1));
        Assert.Equal(EnrollOutcome.TokenExpired, (await EnrollAsync("tok", "dev-1", "cred-1", now: T0.AddHours(1))).Outcome);
        Assert.Equal(EnrollOutcome.TokenExpired, (await EnrollAsync("tok", "dev-1", "cred-1", now: T0.AddDays(3))).Outcome);
        Assert.Null(await Store.GetDeviceAsync("dev-1", CancellationToken.None));
        Assert.Equal(2, (await Store.ListTokensAsync(CancellationToken.None)).Single().UsesLeft);
        Assert.Equal(EnrollOutcome.Enrolled, (await EnrollAsync("tok", "dev-1", "cred-1", now: T0.AddHours(1).AddMilliseconds(-1))).Outcome);
    }

    [Fact]
    public async Task Enroll_WithAnUnknownOrDeletedToken_IsUnknown()
    {
        Assert.Equal(EnrollOutcome.UnknownToken, (await EnrollAsync("never-made", "dev-1", "cred-1")).Outcome);
        await CreateTokenAsync("tok", uses: 5, id: "tok-id");
        Assert.True(await Store.DeleteTokenAsync("tok-id", CancellationToken.None));
        Assert.False(await Store.DeleteTokenAsync("tok-id", CancellationToken.None));
        Assert.Equal(EnrollOutcome.UnknownToken, (await EnrollAsync("tok", "dev-1", "cred-1")).Outcome);
        Assert.Empty(await Store.ListDevicesAsync(CancellationToken.None));
    }

    [Fact]
    public async Task Enroll_OfARevokedDevice_IsRefused_AndTheUseIsNotTaken()
    {
        await CreateTokenAsync("first", uses: 1);
        await EnrollAsync("first", "dev-1", "cred-1");
        Assert.True(await Store.RevokeDeviceAsync("dev-1", CancellationToken.None));
        await CreateTokenAsync("second", uses: 1, id: "second-id");

        var result = await EnrollAsync("second", "dev-1", "cred-2");

        Assert.Equal(EnrollOutcome.DeviceRevoked, result.Outcome);
        Assert.Equal(1, (await Store.ListTokensAsync(CancellationToken.None)).Single(t => t.Id == "second-id").UsesLeft);
        var device = await Store.GetDeviceAsync("dev-1", CancellationToken.None);
        Assert.True(device!.Revoked);
        Assert.Equal(Hash("cred-1"), device.CredentialHash);
        Assert.Null(await Store.FindDeviceByCredentialAsync(Hash("cred-2"), CancellationToken.None));
        Assert.Equal(EnrollOutcome.Enrolled, (await EnrollAsync("second", "dev-2", "cred-2")).Outcome);
    }

    [Fact]
    public async Task Enroll_OfAnExistingDevice_ReplacesItsCredentialAndHardware()
    {
        await CreateTokenAsync("tok", uses: 2, tags: ["a"]);
        await EnrollAsync("tok", "dev-1", "cred-1", new HardwareInfo { Os = "old", CpuCount = 2 });
        _time.Advance(TimeSpan.FromHours(1));

        Assert.Equal(EnrollOutcome.Enrolled, (await EnrollAsync("tok", "dev-1", "cred-2", new HardwareInfo { Os = "new", CpuCount = 4 }, _time.GetUtcNow())).Outcome);

        Assert.Null(await Store.FindDeviceByCredentialAsync(Hash("cred-1"), CancellationToken.None));
        var device = await Store.FindDeviceByCredentialAsync(Hash("cred-2"), CancellationToken.None);
        Assert.Equal("dev-1", device?.DeviceId);
        Assert.Equal("new", device!.Hardware.Os);
        Assert.Equal(4, device.Hardware.CpuCount);
        Assert.Equal(T0, device.EnrolledAt);
        Assert.Single(await Store.ListDevicesAsync(CancellationToken.None));
    }

    [Fact]
    public async Task Enroll_EightRacingForAThreeUseToken_ExactlyThreeSucceed()
    {
        await CreateTokenAsync("tok", uses: 3);
        // Two store instances: the race crosses connections (and, for SQLite, the in-process write gate).
        await using var other = await OpenStoreAsync(_database);
        var stores = new[] { Store, other };
        var start = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var racers = Enumerable.Range(0, 8).Select(async i =>
        {
            await start.Task;
            return await stores[i % 2].EnrollAsync(Hash("tok"), new DeviceEnrollment($"dev-{i}", Hash($"cred-{i}"), new HardwareInfo()), T0, CancellationToken.None);
        }).ToList();
        start.SetResult();
        var results = await Task.WhenAll(racers);

        Assert.Equal(3, results.Count(r => r.Outcome == EnrollOutcome.Enrolled));
        Assert.Equal(5, results.Count(r => r.Outcome == EnrollOutcome.TokenUsedUp));
        var enrolled = Enumerable.Range(0, 8).Where(i => results[i].Outcome == EnrollOutcome.Enrolled).Select(i => $"dev-{i}");
        Assert.Equal(enrolled, (await Store.ListDevicesAsync(CancellationToken.None)).Select(d => d.DeviceId));
        Assert.Equal(0, (await Store.ListTokensAsync(CancellationToken.None)).Single().UsesLeft);
    }

    [Fact]
    public async Task Credential_AfterRotation_OnlyTheNewOneWorks()
    {
        await EnrolledDeviceAsync("dev-1", "cred-1");

        Assert.False(await Store.RotateCredentialAsync("dev-1", Hash("wrong"), Hash("cred-2"), CancellationToken.None));
        Assert.True(await Store.RotateCredentialAsync("dev-1", Hash("cred-1"), Hash("cred-2"), CancellationToken.None));
        // A second rotation from the old credential (a replayed request) fails.
        Assert.False(await Store.RotateCredentialAsync("dev-1", Hash("cred-1"), Hash("cred-3"), CancellationToken.None));

        Assert.Null(await Store.FindDeviceByCredentialAsync(Hash("cred-1"), CancellationToken.None));
        Assert.Null(await Store.FindDeviceByCredentialAsync(Hash("cred-3"), CancellationToken.None));
        Assert.Equal("dev-1", (await Store.FindDeviceByCredentialAsync(Hash("cred-2"), CancellationToken.None))?.DeviceId);
    }

    [Fact]
    public async Task Credential_AfterRevocation_IsNotFound_AndCannotBeRotated()
    {
        await EnrolledDeviceAsync("dev-1", "cred-1");
        await EnrolledDeviceAsync("dev-2", "cred-2");

        Assert.True(await Store.RevokeDeviceAsync("dev-1", CancellationToken.None));
        Assert.False(await Store.RevokeDeviceAsync("nope", CancellationToken.None));

        Assert.Null(await Store.FindDeviceByCredentialAsync(Hash("cred-1"), CancellationToken.None));
        Assert.False(await Store.RotateCredentialAsync("dev-1", Hash("cred-1"), Hash("cred-9"), CancellationToken.None));
        Assert.True((await Store.GetDeviceAsync("dev-1", CancellationToken.None))!.Revoked);
        Assert.Equal("dev-2", (await Store.FindDeviceByCredentialAsync(Hash("cred-2"), CancellationToken.None))?.DeviceId);
    }

    [Fact]
    public async Task Telemetry_TheSameBatchTwice_StoresItOnce()
    {
        await EnrolledDeviceAsync("dev-1", "cred-1");
        var batch = Items(1, 50);

        Assert.Equal(new TelemetryAck { Accepted = 50, Duplicates = 0 }, await Store.AppendTelemetryAsync("dev-1", batch, T0, CancellationToken.None));
        Assert.Equal(new TelemetryAck { Accepted = 0, Duplicates = 50 }, await Store.AppendTelemetryAsync("dev-1", batch, T0, CancellationToken.None));

        Assert.Equal((50L, 50L), await Store.TelemetryStatsAsync("dev-1", CancellationToken.None));
        Assert.Equal(Enumerable.Range(1, 50).Select(i => (long)i), (await Store.ReadTelemetryAsync("dev-1", 0, 1000, CancellationToken.None)).Select(i => i.Seq));
    }

    [Fact]
    public async Task Telemetry_ReorderedAndRetried_StoresEachSeqOnce()
    {
        await EnrolledDeviceAsync("dev-1", "cred-1");

        Assert.Equal(new TelemetryAck { Accepted = 5 }, await Store.AppendTelemetryAsync("dev-1", Items(5, 9), T0, CancellationToken.None));
        Assert.Equal(new TelemetryAck { Accepted = 5 }, await Store.AppendTelemetryAsync("dev-1", Items(0, 4), T0, CancellationToken.None));
        Assert.Equal(new TelemetryAck { Duplicates = 10 }, await Store.AppendTelemetryAsync("dev-1", Items(0, 9), T0, CancellationToken.None));

        Assert.Equal((9L, 10L), await Store.TelemetryStatsAsync("dev-1", CancellationToken.None));
        var stored = await Store.ReadTelemetryAsync("dev-1", -1, 100, CancellationToken.None);
        Assert.Equal(Enumerable.Range(0, 10).Select(i => (long)i), stored.Select(i => i.Seq));
        Assert.Equal(Items(0, 9).Select(Shape), stored.Select(Shape));
    }

    [Fact]
    public async Task Telemetry_DuplicatesInsideOneBatch_CountAsDuplicates_AndTheFirstCopyWins()
    {
        await EnrolledDeviceAsync("dev-1", "cred-1");
        TelemetryItem[] batch = [Item(1, "first"), Item(1, "second"), Item(2, "a"), Item(2, "b"), Item(2, "c"), Item(3, "only")];

        Assert.Equal(new TelemetryAck { Accepted = 3, Duplicates = 3 }, await Store.AppendTelemetryAsync("dev-1", batch, T0, CancellationToken.None));

        Assert.Equal(["first", "a", "only"], (await Store.ReadTelemetryAsync("dev-1", 0, 10, CancellationToken.None)).Select(i => i.Name));
    }

    [Fact]
    public async Task Telemetry_IsKeptPerDevice_AndReadAfterASeqWithALimit()
    {
        await EnrolledDeviceAsync("dev-1", "cred-1");
        await EnrolledDeviceAsync("dev-2", "cred-2");
        await Store.AppendTelemetryAsync("dev-1", Items(1, 20), T0, CancellationToken.None);
        Assert.Equal(new TelemetryAck { Accepted = 5 }, await Store.AppendTelemetryAsync("dev-2", Items(1, 5), T0, CancellationToken.None));

        Assert.Equal([11L, 12L, 13L], (await Store.ReadTelemetryAsync("dev-1", 10, 3, CancellationToken.None)).Select(i => i.Seq));
        Assert.Empty(await Store.ReadTelemetryAsync("dev-1", 20, 3, CancellationToken.None));
        Assert.Equal((5L, 5L), await Store.TelemetryStatsAsync("dev-2", CancellationToken.None));
        Assert.Equal((0L, 0L), await Store.TelemetryStatsAsync("dev-3", CancellationToken.None));
        Assert.Equal(new TelemetryAck(), await Store.AppendTelemetryAsync("dev-1", [], T0, CancellationToken.None));
    }

    [Fact]
    public async Task ConcurrentRequests_FromManyDevices_AllSucceed_AndEachItemIsStoredOnce()
    {
        const int Devices = 12;
        await using var other = await OpenStoreAsync(_database);
        for (var d = 0; d < Devices; d++)
        {
            await EnrolledDeviceAsync($"dev-{d}", $"cred-{d}");
        }

        var start = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        // Each device posts 4 overlapping batches (a retry storm) while polling and looking itself up, on two instances.
        var work = Enumerable.Range(0, Devices).SelectMany(d => Enumerable.Range(0, 4).Select(async b =>
        {
            await start.Task;
            var store = (d + b) % 2 == 0 ? Store : other;
            var ack = await store.AppendTelemetryAsync($"dev-{d}", Items(b * 25, (b * 25) + 49), T0.AddSeconds(b), CancellationToken.None);
            await store.TouchAsync($"dev-{d}", T0.AddSeconds(b), CancellationToken.None);
            Assert.Equal($"dev-{d}", (await store.FindDeviceByCredentialAsync(Hash($"cred-{d}"), CancellationToken.None))?.DeviceId);
            Assert.Equal(0, (await store.GetDesiredAsync($"dev-{d}", CancellationToken.None)).Revision);
            return ack;
        })).ToList();
        start.SetResult();
        var acks = await Task.WhenAll(work);

        // Batches 0..3 cover seqs 0..124: 125 distinct of 200 sent per device.
        Assert.Equal(Devices * 125, acks.Sum(a => a.Accepted));
        Assert.Equal(Devices * 75, acks.Sum(a => a.Duplicates));
        for (var d = 0; d < Devices; d++)
        {
            Assert.Equal((124L, 125L), await Store.TelemetryStatsAsync($"dev-{d}", CancellationToken.None));
            Assert.Equal(T0.AddSeconds(3), await LastSeenAsync($"dev-{d}"));
        }
    }

    [Fact]
    public async Task LastSeen_FollowsTelemetryPollsAndReports_AndNeverGoesBack()
    {
        await EnrolledDeviceAsync("dev-1", "cred-1");
        await Store.AppendTelemetryAsync("dev-1", Items(1, 1), T0.AddMinutes(1), CancellationToken.None);
        Assert.Equal(T0.AddMinutes(1), await LastSeenAsync("dev-1"));
        await Store.TouchAsync("dev-1", T0.AddMinutes(2), CancellationToken.None);
        Assert.Equal(T0.AddMinutes(2), await LastSeenAsync("dev-1"));
        await Store.SetReportedAsync("dev-1", new ReportedState(), T0.AddMinutes(3), CancellationToken.None);
        Assert.Equal(T0.AddMinutes(3), await LastSeenAsync("dev-1"));

        // Another server instance with an older request finishing late.
        await Store.TouchAsync("dev-1", T0, CancellationToken.None);
        await Store.AppendTelemetryAsync("dev-1", Items(2, 2), T0, CancellationToken.None);
        Assert.Equal(T0.AddMinutes(3), await LastSeenAsync("dev-1"));
        Assert.Null(await LastSeenAsync("never-enrolled"));
    }

    [Fact]
    public async Task RecentErrors_AreErrorEventsOfAllDevices_NewestFirst()
    {
        await EnrolledDeviceAsync("dev-1", "cred-1");
        await EnrolledDeviceAsync("dev-2", "cred-2");
        await Store.AppendTelemetryAsync(
            "dev-1",
            [
                Item(1, "inference_error", TelemetryKinds.Event, T0.AddSeconds(1)),
                Item(2, "model_loaded", TelemetryKinds.Event, T0.AddSeconds(2)),
                Item(3, "error", TelemetryKinds.Event, T0.AddSeconds(5)),
                Item(4, "disk_error", TelemetryKinds.Metric, T0.AddSeconds(6)),
                Item(5, "error_rate", TelemetryKinds.Event, T0.AddSeconds(7)),
                Item(6, "Upload_ERROR", TelemetryKinds.Event, T0.AddSeconds(8)),
            ],
            T0,
            CancellationToken.None);
        await Store.AppendTelemetryAsync("dev-2", [Item(1, "mqtt_error", TelemetryKinds.Event, T0.AddSeconds(3))], T0, CancellationToken.None);

        var errors = await Store.RecentErrorsAsync(10, CancellationToken.None);

        Assert.Equal([("dev-1", "error"), ("dev-2", "mqtt_error"), ("dev-1", "inference_error")], errors.Select(e => (e.DeviceId, e.Item.Name)));
        Assert.Equal(T0.AddSeconds(5), errors[0].Item.Ts);
        Assert.Equal(Shape(Item(1, "mqtt_error", TelemetryKinds.Event, T0.AddSeconds(3))), Shape(errors[1].Item));
        Assert.Equal(["error", "mqtt_error"], (await Store.RecentErrorsAsync(2, CancellationToken.None)).Select(e => e.Item.Name));
    }

    [Fact]
    public async Task SqlLookingAndUnusualStrings_AreStoredAndReturnedVerbatim()
    {
        var tags = Nasty.ToList();
        await CreateTokenAsync(Nasty[0], uses: 1, tags: tags, createdBy: Nasty[1]);
        var hardware = new HardwareInfo { Os = Nasty[0], Arch = Nasty[2], AgentVersion = Nasty[6], Accelerators = Nasty };
        Assert.Equal(EnrollOutcome.Enrolled, (await EnrollAsync(Nasty[0], "dev-1", Nasty[3], hardware)).Outcome);

        var device = await Store.FindDeviceByCredentialAsync(Hash(Nasty[3]), CancellationToken.None);
        Assert.Equal(tags, device!.Tags);
        AssertHardware(hardware, device.Hardware);
        var token = (await Store.ListTokensAsync(CancellationToken.None)).Single();
        Assert.Equal(Nasty[1], token.CreatedBy);
        Assert.Equal(tags, token.Tags);

        var items = Nasty.Select((s, i) => new TelemetryItem
        {
            Seq = i + 1,
            Ts = T0,
            Kind = TelemetryKinds.Event,
            Name = s,
            Data = JsonSerializer.SerializeToElement(new Dictionary<string, string> { ["detail"] = s }),
        }).ToList();
        Assert.Equal(Nasty.Length, (await Store.AppendTelemetryAsync("dev-1", items, T0, CancellationToken.None)).Accepted);
        var stored = await Store.ReadTelemetryAsync("dev-1", 0, 100, CancellationToken.None);
        Assert.Equal(Nasty, stored.Select(i => i.Name));
        Assert.Equal(Nasty, stored.Select(i => i.Data!.Value.GetProperty("detail").GetString()));

        var reported = new ReportedState { AgentVersion = Nasty[4], State = Nasty[5], Health = "error", Errors = Nasty };
        await Store.SetReportedAsync("dev-1", reported, T0, CancellationToken.None);
        var back = (await Store.GetDeviceAsync("dev-1", CancellationToken.None))!.Reported!;
        Assert.Equal(Nasty, back.Errors);
        Assert.Equal((Nasty[4], Nasty[5]), (back.AgentVersion, back.State));

        foreach (var (s, i) in Nasty.Select((s, i) => (s, i)))
        {
            await Store.AppendAuditAsync(new AuditEntry { At = T0.AddSeconds(i), Actor = s, Action = "token.create", Target = s, Detail = s }, CancellationToken.None);
        }

        var audit = await Store.ListAuditAsync(100, CancellationToken.None);
        Assert.Equal(Enumerable.Reverse(Nasty), audit.Select(a => a.Detail));
        Assert.Equal(Enumerable.Reverse(Nasty), audit.Select(a => a.Actor));
        Assert.Equal(Enumerable.Reverse(Nasty), audit.Select(a => a.Target));

        var config = JsonSerializer.SerializeToElement(Nasty);
        await Store.SetDesiredAsync("dev-1", new DesiredStateUpdate { Config = config, Model = new ArtifactRef { Name = Nasty[0], Version = Nasty[6] } }, CancellationToken.None);
        var desired = await Store.GetDesiredAsync("dev-1", CancellationToken.None);
        Assert.True(JsonElement.DeepEquals(config, desired.Config!.Value));
        Assert.Equal((Nasty[0], Nasty[6]), (desired.Model!.Name, desired.Model.Version));

        // Nothing was executed: every table is still there and whole.
        Assert.Single(await Store.ListDevicesAsync(CancellationToken.None));
        Assert.Equal((Nasty.Length, (long)Nasty.Length), await Store.TelemetryStatsAsync("dev-1", CancellationToken.None));
    }

    [Fact]
    public async Task Desired_StartsAtRevisionZero_IncreasesByOne_AndRoundTrips()
    {
        var never = await Store.GetDesiredAsync("dev-1", CancellationToken.None);
        Assert.Equal((0L, null, 0, null, false), (never.Revision, never.Model, never.Adapters.Count, never.Config, never.QueryLogUpload));
        using var configDocument = JsonDocument.Parse("""{"generation":{"max_tokens":256,"temperature":0.2},"retrieval":{"top_k":5},"flags":[true,null,"x"]}""");
        var update = new DesiredStateUpdate
        {
            Model = new ArtifactRef { Name = "qwen3-0.6b", Version = "2025.03.1", Sha256 = new string('a', 64) },
            Adapters = [new ArtifactRef { Name = "klipper", Version = "3" }, new ArtifactRef { Name = "plc", Version = "1", Sha256 = new string('b', 64) }],
            ConfigBundle = new ArtifactRef { Name = "line-3", Version = "1.2.0", Sha256 = new string('d', 64) },
            Config = configDocument.RootElement,
            QueryLogUpload = true,
        };

        var first = await Store.SetDesiredAsync("dev-1", update, CancellationToken.None);
        var second = await Store.SetDesiredAsync("dev-1", update with { QueryLogUpload = false, Config = null }, CancellationToken.None);
        var got = await Store.GetDesiredAsync("dev-1", CancellationToken.None);

        Assert.Equal(1, first.Revision);
        Assert.Equal(2, second.Revision);
        Assert.Equal(2, got.Revision);
        Assert.False(got.QueryLogUpload);
        Assert.Null(got.Config);
        Assert.Equal(update.Model, got.Model);
        Assert.Equal(update.Adapters, got.Adapters);
        Assert.Equal(update.ConfigBundle, got.ConfigBundle);

        var third = await Store.SetDesiredAsync("dev-1", update, CancellationToken.None);
        got = await Store.GetDesiredAsync("dev-1", CancellationToken.None);
        Assert.Equal(3, third.Revision);
        Assert.True(got.QueryLogUpload);
        Assert.True(JsonElement.DeepEquals(configDocument.RootElement, got.Config!.Value));
        Assert.Equal(0, (await Store.GetDesiredAsync("dev-2", CancellationToken.None)).Revision);
    }

    [Fact]
    public async Task Reported_RoundTrips_WithItsTime()
    {
        await EnrolledDeviceAsync("dev-1", "cred-1");
        var reported = new ReportedState
        {
            AppliedRevision = 7,
            Model = new ArtifactRef { Name = "qwen3", Version = "2", Sha256 = new string('c', 64) },
            Adapters = [new ArtifactRef { Name = "klipper", Version = "3" }],
            ConfigBundle = new ArtifactRef { Name = "line-3", Version = "1.2.0" },
            AgentVersion = "1.4.0",
            Health = "degraded",
            State = "retrieval_only",
            Errors = ["model load failed", "npu missing"],
        };

        await Store.SetReportedAsync("dev-1", reported, T0.AddMinutes(5), CancellationToken.None);

        var device = await Store.GetDeviceAsync("dev-1", CancellationToken.None);
        Assert.Equal(T0.AddMinutes(5), device!.ReportedAt);
        var back = device.Reported!;
        Assert.Equal((7L, "1.4.0", "degraded", "retrieval_only"), (back.AppliedRevision, back.AgentVersion, back.Health, back.State));
        Assert.Equal(reported.Model, back.Model);
        Assert.Equal(reported.Adapters, back.Adapters);
        Assert.Equal(reported.ConfigBundle, back.ConfigBundle);
        Assert.Equal(reported.Errors, back.Errors);
    }

    [Fact]
    public async Task Audit_IsListedNewestFirst_UpToTheLimit()
    {
        for (var i = 0; i < 5; i++)
        {
            await Store.AppendAuditAsync(
                new AuditEntry { At = T0.AddSeconds(i), Actor = "admin", Action = "device.revoke", Target = $"dev-{i}", Detail = i % 2 == 0 ? null : $"n{i}" },
                CancellationToken.None);
        }

        var all = await Store.ListAuditAsync(100, CancellationToken.None);
        Assert.Equal(["dev-4", "dev-3", "dev-2", "dev-1", "dev-0"], all.Select(a => a.Target));
        Assert.Equal([null, "n3", null, "n1", null], all.Select(a => a.Detail));
        Assert.Equal(T0.AddSeconds(4), all[0].At);
        Assert.True(all.Zip(all.Skip(1)).All(p => p.First.Id > p.Second.Id));
        Assert.Equal(["dev-4", "dev-3"], (await Store.ListAuditAsync(2, CancellationToken.None)).Select(a => a.Target));
    }

    [Fact]
    public async Task ListDevices_IsOrderedById_Ordinally()
    {
        string[] ids = ["b", "B", "a_1", "a.1", "a-1", "a", "Z9", "10", "9"];
        foreach (var (id, i) in ids.Select((id, i) => (id, i)))
        {
            await EnrolledDeviceAsync(id, $"cred-{i}");
        }

        Assert.Equal(ids.Order(StringComparer.Ordinal), (await Store.ListDevicesAsync(CancellationToken.None)).Select(d => d.DeviceId));
    }

    [Fact]
    public async Task Tokens_AreListed_WithTheirFields()
    {
        await CreateTokenAsync("t1", uses: 5, expiresAt: T0.AddDays(7), tags: ["x", "y"], id: "id-1", createdBy: "ops");
        await CreateTokenAsync("t2", uses: 1, id: "id-2", createdAt: T0.AddSeconds(1));

        var tokens = await Store.ListTokensAsync(CancellationToken.None);

        Assert.Equal(["id-1", "id-2"], tokens.Select(t => t.Id));
        var first = tokens[0];
        Assert.Equal((Hash("t1"), 5, T0.AddDays(7), T0, "ops"), (first.TokenHash, first.UsesLeft, first.ExpiresAt, first.CreatedAt, first.CreatedBy));
        Assert.Equal(["x", "y"], first.Tags);
    }

    private async Task<IFleetStore> OpenStoreAsync(ITestDatabase database)
    {
        var store = database.NewStore(_time);
        await store.MigrateAsync(CancellationToken.None);
        return store;
    }

    /// <summary>An item as comparable values (JsonElement compares by reference).</summary>
    private static (long, DateTimeOffset, string, string, double?, string?) Shape(TelemetryItem i) =>
        (i.Seq, i.Ts, i.Kind, i.Name, i.Value, i.Data?.GetRawText());

    private static string Hash(string secret) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(secret)));

    private static ApiKeyRecord Key(string id, string hash, string role = FleetRoles.Admin, DateTimeOffset? created = null) =>
        new(id, "key " + id, role, hash, created ?? T0, Revoked: false);

    private static TelemetryItem Item(long seq, string name, string kind = TelemetryKinds.Metric, DateTimeOffset? ts = null) =>
        new() { Seq = seq, Ts = ts ?? T0.AddMilliseconds(seq), Kind = kind, Name = name, Value = kind == TelemetryKinds.Metric ? seq * 0.5 : null };

    /// <summary>Seqs <paramref name="from"/> to <paramref name="to"/>: metrics and events, with and without data.</summary>
    private static List<TelemetryItem> Items(long from, long to) =>
        [.. Enumerable.Range((int)from, (int)(to - from + 1)).Select(i => i % 3 == 0
            ? new TelemetryItem { Seq = i, Ts = T0.AddMilliseconds(i * 1001), Kind = TelemetryKinds.Event, Name = "model_loaded", Data = JsonSerializer.SerializeToElement(new Dictionary<string, int> { ["n"] = i }) }
            : new TelemetryItem { Seq = i, Ts = T0.AddMilliseconds(i * 1001), Kind = TelemetryKinds.Metric, Name = "tokens_per_s", Value = (i * 1.25) + 0.1 })];

    private Task CreateTokenAsync(
        string secret, int uses, DateTimeOffset? expiresAt = null, IReadOnlyList<string>? tags = null, string? id = null, string createdBy = "admin", DateTimeOffset? createdAt = null) =>
        Store.CreateTokenAsync(new TokenRecord(id ?? "id-" + Hash(secret)[..12], Hash(secret), uses, expiresAt ?? T0.AddDays(1), tags ?? [], createdAt ?? T0, createdBy), CancellationToken.None);

    private Task<EnrollResult> EnrollAsync(string token, string deviceId, string credential, HardwareInfo? hardware = null, DateTimeOffset? now = null) =>
        Store.EnrollAsync(Hash(token), new DeviceEnrollment(deviceId, Hash(credential), hardware ?? new HardwareInfo()), now ?? T0, CancellationToken.None);

    private async Task EnrolledDeviceAsync(string deviceId, string credential)
    {
        var token = "token-for-" + deviceId;
        await CreateTokenAsync(token, uses: 1);
        Assert.Equal(EnrollOutcome.Enrolled, (await EnrollAsync(token, deviceId, credential)).Outcome);
    }

    private async Task<DateTimeOffset?> LastSeenAsync(string deviceId) => (await Store.GetDeviceAsync(deviceId, CancellationToken.None))?.LastSeen;

    private static void AssertHardware(HardwareInfo expected, HardwareInfo actual)
    {
        Assert.Equal(expected with { Accelerators = [] }, actual with { Accelerators = [] });
        Assert.Equal(expected.Accelerators, actual.Accelerators);
    }
}
