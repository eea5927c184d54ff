using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using EdgeLlm.Contracts.Fleet;

namespace EdgeLlm.Fleet.Dashboard;

/// <summary>One recent error as the dashboard shows it.</summary>
internal sealed record DashboardError(string DeviceId, DateTimeOffset At, string Name, string Message);

/// <summary>What the overview page shows.</summary>
internal sealed record DashboardModel(
    string KeyName,
    string Role,
    IReadOnlyList<DeviceSummary> Devices,
    IReadOnlyList<DashboardError> Errors,
    IReadOnlyList<(IDashboardSection Section, string Html)> Sections,
    string Csrf,
    DateTimeOffset Now);

/// <summary>Server-rendered HTML. Everything that comes from devices or operators goes through <see cref="E"/>.</summary>
internal static class DashboardPage
{
    private const string Style = """
        body{font-family:system-ui,sans-serif;margin:0;background:#f4f6f8;color:#1d2329}
        header{background:#1d3557;color:#fff;padding:12px 24px;display:flex;justify-content:space-between;align-items:center}
        header h1{font-size:20px;margin:0}
        main{padding:16px 24px}
        section{background:#fff;border-radius:6px;padding:12px 16px;margin-bottom:16px;box-shadow:0 1px 2px #0002}
        h2{font-size:16px;margin:4px 0 12px}
        table{border-collapse:collapse;width:100%;font-size:14px}
        th,td{text-align:left;padding:6px 8px;border-bottom:1px solid #e3e7eb;vertical-align:top}
        th{background:#eef1f4}
        .counts{display:flex;gap:12px;flex-wrap:wrap}
        .count{background:#eef1f4;border-radius:6px;padding:8px 14px;min-width:90px}
        .count b{display:block;font-size:22px}
        .h-ok{color:#1b7f3b}.h-degraded{color:#b26a00}.h-error,.revoked{color:#b3261e}.h-stale,.h-unknown{color:#6b7480}
        .tag{display:inline-block;background:#e1ecf7;border-radius:4px;padding:0 6px;margin:1px 2px;font-size:12px}
        .muted{color:#6b7480}
        form.inline{display:inline;margin:0}
        button{cursor:pointer}
        .login{max-width:380px;margin:80px auto}
        .login input{width:100%;box-sizing:border-box;padding:8px;margin:8px 0 12px;font-family:monospace}
        .error{color:#b3261e}
        """;

    public static string Login(string csrf, string? error)
    {
        var html = Begin("Sign in");
        html.Append("<main><section class=\"login\"><h2>Sign in to the fleet dashboard</h2>");
        if (error is not null)
        {
            html.Append("<p class=\"error\" id=\"login-error\">").Append(E(error)).Append("</p>");
        }

        html.Append("<form method=\"post\" action=\"/login\" id=\"login-form\">")
            .Append("<input type=\"hidden\" name=\"csrf\" value=\"").Append(E(csrf)).Append("\">")
            .Append("<label for=\"api_key\">API key (viewer or above)</label>")
            .Append("<input type=\"password\" id=\"api_key\" name=\"api_key\" autocomplete=\"off\" required placeholder=\"eak_…\">")
            .Append("<button type=\"submit\" id=\"sign-in\">Sign in</button></form></section></main>");
        return End(html);
    }

    public static string Overview(DashboardModel model)
    {
        var html = Begin("Fleet");
        html.Append("<main>");
        Counts(html, model.Devices);
        Devices(html, model);
        Errors(html, model);

        // Hook: further sections (rollouts, from the update issue) are IDashboardSection implementations.
        html.Append("<!-- sections: IDashboardSection (rollouts are added here by the update issue) -->");
        foreach (var (section, body) in model.Sections)
        {
            html.Append("<section id=\"").Append(E(section.Id)).Append("\"><h2>").Append(E(section.Title)).Append("</h2>").Append(body).Append("</section>");
        }

        html.Append("</main>");
        var page = End(html);
        var signedIn = $"<span>Signed in as <b id=\"who\">{E(model.KeyName)}</b> ({E(model.Role)})</span> "
            + "<form class=\"inline\" method=\"post\" action=\"/logout\">"
            + $"<input type=\"hidden\" name=\"csrf\" value=\"{E(model.Csrf)}\"><button type=\"submit\" id=\"sign-out\">Sign out</button></form>";
        return page.Replace("<!--header-->", signedIn, StringComparison.Ordinal);
    }

    private static void Counts(StringBuilder html, IReadOnlyList<DeviceSummary> devices)
    {
        html.Append("<section id=\"counts\"><h2>Fleet</h2><div class=\"counts\">");
        Count(html, "devices", "Devices", devices.Count);
        Count(html, "active", "Active", devices.Count(d => d.State == "active"));
        Count(html, "revoked", "Revoked", devices.Count(d => d.State == "revoked"));
        foreach (var health in new[] { "ok", "degraded", "error", "stale", "unknown" })
        {
            Count(html, "health-" + health, health, devices.Count(d => d.State == "active" && d.Health == health));
        }

        html.Append("</div></section>");
    }

    private static void Count(StringBuilder html, string id, string label, int value) =>
        html.Append("<div class=\"count\" id=\"count-").Append(id).Append("\"><b>").Append(value).Append("</b>").Append(E(label)).Append("</div>");

    private static void Devices(StringBuilder html, DashboardModel model)
    {
        html.Append("<section id=\"devices\"><h2>Devices</h2>");
        if (model.Devices.Count == 0)
        {
            html.Append("<p class=\"muted\">No devices enrolled yet. Create a token with <code>edgellm fleet tokens create</code> and run <code>edgellm enroll</code> on a device.</p></section>");
            return;
        }

        html.Append("<table><thead><tr><th>Device</th><th>State</th><th>Health</th><th>Last seen</th><th>Model</th><th>Agent</th><th>Tags</th></tr></thead><tbody>");
        foreach (var d in model.Devices)
        {
            html.Append("<tr data-device=\"").Append(E(d.DeviceId)).Append("\">")
                .Append("<td class=\"device-id\">").Append(E(d.DeviceId)).Append("</td>")
                .Append("<td class=\"state ").Append(d.State == "revoked" ? "revoked" : "").Append("\">").Append(E(d.State)).Append("</td>")
                .Append("<td class=\"health h-").Append(E(d.Health)).Append("\">").Append(E(d.Health)).Append("</td>")
                .Append("<td class=\"last-seen\">").Append(When(d.LastSeen, model.Now)).Append("</td>")
                .Append("<td class=\"model\">").Append(d.ModelName is null ? "<span class=\"muted\">—</span>" : E($"{d.ModelName} {d.ModelVersion}")).Append("</td>")
                .Append("<td class=\"agent\">").Append(d.AgentVersion is null ? "<span class=\"muted\">—</span>" : E(d.AgentVersion)).Append("</td>")
                .Append("<td class=\"tags\">");
            foreach (var tag in d.Tags)
            {
                html.Append("<span class=\"tag\">").Append(E(tag)).Append("</span>");
            }

            html.Append("</td></tr>");
        }

        html.Append("</tbody></table></section>");
    }

    private static void Errors(StringBuilder html, DashboardModel model)
    {
        html.Append("<section id=\"errors\"><h2>Recent errors</h2>");
        if (model.Errors.Count == 0)
        {
            html.Append("<p class=\"muted\">No errors reported.</p></section>");
            return;
        }

        html.Append("<table><thead><tr><th>When</th><th>Device</th><th>Event</th><th>Message</th></tr></thead><tbody>");
        foreach (var e in model.Errors)
        {
            html.Append("<tr class=\"error-row\"><td>").Append(When(e.At, model.Now)).Append("</td><td>").Append(E(e.DeviceId))
                .Append("</td><td>").Append(E(e.Name)).Append("</td><td class=\"error-message\">").Append(E(e.Message)).Append("</td></tr>");
        }

        html.Append("</tbody></table></section>");
    }

    /// <summary>The text of an error event: its <c>message</c> field, else its data as JSON, else nothing.</summary>
    public static string ErrorMessage(TelemetryItem item)
    {
        if (item.Data is not { } data)
        {
            return "";
        }

        if (data.ValueKind == JsonValueKind.Object && data.TryGetProperty("message", out var message) && message.ValueKind == JsonValueKind.String)
        {
            return message.GetString() ?? "";
        }

        return data.ValueKind == JsonValueKind.String ? data.GetString() ?? "" : data.GetRawText();
    }

    private static string When(DateTimeOffset? at, DateTimeOffset now)
    {
        if (at is not { } t)
        {
            return "<span class=\"muted\">never</span>";
        }

        var ago = now - t;
        var relative = ago < TimeSpan.FromMinutes(1) ? "just now"
            : ago < TimeSpan.FromHours(1) ? $"{(int)ago.TotalMinutes} min ago"
            : ago < TimeSpan.FromDays(1) ? $"{(int)ago.TotalHours} h ago"
            : $"{(int)ago.TotalDays} d ago";
        return $"<time datetime=\"{t.UtcDateTime:O}\" title=\"{t.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture)} UTC\">{relative}</time>";
    }

    private static StringBuilder Begin(string title) => new StringBuilder(8192)
        .Append("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\">")
        .Append("<title>").Append(E(title)).Append(" · EdgeLLM fleet</title><style>").Append(Style).Append("</style></head><body>")
        .Append("<header><h1>EdgeLLM fleet</h1><!--header--></header>");

    private static string End(StringBuilder html) => html.Append("</body></html>").ToString();

    private static string E(string? text) => HtmlEncoder.Default.Encode(text ?? "");
}
