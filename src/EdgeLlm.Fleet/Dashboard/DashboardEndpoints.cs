using System.Security.Cryptography;
using System.Text;
using EdgeLlm.Contracts.Fleet;
using EdgeLlm.Fleet.Api;
using EdgeLlm.Fleet.Auth;
using EdgeLlm.Fleet.Hosting;
using EdgeLlm.Fleet.Storage;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.Options;

namespace EdgeLlm.Fleet.Dashboard;

/// <summary>
/// The dashboard at <c>/</c> with sign-in at <c>/login</c>. The session cookie holds the API key (HttpOnly,
/// SameSite=Strict) and is checked against the store on every request, so revoking the key ends the session.
/// Login and logout forms carry a double-submit CSRF token and must come from the same origin.
/// </summary>
internal sealed class DashboardEndpoints(
    IFleetStore store,
    TimeProvider time,
    IOptions<FleetOptions> options,
    DeviceViews views,
    IEnumerable<IDashboardSection> sections,
    ILogger<DashboardEndpoints> logger)
{
    public const string SessionCookie = "edgellm_fleet_session";
    public const string CsrfCookie = "edgellm_fleet_csrf";
    private const int MaxFormBytes = 8 * 1024;

    public static void Map(IEndpointRouteBuilder app)
    {
        var dashboard = app.ServiceProvider.GetRequiredService<DashboardEndpoints>();
        var group = app.MapGroup("").ExcludeFromDescription().AddEndpointFilter(async (context, next) =>
        {
            var headers = context.HttpContext.Response.Headers;
            headers.ContentSecurityPolicy = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
            headers.XContentTypeOptions = "nosniff";
            headers.CacheControl = "no-store";
            // same-origin, not no-referrer: with no-referrer Chromium sends 'Origin: null' on form posts.
            headers["Referrer-Policy"] = "same-origin";
            return await next(context);
        });
        group.MapGet("/", FleetResults.Handler(dashboard.OverviewAsync));
        group.MapGet("/login", (HttpContext c) => Html(DashboardPage.Login(Csrf(c), null)));
        group.MapPost("/login", FleetResults.Handler(dashboard.LoginAsync));
        group.MapPost("/logout", FleetResults.Handler(LogoutAsync));
    }

    private async Task<IResult> OverviewAsync(HttpContext context)
    {
        var ct = context.RequestAborted;
        var key = await SessionKeyAsync(context);
        if (key is null)
        {
            return TypedResults.Redirect("/login");
        }

        var devices = await store.ListDevicesAsync(ct);
        var errors = await store.RecentErrorsAsync(options.Value.DashboardErrors, ct);
        var rendered = new List<(IDashboardSection, string)>();
        foreach (var section in sections)
        {
            rendered.Add((section, await section.RenderHtmlAsync(ct)));
        }

        var model = new DashboardModel(
            key.Name,
            key.Role,
            [.. devices.Select(views.Summary)],
            [.. errors.Select(e => new DashboardError(e.DeviceId, e.Item.Ts, e.Item.Name, DashboardPage.ErrorMessage(e.Item)))],
            rendered,
            Csrf(context),
            time.GetUtcNow());
        return Html(DashboardPage.Overview(model));
    }

    private async Task<IResult> LoginAsync(HttpContext context)
    {
        var (form, error) = await ReadFormAsync(context);
        if (form is null)
        {
            return error!;
        }

        var key = await FleetAuth.FindKeyAsync(store, form.GetValueOrDefault("api_key").ToString().Trim(), context.RequestAborted);
        if (key is null || !FleetAuth.Allows(key, FleetRoles.Viewer))
        {
            Log.SignInRefused(logger, context.Connection.RemoteIpAddress?.ToString() ?? "?");
            return Html(DashboardPage.Login(Csrf(context), "That API key is unknown or revoked."), StatusCodes.Status401Unauthorized);
        }

        context.Response.Cookies.Append(SessionCookie, form["api_key"].ToString().Trim(), CookieOptions(context));
        return SeeOther("/");
    }

    private static async Task<IResult> LogoutAsync(HttpContext context)
    {
        var (form, error) = await ReadFormAsync(context);
        if (form is null)
        {
            return error!;
        }

        context.Response.Cookies.Delete(SessionCookie, CookieOptions(context));
        return SeeOther("/login");
    }

    private Task<ApiKeyRecord?> SessionKeyAsync(HttpContext context)
    {
        var secret = context.Request.Cookies[SessionCookie];
        return secret is { Length: > 0 and <= Secrets.MaxLength }
            ? FleetAuth.FindKeyAsync(store, secret, context.RequestAborted)
            : Task.FromResult<ApiKeyRecord?>(null);
    }

    /// <summary>A same-origin urlencoded form whose csrf field matches the CSRF cookie; else the 400/403 to answer.</summary>
    private static async Task<(Dictionary<string, Microsoft.Extensions.Primitives.StringValues>? Form, IResult? Error)> ReadFormAsync(HttpContext context)
    {
        var request = context.Request;
        if (request.Headers.Origin is { Count: > 0 } origin && origin.ToString() != $"{request.Scheme}://{request.Host}")
        {
            return (null, Text("Cross-origin form posts are refused.", StatusCodes.Status403Forbidden));
        }

        if (!string.Equals(request.ContentType?.Split(';')[0].Trim(), "application/x-www-form-urlencoded", StringComparison.OrdinalIgnoreCase))
        {
            return (null, Text("Expected a form post.", StatusCodes.Status400BadRequest));
        }

        var (bytes, error) = await RequestBody.ReadBytesAsync(request, MaxFormBytes, context.RequestAborted);
        if (error is not null)
        {
            return (null, error);
        }

        string text;
        try
        {
            text = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(bytes);
        }
        catch (DecoderFallbackException)
        {
            return (null, Text("The form is not valid UTF-8.", StatusCodes.Status400BadRequest));
        }

        var form = QueryHelpers.ParseQuery(text);
        var sent = form.GetValueOrDefault("csrf").ToString();
        var expected = request.Cookies[CsrfCookie] ?? "";
        if (expected.Length == 0 || !CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(sent), Encoding.UTF8.GetBytes(expected)))
        {
            return (null, Text("The form has expired: reload the page and try again.", StatusCodes.Status403Forbidden));
        }

        return (form, null);
    }

    /// <summary>The browser's CSRF token, set as a cookie on first sight.</summary>
    private static string Csrf(HttpContext context)
    {
        var token = context.Request.Cookies[CsrfCookie];
        if (token is { Length: 43 })
        {
            return token;
        }

        token = System.Buffers.Text.Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(32));
        context.Response.Cookies.Append(CsrfCookie, token, CookieOptions(context));
        return token;
    }

    private static CookieOptions CookieOptions(HttpContext context) => new()
    {
        HttpOnly = true,
        SameSite = SameSiteMode.Strict,
        Secure = context.Request.IsHttps,
        Path = "/",
        IsEssential = true,
    };

    private static SeeOtherResult SeeOther(string location) => new SeeOtherResult(location);

    private static ContentHttpResult Html(string html, int status = StatusCodes.Status200OK) =>
        TypedResults.Content(html, "text/html; charset=utf-8", Encoding.UTF8, status);

    private static ContentHttpResult Text(string text, int status) => TypedResults.Content(text, "text/plain; charset=utf-8", Encoding.UTF8, status);

    /// <summary>303: after a form post the browser follows with a GET.</summary>
    private sealed class SeeOtherResult(string location) : IResult
    {
        public Task ExecuteAsync(HttpContext httpContext)
        {
            httpContext.Response.StatusCode = StatusCodes.Status303SeeOther;
            httpContext.Response.Headers.Location = location;
            return Task.CompletedTask;
        }
    }
}
