using System.Reflection;
using Parquet;
using Parquet.Meta;

namespace IwSft.Runtime.Store;

/// <summary>
/// Keeps byte-array min/max statistics out of the files the store writes. Parquet.Net stores the whole smallest and
/// largest value of every string column chunk in the footer, and has no option to leave them out: a row group of
/// 150 KB reasoning traces adds ~300 KB of footer per string column, which every writer holds until it closes and
/// every reader loads on open, so memory grew with the file (20 MB of footer for a 118 MB pool of 50 KB traces).
/// pyarrow writes no min/max longer than 4 KiB for the same reason. Nothing here reads them (a stage reads whole
/// row groups), so they are dropped as each row group is closed; null counts and the rest of the footer stay.
/// </summary>
internal static class ParquetStatistics
{
    // Parquet.Net keeps the footer it will write in ParquetWriter._footer._fileMeta (6.x); the version is pinned in
    // Directory.Packages.props, and StoreFileTests check that written files carry no string min/max, so an upgrade that
    // moves the field fails the tests instead of bringing the memory growth back silently.
    static readonly FieldInfo FooterField = typeof(ParquetWriter).GetField("_footer", BindingFlags.Instance | BindingFlags.NonPublic)
        ?? throw new InvalidOperationException("Parquet.Net internals changed: ParquetWriter._footer not found (see ParquetStatistics)");
    static readonly FieldInfo FileMetaField = FooterField.FieldType.GetField("_fileMeta", BindingFlags.Instance | BindingFlags.NonPublic)
        ?? throw new InvalidOperationException("Parquet.Net internals changed: ThriftFooter._fileMeta not found (see ParquetStatistics)");

    /// <summary>Drops the min/max of byte-array column chunks in row groups <paramref name="from"/>.. of the writer's footer; returns the row-group count.</summary>
    public static int DropByteArrayMinMax(ParquetWriter writer, int from)
    {
        var meta = (FileMetaData)FileMetaField.GetValue(FooterField.GetValue(writer))!;
        var groups = meta.RowGroups;
        for (int g = from; g < groups.Count; g++)
            foreach (var chunk in groups[g].Columns)
                if (chunk.MetaData is { Type: Parquet.Meta.Type.BYTE_ARRAY or Parquet.Meta.Type.FIXED_LEN_BYTE_ARRAY, Statistics: { } stats })
                {
                    stats.Min = stats.Max = stats.MinValue = stats.MaxValue = null;
                    stats.IsMinValueExact = stats.IsMaxValueExact = null;
                }
        return groups.Count;
    }
}
