using System.Globalization;

namespace EdgeLlm.Runtime.ChatTemplates;

/// <summary>
/// Builds the statement tree from tokens with Jinja's grammar and operator precedence (loosest first):
/// conditional, or, and, not, comparisons and <c>in</c>, + -, ~, * / // %, **, unary minus, then filters,
/// tests and postfix access. Filters bind tighter than arithmetic: <c>messages|length - 1</c>.
/// </summary>
internal sealed class TemplateParser
{
    private static readonly HashSet<string> CompareOperators = ["==", "!=", "<", "<=", ">", ">="];

    private readonly List<Token> _tokens;
    private readonly string _name;
    private int _pos;

    private TemplateParser(List<Token> tokens, string name)
    {
        _tokens = tokens;
        _name = name;
    }

    public static List<Stmt> Parse(string source, string name)
    {
        var parser = new TemplateParser(TemplateLexer.Tokenize(source, name), name);
        var (body, _) = parser.ParseBody([], null);
        return body;
    }

    private Token Current => _tokens[_pos];

    private Token Next() => _tokens[_pos++];

    private ChatTemplateSyntaxException Error(string message, Token? at = null) => new(_name, (at ?? Current).Line, message);

    private Token Expect(TokenKind kind, string? value = null)
    {
        var t = Current;
        if (t.Kind != kind || (value is not null && t.Value != value))
        {
            var wanted = value is not null ? $"'{value}'" : kind switch
            {
                TokenKind.Name => "a name",
                TokenKind.BlockEnd => "end of statement block",
                TokenKind.VariableEnd => "end of print statement",
                _ => kind.ToString(),
            };
            throw Error($"expected {wanted}, got {t.Describe()}");
        }

        _pos++;
        return t;
    }

    private bool SkipIf(TokenKind kind, string value)
    {
        if (Current.Is(kind, value))
        {
            _pos++;
            return true;
        }

        return false;
    }

    // Parses statements until one of the end tags; returns the body and the end tag found (its name token consumed).
    private (List<Stmt> Body, string? EndTag) ParseBody(string[] endTags, string? innermost)
    {
        var body = new List<Stmt>();
        while (true)
        {
            var t = Current;
            switch (t.Kind)
            {
                case TokenKind.Data:
                    _pos++;
                    body.Add(new TextStmt(t.Line, t.Value));
                    break;
                case TokenKind.VariableBegin:
                    _pos++;
                    var expr = ParseTuple(allowConditional: true);
                    Expect(TokenKind.VariableEnd);
                    body.Add(new OutputStmt(t.Line, expr));
                    break;
                case TokenKind.BlockBegin:
                    _pos++;
                    var tag = Current;
                    if (tag.Kind == TokenKind.Name && endTags.Contains(tag.Value))
                    {
                        _pos++;
                        return (body, tag.Value);
                    }

                    body.Add(ParseStatement(endTags, innermost));
                    break;
                case TokenKind.End:
                    if (innermost is null)
                    {
                        return (body, null);
                    }

                    throw Error($"Unexpected end of template. Jinja was looking for the following tags: {Quoted(endTags)}. The innermost block that needs to be closed is '{innermost}'.");
                default:
                    throw Error($"unexpected {t.Describe()}");
            }
        }
    }

    private static string Quoted(string[] tags) => string.Join(" or ", tags.Select(t => $"'{t}'"));

    private Stmt ParseStatement(string[] enclosingEnds, string? innermost)
    {
        var tag = Current;
        if (!System.Runtime.CompilerServices.RuntimeHelpers.TryEnsureSufficientExecutionStack())
        {
            throw Error("blocks nested too deeply");
        }

        if (tag.Kind != TokenKind.Name)
        {
            throw Error("tag name expected");
        }

        _pos++;
        var line = tag.Line;
        switch (tag.Value)
        {
            case "if":
                return ParseIf(line);
            case "for":
                return ParseFor(line);
            case "set":
                return ParseSet(line);
            case "macro":
                return ParseMacro(line);
            case "call":
                return ParseCall(line);
            case "filter":
                var filters = ParseFilterChain(line);
                Expect(TokenKind.BlockEnd);
                return new FilterBlockStmt(line, filters, ParseBlockBody(["endfilter"], "filter"));
            case "break" or "continue":
                Expect(TokenKind.BlockEnd);
                return new LoopControlStmt(line, tag.Value == "break" ? Flow.Break : Flow.Continue);
            case "with":
                var assignments = new List<(string, Expr)>();
                while (Current.Kind != TokenKind.BlockEnd)
                {
                    if (assignments.Count > 0)
                    {
                        Expect(TokenKind.Operator, ",");
                    }

                    var target = Expect(TokenKind.Name).Value;
                    Expect(TokenKind.Operator, "=");
                    assignments.Add((target, ParseExpression()));
                }

                Expect(TokenKind.BlockEnd);
                return new ScopedBlockStmt(line, assignments, ParseBlockBody(["endwith"], "with"), newScope: true);
            case "generation":
                // Hugging Face's AssistantTracker tag: marks assistant text for masks; rendering passes it through.
                Expect(TokenKind.BlockEnd);
                return new ScopedBlockStmt(line, [], ParseBlockBody(["endgeneration"], "generation"), newScope: false);
            case "include" or "import" or "from" or "extends" or "block":
                throw Error($"the '{tag.Value}' tag is not supported in chat templates (they are a single self-contained template)", tag);
            default:
                var message = $"Encountered unknown tag '{tag.Value}'.";
                if (innermost is not null)
                {
                    message += $" Jinja was looking for the following tags: {Quoted(enclosingEnds)}. The innermost block that needs to be closed is '{innermost}'.";
                }

                throw Error(message, tag);
        }
    }

    private List<Stmt> ParseBlockBody(string[] endTags, string innermost)
    {
        var (body, _) = ParseBody(endTags, innermost);
        Expect(TokenKind.BlockEnd);
        return body;
    }

    private IfStmt ParseIf(int line)
    {
        var branches = new List<(Expr, List<Stmt>)>();
        List<Stmt>? otherwise = null;
        var test = ParseTuple(allowConditional: false);
        while (true)
        {
            Expect(TokenKind.BlockEnd);
            var (body, end) = ParseBody(["elif", "else", "endif"], "if");
            branches.Add((test, body));
            if (end == "elif")
            {
                test = ParseTuple(allowConditional: false);
                continue;
            }

            if (end == "else")
            {
                Expect(TokenKind.BlockEnd);
                otherwise = ParseBlockBody(["endif"], "if");
            }
            else
            {
                Expect(TokenKind.BlockEnd);
            }

            return new IfStmt(line, branches, otherwise);
        }
    }

    private AssignTarget ParseTarget()
    {
        var names = new List<string>();
        var parenthesized = SkipIf(TokenKind.Operator, "(");
        var isTuple = parenthesized;
        do
        {
            if (parenthesized && Current.IsOperator(")"))
            {
                break;
            }

            names.Add(Expect(TokenKind.Name).Value);
        }
        while (SkipIf(TokenKind.Operator, ",") && (isTuple = true));

        if (parenthesized)
        {
            Expect(TokenKind.Operator, ")");
        }

        return new AssignTarget(names, isTuple);
    }

    private ForStmt ParseFor(int line)
    {
        var target = ParseTarget();
        Expect(TokenKind.Name, "in");
        var iterable = ParseTuple(allowConditional: false, stopAtIf: true);
        Expr? filter = null;
        if (SkipIf(TokenKind.Name, "if"))
        {
            filter = ParseExpression(allowConditional: false);
        }

        if (Current.IsName("recursive"))
        {
            throw Error("recursive for-loops are not supported");
        }

        Expect(TokenKind.BlockEnd);
        var (body, end) = ParseBody(["endfor", "else"], "for");
        List<Stmt>? otherwise = null;
        Expect(TokenKind.BlockEnd);
        if (end == "else")
        {
            otherwise = ParseBlockBody(["endfor"], "for");
        }

        return new ForStmt(line, target, iterable, filter, body, otherwise);
    }

    private Stmt ParseSet(int line)
    {
        if (Current.Kind == TokenKind.Name && _tokens[_pos + 1].IsOperator("."))
        {
            var ns = Next().Value;
            _pos++;
            var attribute = Expect(TokenKind.Name).Value;
            Expect(TokenKind.Operator, "=");
            var value = ParseTuple(allowConditional: true);
            Expect(TokenKind.BlockEnd);
            return new NamespaceSetStmt(line, ns, attribute, value);
        }

        var target = ParseTarget();
        if (SkipIf(TokenKind.Operator, "="))
        {
            var value = ParseTuple(allowConditional: true);
            Expect(TokenKind.BlockEnd);
            return new SetStmt(line, target, value);
        }

        var filters = Current.IsOperator("|") ? ParseFilterChain(line, leadingPipe: true) : [];
        Expect(TokenKind.BlockEnd);
        return new BlockSetStmt(line, target, filters, ParseBlockBody(["endset"], "set"));
    }

    private List<FilterExpr> ParseFilterChain(int line, bool leadingPipe = false)
    {
        var filters = new List<FilterExpr>();
        do
        {
            if (leadingPipe || filters.Count > 0)
            {
                Expect(TokenKind.Operator, "|");
            }

            filters.Add(ParseFilterCall(line, null));
        }
        while (Current.IsOperator("|"));

        return filters;
    }

    // The body's tokens decide whether extra arguments are welcome (Jinja checks for varargs/kwargs the same way).
    private ParameterList ParseParameters(Func<(int Start, int End)> parseBody)
    {
        var parameters = new List<(string, Expr?)>();
        Expect(TokenKind.Operator, "(");
        while (!SkipIf(TokenKind.Operator, ")"))
        {
            if (parameters.Count > 0)
            {
                Expect(TokenKind.Operator, ",");
                if (SkipIf(TokenKind.Operator, ")"))
                {
                    break;
                }
            }

            var name = Expect(TokenKind.Name).Value;
            parameters.Add((name, SkipIf(TokenKind.Operator, "=") ? ParseExpression() : null));
        }

        var (start, end) = parseBody();
        var body = _tokens.Skip(start).Take(end - start).Where(t => t.Kind == TokenKind.Name).ToList();
        return new ParameterList(parameters, body.Any(t => t.Value == "varargs"), body.Any(t => t.Value == "kwargs"));
    }

    private MacroStmt ParseMacro(int line)
    {
        var name = Expect(TokenKind.Name).Value;
        List<Stmt> body = [];
        var parameters = ParseParameters(() =>
        {
            Expect(TokenKind.BlockEnd);
            var start = _pos;
            body = ParseBlockBody(["endmacro"], "macro");
            return (start, _pos);
        });
        return new MacroStmt(line, name, parameters, body);
    }

    private CallBlockStmt ParseCall(int line)
    {
        // The caller's parameters come before the call expression, but the body after it decides about varargs.
        var parameterStart = _pos;
        if (Current.IsOperator("("))
        {
            SkipBalanced();
        }

        var call = ParseExpression() as CallExpr ?? throw Error("expected a macro call after 'call'");
        Expect(TokenKind.BlockEnd);
        var bodyStart = _pos;
        var body = ParseBlockBody(["endcall"], "call");
        var afterBody = _pos;
        var parameters = ParameterList.None;
        if (_tokens[parameterStart].IsOperator("("))
        {
            _pos = parameterStart;
            parameters = ParseParameters(() => (bodyStart, afterBody));
        }

        _pos = afterBody;
        return new CallBlockStmt(line, call, parameters, body);
    }

    private void SkipBalanced()
    {
        var depth = 0;
        do
        {
            var t = Next();
            depth += t.IsOperator("(") ? 1 : t.IsOperator(")") ? -1 : 0;
        }
        while (depth > 0 && Current.Kind != TokenKind.End);
    }

    // A comma-separated expression list becomes a tuple: {{ a, b }}, {% set x = 1, 2 %}, {% for x in a, b %}.
    private Expr ParseTuple(bool allowConditional, bool stopAtIf = false)
    {
        var line = Current.Line;
        var first = ParseExpression(allowConditional && !stopAtIf);
        if (!Current.IsOperator(","))
        {
            return first;
        }

        var items = new List<Expr> { first };
        while (SkipIf(TokenKind.Operator, ","))
        {
            if (Current.Kind is TokenKind.BlockEnd or TokenKind.VariableEnd || Current.IsOperator(")") || (stopAtIf && Current.IsName("if")))
            {
                break;
            }

            items.Add(ParseExpression(allowConditional && !stopAtIf));
        }

        return new TupleExpr(line, items);
    }

    private Expr ParseExpression(bool allowConditional = true)
    {
        var line = Current.Line;
        var expr = ParseOr();
        while (allowConditional && Current.IsName("if"))
        {
            _pos++;
            var test = ParseOr();
            Expr? otherwise = SkipIf(TokenKind.Name, "else") ? ParseExpression() : null;
            expr = new ConditionalExpr(line, test, expr, otherwise);
        }

        return expr;
    }

    private Expr ParseOr() => ParseLeftAssociative(ParseAnd, TokenKind.Name, "or");

    private Expr ParseAnd() => ParseLeftAssociative(ParseNot, TokenKind.Name, "and");

    // One precedence level of left-associative binary operators: operand (op operand)*.
    private Expr ParseLeftAssociative(Func<Expr> operand, TokenKind kind, params string[] operators)
    {
        var left = operand();
        while (Current.Kind == kind && operators.Contains(Current.Value))
        {
            var t = Next();
            left = new BinaryExpr(t.Line, t.Value, left, operand());
        }

        return left;
    }

    private Expr ParseNot()
    {
        if (Current.IsName("not"))
        {
            var line = Next().Line;
            return new UnaryExpr(line, "not", ParseNot());
        }

        return ParseCompare();
    }

    private Expr ParseCompare()
    {
        var line = Current.Line;
        var first = ParseMath1();
        var rest = new List<(string, Expr)>();
        while (true)
        {
            if (Current.Kind == TokenKind.Operator && CompareOperators.Contains(Current.Value))
            {
                var op = Next().Value;
                rest.Add((op, ParseMath1()));
            }
            else if (Current.IsName("in"))
            {
                _pos++;
                rest.Add(("in", ParseMath1()));
            }
            else if (Current.IsName("not") && _tokens[_pos + 1].IsName("in"))
            {
                _pos += 2;
                rest.Add(("notin", ParseMath1()));
            }
            else
            {
                break;
            }
        }

        return rest.Count == 0 ? first : new CompareExpr(line, first, rest);
    }

    private Expr ParseMath1() => ParseLeftAssociative(ParseConcat, TokenKind.Operator, "+", "-");

    private Expr ParseConcat() => ParseLeftAssociative(ParseMath2, TokenKind.Operator, "~");

    private Expr ParseMath2() => ParseLeftAssociative(ParsePow, TokenKind.Operator, "*", "/", "//", "%");

    private Expr ParsePow() => ParseLeftAssociative(() => ParseUnary(withFilter: true), TokenKind.Operator, "**");

    private Expr ParseUnary(bool withFilter)
    {
        var t = Current;
        Expr expr;
        if (t.IsOperator("-") || t.IsOperator("+"))
        {
            _pos++;
            expr = new UnaryExpr(t.Line, t.Value, ParseUnary(withFilter: false));
        }
        else
        {
            expr = ParsePostfix(ParsePrimary());
        }

        return withFilter ? ParseFilterAndTests(expr) : expr;
    }

    private Expr ParsePrimary()
    {
        if (!System.Runtime.CompilerServices.RuntimeHelpers.TryEnsureSufficientExecutionStack())
        {
            throw Error("expression nested too deeply");
        }

        var t = Next();
        switch (t.Kind)
        {
            case TokenKind.Name:
                return t.Value switch
                {
                    "true" or "True" => new ConstExpr(t.Line, true),
                    "false" or "False" => new ConstExpr(t.Line, false),
                    "none" or "None" => new ConstExpr(t.Line, null),
                    _ => new NameExpr(t.Line, t.Value),
                };
            case TokenKind.String:
                var s = t.Value;
                while (Current.Kind == TokenKind.String)
                {
                    s += Next().Value;
                }

                return new ConstExpr(t.Line, s);
            case TokenKind.Integer:
                return long.TryParse(t.Value, NumberStyles.None, CultureInfo.InvariantCulture, out var l)
                    ? new ConstExpr(t.Line, l)
                    : throw Error($"integer {t.Value} is too large", t);
            case TokenKind.Float:
                return new ConstExpr(t.Line, double.Parse(t.Value, NumberStyles.Float, CultureInfo.InvariantCulture));
            case TokenKind.Operator when t.Value == "(":
                if (SkipIf(TokenKind.Operator, ")"))
                {
                    return new TupleExpr(t.Line, []);
                }

                var first = ParseExpression();
                if (SkipIf(TokenKind.Operator, ")"))
                {
                    return first;
                }

                var items = new List<Expr> { first };
                while (SkipIf(TokenKind.Operator, ","))
                {
                    if (Current.IsOperator(")"))
                    {
                        break;
                    }

                    items.Add(ParseExpression());
                }

                Expect(TokenKind.Operator, ")");
                return new TupleExpr(t.Line, items);
            case TokenKind.Operator when t.Value == "[":
                var list = new List<Expr>();
                while (!SkipIf(TokenKind.Operator, "]"))
                {
                    if (list.Count > 0)
                    {
                        Expect(TokenKind.Operator, ",");
                        if (SkipIf(TokenKind.Operator, "]"))
                        {
                            break;
                        }
                    }

                    list.Add(ParseExpression());
                }

                return new ListExpr(t.Line, list);
            case TokenKind.Operator when t.Value == "{":
                var pairs = new List<(Expr, Expr)>();
                while (!SkipIf(TokenKind.Operator, "}"))
                {
                    if (pairs.Count > 0)
                    {
                        Expect(TokenKind.Operator, ",");
                        if (SkipIf(TokenKind.Operator, "}"))
                        {
                            break;
                        }
                    }

                    var key = ParseExpression();
                    Expect(TokenKind.Operator, ":");
                    pairs.Add((key, ParseExpression()));
                }

                return new DictExpr(t.Line, pairs);
            default:
                _pos--;
                throw Error(t.Kind is TokenKind.BlockEnd or TokenKind.VariableEnd or TokenKind.End
                    ? $"Expected an expression, got {t.Describe()}"
                    : $"unexpected {t.Describe()}");
        }
    }

    private Expr ParsePostfix(Expr expr)
    {
        while (true)
        {
            var t = Current;
            if (t.IsOperator("."))
            {
                _pos++;
                var attr = Next();
                expr = attr.Kind switch
                {
                    TokenKind.Name => new AttributeExpr(t.Line, expr, attr.Value),
                    TokenKind.Integer => new IndexExpr(t.Line, expr, new ConstExpr(t.Line, long.Parse(attr.Value, CultureInfo.InvariantCulture))),
                    _ => throw Error($"expected an attribute name after '.', got {attr.Describe()}", attr),
                };
            }
            else if (t.IsOperator("["))
            {
                _pos++;
                expr = ParseSubscript(expr, t.Line);
            }
            else if (t.IsOperator("("))
            {
                expr = new CallExpr(t.Line, expr, ParseArguments());
            }
            else
            {
                return expr;
            }
        }
    }

    private Expr ParseSubscript(Expr target, int line)
    {
        Expr? start = null;
        if (!Current.IsOperator(":"))
        {
            start = ParseExpression();
            if (SkipIf(TokenKind.Operator, "]"))
            {
                return new IndexExpr(line, target, start);
            }
        }

        Expect(TokenKind.Operator, ":");
        Expr? stop = Current.IsOperator(":") || Current.IsOperator("]") ? null : ParseExpression();
        Expr? step = null;
        if (SkipIf(TokenKind.Operator, ":") && !Current.IsOperator("]"))
        {
            step = ParseExpression();
        }

        Expect(TokenKind.Operator, "]");
        return new SliceExpr(line, target, start, stop, step);
    }

    private ArgumentList ParseArguments()
    {
        Expect(TokenKind.Operator, "(");
        var positional = new List<Expr>();
        var named = new List<(string, Expr)>();
        Expr? spread = null;
        Expr? spreadNamed = null;
        var first = true;
        while (!SkipIf(TokenKind.Operator, ")"))
        {
            if (!first)
            {
                Expect(TokenKind.Operator, ",");
                if (SkipIf(TokenKind.Operator, ")"))
                {
                    break;
                }
            }

            first = false;
            if (SkipIf(TokenKind.Operator, "*"))
            {
                spread = ParseExpression();
            }
            else if (SkipIf(TokenKind.Operator, "**"))
            {
                spreadNamed = ParseExpression();
            }
            else if (Current.Kind == TokenKind.Name && _tokens[_pos + 1].IsOperator("="))
            {
                var name = Next().Value;
                _pos++;
                named.Add((name, ParseExpression()));
            }
            else
            {
                if (named.Count > 0)
                {
                    throw Error("positional argument follows keyword argument");
                }

                positional.Add(ParseExpression());
            }
        }

        return new ArgumentList(positional, named, spread, spreadNamed);
    }

    private Expr ParseFilterAndTests(Expr expr)
    {
        while (true)
        {
            if (Current.IsOperator("|"))
            {
                var line = Next().Line;
                expr = ParseFilterCall(line, expr);
            }
            else if (Current.IsName("is"))
            {
                var line = Next().Line;
                expr = ParseTest(line, expr);
            }
            else if (Current.IsOperator("("))
            {
                expr = new CallExpr(Current.Line, expr, ParseArguments());
            }
            else
            {
                return expr;
            }
        }
    }

    private FilterExpr ParseFilterCall(int line, Expr? target)
    {
        var nameToken = Expect(TokenKind.Name);
        var name = nameToken.Value;
        while (SkipIf(TokenKind.Operator, "."))
        {
            name += "." + Expect(TokenKind.Name).Value;
        }

        if (!TemplateFilters.Names.Contains(name))
        {
            throw Error($"No filter named '{name}'.", nameToken);
        }

        var args = Current.IsOperator("(") ? ParseArguments() : ArgumentList.None;
        return new FilterExpr(line, target, name, args);
    }

    private TestExpr ParseTest(int line, Expr target)
    {
        var negated = SkipIf(TokenKind.Name, "not");
        var nameToken = Expect(TokenKind.Name);
        var name = nameToken.Value;
        if (!TemplateTests.Names.Contains(name))
        {
            throw Error($"No test named '{name}'.", nameToken);
        }

        ArgumentList args;
        if (Current.IsOperator("("))
        {
            args = ParseArguments();
        }
        else if ((Current.Kind is TokenKind.Name or TokenKind.String or TokenKind.Integer or TokenKind.Float || Current.IsOperator("[") || Current.IsOperator("{"))
                 && !(Current.IsName("else") || Current.IsName("or") || Current.IsName("and") || Current.IsName("if") || Current.IsName("is")))
        {
            // "x is divisibleby 3", "x is equalto 'a'": one argument without parentheses.
            args = new ArgumentList([ParsePostfix(ParsePrimary())], [], null, null);
        }
        else
        {
            args = ArgumentList.None;
        }

        return new TestExpr(line, target, name, args, negated);
    }
}
