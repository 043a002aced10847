using System.Text;
using System.Text.Json.Nodes;
using Apache.Arrow;
using IwSft.Runtime.Arrow;

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

    /// <summary>The first part of a placeholder: the column it reads.</summary>
    public static string ColumnOf(string placeholder) => placeholder.Split('.')[0];

    /// <summary>A placeholder's text in a record: the column's value, or a field of a JSON-object column; null when absent.</summary>
    public static string? FieldValue(RecordBatch batch, string placeholder, int row, string stage)
    {
        var parts = placeholder.Split('.');
        var cell = CurateTables.Cell(batch.Col(parts[0]), row);
        if (parts.Length == 1 || cell is null) return cell?.ToString();
        JsonNode? obj;
        try { obj = JsonNode.Parse(cell.ToString()!); }
        catch (System.Text.Json.JsonException e)
        {
            throw new InvalidDataException($"stage '{stage}': placeholder '{{{placeholder}}}': column '{parts[0]}' of record '{batch.GetString("id", row)}' is not JSON: {e.Message}");
        }
        return (obj as JsonObject)?[parts[1]] switch
        {
            null => null,
            JsonValue v when v.GetValueKind() == System.Text.Json.JsonValueKind.String => v.GetValue<string>(),
            var other => other.ToJsonString(),
        };
    }

    /// <summary>The prompt for one record; null when a placeholder's value is absent.</summary>
    public string? RenderRecord(RecordBatch batch, int row, string stage)
    {
        var values = Fields.ToDictionary(f => f, f => FieldValue(batch, f, row, stage));
        return values.Values.Any(v => v is null) ? null : Render(f => values[f]!);
    }

    public string Render(Func<string, string> value)
    {
        var sb = new StringBuilder();
        foreach (var (lit, field) in _parts) sb.Append(lit ?? value(field!));
        return sb.ToString();
    }
}
