using Apache.Arrow;
using Apache.Arrow.Types;

namespace IwSft.Runtime.Store;

/// <summary>
/// The stored form of a table derived from another (<see cref="IStageContext.DeriveTable"/>): an ordinary Parquet
/// artifact whose columns are <see cref="RowColumn"/> (each row's number in the base table, increasing) and the
/// columns the deriving stages added or replaced, and whose footer names the base table's address
/// (<see cref="BaseKey"/>) and the table's logical schema (<see cref="SchemaKey"/>). Every other logical column is
/// the base's column of the same name. The base is always a plain table: a table derived from a derived one takes
/// its rows and stored columns along, so a read never follows more than one link. The base's address is inside the
/// file, so the file's own hash (its address) covers what it points at.
/// </summary>
internal sealed record DerivedTable(string BaseHash, Schema Logical, IReadOnlySet<string> Stored)
{
    public const string RowColumn = "__iwsft_base_row";
    public const string BaseKey = "iwsft.derived.base";
    public const string SchemaKey = "iwsft.derived.schema";

    /// <summary>The derived-table description of a stored table's footer, or null for a plain table.</summary>
    public static DerivedTable? FromFooter(Schema physical, IReadOnlyDictionary<string, string> metadata, string path)
    {
        if (!metadata.TryGetValue(BaseKey, out var baseHash)) return null;
        if (!Hashing.IsHash(baseHash)) throw new InvalidDataException($"{path}: derived table names base {Hashing.Quote(baseHash)}, not a hash");
        if (!metadata.TryGetValue(SchemaKey, out var json)) throw new InvalidDataException($"{path}: derived table without '{SchemaKey}'");
        var logical = ArrowSchemaJson.Read(json);
        if (physical.GetFieldIndex(RowColumn) != 0 || physical.FieldsList[0].DataType is not Int64Type)
            throw new InvalidDataException($"{path}: derived table's first column is not '{RowColumn}' (int64)");
        var stored = physical.FieldsList.Skip(1).Select(f => f.Name).ToHashSet(StringComparer.Ordinal);
        foreach (var name in stored)
            if (logical.GetFieldIndex(name) < 0) throw new InvalidDataException($"{path}: stored column '{name}' is not in the derived table's schema");
        return new DerivedTable(baseHash, logical, stored);
    }

    /// <summary>Footer metadata of a derived table.</summary>
    public static Dictionary<string, string> Metadata(string baseHash, Schema logical) =>
        new() { [BaseKey] = baseHash, [SchemaKey] = ArrowSchemaJson.Write(logical) };

    /// <summary>The physical schema: the row column, then the stored columns in logical order.</summary>
    public static Schema Physical(Schema logical, IReadOnlySet<string> stored)
    {
        var b = new Schema.Builder().Field(new Field(RowColumn, Int64Type.Default, false));
        foreach (var f in logical.FieldsList.Where(f => stored.Contains(f.Name))) b.Field(f);
        return b.Build();
    }
}
