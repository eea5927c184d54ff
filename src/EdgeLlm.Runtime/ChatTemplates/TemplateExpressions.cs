using System.Text;

namespace EdgeLlm.Runtime.ChatTemplates;

/// <summary>An expression of the compiled template; evaluation follows Jinja on Python.</summary>
internal abstract class Expr(int line)
{
    public int Line { get; } = line;

    public abstract object? Evaluate(RenderContext ctx);
}

internal sealed class ConstExpr(int line, object? value) : Expr(line)
{
    public object? Value { get; } = value;

    public override object? Evaluate(RenderContext ctx) => Value;
}

internal sealed class NameExpr(int line, string name) : Expr(line)
{
    public string Name { get; } = name;

    public override object? Evaluate(RenderContext ctx) => ctx.Scope.Lookup(Name);
}

internal sealed class ListExpr(int line, List<Expr> items) : Expr(line)
{
    public List<Expr> Items { get; } = items;

    public override object? Evaluate(RenderContext ctx) => Items.Select(i => i.Evaluate(ctx)).ToList();
}

internal sealed class TupleExpr(int line, List<Expr> items) : Expr(line)
{
    public List<Expr> Items { get; } = items;

    public override object? Evaluate(RenderContext ctx) => new TemplateTuple([.. Items.Select(i => i.Evaluate(ctx))]);
}

internal sealed class DictExpr(int line, List<(Expr Key, Expr Value)> pairs) : Expr(line)
{
    public override object? Evaluate(RenderContext ctx)
    {
        var d = new TemplateDict();
        foreach (var (k, v) in pairs)
        {
            d[k.Evaluate(ctx) ?? throw new TemplateRuntimeException("None cannot be a dict key here")] = v.Evaluate(ctx);
        }

        return d;
    }
}

internal sealed class AttributeExpr(int line, Expr target, string name) : Expr(line)
{
    public override object? Evaluate(RenderContext ctx) => TemplateAccess.GetAttribute(target.Evaluate(ctx), name);
}

internal sealed class IndexExpr(int line, Expr target, Expr index) : Expr(line)
{
    public override object? Evaluate(RenderContext ctx) => TemplateAccess.GetItem(target.Evaluate(ctx), index.Evaluate(ctx));
}

internal sealed class SliceExpr(int line, Expr target, Expr? start, Expr? stop, Expr? step) : Expr(line)
{
    public override object? Evaluate(RenderContext ctx) =>
        TemplateAccess.Slice(target.Evaluate(ctx), start?.Evaluate(ctx), stop?.Evaluate(ctx), step?.Evaluate(ctx));
}

/// <summary>Call arguments as written: positional, keyword, and <c>*args</c>/<c>**kwargs</c> spreads.</summary>
internal sealed class ArgumentList(List<Expr> positional, List<(string Name, Expr Value)> named, Expr? spread, Expr? spreadNamed)
{
    public static readonly ArgumentList None = new([], [], null, null);

    public CallArguments Evaluate(RenderContext ctx)
    {
        if (positional.Count == 0 && named.Count == 0 && spread is null && spreadNamed is null)
        {
            return CallArguments.Empty;
        }

        var pos = positional.Select(p => p.Evaluate(ctx)).ToList();
        if (spread is not null)
        {
            pos.AddRange(TemplateOps.ToList(spread.Evaluate(ctx)));
        }

        var kw = new Dictionary<string, object?>(StringComparer.Ordinal);
        foreach (var (name, value) in named)
        {
            kw[name] = value.Evaluate(ctx);
        }

        if (spreadNamed?.Evaluate(ctx) is TemplateDict d)
        {
            foreach (var (k, v) in d)
            {
                kw[TemplateOps.ToStr(k)] = v;
            }
        }

        return new CallArguments(pos, kw);
    }
}

internal sealed class CallExpr(int line, Expr callee, ArgumentList args) : Expr(line)
{
    public Expr Callee { get; } = callee;

    public ArgumentList Args { get; } = args;

    public override object? Evaluate(RenderContext ctx)
    {
        var f = Callee.Evaluate(ctx);
        return f switch
        {
            TemplateCallable c => c.Invoke(Args.Evaluate(ctx)),
            Undefined u => throw new TemplateRuntimeException(u.Hint),
            _ => throw new TemplateRuntimeException($"'{TemplateOps.TypeName(f)}' object is not callable"),
        };
    }
}

internal sealed class FilterExpr(int line, Expr? target, string name, ArgumentList args) : Expr(line)
{
    public Expr? Target { get; } = target;

    public override object? Evaluate(RenderContext ctx) => Apply(ctx, Target!.Evaluate(ctx));

    /// <summary>Applies this filter to a value (filter blocks and block sets pass the rendered body).</summary>
    public object? Apply(RenderContext ctx, object? value) =>
        TemplateFilters.Apply(name, value, args.Evaluate(ctx));
}

internal sealed class TestExpr(int line, Expr target, string name, ArgumentList args, bool negated) : Expr(line)
{
    public override object? Evaluate(RenderContext ctx)
    {
        var result = TemplateTests.Run(name, target.Evaluate(ctx), args.Evaluate(ctx));
        return negated ? !result : result;
    }
}

internal sealed class UnaryExpr(int line, string op, Expr operand) : Expr(line)
{
    public override object? Evaluate(RenderContext ctx)
    {
        var v = operand.Evaluate(ctx);
        return op switch
        {
            "not" => !TemplateOps.IsTrue(v),
            "-" => v switch
            {
                long l => (object)(-l),
                bool b => b ? -1L : 0L,
                double d => -d,
                _ => throw TemplateArithmetic.Unsupported("unary -", v),
            },
            _ => TemplateOps.IsNumber(v) ? (v is bool b2 ? (b2 ? 1L : 0L) : v) : throw TemplateArithmetic.Unsupported("unary +", v),
        };
    }
}

internal sealed class BinaryExpr(int line, string op, Expr left, Expr right) : Expr(line)
{
    public override object? Evaluate(RenderContext ctx)
    {
        switch (op)
        {
            case "and":
                var a = left.Evaluate(ctx);
                return TemplateOps.IsTrue(a) ? right.Evaluate(ctx) : a;
            case "or":
                var o = left.Evaluate(ctx);
                return TemplateOps.IsTrue(o) ? o : right.Evaluate(ctx);
            case "~":
                return TemplateOps.ToStr(left.Evaluate(ctx)) + TemplateOps.ToStr(right.Evaluate(ctx));
            default:
                return TemplateArithmetic.Binary(op, left.Evaluate(ctx), right.Evaluate(ctx));
        }
    }
}

/// <summary>A comparison chain: <c>a &lt; b &lt;= c</c> holds when each adjacent pair does.</summary>
internal sealed class CompareExpr(int line, Expr first, List<(string Op, Expr Operand)> rest) : Expr(line)
{
    public override object? Evaluate(RenderContext ctx)
    {
        var left = first.Evaluate(ctx);
        foreach (var (op, operand) in rest)
        {
            var right = operand.Evaluate(ctx);
            var holds = op switch
            {
                "==" => TemplateOps.AreEqual(left, right),
                "!=" => !TemplateOps.AreEqual(left, right),
                "<" => TemplateOps.Compare(left, right) < 0,
                "<=" => TemplateOps.Compare(left, right) <= 0,
                ">" => TemplateOps.Compare(left, right) > 0,
                ">=" => TemplateOps.Compare(left, right) >= 0,
                "in" => TemplateOps.Contains(right, left),
                _ => !TemplateOps.Contains(right, left),
            };
            if (!holds)
            {
                return false;
            }

            left = right;
        }

        return true;
    }
}

internal sealed class ConditionalExpr(int line, Expr test, Expr then, Expr? otherwise) : Expr(line)
{
    public override object? Evaluate(RenderContext ctx)
    {
        if (TemplateOps.IsTrue(test.Evaluate(ctx)))
        {
            return then.Evaluate(ctx);
        }

        return otherwise is null ? new Undefined("the inline if-expression evaluated to false and no else section was defined") : otherwise.Evaluate(ctx);
    }
}

/// <summary>Python arithmetic on template values, including <c>str * int</c>, list concatenation and <c>'%s' % x</c>.</summary>
internal static class TemplateArithmetic
{
    public static TemplateRuntimeException Unsupported(string op, object? a, object? b = null)
    {
        if (a is Undefined ua)
        {
            return new TemplateRuntimeException(ua.Hint);
        }

        if (b is Undefined ub)
        {
            return new TemplateRuntimeException(ub.Hint);
        }

        return op == "+" && a is string
            ? new TemplateRuntimeException($"can only concatenate str (not \"{TemplateOps.TypeName(b)}\") to str")
            : new TemplateRuntimeException($"unsupported operand type(s) for {op}: '{TemplateOps.TypeName(a)}'" + (op.StartsWith("unary", StringComparison.Ordinal) ? "" : $" and '{TemplateOps.TypeName(b)}'"));
    }

    public static object? Binary(string op, object? a, object? b)
    {
        if (TemplateOps.IsNumber(a) && TemplateOps.IsNumber(b))
        {
            return Numeric(op, a, b);
        }

        switch (op, a, b)
        {
            case ("+", string x, string y):
                return x + y;
            case ("+", List<object?> x, List<object?> y):
                return x.Concat(y).ToList();
            case ("+", TemplateTuple x, TemplateTuple y):
                return new TemplateTuple([.. x.Items, .. y.Items]);
            case ("*", string x, _) when TemplateOps.IsInteger(b):
                return Repeat(x, TemplateOps.AsLong(b));
            case ("*", _, string y) when TemplateOps.IsInteger(a):
                return Repeat(y, TemplateOps.AsLong(a));
            case ("*", List<object?> x, _) when TemplateOps.IsInteger(b):
                return Enumerable.Repeat(x, (int)Math.Max(0, TemplateOps.AsLong(b))).SelectMany(l => l).ToList();
            case ("%", string format, _):
                return PercentFormat.Format(format, b);
            default:
                throw Unsupported(op, a, b);
        }
    }

    private static string Repeat(string s, long n)
    {
        var sb = new StringBuilder();
        for (var i = 0; i < n; i++)
        {
            sb.Append(s);
        }

        return sb.ToString();
    }

    private static object Numeric(string op, object? a, object? b)
    {
        if (TemplateOps.IsInteger(a) && TemplateOps.IsInteger(b) && op != "/")
        {
            var x = TemplateOps.AsLong(a);
            var y = TemplateOps.AsLong(b);
            switch (op)
            {
                // Python integers never overflow; failing beats printing a wrapped-around number.
                case "+": return checked(x + y);
                case "-": return checked(x - y);
                case "*": return checked(x * y);
                case "//":
                    if (y == 0)
                    {
                        throw new TemplateRuntimeException("integer division or modulo by zero");
                    }

                    return FloorDiv(x, y);
                case "%":
                    if (y == 0)
                    {
                        throw new TemplateRuntimeException("integer division or modulo by zero");
                    }

                    return x - (FloorDiv(x, y) * y);
                case "**":
                    return y >= 0 ? IntPower(x, y) : (object)Math.Pow(x, y);
            }
        }

        var p = TemplateOps.AsDouble(a);
        var q2 = TemplateOps.AsDouble(b);
        if (q2 == 0 && op is "/" or "//" or "%")
        {
            throw new TemplateRuntimeException(op == "/" ? "division by zero" : "float floor division by zero");
        }

        return op switch
        {
            "+" => p + q2,
            "-" => p - q2,
            "*" => p * q2,
            "/" => p / q2,
            "//" => Math.Floor(p / q2),
            "%" => p - (Math.Floor(p / q2) * q2),
            _ => Math.Pow(p, q2),
        };
    }

    private static long FloorDiv(long x, long y)
    {
        var q = x / y;
        return (x % y != 0) && ((x < 0) != (y < 0)) ? q - 1 : q;
    }

    private static long IntPower(long x, long y)
    {
        long result = 1;
        for (var i = 0L; i < y; i++)
        {
            result = checked(result * x);
        }

        return result;
    }
}
