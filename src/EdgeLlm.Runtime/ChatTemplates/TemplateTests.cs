namespace EdgeLlm.Runtime.ChatTemplates;

/// <summary>Jinja's tests: the names after <c>is</c>, also usable in select/reject/selectattr/rejectattr.</summary>
internal static class TemplateTests
{
    public static readonly IReadOnlySet<string> Names = new HashSet<string>(StringComparer.Ordinal)
    {
        "defined", "undefined", "none", "string", "number", "integer", "float", "mapping", "iterable", "sequence",
        "boolean", "true", "false", "equalto", "eq", "==", "ne", "!=", "lt", "<", "le", "<=", "gt", ">", "ge", ">=",
        "in", "odd", "even", "divisibleby", "lower", "upper", "callable", "sameas",
    };

    public static bool Run(string name, object? v, CallArguments args)
    {
        object? Arg() => args.Positional.Count > 0 ? args.Positional[0] : args.Named.Values.FirstOrDefault();
        return name switch
        {
            "defined" => v is not Undefined,
            "undefined" => v is Undefined,
            "none" => v is null,
            "string" => v is string,
            "number" => v is long or double,
            "integer" => v is long,
            "float" => v is double,
            "boolean" => v is bool,
            "true" => v is true,
            "false" => v is false,
            "mapping" => v is TemplateDict,
            "iterable" => TemplateOps.IsIterable(v),
            "sequence" => v is List<object?> or TemplateTuple or TemplateDict or string,
            "callable" => v is TemplateCallable,
            "equalto" or "eq" or "==" => TemplateOps.AreEqual(v, Arg()),
            "ne" or "!=" => !TemplateOps.AreEqual(v, Arg()),
            "lt" or "<" => TemplateOps.Compare(v, Arg()) < 0,
            "le" or "<=" => TemplateOps.Compare(v, Arg()) <= 0,
            "gt" or ">" => TemplateOps.Compare(v, Arg()) > 0,
            "ge" or ">=" => TemplateOps.Compare(v, Arg()) >= 0,
            "sameas" => ReferenceEquals(v, Arg()) || (v is null && Arg() is null) || (v is bool a && Arg() is bool b && a == b),
            "in" => TemplateOps.Contains(Arg(), v),
            "odd" => TemplateOps.AsLong(Whole(v)) % 2 != 0,
            "even" => TemplateOps.AsLong(Whole(v)) % 2 == 0,
            "divisibleby" => TemplateOps.AsLong(Arg()) is var n && n != 0 ? TemplateOps.AsLong(Whole(v)) % n == 0 : throw new TemplateRuntimeException("integer division or modulo by zero"),
            "lower" => v is string s && string.Equals(s, s.ToLowerInvariant(), StringComparison.Ordinal),
            "upper" => v is string u && string.Equals(u, u.ToUpperInvariant(), StringComparison.Ordinal),
            _ => throw new TemplateRuntimeException($"No test named '{name}'."),
        };
    }

    private static object? Whole(object? v) => v is double d && d == Math.Floor(d) ? (long)d : v;
}
