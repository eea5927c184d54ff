using EdgeLlm.Contracts.Fleet;

namespace EdgeLlm.Fleet.Storage;

/// <summary>An operator API key as stored: only the SHA-256 of the key is kept.</summary>
internal sealed record ApiKeyRecord(string Id, string Name, string Role, string KeyHash, DateTimeOffset CreatedAt, bool Revoked);

/// <summary>An enrollment token as stored: only the SHA-256 of the token is kept.</summary>
internal sealed record TokenRecord(
    string Id,
    string TokenHash,
    int UsesLeft,
    DateTimeOffset ExpiresAt,
    IReadOnlyList<string> Tags,
    DateTimeOffset CreatedAt,
    string CreatedBy);

/// <summary>A device as stored. <see cref="CredentialHash"/> is the SHA-256 of its current credential.</summary>
internal sealed record DeviceRecord(
    string DeviceId,
    string CredentialHash,
    bool Revoked,
    DateTimeOffset EnrolledAt,
    DateTimeOffset? LastSeen,
    HardwareInfo Hardware,
    IReadOnlyList<string> Tags,
    ReportedState? Reported,
    DateTimeOffset? ReportedAt);

/// <summary>What a device presents when it enrolls (the credential already hashed).</summary>
internal sealed record DeviceEnrollment(string DeviceId, string CredentialHash, HardwareInfo Hardware);

internal enum EnrollOutcome
{
    Enrolled,
    UnknownToken,
    TokenUsedUp,
    TokenExpired,
    DeviceRevoked,
}

/// <summary>The result of an enrollment attempt; <see cref="Tags"/> are the token's, given to the device.</summary>
internal sealed record EnrollResult(EnrollOutcome Outcome, IReadOnlyList<string> Tags);

/// <summary>A registered bundle version as stored; <see cref="ManifestJson"/> is the verified <c>manifest.json</c> text.</summary>
internal sealed record BundleRecord(
    string Name,
    string Version,
    string Kind,
    string Sha256,
    long Size,
    string KeyId,
    string ManifestJson,
    DateTimeOffset UploadedAt,
    string UploadedBy);

/// <summary>A channel of a bundle name pointing at one of its versions.</summary>
internal sealed record ChannelRecord(string Name, string Channel, string Version, DateTimeOffset UpdatedAt, string UpdatedBy);

internal enum BundleAddOutcome
{
    Added,

    /// <summary>The same name and version with the same SHA-256 was registered already (a repeated upload).</summary>
    AlreadyPresent,

    /// <summary>The name and version are registered with other bytes; nothing changed.</summary>
    Conflict,
}

/// <summary>A rollout as stored: its document and the revision that compare-and-set updates check.</summary>
internal sealed record RolloutRecord(long Revision, RolloutInfo Info);

/// <summary>
/// The fleet server's storage: one small interface, two real implementations (SQLite, the embedded default; PostgreSQL,
/// shared by several stateless server instances). Every method is safe to call concurrently. Strings are stored
/// verbatim (parameters only, never concatenated into SQL).
/// </summary>
internal interface IFleetStore : IAsyncDisposable
{
    /// <summary>Creates or upgrades the schema; safe to run from several instances at once.</summary>
    Task MigrateAsync(CancellationToken cancellationToken);

    Task<bool> AnyApiKeyAsync(CancellationToken cancellationToken);

    Task CreateApiKeyAsync(ApiKeyRecord key, CancellationToken cancellationToken);

    /// <summary>The key with this hash, revoked or not; null when none.</summary>
    Task<ApiKeyRecord?> FindApiKeyAsync(string keyHash, CancellationToken cancellationToken);

    Task<IReadOnlyList<ApiKeyRecord>> ListApiKeysAsync(CancellationToken cancellationToken);

    /// <summary>False when no key has this id.</summary>
    Task<bool> RevokeApiKeyAsync(string id, CancellationToken cancellationToken);

    Task CreateTokenAsync(TokenRecord token, CancellationToken cancellationToken);

    Task<IReadOnlyList<TokenRecord>> ListTokensAsync(CancellationToken cancellationToken);

    /// <summary>False when no token has this id.</summary>
    Task<bool> DeleteTokenAsync(string id, CancellationToken cancellationToken);

    /// <summary>
    /// In one transaction: checks the token (known, uses left, not expired at <paramref name="now"/>), takes one use,
    /// and creates the device or gives an existing, unrevoked device the new credential. Two devices racing for the
    /// last use of a token: exactly one enrolls.
    /// </summary>
    Task<EnrollResult> EnrollAsync(string tokenHash, DeviceEnrollment enrollment, DateTimeOffset now, CancellationToken cancellationToken);

    /// <summary>The unrevoked device whose current credential has this hash; null when none.</summary>
    Task<DeviceRecord?> FindDeviceByCredentialAsync(string credentialHash, CancellationToken cancellationToken);

    Task<DeviceRecord?> GetDeviceAsync(string deviceId, CancellationToken cancellationToken);

    /// <summary>All devices, ordered by id.</summary>
    Task<IReadOnlyList<DeviceRecord>> ListDevicesAsync(CancellationToken cancellationToken);

    /// <summary>False when no device has this id.</summary>
    Task<bool> RevokeDeviceAsync(string deviceId, CancellationToken cancellationToken);

    /// <summary>Replaces the credential hash if it is still <paramref name="oldHash"/>; false otherwise.</summary>
    Task<bool> RotateCredentialAsync(string deviceId, string oldHash, string newHash, CancellationToken cancellationToken);

    /// <summary>
    /// Stores the items the server doesn't have yet (first copy of each (device, seq) wins) and sets the device's last
    /// seen to <paramref name="receivedAt"/>, in one transaction.
    /// </summary>
    Task<TelemetryAck> AppendTelemetryAsync(string deviceId, IReadOnlyList<TelemetryItem> items, DateTimeOffset receivedAt, CancellationToken cancellationToken);

    /// <summary>Items with seq greater than <paramref name="afterSeq"/>, in seq order, at most <paramref name="limit"/>.</summary>
    Task<IReadOnlyList<TelemetryItem>> ReadTelemetryAsync(string deviceId, long afterSeq, int limit, CancellationToken cancellationToken);

    /// <summary>The newest seq stored (0 when none) and how many items are stored.</summary>
    Task<(long LastSeq, long Count)> TelemetryStatsAsync(string deviceId, CancellationToken cancellationToken);

    /// <summary>Events named like <c>error</c> (kind <c>event</c>, name ending in <c>error</c>) of all devices, newest first.</summary>
    Task<IReadOnlyList<(string DeviceId, TelemetryItem Item)>> RecentErrorsAsync(int limit, CancellationToken cancellationToken);

    /// <summary>The desired state; revision 0 and empty when never set.</summary>
    Task<DesiredState> GetDesiredAsync(string deviceId, CancellationToken cancellationToken);

    /// <summary>Replaces the desired state and increases its revision by one.</summary>
    Task<DesiredState> SetDesiredAsync(string deviceId, DesiredStateUpdate update, CancellationToken cancellationToken);

    /// <summary>Stores what the device reports it runs, and sets last seen.</summary>
    Task SetReportedAsync(string deviceId, ReportedState state, DateTimeOffset now, CancellationToken cancellationToken);

    /// <summary>Sets last seen (a desired-state poll).</summary>
    Task TouchAsync(string deviceId, DateTimeOffset now, CancellationToken cancellationToken);

    Task AppendAuditAsync(AuditEntry entry, CancellationToken cancellationToken);

    /// <summary>Newest first.</summary>
    Task<IReadOnlyList<AuditEntry>> ListAuditAsync(int limit, CancellationToken cancellationToken);

    /// <summary>Registers a bundle version unless its (name, version) is taken; the stored row is left as it was otherwise.</summary>
    Task<BundleAddOutcome> AddBundleAsync(BundleRecord bundle, CancellationToken cancellationToken);

    /// <summary>Every version of <paramref name="name"/> (all names when null), by name, then newest upload first.</summary>
    Task<IReadOnlyList<BundleRecord>> ListBundlesAsync(string? name, CancellationToken cancellationToken);

    Task<BundleRecord?> GetBundleAsync(string name, string version, CancellationToken cancellationToken);

    /// <summary>A bundle version whose artifact has this SHA-256 (the oldest upload when several share it); null when none.</summary>
    Task<BundleRecord?> FindBundleBySha256Async(string sha256, CancellationToken cancellationToken);

    /// <summary>Points the channel at the version (creating or replacing the assignment); false when that version is not registered.</summary>
    Task<bool> SetChannelAsync(ChannelRecord channel, CancellationToken cancellationToken);

    /// <summary>The channels of <paramref name="name"/> (all names when null), by name and channel.</summary>
    Task<IReadOnlyList<ChannelRecord>> ListChannelsAsync(string? name, CancellationToken cancellationToken);

    /// <summary>
    /// Stores a new rollout (revision 1) unless an active rollout (<see cref="RolloutStates.IsActive"/>) holds one of its
    /// devices: then nothing is stored and that rollout is returned. Checked and inserted under one lock, so two
    /// instances creating overlapping rollouts at once cannot both succeed.
    /// </summary>
    Task<RolloutInfo?> CreateRolloutAsync(RolloutInfo rollout, CancellationToken cancellationToken);

    Task<RolloutRecord?> GetRolloutAsync(string id, CancellationToken cancellationToken);

    /// <summary>Every rollout, newest first; only <paramref name="state"/> when given.</summary>
    Task<IReadOnlyList<RolloutRecord>> ListRolloutsAsync(string? state, CancellationToken cancellationToken);

    /// <summary>Replaces the document if the stored revision is still <paramref name="expectedRevision"/> (then it goes up by one); false otherwise.</summary>
    Task<bool> UpdateRolloutAsync(RolloutInfo rollout, long expectedRevision, CancellationToken cancellationToken);
}
