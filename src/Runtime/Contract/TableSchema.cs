using System.Reflection;
using System.Text.Json;
using System.Text.Json.Serialization;
using Apache.Arrow;
using Apache.Arrow.Types;

namespace IwSft.Runtime;

/// <summary>Column types an artifact may carry. Kept small so Arrow and Parquet map one-to-one.</summary>
public enum ColumnType { String, Int32, Int64, Float32, Float64, Bool, Binary, ListInt32, ListFloat32, ListString }

public sealed record ColumnSpec(string Name, ColumnType Type, bool Nullable, string? Description = null);

/// <summary>
/// The schema of a table artifact that crosses a stage boundary, loaded from <c>schemas/NAME.schema.json</c>
/// (embedded in this assembly). Validation names stage, artifact, column, expected and actual type.
/// </summary>
public sealed class TableSchema
{
    public string Name { get; }
    public string Description { get; }
    public IReadOnlyList<ColumnSpec> Columns { get; }

    public TableSchema(string name, IReadOnlyList<ColumnSpec> columns, string description = "")
    {
        Name = name; Columns = columns; Description = description;
        var dup = columns.GroupBy(c => c.Name).FirstOrDefault(g => g.Count() > 1);
        if (dup != null) throw new ArgumentException($"schema '{name}' declares column '{dup.Key}' twice");
    }

    public ColumnSpec? Find(string column) => Columns.FirstOrDefault(c => c.Name == column);

    static readonly Dictionary<string, ColumnType> TypeNames = new(StringComparer.OrdinalIgnoreCase)
    {
        ["string"] = ColumnType.String, ["int32"] = ColumnType.Int32, ["int64"] = ColumnType.Int64,
        ["float32"] = ColumnType.Float32, ["float64"] = ColumnType.Float64, ["bool"] = ColumnType.Bool,
        ["binary"] = ColumnType.Binary, ["list<int32>"] = ColumnType.ListInt32,
        ["list<float32>"] = ColumnType.ListFloat32, ["list<string>"] = ColumnType.ListString,
    };

    public static string TypeName(ColumnType t) => TypeNames.First(kv => kv.Value == t).Key;

    public static ColumnType ParseType(string name) =>
        TypeNames.TryGetValue(name.Replace(" ", ""), out var t) ? t
            : throw new FormatException($"unknown column type '{name}'; valid: {string.Join(", ", TypeNames.Keys)}");

    sealed class SchemaFile
    {
        [JsonPropertyName("name")] public string Name { get; set; } = "";
        [JsonPropertyName("description")] public string? Description { get; set; }
        [JsonPropertyName("columns")] public List<ColumnFile> Columns { get; set; } = new();
    }

    sealed class ColumnFile
    {
        [JsonPropertyName("name")] public string Name { get; set; } = "";
        [JsonPropertyName("type")] public string Type { get; set; } = "";
        [JsonPropertyName("nullable")] public bool Nullable { get; set; }
        [JsonPropertyName("description")] public string? Description { get; set; }
    }

    public static TableSchema Parse(string json, string origin)
    {
        SchemaFile f;
        try { f = JsonSerializer.Deserialize<SchemaFile>(json) ?? throw new FormatException("empty"); }
        catch (JsonException e) { throw new FormatException($"{origin}: invalid schema JSON: {e.Message}", e); }
        if (string.IsNullOrEmpty(f.Name)) throw new FormatException($"{origin}: schema has no name");
        var cols = f.Columns.Select(c =>
        {
            try { return new ColumnSpec(c.Name, ParseType(c.Type), c.Nullable, c.Description); }
            catch (FormatException e) { throw new FormatException($"{origin}: column '{c.Name}': {e.Message}"); }
        }).ToList();
        return new TableSchema(f.Name, cols, f.Description ?? "");
    }

    static readonly Lazy<Dictionary<string, TableSchema>> Embedded = new(() =>
    {
        var asm = typeof(TableSchema).Assembly;
        var all = new Dictionary<string, TableSchema>(StringComparer.Ordinal);
        foreach (var res in asm.GetManifestResourceNames().Where(n => n.StartsWith("schemas/")))
        {
            using var s = asm.GetManifestResourceStream(res)!;
            using var r = new StreamReader(s);
            var schema = Parse(r.ReadToEnd(), res);
            all[schema.Name] = schema;
        }
        return all;
    });

    // Schemas a program outside this repository adds for its own stage kinds (examples/my-curation).
    static readonly System.Collections.Concurrent.ConcurrentDictionary<string, TableSchema> Registered = new(StringComparer.Ordinal);

    /// <summary>All schemas shipped in <c>schemas/</c>.</summary>
    public static IReadOnlyCollection<TableSchema> All => Embedded.Value.Values;

    /// <summary>
    /// Adds a schema for a stage kind defined outside this repository, so its ports can name it like a shipped one.
    /// Registering the same schema again is a no-op; a different schema under a taken name is an error, because a
    /// name must mean one shape in every run that reads the store.
    /// </summary>
    public static TableSchema Register(TableSchema schema)
    {
        ArgumentNullException.ThrowIfNull(schema);
        if (Embedded.Value.TryGetValue(schema.Name, out var shipped))
            return SameShape(shipped, schema) ? shipped
                : throw new ArgumentException($"schema '{schema.Name}' is shipped in schemas/ with other columns; give yours another name");
        var kept = Registered.GetOrAdd(schema.Name, schema);
        return SameShape(kept, schema) ? kept
            : throw new ArgumentException($"schema '{schema.Name}' is already registered with other columns");
    }

    static bool SameShape(TableSchema a, TableSchema b) =>
        a.Columns.Select(c => (c.Name, c.Type, c.Nullable)).SequenceEqual(b.Columns.Select(c => (c.Name, c.Type, c.Nullable)));

    /// <summary>A schema from <c>schemas/</c> (or one a program registered) by name; unknown names list the valid ones.</summary>
    public static TableSchema Get(string name) =>
        Embedded.Value.TryGetValue(name, out var s) ? s
            : Registered.TryGetValue(name, out var r) ? r
            : throw new KeyNotFoundException($"unknown schema '{name}'; known: {string.Join(", ", Embedded.Value.Keys.Concat(Registered.Keys).Order())}");

    public static IArrowType ToArrowType(ColumnType t) => t switch
    {
        ColumnType.String => StringType.Default,
        ColumnType.Int32 => Int32Type.Default,
        ColumnType.Int64 => Int64Type.Default,
        ColumnType.Float32 => FloatType.Default,
        ColumnType.Float64 => DoubleType.Default,
        ColumnType.Bool => BooleanType.Default,
        ColumnType.Binary => BinaryType.Default,
        ColumnType.ListInt32 => new ListType(new Field("item", Int32Type.Default, true)),
        ColumnType.ListFloat32 => new ListType(new Field("item", FloatType.Default, true)),
        ColumnType.ListString => new ListType(new Field("item", StringType.Default, true)),
        _ => throw new ArgumentOutOfRangeException(nameof(t)),
    };

    /// <summary>The column type an Arrow type maps to, or null if it is not one we carry.</summary>
    public static ColumnType? FromArrowType(IArrowType t) => t switch
    {
        StringType => ColumnType.String,
        Int32Type => ColumnType.Int32,
        Int64Type => ColumnType.Int64,
        FloatType => ColumnType.Float32,
        DoubleType => ColumnType.Float64,
        BooleanType => ColumnType.Bool,
        BinaryType => ColumnType.Binary,
        ListType { ValueDataType: Int32Type } => ColumnType.ListInt32,
        ListType { ValueDataType: FloatType } => ColumnType.ListFloat32,
        ListType { ValueDataType: StringType } => ColumnType.ListString,
        _ => null,
    };

    public Schema ToArrow()
    {
        var b = new Schema.Builder();
        foreach (var c in Columns) b.Field(new Field(c.Name, ToArrowType(c.Type), c.Nullable));
        return b.Build();
    }

    /// <summary>
    /// Checks that <paramref name="actual"/> has every column of this schema with the same type (extra
    /// columns are allowed: stages may carry more). A non-nullable column must not be declared nullable
    /// by a producer that wrote nulls; null content is checked by the writer.
    /// </summary>
    public void Validate(Schema actual, string stage, string artifact)
    {
        foreach (var c in Columns)
        {
            var f = actual.FieldsList.FirstOrDefault(x => x.Name == c.Name);
            if (f == null)
                throw new SchemaMismatchException(stage, artifact, c.Name, TypeName(c.Type), "missing",
                    $"columns present: {string.Join(", ", actual.FieldsList.Select(x => x.Name))}");
            var t = FromArrowType(f.DataType);
            if (t != c.Type)
                throw new SchemaMismatchException(stage, artifact, c.Name, TypeName(c.Type),
                    t is { } tt ? TypeName(tt) : f.DataType.Name, null);
        }
    }
}

public sealed class SchemaMismatchException(string stage, string artifact, string column, string expected, string actual, string? detail)
    : Exception($"schema mismatch in stage '{stage}', artifact '{artifact}', column '{column}': expected {expected}, got {actual}"
                + (detail is null ? "" : $" ({detail})"))
{
    public string Stage { get; } = stage;
    public string Artifact { get; } = artifact;
    public string Column { get; } = column;
    public string Expected { get; } = expected;
    public string Actual { get; } = actual;
}
