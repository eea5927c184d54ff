using System.Text;

namespace EdgeLlm.Runtime.ChatTemplates;

internal enum Flow
{
    Normal,
    Break,
    Continue,
}

/// <summary>Variables visible at one point of rendering. A for-loop iteration, a macro call and a with-block
/// open a child scope, so their <c>set</c>s vanish when they end, as in Jinja; if-blocks do not.</summary>
internal sealed class Scope(Scope? parent)
{
    private readonly Dictionary<string, object?> _vars = new(StringComparer.Ordinal);

    public Scope? Parent { get; } = parent;

    public object? Lookup(string name)
    {
        for (var s = this; s is not null; s = s.Parent)
        {
            if (s._vars.TryGetValue(name, out var v))
            {
                return v;
            }
        }

        return Undefined.Named(name);
    }

    public void Set(string name, object? value) => _vars[name] = value;
}

/// <summary>The state of one render: where output goes, the current scope, the clock for strftime_now.</summary>
internal sealed class RenderContext(Scope scope, TimeProvider time)
{
    public Scope Scope { get; set; } = scope;

    public StringBuilder Output { get; set; } = new();

    public TimeProvider Time { get; } = time;

    /// <summary>Renders statements into a string of their own (block set, filter block, macro body).</summary>
    public string Capture(IReadOnlyList<Stmt> body, Scope scope)
    {
        var (savedOut, savedScope) = (Output, Scope);
        Output = new StringBuilder();
        Scope = scope;
        try
        {
            Stmt.ExecuteAll(body, this);
            return Output.ToString();
        }
        finally
        {
            (Output, Scope) = (savedOut, savedScope);
        }
    }
}

/// <summary>A statement of the compiled template.</summary>
internal abstract class Stmt(int line)
{
    public int Line { get; } = line;

    public abstract Flow Execute(RenderContext ctx);

    public static Flow ExecuteAll(IReadOnlyList<Stmt> body, RenderContext ctx)
    {
        // A macro that calls itself without end must fail the render, not overflow the stack and end the process.
        System.Runtime.CompilerServices.RuntimeHelpers.EnsureSufficientExecutionStack();
        foreach (var stmt in body)
        {
            Flow flow;
            try
            {
                flow = stmt.Execute(ctx);
            }
            catch (TemplateRuntimeException e)
            {
                throw new ChatTemplateLineException(stmt.Line, e);
            }
            catch (OverflowException)
            {
                throw new ChatTemplateLineException(stmt.Line, new TemplateRuntimeException("integer overflow: the result does not fit in 64 bits"));
            }
            catch (Exception e) when (e is InvalidCastException or ArgumentException or FormatException or IndexOutOfRangeException)
            {
                throw new ChatTemplateLineException(stmt.Line, new TemplateRuntimeException(e.Message));
            }

            if (flow != Flow.Normal)
            {
                return flow;
            }
        }

        return Flow.Normal;
    }
}

/// <summary>A runtime error tagged with the line of the innermost statement that failed; ChatTemplate adds the source name.</summary>
internal sealed class ChatTemplateLineException(int line, TemplateRuntimeException inner) : Exception(inner.Message, inner)
{
    public int Line { get; } = line;

    public TemplateRuntimeException Error { get; } = inner;
}

internal sealed class TextStmt(int line, string text) : Stmt(line)
{
    public override Flow Execute(RenderContext ctx)
    {
        ctx.Output.Append(text);
        return Flow.Normal;
    }
}

internal sealed class OutputStmt(int line, Expr expr) : Stmt(line)
{
    public override Flow Execute(RenderContext ctx)
    {
        ctx.Output.Append(TemplateOps.ToStr(expr.Evaluate(ctx)));
        return Flow.Normal;
    }
}

internal sealed class IfStmt(int line, List<(Expr Test, List<Stmt> Body)> branches, List<Stmt>? otherwise) : Stmt(line)
{
    public override Flow Execute(RenderContext ctx)
    {
        foreach (var (test, body) in branches)
        {
            if (TemplateOps.IsTrue(test.Evaluate(ctx)))
            {
                return ExecuteAll(body, ctx);
            }
        }

        return otherwise is null ? Flow.Normal : ExecuteAll(otherwise, ctx);
    }
}

/// <summary>What a for-loop or set assigns to: one name, or a tuple of names to unpack into.</summary>
internal sealed class AssignTarget(IReadOnlyList<string> names, bool isTuple)
{
    public void Assign(Scope scope, object? value)
    {
        if (!isTuple)
        {
            scope.Set(names[0], value);
            return;
        }

        var items = TemplateOps.ToList(value);
        if (items.Count != names.Count)
        {
            throw new TemplateRuntimeException(items.Count > names.Count
                ? $"too many values to unpack (expected {names.Count})"
                : $"not enough values to unpack (expected {names.Count}, got {items.Count})");
        }

        for (var i = 0; i < names.Count; i++)
        {
            scope.Set(names[i], items[i]);
        }
    }
}

internal sealed class ForStmt(int line, AssignTarget target, Expr iterable, Expr? filter, List<Stmt> body, List<Stmt>? otherwise) : Stmt(line)
{
    public override Flow Execute(RenderContext ctx)
    {
        var outer = ctx.Scope;
        var source = iterable.Evaluate(ctx);
        var items = source switch
        {
            TemplateDict or string or List<object?> or TemplateTuple or Undefined => TemplateOps.ToList(source),
            _ => throw new TemplateRuntimeException($"'{TemplateOps.TypeName(source)}' object is not iterable"),
        };
        if (source is List<object?> list)
        {
            // The body may append to the list it walks (Python would see the growth; chat templates never rely on it).
            items = [.. list];
        }

        if (filter is not null)
        {
            var kept = new List<object?>();
            foreach (var item in items)
            {
                var probe = new Scope(outer);
                target.Assign(probe, item);
                ctx.Scope = probe;
                if (TemplateOps.IsTrue(filter.Evaluate(ctx)))
                {
                    kept.Add(item);
                }
            }

            ctx.Scope = outer;
            items = kept;
        }

        try
        {
            for (var i = 0; i < items.Count; i++)
            {
                var scope = new Scope(outer);
                scope.Set("loop", new LoopContext(items, i));
                target.Assign(scope, items[i]);
                ctx.Scope = scope;
                if (ExecuteAll(body, ctx) == Flow.Break)
                {
                    break;
                }
            }
        }
        finally
        {
            ctx.Scope = outer;
        }

        return items.Count == 0 && otherwise is not null ? ExecuteAll(otherwise, ctx) : Flow.Normal;
    }
}

/// <summary>The <c>loop</c> variable inside a for-loop.</summary>
internal sealed class LoopContext(IReadOnlyList<object?> items, int index)
{
    public object? Get(string name) => name switch
    {
        "index" => (long)index + 1,
        "index0" => (long)index,
        "revindex" => (long)(items.Count - index),
        "revindex0" => (long)(items.Count - index - 1),
        "first" => index == 0,
        "last" => index == items.Count - 1,
        "length" => (long)items.Count,
        "depth" => 1L,
        "depth0" => 0L,
        "previtem" => index > 0 ? items[index - 1] : new Undefined("there is no previous item"),
        "nextitem" => index + 1 < items.Count ? items[index + 1] : new Undefined("there is no next item"),
        "cycle" => new TemplateCallable("loop.cycle", args =>
            args.Positional.Count == 0
                ? throw new TemplateRuntimeException("no items for cycling given")
                : args.Positional[index % args.Positional.Count]),
        _ => new Undefined($"'LoopContext' object has no attribute '{name}'"),
    };
}

internal sealed class SetStmt(int line, AssignTarget target, Expr value) : Stmt(line)
{
    public override Flow Execute(RenderContext ctx)
    {
        target.Assign(ctx.Scope, value.Evaluate(ctx));
        return Flow.Normal;
    }
}

internal sealed class NamespaceSetStmt(int line, string name, string attribute, Expr value) : Stmt(line)
{
    public override Flow Execute(RenderContext ctx)
    {
        if (ctx.Scope.Lookup(name) is not TemplateNamespace ns)
        {
            throw new TemplateRuntimeException($"cannot assign attribute '{attribute}' on '{name}': it is not a namespace() object");
        }

        ns.Attributes[attribute] = value.Evaluate(ctx);
        return Flow.Normal;
    }
}

internal sealed class BlockSetStmt(int line, AssignTarget target, List<FilterExpr> filters, List<Stmt> body) : Stmt(line)
{
    public override Flow Execute(RenderContext ctx)
    {
        object? value = ctx.Capture(body, ctx.Scope);
        foreach (var f in filters)
        {
            value = f.Apply(ctx, value);
        }

        target.Assign(ctx.Scope, value);
        return Flow.Normal;
    }
}

internal sealed class FilterBlockStmt(int line, List<FilterExpr> filters, List<Stmt> body) : Stmt(line)
{
    public override Flow Execute(RenderContext ctx)
    {
        object? value = ctx.Capture(body, ctx.Scope);
        foreach (var f in filters)
        {
            value = f.Apply(ctx, value);
        }

        ctx.Output.Append(TemplateOps.ToStr(value));
        return Flow.Normal;
    }
}

internal sealed class LoopControlStmt(int line, Flow flow) : Stmt(line)
{
    public override Flow Execute(RenderContext ctx) => flow;
}

/// <summary>A block that renders its body in place: <c>with</c> (in a child scope) and HF's <c>generation</c> marker.</summary>
internal sealed class ScopedBlockStmt(int line, List<(string Name, Expr Value)> assignments, List<Stmt> body, bool newScope) : Stmt(line)
{
    public override Flow Execute(RenderContext ctx)
    {
        if (!newScope)
        {
            return ExecuteAll(body, ctx);
        }

        var outer = ctx.Scope;
        var scope = new Scope(outer);
        foreach (var (name, value) in assignments)
        {
            scope.Set(name, value.Evaluate(ctx));
        }

        ctx.Scope = scope;
        try
        {
            return ExecuteAll(body, ctx);
        }
        finally
        {
            ctx.Scope = outer;
        }
    }
}

/// <summary>Parameters of a macro or a call block, with default expressions. As in Jinja, extra arguments are
/// accepted only when the body reads <c>varargs</c> (positional) or <c>kwargs</c> (keyword).</summary>
internal sealed class ParameterList(List<(string Name, Expr? Default)> parameters, bool takesVarargs, bool takesKwargs)
{
    public static readonly ParameterList None = new([], false, false);

    public Scope Bind(string owner, CallArguments args, Scope parent, RenderContext ctx)
    {
        var scope = new Scope(parent);
        var extra = new List<object?>();
        for (var i = 0; i < args.Positional.Count; i++)
        {
            if (i < parameters.Count)
            {
                scope.Set(parameters[i].Name, args.Positional[i]);
            }
            else if (takesVarargs)
            {
                extra.Add(args.Positional[i]);
            }
            else
            {
                throw new TemplateRuntimeException($"macro '{owner}' takes not more than {parameters.Count} argument(s)");
            }
        }

        var kwargs = new TemplateDict();
        foreach (var (name, value) in args.Named)
        {
            var at = parameters.FindIndex(p => p.Name == name);
            if (at >= 0 && at < args.Positional.Count)
            {
                throw new TemplateRuntimeException($"macro '{owner}' got multiple values for argument '{name}'");
            }

            if (at >= 0 || name == "caller")
            {
                scope.Set(name, value);
            }
            else if (takesKwargs)
            {
                kwargs[name] = value;
            }
            else
            {
                throw new TemplateRuntimeException($"macro '{owner}' takes no keyword argument '{name}'");
            }
        }

        var saved = ctx.Scope;
        ctx.Scope = scope;
        try
        {
            for (var i = args.Positional.Count; i < parameters.Count; i++)
            {
                var (name, dflt) = parameters[i];
                if (!args.Named.ContainsKey(name))
                {
                    scope.Set(name, dflt is null ? new Undefined($"parameter '{name}' was not provided") : dflt.Evaluate(ctx));
                }
            }
        }
        finally
        {
            ctx.Scope = saved;
        }

        scope.Set("varargs", extra);
        scope.Set("kwargs", kwargs);
        return scope;
    }
}

internal sealed class MacroStmt(int line, string name, ParameterList parameters, List<Stmt> body) : Stmt(line)
{
    public override Flow Execute(RenderContext ctx)
    {
        var defining = ctx.Scope;
        ctx.Scope.Set(name, new TemplateCallable(name, args =>
        {
            var scope = parameters.Bind(name, args, defining, ctx);
            if (!args.Named.ContainsKey("caller"))
            {
                scope.Set("caller", new Undefined("No caller defined"));
            }

            return ctx.Capture(body, scope);
        }));
        return Flow.Normal;
    }
}

internal sealed class CallBlockStmt(int line, CallExpr call, ParameterList parameters, List<Stmt> body) : Stmt(line)
{
    public override Flow Execute(RenderContext ctx)
    {
        var site = ctx.Scope;
        var caller = new TemplateCallable("caller", args => ctx.Capture(body, parameters.Bind("caller", args, site, ctx)));
        if (call.Callee.Evaluate(ctx) is not TemplateCallable target)
        {
            throw new TemplateRuntimeException("a call block needs a macro to call");
        }

        var args = call.Args.Evaluate(ctx);
        var named = new Dictionary<string, object?>(args.Named, StringComparer.Ordinal) { ["caller"] = caller };
        ctx.Output.Append(TemplateOps.ToStr(target.Invoke(new CallArguments(args.Positional, named))));
        return Flow.Normal;
    }
}
