using System.Globalization;
using System.Text;

namespace EdgeLlm.Runtime.ChatTemplates;

internal enum TokenKind
{
    Data,
    VariableBegin,
    VariableEnd,
    BlockBegin,
    BlockEnd,
    Name,
    String,
    Integer,
    Float,
    Operator,
    End,
}

internal readonly record struct Token(TokenKind Kind, string Value, int Line)
{
    public bool Is(TokenKind kind, string value) => Kind == kind && Value == value;

    public bool IsOperator(string value) => Kind == TokenKind.Operator && Value == value;

    public bool IsName(string value) => Kind == TokenKind.Name && Value == value;

    public string Describe() => Kind switch
    {
        TokenKind.End => "end of template",
        TokenKind.BlockEnd => "end of statement block",
        TokenKind.VariableEnd => "end of print statement",
        TokenKind.Data => "template data",
        _ => $"'{Value}'",
    };
}

/// <summary>
/// Splits a template into tokens the way Jinja's lexer does under Hugging Face's settings: newlines
/// normalized and one trailing newline dropped, <c>-</c> strips whitespace beside a tag, trim_blocks drops the
/// newline after a block or comment tag, lstrip_blocks drops indentation before one, <c>+</c> turns both off.
/// </summary>
internal sealed class TemplateLexer
{
    private static readonly string[] Operators =
        ["//", "**", "==", "!=", ">=", "<=", "+", "-", "/", "*", "%", "~", "[", "]", "(", ")", "{", "}", ">", "<", "=", ".", ":", "|", ",", ";"];

    private readonly string _source;
    private readonly string _name;
    private readonly List<Token> _tokens = [];
    private int _pos;
    private int _line = 1;
    private bool _lineStarting = true;

    private TemplateLexer(string source, string name)
    {
        _source = NormalizeNewlines(source);
        _name = name;
    }

    public static List<Token> Tokenize(string source, string name)
    {
        var lexer = new TemplateLexer(source, name);
        lexer.Run();
        return lexer._tokens;
    }

    private static string NormalizeNewlines(string source)
    {
        var s = source.Replace("\r\n", "\n", StringComparison.Ordinal).Replace('\r', '\n');
        return s.EndsWith('\n') ? s[..^1] : s;
    }

    private ChatTemplateSyntaxException Error(string message) => new(_name, _line, message);

    private void Run()
    {
        while (_pos < _source.Length)
        {
            var open = FindTagStart(_pos);
            if (open < 0)
            {
                Emit(TokenKind.Data, _source[_pos..]);
                break;
            }

            var kind = _source[open + 1];
            var sign = open + 2 < _source.Length && _source[open + 2] is '-' or '+' ? _source[open + 2] : '\0';
            var text = _source[_pos..open];
            var rawEnd = kind == '%' ? MatchRawBegin(open) : -1;
            if (sign == '-')
            {
                text = TemplateOps.StripChars(text, null, left: false, right: true);
            }
            else if (sign != '+' && kind != '{')
            {
                text = LStrip(text);
            }

            Emit(TokenKind.Data, text);
            _line += CountNewlines(_source, _pos, open);
            _pos = open + 2 + (sign == '\0' ? 0 : 1);
            _lineStarting = false;
            if (rawEnd >= 0)
            {
                _pos = rawEnd;
                _lineStarting = _source[rawEnd - 1] == '\n';
                LexRaw();
            }
            else if (kind == '#')
            {
                LexComment();
            }
            else
            {
                LexTag(kind == '{');
            }
        }

        _tokens.Add(new Token(TokenKind.End, "", _line));
    }

    private int FindTagStart(int from)
    {
        for (var i = _source.IndexOf('{', from); i >= 0 && i + 1 < _source.Length; i = _source.IndexOf('{', i + 1))
        {
            if (_source[i + 1] is '{' or '%' or '#')
            {
                return i;
            }
        }

        return -1;
    }

    private string LStrip(string text)
    {
        var lineStart = text.LastIndexOf('\n') + 1;
        if ((lineStart == 0 && !_lineStarting) || lineStart == text.Length)
        {
            return text;
        }

        for (var i = lineStart; i < text.Length; i++)
        {
            if (!TemplateOps.IsSpace(text[i]))
            {
                return text;
            }
        }

        return text[..lineStart];
    }

    private void Emit(TokenKind kind, string value)
    {
        if (kind != TokenKind.Data || value.Length > 0)
        {
            _tokens.Add(new Token(kind, value, _line));
        }
    }

    private static int CountNewlines(string s, int start, int end)
    {
        var n = 0;
        for (var i = start; i < end; i++)
        {
            n += s[i] == '\n' ? 1 : 0;
        }

        return n;
    }

    // After "-%}" all whitespace goes; after a plain "%}" or "#}" trim_blocks drops one newline; "+%}" keeps everything.
    private int ConsumeTagEnd(int afterClose, char sign, bool trimBlocks)
    {
        var p = afterClose;
        if (sign == '-')
        {
            while (p < _source.Length && TemplateOps.IsSpace(_source[p]))
            {
                p++;
            }
        }
        else if (sign == '\0' && trimBlocks && p < _source.Length && _source[p] == '\n')
        {
            p++;
        }

        return p;
    }

    private void Advance(int to)
    {
        _line += CountNewlines(_source, _pos, to);
        _lineStarting = to > 0 && _source[to - 1] == '\n';
        _pos = to;
    }

    private void LexComment()
    {
        var close = _source.IndexOf("#}", _pos, StringComparison.Ordinal);
        if (close < 0)
        {
            throw Error("Missing end of comment tag");
        }

        var sign = close > _pos && _source[close - 1] is '-' or '+' ? _source[close - 1] : '\0';
        Advance(ConsumeTagEnd(close + 2, sign, trimBlocks: true));
    }

    // "{% raw %}" (with optional whitespace control) starting at open; returns the index after it, or -1.
    private int MatchRawBegin(int open)
    {
        var p = open + 2;
        if (p < _source.Length && _source[p] is '-' or '+')
        {
            p++;
        }

        while (p < _source.Length && TemplateOps.IsSpace(_source[p]))
        {
            p++;
        }

        if (string.CompareOrdinal(_source, p, "raw", 0, 3) != 0 || (p + 3 < _source.Length && IsNameChar(_source[p + 3])))
        {
            return -1;
        }

        p += 3;
        while (p < _source.Length && TemplateOps.IsSpace(_source[p]))
        {
            p++;
        }

        if (string.CompareOrdinal(_source, p, "-%}", 0, 3) == 0)
        {
            return ConsumeTagEnd(p + 3, '-', trimBlocks: true);
        }

        return string.CompareOrdinal(_source, p, "%}", 0, 2) == 0 ? p + 2 : -1;
    }

    private void LexRaw()
    {
        for (var i = _source.IndexOf("{%", _pos, StringComparison.Ordinal); i >= 0; i = _source.IndexOf("{%", i + 2, StringComparison.Ordinal))
        {
            var p = i + 2;
            var sign = p < _source.Length && _source[p] is '-' or '+' ? _source[p++] : '\0';
            while (p < _source.Length && TemplateOps.IsSpace(_source[p]))
            {
                p++;
            }

            if (string.CompareOrdinal(_source, p, "endraw", 0, 6) != 0)
            {
                continue;
            }

            p += 6;
            while (p < _source.Length && TemplateOps.IsSpace(_source[p]))
            {
                p++;
            }

            var endSign = p < _source.Length && _source[p] is '-' or '+' ? _source[p++] : '\0';
            if (string.CompareOrdinal(_source, p, "%}", 0, 2) != 0)
            {
                continue;
            }

            var text = _source[_pos..i];
            text = sign == '-' ? TemplateOps.StripChars(text, null, left: false, right: true) : sign == '+' ? text : LStrip(text);
            Emit(TokenKind.Data, text);
            Advance(ConsumeTagEnd(p + 2, endSign, trimBlocks: true));
            return;
        }

        throw Error("Missing end of raw directive");
    }

    private static bool IsNameChar(char c) => char.IsLetterOrDigit(c) || c == '_';

    private void LexTag(bool variable)
    {
        _tokens.Add(new Token(variable ? TokenKind.VariableBegin : TokenKind.BlockBegin, "", _line));
        var balance = new Stack<char>();
        while (true)
        {
            if (_pos >= _source.Length)
            {
                throw Error(variable ? "unexpected end of template, expected '}}'" : "unexpected end of template, expected '%}'");
            }

            if (balance.Count == 0 && TryTagEnd(variable))
            {
                return;
            }

            var c = _source[_pos];
            if (TemplateOps.IsSpace(c))
            {
                Advance(_pos + 1);
                continue;
            }

            if (char.IsDigit(c))
            {
                LexNumber();
            }
            else if (char.IsLetter(c) || c == '_')
            {
                var start = _pos;
                while (_pos < _source.Length && IsNameChar(_source[_pos]))
                {
                    _pos++;
                }

                _tokens.Add(new Token(TokenKind.Name, _source[start.._pos], _line));
            }
            else if (c is '\'' or '"')
            {
                LexString(c);
            }
            else
            {
                LexOperator(balance);
            }

            _lineStarting = false;
        }
    }

    private bool TryTagEnd(bool variable)
    {
        var close = variable ? "}}" : "%}";
        var sign = _source[_pos] is '-' or '+' ? _source[_pos] : '\0';
        var at = sign == '\0' ? _pos : _pos + 1;
        if (string.CompareOrdinal(_source, at, close, 0, 2) != 0 || (variable && sign == '+'))
        {
            return false;
        }

        _tokens.Add(new Token(variable ? TokenKind.VariableEnd : TokenKind.BlockEnd, "", _line));
        Advance(ConsumeTagEnd(at + 2, sign, trimBlocks: !variable));
        return true;
    }

    private void LexNumber()
    {
        var start = _pos;
        var isFloat = false;
        SkipDigits();
        if (_pos + 1 < _source.Length && _source[_pos] == '.' && char.IsDigit(_source[_pos + 1]))
        {
            isFloat = true;
            _pos++;
            SkipDigits();
        }

        if (_pos < _source.Length && _source[_pos] is 'e' or 'E')
        {
            var p = _pos + 1;
            if (p < _source.Length && _source[p] is '+' or '-')
            {
                p++;
            }

            if (p < _source.Length && char.IsDigit(_source[p]))
            {
                isFloat = true;
                _pos = p;
                SkipDigits();
            }
        }

        var text = _source[start.._pos].Replace("_", "", StringComparison.Ordinal);
        _tokens.Add(new Token(isFloat ? TokenKind.Float : TokenKind.Integer, text, _line));
    }

    private void SkipDigits()
    {
        while (_pos < _source.Length && (char.IsDigit(_source[_pos]) || (_source[_pos] == '_' && _pos + 1 < _source.Length && char.IsDigit(_source[_pos + 1]))))
        {
            _pos++;
        }
    }

    private void LexString(char quote)
    {
        var start = _pos;
        var sb = new StringBuilder();
        var p = _pos + 1;
        while (true)
        {
            if (p >= _source.Length)
            {
                _pos = start;
                throw Error($"unexpected char '{quote}' at {start}");
            }

            var c = _source[p];
            if (c == quote)
            {
                break;
            }

            if (c == '\\' && p + 1 < _source.Length)
            {
                p = Unescape(p, sb);
                continue;
            }

            sb.Append(c);
            p++;
        }

        _tokens.Add(new Token(TokenKind.String, sb.ToString(), _line));
        Advance(p + 1);
    }

    // Python's unicode-escape: \n \t \\ \' \" \xhh \uhhhh \Uhhhhhhhh \ooo; an unknown escape stays as written.
    private int Unescape(int p, StringBuilder sb)
    {
        var c = _source[p + 1];
        switch (c)
        {
            case '\n': return p + 2;
            case '\\': sb.Append('\\'); return p + 2;
            case '\'': sb.Append('\''); return p + 2;
            case '"': sb.Append('"'); return p + 2;
            case 'a': sb.Append('\a'); return p + 2;
            case 'b': sb.Append('\b'); return p + 2;
            case 'f': sb.Append('\f'); return p + 2;
            case 'n': sb.Append('\n'); return p + 2;
            case 'r': sb.Append('\r'); return p + 2;
            case 't': sb.Append('\t'); return p + 2;
            case 'v': sb.Append('\v'); return p + 2;
            case 'x': return AppendHex(p, 2, sb);
            case 'u': return AppendHex(p, 4, sb);
            case 'U': return AppendHex(p, 8, sb);
            case 'N':
                throw Error("\\N{...} escapes are not supported in strings; write the character itself");
            default:
                if (c is >= '0' and <= '7')
                {
                    var end = p + 1;
                    while (end < p + 4 && end < _source.Length && _source[end] is >= '0' and <= '7')
                    {
                        end++;
                    }

                    sb.Append((char)Convert.ToInt32(_source[(p + 1)..end], 8));
                    return end;
                }

                sb.Append('\\').Append(c);
                return p + 2;
        }
    }

    private int AppendHex(int p, int digits, StringBuilder sb)
    {
        var start = p + 2;
        if (start + digits > _source.Length || !int.TryParse(_source.AsSpan(start, digits), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var code))
        {
            throw Error($"truncated \\{_source[p + 1]} escape in a string");
        }

        sb.Append(char.ConvertFromUtf32(code));
        return start + digits;
    }

    private void LexOperator(Stack<char> balance)
    {
        foreach (var op in Operators)
        {
            if (string.CompareOrdinal(_source, _pos, op, 0, op.Length) != 0)
            {
                continue;
            }

            switch (op)
            {
                case "(": balance.Push(')'); break;
                case "[": balance.Push(']'); break;
                case "{": balance.Push('}'); break;
                case ")" or "]" or "}":
                    if (balance.Count == 0)
                    {
                        throw Error($"unexpected '{op}'");
                    }

                    var expected = balance.Pop();
                    if (expected != op[0])
                    {
                        throw Error($"unexpected '{op}', expected '{expected}'");
                    }

                    break;
            }

            _tokens.Add(new Token(TokenKind.Operator, op, _line));
            _pos += op.Length;
            return;
        }

        throw Error($"unexpected char '{_source[_pos]}' at {_pos}");
    }
}
