using System.Text;

namespace IwSft.Stages.Curate.Judge;

/// <summary>
/// A prompt with {name} placeholders; "{{" and "}}" are literal braces. A name is a column, or
/// <c>column.key</c> for a field of a JSON-object column (e.g. <c>{metadata.qwen7b_answer}</c>).
/// </summary>
public sealed class PromptTemplate
{
    readonly List<(string? Literal, string? Field)> _parts = new();

    public PromptTemplate(string template)
    {
        var lit = new StringBuilder();
        for (int i = 0; i < template.Length; i++)
        {
            char c = template[i];
            if (c == '{' && i + 1 < template.Length && template[i + 1] == '{') { lit.Append('{'); i++; continue; }
            if (c == '}' && i + 1 < template.Length && template[i + 1] == '}') { lit.Append('}'); i++; continue; }
            if (c == '}') throw new FormatException($"prompt template: unmatched '}}' at char {i}");
            if (c != '{') { lit.Append(c); continue; }
            int end = template.IndexOf('}', i + 1);
            if (end < 0) throw new FormatException($"prompt template: unclosed '{{' at char {i}");
            string name = template.Substring(i + 1, end - i - 1);
            if (name.Length == 0 || name.Split('.').Length > 2 || name.Split('.').Any(p => p.Length == 0 || !p.All(ch => char.IsAsciiLetterOrDigit(ch) || ch == '_')))
                throw new FormatException($"prompt template: invalid placeholder '{{{name}}}' at char {i}");
            if (lit.Length > 0) { _parts.Add((lit.ToString(), null)); lit.Clear(); }
            _parts.Add((null, name));
            i = end;
        }
        if (lit.Length > 0) _parts.Add((lit.ToString(), null));
        Fields = _parts.Where(p => p.Field != null).Select(p => p.Field!).Distinct().Order(StringComparer.Ordinal).ToList();
    }

    /// <summary>Placeholder names, sorted, each once.</summary>
    public IReadOnlyList<string> Fields { get; }

    public string Render(Func<string, string> value)
    {
        var sb = new StringBuilder();
        foreach (var (lit, field) in _parts) sb.Append(lit ?? value(field!));
        return sb.ToString();
    }
}
