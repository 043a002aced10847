using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Text.Json.Nodes;
using Apache.Arrow.Ipc;
using Parquet;
using Parquet.Schema;

namespace IwSft.Stages.Ingest;

/// <summary>
/// Streams a Parquet file one row group at a time (memory: one row group). Rows are numbered from 1 across
/// row groups. Column shapes read (the shapes of Hugging Face's s1 sets, <c>simplescaling/data_ablation_full59K</c>
/// and <c>simplescaling/s1K-1.1</c>):
/// <list type="bullet">
/// <item>top-level primitive columns (strings of any length, booleans, integers, floating point, decimals, dates);
/// dictionary-encoded pages are decoded by Parquet.Net, so a dictionary column reads as its value type;</item>
/// <item><c>list&lt;string&gt;</c> (e.g. <c>thinking_trajectories</c>): an array of strings;</item>
/// <item><c>list&lt;struct&lt;content: string, role: string&gt;&gt;</c> (chat <c>messages</c>): an array of chat turns;</item>
/// <item>columns of the null type (Arrow <c>null</c>, e.g. <c>cot</c>; Parquet logical type UNKNOWN, or the type
/// recorded in the file's <c>ARROW:schema</c>): no values, so they are left out of every record; naming one in the
/// mapping (<paramref name="mapped"/>) is an error before any row is read.</item>
/// </list>
/// Any other nested or repeated shape is rejected up front with one line naming stage, file, column and its type,
/// because silently dropping it would lose data.
/// </summary>
/// <param name="mapped">(target, source column) pairs of the source's mapping, checked against null-typed columns.</param>
public sealed class ParquetSourceReader(string path, string stage = "ingest", IReadOnlyList<(string Target, string Column)>? mapped = null)
{
    enum Shape { Primitive, StringList, Messages }

    sealed record ColumnPlan(string Name, Shape Shape, DataField Leaf, ListField? List = null, StructField? Element = null, DataField? Role = null);

    public const string SupportedNestedShapes = "list<string>, list<struct<content: string, role: string>>";

    public async IAsyncEnumerable<RawRow> ReadAsync([EnumeratorCancellation] CancellationToken ct = default)
    {
        await using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        await using var reader = await ParquetReader.CreateAsync(stream, cancellationToken: ct);
        var plans = Plan(reader);

        long row = 0;
        for (int g = 0; g < reader.RowGroupCount; g++)
        {
            using var group = reader.OpenRowGroupReader(g);
            int count = checked((int)group.RowCount);
            var columns = new RawValue[plans.Count][];
            for (int c = 0; c < plans.Count; c++)
                columns[c] = plans[c].Shape switch
                {
                    Shape.Primitive => await ReadColumnAsync(group, plans[c].Leaf, count, ct),
                    Shape.StringList => await ReadStringListAsync(group, plans[c], count, ct),
                    _ => await ReadMessagesAsync(group, plans[c], count, ct),
                };
            for (int r = 0; r < count; r++)
            {
                row++;
                var values = new List<KeyValuePair<string, RawValue>>(plans.Count);
                for (int c = 0; c < plans.Count; c++) values.Add(new(plans[c].Name, columns[c][r]));
                yield return new RawRecord(path, row, values, () => RowJson(values));
            }
        }
    }

    /// <summary>The columns to read; throws for a mapped null-typed column or a nested shape ingest cannot read.</summary>
    List<ColumnPlan> Plan(ParquetReader reader)
    {
        var nullTyped = ArrowNullColumns(reader);
        var plans = new List<ColumnPlan>();
        foreach (var f in reader.Schema.Fields)
        {
            // The null type: no values in any row. Left out unless mapped, and mapping it is a configuration error.
            if (f is DataField { IsArray: false } && (f.SchemaElement?.LogicalType?.UNKNOWN is not null || nullTyped.Contains(f.Name)))
            {
                foreach (var (target, column) in mapped ?? [])
                    if (column == f.Name)
                        throw new InvalidDataException($"stage '{stage}': {path}: column '{f.Name}' has the null type (no value in any row) but is mapped to '{target}'; map a column with values or set \"{target}\": \"\"");
                continue;
            }
            plans.Add(f switch
            {
                DataField { IsArray: false } d => new ColumnPlan(d.Name, Shape.Primitive, d),
                ListField { Item: DataField { IsArray: false } item } l when IsString(item) => new ColumnPlan(l.Name, Shape.StringList, item, l),
                ListField { Item: StructField { Fields.Count: 2 } s } l when Leaf(s, "content") is { } content && Leaf(s, "role") is { } role =>
                    new ColumnPlan(l.Name, Shape.Messages, content, l, s, role),
                _ => throw new InvalidDataException(
                    $"stage '{stage}': {path}: column '{f.Name}' has type {Describe(f)}, which ingest cannot read (nested shapes read: {SupportedNestedShapes})"),
            });
        }
        return plans;

        static DataField? Leaf(StructField s, string name) =>
            s.Fields.FirstOrDefault(x => x.Name == name) is DataField { IsArray: false } d && IsString(d) ? d : null;
    }

    // Parquet.Net types a string leaf inside a nested group as ReadOnlyMemory<char>, a top-level one as string.
    static bool IsString(DataField d) => (Nullable.GetUnderlyingType(d.ClrType) ?? d.ClrType) is var t && (t == typeof(string) || t == typeof(ReadOnlyMemory<char>));

    /// <summary>
    /// Names of the columns whose Arrow type is null according to the <c>ARROW:schema</c> key that pyarrow (and so
    /// Hugging Face <c>datasets</c>) writes into the file metadata: base64 of an Arrow IPC schema message.
    /// </summary>
    static HashSet<string> ArrowNullColumns(ParquetReader reader)
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        if (reader.CustomMetadata is not { } meta || !meta.TryGetValue("ARROW:schema", out var b64)) return names;
        try
        {
            using var arrow = new ArrowStreamReader(new MemoryStream(Convert.FromBase64String(b64)));
            foreach (var field in arrow.Schema.FieldsList)
                if (field.DataType is Apache.Arrow.Types.NullType) names.Add(field.Name);
        }
        catch (Exception e) when (e is FormatException or InvalidDataException or IOException or ArgumentException or InvalidOperationException)
        {
            // An unreadable ARROW:schema says nothing reliable; the Parquet footer's own types still apply.
        }
        return names;
    }

    /// <summary>A column's type as a person reads it: <c>list&lt;int64&gt;</c>, <c>struct&lt;a: string&gt;</c>, <c>map&lt;string, int32&gt;</c>.</summary>
    public static string Describe(Field f) => f switch
    {
        DataField { IsArray: true } d => $"repeated {Primitive(d)}",
        DataField d => Primitive(d),
        ListField l => $"list<{Describe(l.Item)}>",
        StructField s => $"struct<{string.Join(", ", s.Fields.Select(x => $"{x.Name}: {Describe(x)}"))}>",
        MapField m => $"map<{Describe(m.Key)}, {Describe(m.Value)}>",
        _ => f.SchemaType.ToString().ToLowerInvariant(),
    };

    static string Primitive(DataField d)
    {
        var t = Nullable.GetUnderlyingType(d.ClrType) ?? d.ClrType;
        return IsString(d) ? "string" : t == typeof(int) ? "int32" : t == typeof(long) ? "int64" : t == typeof(float) ? "float32"
            : t == typeof(double) ? "float64" : t == typeof(bool) ? "bool" : t == typeof(byte[]) ? "binary" : t.Name.ToLowerInvariant();
    }

    static string RowJson(List<KeyValuePair<string, RawValue>> values)
    {
        var o = new JsonObject();
        foreach (var (name, v) in values)
            o[name] = v.Kind switch
            {
                RawKind.Null => null,
                RawKind.Array or RawKind.Object => JsonNode.Parse(v.Text!),
                _ => JsonValue.Create(v.Text),
            };
        return o.ToJsonString();
    }

    /// <summary>
    /// The leaf's values with their definition and repetition levels (Dremel encoding): one slot per list element,
    /// or per empty or null list; repetition level 0 starts a row; values hold only the defined leaves.
    /// </summary>
    static async Task<(ReadOnlyMemory<char>[] Values, int[] Def, int[] Rep)> ReadLevelsAsync(ParquetRowGroupReader group, DataField leaf, CancellationToken ct)
    {
        long n = group.GetMetadata(leaf)?.MetaData?.NumValues ?? throw new InvalidDataException($"no column chunk for '{leaf.Path}'");
        var values = new ReadOnlyMemory<char>[n];
        var def = new int[n];
        var rep = new int[n];
        await group.ReadRawAsync(leaf, values.AsMemory(), def.AsMemory(), rep.AsMemory(), ct);
        return (values, def, rep);
    }

    /// <summary>
    /// Walks the slots of a list column: per row, null (the list itself is null), or the elements, each given as its
    /// slot index. A slot holds an element when its definition level reaches the list's (the repeated group is
    /// present); one level less is an empty list, anything lower a null list.
    /// </summary>
    static List<int>?[] Rows(int[] def, int[] rep, ListField list, int rows, string column)
    {
        var result = new List<int>?[rows];
        int row = -1, elementLevel = list.MaxDefinitionLevel;
        for (int i = 0; i < def.Length; i++)
        {
            if (rep[i] == 0)
            {
                row++;
                if (row >= rows) break;
                result[row] = def[i] < elementLevel - 1 ? null : [];
            }
            if (def[i] >= elementLevel) result[row]!.Add(i);
        }
        if (row + 1 != rows) throw new InvalidDataException($"column '{column}': {row + 1} list rows in a row group of {rows}");
        return result;
    }

    async Task<RawValue[]> ReadStringListAsync(ParquetRowGroupReader group, ColumnPlan plan, int count, CancellationToken ct)
    {
        var (values, def, rep) = await ReadLevelsAsync(group, plan.Leaf, ct);
        var rows = Rows(def, rep, plan.List!, count, plan.Name);
        // Defined leaves are packed in slot order: the k-th defined slot holds values[k].
        var valueIndex = SlotValueIndex(def, plan.Leaf.MaxDefinitionLevel);
        var result = new RawValue[count];
        for (int r = 0; r < count; r++)
        {
            if (rows[r] is not { } slots) { result[r] = RawValue.Null; continue; }
            result[r] = RawValue.StringArray(slots.Select(i => valueIndex[i] < 0 ? null : new string(values[valueIndex[i]].Span)).ToList());
        }
        return result;
    }

    async Task<RawValue[]> ReadMessagesAsync(ParquetRowGroupReader group, ColumnPlan plan, int count, CancellationToken ct)
    {
        var (contents, contentDef, rep) = await ReadLevelsAsync(group, plan.Leaf, ct);
        var (roles, roleDef, roleRep) = await ReadLevelsAsync(group, plan.Role!, ct);
        if (!rep.AsSpan().SequenceEqual(roleRep))
            throw new InvalidDataException($"stage '{stage}': {path}: column '{plan.Name}': its content and role leaves disagree on list structure");
        var rows = Rows(contentDef, rep, plan.List!, count, plan.Name);
        var contentIndex = SlotValueIndex(contentDef, plan.Leaf.MaxDefinitionLevel);
        var roleIndex = SlotValueIndex(roleDef, plan.Role!.MaxDefinitionLevel);
        int structLevel = plan.Element!.MaxDefinitionLevel;
        var result = new RawValue[count];
        for (int r = 0; r < count; r++)
        {
            if (rows[r] is not { } slots) { result[r] = RawValue.Null; continue; }
            var turns = new List<ChatTurn?>(slots.Count);
            var json = new JsonArray();
            foreach (var i in slots)
            {
                if (contentDef[i] < structLevel) { turns.Add(null); json.Add(null); continue; }   // a null struct element
                string? content = contentIndex[i] < 0 ? null : new string(contents[contentIndex[i]].Span);
                string? role = roleIndex[i] < 0 ? null : new string(roles[roleIndex[i]].Span);
                turns.Add(new ChatTurn(role, content));
                json.Add(new JsonObject { ["content"] = content, ["role"] = role });
            }
            result[r] = new RawValue(RawKind.Array, json.ToJsonString(), null, turns.All(t => t is not null) ? turns.Select(t => t!).ToList() : null);
        }
        return result;
    }

    /// <summary>For each slot, the index into the packed values of its leaf, or -1 where the leaf is undefined (null).</summary>
    static int[] SlotValueIndex(int[] def, int leafLevel)
    {
        var index = new int[def.Length];
        for (int i = 0, k = 0; i < def.Length; i++) index[i] = def[i] == leafLevel ? k++ : -1;
        return index;
    }

    static async Task<RawValue[]> ReadColumnAsync(ParquetRowGroupReader group, DataField field, int count, CancellationToken ct)
    {
        var t = Nullable.GetUnderlyingType(field.ClrType) ?? field.ClrType;
        if (t == typeof(string) || t == typeof(ReadOnlyMemory<char>))
        {
            var buffer = new string?[count];
            await group.ReadAsync(field, buffer.AsMemory(), null, ct);
            return buffer.Select(s => s is null ? RawValue.Null : RawValue.Str(s)).ToArray();
        }
        if (t == typeof(bool)) return await ReadValuesAsync<bool>(group, field, count, ct, v => new RawValue(RawKind.Bool, v ? "true" : "false"));
        if (t == typeof(sbyte)) return await ReadValuesAsync<sbyte>(group, field, count, ct, Num);
        if (t == typeof(byte)) return await ReadValuesAsync<byte>(group, field, count, ct, Num);
        if (t == typeof(short)) return await ReadValuesAsync<short>(group, field, count, ct, Num);
        if (t == typeof(ushort)) return await ReadValuesAsync<ushort>(group, field, count, ct, Num);
        if (t == typeof(int)) return await ReadValuesAsync<int>(group, field, count, ct, Num);
        if (t == typeof(uint)) return await ReadValuesAsync<uint>(group, field, count, ct, Num);
        if (t == typeof(long)) return await ReadValuesAsync<long>(group, field, count, ct, Num);
        if (t == typeof(ulong)) return await ReadValuesAsync<ulong>(group, field, count, ct, Num);
        if (t == typeof(float)) return await ReadValuesAsync<float>(group, field, count, ct, v => float.IsFinite(v) ? Num(v) : RawValue.Str(v.ToString(CultureInfo.InvariantCulture)));
        if (t == typeof(double)) return await ReadValuesAsync<double>(group, field, count, ct, v => double.IsFinite(v) ? Num(v) : RawValue.Str(v.ToString(CultureInfo.InvariantCulture)));
        if (t == typeof(decimal)) return await ReadValuesAsync<decimal>(group, field, count, ct, Num);
        if (t == typeof(DateTime)) return await ReadValuesAsync<DateTime>(group, field, count, ct, v => RawValue.Str(v.ToString("O", CultureInfo.InvariantCulture)));
        if (t == typeof(DateOnly)) return await ReadValuesAsync<DateOnly>(group, field, count, ct, v => RawValue.Str(v.ToString("O", CultureInfo.InvariantCulture)));
        throw new InvalidDataException($"column '{field.Name}': Parquet type {t.Name} is not supported by ingest");
    }

    /// <summary>A number as its invariant literal ("R" round-trips floats). NaN and infinities, which JSON cannot hold, are read as strings.</summary>
    static RawValue Num<T>(T v) where T : IFormattable => new(RawKind.Number, v.ToString(null, CultureInfo.InvariantCulture));

    static async Task<RawValue[]> ReadValuesAsync<T>(ParquetRowGroupReader group, DataField field, int count, CancellationToken ct, Func<T, RawValue> convert)
        where T : struct
    {
        var result = new RawValue[count];
        if (field.IsNullable)
        {
            var buffer = new T?[count];
            await group.ReadAsync<T>(field, buffer.AsMemory(), null, ct);
            for (int i = 0; i < count; i++) result[i] = buffer[i] is { } v ? convert(v) : RawValue.Null;
        }
        else
        {
            var buffer = new T[count];
            await group.ReadAsync<T>(field, buffer.AsMemory(), null, ct);
            for (int i = 0; i < count; i++) result[i] = convert(buffer[i]);
        }
        return result;
    }
}
