using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using EdgeLlm.Contracts.Fleet;
using EdgeLlm.Fleet.Dashboard;
using EdgeLlm.Fleet.Storage;

namespace EdgeLlm.Fleet.Rollouts;

/// <summary>The dashboard's rollouts: bundle, state, current stage, success and failure counts, newest first.</summary>
internal sealed class RolloutDashboardSection(IFleetStore store) : IDashboardSection
{
    private const int MaxRows = 50;

    public string Id => "rollouts";

    public string Title => "Rollouts";

    public async Task<string> RenderHtmlAsync(CancellationToken cancellationToken)
    {
        var rollouts = await store.ListRolloutsAsync(null, cancellationToken);
        if (rollouts.Count == 0)
        {
            return "<p>No rollouts yet.</p>";
        }

        var html = new StringBuilder();
        html.Append("<table><thead><tr><th>Rollout</th><th>Bundle</th><th>State</th><th>Stage</th><th>Succeeded</th><th>Failed</th><th>Devices</th><th>Reason</th></tr></thead><tbody>");
        foreach (var r in rollouts.Take(MaxRows).Select(r => r.Info))
        {
            var stage = r.Stages[r.CurrentStage];
            html.Append(CultureInfo.InvariantCulture,
                $"<tr><td>{E(r.Id)}</td><td>{E(RolloutPlan.Describe(r.Bundle))}</td><td class=\"state-{E(r.State)}\">{E(r.State)}</td>" +
                $"<td>{r.CurrentStage + 1}/{r.Stages.Count} ({stage.Percent}%)</td><td>{stage.Succeeded}</td><td>{stage.Failed}</td><td>{stage.Devices}/{r.Devices.Count}</td><td>{E(r.Reason)}</td></tr>");
        }

        html.Append("</tbody></table>");
        return html.ToString();
    }

    private static string E(string? text) => HtmlEncoder.Default.Encode(text ?? "");
}
