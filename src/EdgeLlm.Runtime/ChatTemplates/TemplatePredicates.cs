namespace EdgeLlm.Runtime.ChatTemplates;

/// <summary>Jinja's tests (predicates): the names after <c>is</c>, also usable in select/reject/selectattr/rejectattr.</summary>
internal static class TemplatePredicates
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
            "number" => v is long or double or bool,
            "integer" => v is long,
            "float" => v is double,
            "boolean" => v is bool,
            "true" => v is true,
            "false" => v is false,
            "mapping" => v is TemplateDict,
            "iterable" => TemplateOps.IsIterable(v),
            "sequence" => v is List<object?> or TemplateTuple or TemplateDict or string or Undefined,
            "callable" => v is TemplateCallable,
            "equalto" or "eq" or "==" => TemplateOps.AreEqual(v, Arg()),
            "ne" or "!=" => !TemplateOps.AreEqual(v, Arg()),
            "lt" or "<" => TemplateOps.Compare(v, Arg()) < 0,
            "le" or "<=" => TemplateOps.Compare(v, Arg()) <= 0,
            "gt" or ">" => TemplateOps.Compare(v, Arg()) > 0,
            "ge" or ">=" => TemplateOps.Compare(v, Arg()) >= 0,
            "sameas" => ReferenceEquals(v, Arg()) || (v is null && Arg() is null) || (v is bool a && Arg() is bool b && a == b),
            "in" => TemplateOps.Contains(Arg(), v),
            "odd" => TemplateOps.AreEqual(TemplateArithmetic.Binary("%", v, 2L), 1L),
            "even" => TemplateOps.AreEqual(TemplateArithmetic.Binary("%", v, 2L), 0L),
            "divisibleby" => TemplateOps.AreEqual(TemplateArithmetic.Binary("%", v, Arg()), 0L),
            "lower" => v is string s && string.Equals(s, s.ToLowerInvariant(), StringComparison.Ordinal),
            "upper" => v is string u && string.Equals(u, u.ToUpperInvariant(), StringComparison.Ordinal),
            _ => throw new TemplateRuntimeException($"No test named '{name}'."),
        };
    }
}
