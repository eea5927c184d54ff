namespace EdgeLlm.Contracts.Fleet;

/// <summary>
/// Staged rollouts of a registered model bundle (under <see cref="FleetRoutes.Prefix"/>). Reads need the viewer role,
/// changes the operator role; every change is in the audit log.
/// </summary>
public static class RolloutRoutes
{
    /// <summary>
    /// POST <see cref="CreateRolloutRequest"/> → 201 <see cref="RolloutInfo"/> (operator): 400 invalid, 404 unknown bundle or
    /// channel, 409 a device of the target is already in an active rollout. GET → <see cref="RolloutSummary"/>[] (viewer).
    /// </summary>
    public const string Rollouts = FleetRoutes.Prefix + "/rollouts";

    /// <summary>GET → <see cref="RolloutInfo"/>: stages with counts, every device's state (viewer).</summary>
    public static string Rollout(string id) => $"{Rollouts}/{Uri.EscapeDataString(id)}";

    /// <summary>POST → 200 <see cref="RolloutInfo"/>: running → paused (operator); 409 from any other state.</summary>
    public static string Pause(string id) => $"{Rollout(id)}/pause";

    /// <summary>POST → 200 <see cref="RolloutInfo"/>: paused → running (operator); 409 from any other state.</summary>
    public static string Resume(string id) => $"{Rollout(id)}/resume";

    /// <summary>POST → 200 <see cref="RolloutInfo"/>: stops the rollout where it is; devices keep their desired state (operator).</summary>
    public static string Abort(string id) => $"{Rollout(id)}/abort";

    /// <summary>POST → 200 <see cref="RolloutInfo"/>: every device the rollout touched gets its previous model back (operator).</summary>
    public static string Rollback(string id) => $"{Rollout(id)}/rollback";

    /// <summary>POST → 200 <see cref="RolloutInfo"/>: evaluates the rollout now instead of at the next background step (operator).</summary>
    public static string Step(string id) => $"{Rollout(id)}/step";
}

/// <summary>The states of a rollout.</summary>
public static class RolloutStates
{
    public const string Running = "running";
    public const string Paused = "paused";

    /// <summary>Stopped automatically: a stage's failure share passed the threshold.</summary>
    public const string Halted = "halted";

    public const string Aborted = "aborted";
    public const string Completed = "completed";
    public const string RolledBack = "rolled_back";

    /// <summary>States that hold their devices: a new rollout may not include them.</summary>
    public static bool IsActive(string state) => state is Running or Paused or Halted;
}

/// <summary>The state of one device in a rollout.</summary>
public static class RolloutDeviceStates
{
    /// <summary>In a later stage, not touched yet.</summary>
    public const string Waiting = "waiting";

    /// <summary>Desired state set; the device has not reported the bundle (or a failure) yet.</summary>
    public const string Pending = "pending";

    public const string Succeeded = "succeeded";
    public const string Failed = "failed";

    /// <summary>Its previous model was restored by a rollback.</summary>
    public const string Restored = "restored";
}
