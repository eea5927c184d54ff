namespace EdgeLlm.Fleet.Dashboard;

/// <summary>
/// A further section of the dashboard, rendered after the devices and errors in registration order. This is the hook
/// the update issue uses for rollouts: register an implementation as a singleton <see cref="IDashboardSection"/>.
/// </summary>
internal interface IDashboardSection
{
    /// <summary>The section's HTML id, e.g. <c>rollouts</c>.</summary>
    string Id { get; }

    string Title { get; }

    /// <summary>The section's body: HTML in which every piece of user data is already encoded.</summary>
    Task<string> RenderHtmlAsync(CancellationToken cancellationToken);
}
