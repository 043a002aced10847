using System.Threading.Tasks.Dataflow;
using Apache.Arrow;
using IwSft.Runtime;
using IwSft.Runtime.Arrow;

namespace IwSft.Stages.Decontaminate;

/// <summary>
/// Stage kind <c>decontaminate</c>: drops candidates that share a word n-gram (s1 normalisation, default
/// n = 8) with any benchmark question. Inputs: <c>candidates</c> and one or more benchmark tables
/// (<see cref="DecontaminateConfig.BenchmarkInputs"/>); output <c>clean</c> (candidates schema, every input
/// column carried). Each removed record's decision names the benchmark, the item id, the checked field
/// and the first shared n-gram; each kept record gets a kept decision. Batches are checked in parallel
/// (Dataflow, ordered), so the output keeps the input order.
/// </summary>
public sealed class DecontaminateStage(string name, DecontaminateConfig? config = null) : Stage<DecontaminateConfig>(name, config)
{
    public const string CandidatesInput = "candidates";
    public const string CleanOutput = "clean";
    public const string ContaminatedReason = "contaminated";
    public const string CleanReason = "clean";

    public override string Kind => "decontaminate";
    // v2: chained sources that are interleaved in the input are checked source by source (first appearance order).
    // v3: ... in memory after a first pass over the small columns, and written in input order (v2 wrote them grouped by source).
    public override int Version => 3;
    public override bool WritesDecisions => true;

    public override IReadOnlyList<PortSpec> Inputs =>
        [PortSpec.Table(CandidatesInput, "candidates"), .. Config.BenchmarkInputs.Select(b => PortSpec.Table(b, "benchmark_items"))];

    public override IReadOnlyList<PortSpec> Outputs => [PortSpec.Table(CleanOutput, "candidates")];

    public override async Task RunAsync(IStageContext ctx)
    {
        if (Config.N < 1) throw new ArgumentException($"stage '{Name}': n must be at least 1, got {Config.N}");
        if (Config.Fields.Count == 0) throw new ArgumentException($"stage '{Name}': no fields to check");
        if (Config.BenchmarkInputs.Count == 0) throw new ArgumentException($"stage '{Name}': no benchmark inputs");

        var items = new List<BenchmarkText>();
        foreach (var input in Config.BenchmarkInputs)
            items.AddRange(await ReadBenchmarkAsync(ctx.ReadTable(input), ctx.CancellationToken));
        var index = new NgramIndex(Config.N, items);
        ctx.Log($"test pool: {index.ItemCount} benchmark items, {index.DistinctNgrams} distinct {Config.N}-grams");

        var candidates = ctx.ReadTable(CandidatesInput);
        foreach (var field in Config.Fields)
            if (candidates.Schema.GetFieldIndex(field) < 0)
                throw new ArgumentException($"stage '{Name}': candidates have no column '{field}' to check; columns: {string.Join(", ", candidates.Schema.FieldsList.Select(f => f.Name))}");

        var counts = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var b in items.Select(i => i.Benchmark).Distinct()) counts[b] = 0;
        long kept = 0, removed = 0;
        var bySource = new SortedDictionary<string, (long Kept, long Contaminated)>(StringComparer.Ordinal);
        // Kept rows are written as a table derived from the candidates (row numbers, no copy of their texts), in input
        // order; only the per-source path of interleaved sources, which emits source by source, writes rows in full.
        IDerivedTableWriter? derived = null;
        ITableWriter? full = null;
        long offset = 0;

        void Record(string id, string src, (string Field, NgramMatch Match)? match)
        {
            var (k, c) = bySource.GetValueOrDefault(src);
            bySource[src] = match is null ? (k + 1, c) : (k, c + 1);
            if (match is { } m)
            {
                removed++;
                counts[m.Match.Item.Benchmark] = counts.GetValueOrDefault(m.Match.Item.Benchmark) + 1;
                ctx.Decisions.Record(id, false, ContaminatedReason, Describe(m.Field, m.Match));
            }
            else
            {
                kept++;
                ctx.Decisions.Record(id, true, CleanReason, $"no {Config.N}-gram of {string.Join("/", Config.Fields)} in the test pool");
            }
        }

        // A checked batch: the next rows of the input in order, or (inOrder false) rows of one source in the per-source path.
        async Task Emit(CheckedBatch result, bool inOrder)
        {
            for (int r = 0; r < result.Batch.Length; r++)
                Record(result.Batch.GetString("id", r)!, result.Batch.GetString("source", r) ?? "", result.Matches[r]);
            if (inOrder)
            {
                derived ??= ctx.DeriveTable(CleanOutput, candidates);
                await derived.WriteRowsAsync(result.Kept.Select(k => offset + k).ToList(), null, ctx.CancellationToken);
                offset += result.Batch.Length;
            }
            else
            {
                full ??= ctx.WriteTable(CleanOutput);
                if (result.Kept.Count > 0) await full.WriteAsync(RecordBatchRows.Take(result.Batch, result.Kept), ctx.CancellationToken);
            }
            ctx.ReportProgress(kept + removed, candidates.RowCount);
        }

        // Every row checked in memory (ids, sources, matches in input order): no second read of the candidates.
        async Task EmitAll(IReadOnlyList<string> ids, IReadOnlyList<string> sources, (string Field, NgramMatch Match)?[] matches)
        {
            derived ??= ctx.DeriveTable(CleanOutput, candidates);
            var rows = new List<long>();
            for (int k = 0; k < ids.Count; k++)
            {
                Record(ids[k], sources[k], matches[k]);
                if (matches[k] is null) rows.Add(k);
                if (rows.Count < ctx.Execution.BatchRows && k + 1 < ids.Count) continue;
                await derived.WriteRowsAsync(rows, null, ctx.CancellationToken);
                rows = [];
                ctx.ReportProgress(kept + removed, candidates.RowCount);
            }
        }

        try
        {
            if (Config.ChainSources) await RunChainedAsync(candidates, index, b => Emit(b, inOrder: true), b => Emit(b, inOrder: false), EmitAll, ctx);
            else await RunParallelAsync(candidates, index, b => Emit(b, inOrder: true), ctx);
            // No candidates at all: the output is still the candidates' (empty) table.
            if (derived is null && full is null) await (derived = ctx.DeriveTable(CleanOutput, candidates)).WriteRowsAsync([], null, ctx.CancellationToken);
        }
        finally
        {
            if (derived != null) await derived.DisposeAsync();
            if (full != null) await full.DisposeAsync();
        }

        ctx.SetMetric("kept", kept);
        ctx.SetMetric("contaminated", removed);
        foreach (var (benchmark, count) in counts) ctx.SetMetric($"contaminated.{benchmark}", count);
        // Per record source (a file, or a value of ingest's source_column): what each source lost.
        foreach (var (source, (k, c)) in bySource)
        {
            ctx.SetMetric($"source.{source}.kept", k);
            ctx.SetMetric($"source.{source}.contaminated", c);
        }
        ctx.Log($"{removed} contaminated, {kept} kept; " + string.Join(", ", counts.Where(c => c.Value > 0).Select(c => $"{c.Key}: {c.Value}")));
    }

    /// <summary>A decision detail a person can check by eye.</summary>
    public static string Describe(string field, NgramMatch m) =>
        $"benchmark={m.Item.Benchmark} item={m.Item.ItemId} field={field} word={m.Word} ngram=\"{m.Ngram}\"";

    /// <summary>One checked batch: per row the first match (field and n-gram) or null, and the kept row indices.</summary>
    public sealed record CheckedBatch(RecordBatch Batch, (string Field, NgramMatch Match)?[] Matches, List<int> Kept);

    CheckedBatch Check(RecordBatch batch, NgramIndex index) => Check(batch, index, Config.Fields);

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)] // per-row loop of a batch job
    static CheckedBatch Check(RecordBatch batch, NgramIndex index, IReadOnlyList<string> fields)
    {
        var matches = new (string, NgramMatch)?[batch.Length];
        // Field by field, rows not yet matched only: each row's match is its first field's, as in config order.
        foreach (var field in fields)
        {
            var column = (StringArray)batch.Col(field);
            // The UTF-8 of row r is values[offsets[r]..offsets[r + 1]] (offsets already account for a sliced array).
            var offsets = column.ValueOffsets;
            var values = column.ValueBuffer.Span;
            bool mayBeNull = column.NullCount > 0;
            for (int r = 0; r < batch.Length; r++)
            {
                if (matches[r] is not null || (mayBeNull && column.IsNull(r))) continue;
                if (index.FirstMatch(values[offsets[r]..offsets[r + 1]]) is { } m) matches[r] = (field, m);
            }
        }
        var kept = new List<int>(batch.Length);
        for (int r = 0; r < batch.Length; r++)
            if (matches[r] is null) kept.Add(r);
        return new CheckedBatch(batch, matches, kept);
    }

    Task RunParallelAsync(ITableReader candidates, NgramIndex index, Func<CheckedBatch, Task> emit, IStageContext ctx) =>
        CheckBatchesAsync(candidates.ReadBatchesAsync(ctx.CancellationToken), index, Config.Fields, ctx.Execution, emit, ctx.CancellationToken);

    /// <summary>
    /// The parallel path of the stage (also what <c>iwsft bench decontaminate</c> measures): batches are cut
    /// to at most 2,048 rows, checked by a TransformBlock with the configured parallelism, and handed to
    /// <paramref name="emit"/> one at a time in input order.
    /// </summary>
    public static async Task CheckBatchesAsync(IAsyncEnumerable<RecordBatch> batches, NgramIndex index, IReadOnlyList<string> fields,
        ExecutionOptions execution, Func<CheckedBatch, Task> emit, CancellationToken cancellationToken)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var check = new TransformBlock<RecordBatch, CheckedBatch>(b => Check(b, index, fields), new ExecutionDataflowBlockOptions
        {
            MaxDegreeOfParallelism = Math.Max(1, execution.MaxDegreeOfParallelism),
            BoundedCapacity = Math.Max(2, execution.BoundedCapacity),
            EnsureOrdered = true,
            CancellationToken = cts.Token,
        });
        var producer = Task.Run(async () =>
        {
            try
            {
                await foreach (var batch in batches.WithCancellation(cts.Token))
                    foreach (var slice in Split(batch, execution.BatchRows))
                        if (!await check.SendAsync(slice, cts.Token)) return; // the block faulted; its error surfaces below
                check.Complete();
            }
            catch (Exception e)
            {
                ((IDataflowBlock)check).Fault(e);
                throw;
            }
        });
        try
        {
            // Results come out in input order (EnsureOrdered); writing stays on this one consumer.
            while (await check.OutputAvailableAsync(cts.Token))
                while (check.TryReceive(out var result)) await emit(result);
            await check.Completion;
            await producer;
        }
        catch
        {
            cts.Cancel();
            try { await producer; } catch { /* the first error is the one to report */ }
            throw;
        }
    }

    /// <summary>Large input batches are cut so that work spreads over the parallel workers.</summary>
    static IEnumerable<RecordBatch> Split(RecordBatch batch, int rows)
    {
        rows = Math.Max(1, Math.Min(rows, 2048));
        if (batch.Length <= rows) { yield return batch; yield break; }
        for (int start = 0; start < batch.Length; start += rows)
            yield return batch.Slice(start, Math.Min(rows, batch.Length - start));
    }

    async Task RunChainedAsync(ITableReader candidates, NgramIndex index, Func<CheckedBatch, Task> emit, Func<CheckedBatch, Task> emitPerSource,
        Func<IReadOnlyList<string>, IReadOnlyList<string>, (string Field, NgramMatch Match)?[], Task> emitAll, IStageContext ctx)
    {
        // s1 decontaminates source by source: each against the benchmarks and every source done before it. Sources are
        // taken in order of first appearance; no record is checked against a later source, nor against another record
        // of its own source. A first pass reads only id, source, question and the checked fields (not the traces): it
        // finds the order, and when sources are interleaved (one pool split by a source column) it checks every record
        // there, source by source, in memory; the kept rows are then written as a derived table (row numbers, no second
        // read). When those columns are too large
        // to keep (checked fields other than the question), interleaved sources take one full read per source instead.
        var ct = ctx.CancellationToken;
        var columns = new[] { "id", "source", "question" }.Concat(Config.Fields).Distinct(StringComparer.Ordinal).ToList();
        long budget = 16 * Math.Max(1, ctx.Execution.BatchBytes);
        var order = new List<string>();
        var sourceIndex = new Dictionary<string, int>(StringComparer.Ordinal);
        var rowSource = new List<int>();
        var rowIds = new List<string>();
        var rowQuestions = new List<string>();
        var rowFields = new List<byte[]?[]>();
        long keptBytes = 0;
        bool contiguous = true, keep = true;
        int previous = -1;
        await foreach (var batch in candidates.ReadColumnsAsync(columns, ct))
        {
            var fieldColumns = Config.Fields.Select(f => (StringArray)batch.Col(f)).ToArray();
            for (int r = 0; r < batch.Length; r++)
            {
                var source = batch.GetString("source", r) ?? "";
                if (!sourceIndex.TryGetValue(source, out int s)) { s = order.Count; sourceIndex[source] = s; order.Add(source); }
                else if (s != previous) contiguous = false;
                previous = s;
                if (!keep) continue;
                var fields = new byte[]?[fieldColumns.Length];
                for (int f = 0; f < fieldColumns.Length; f++)
                    if (!fieldColumns[f].IsNull(r)) keptBytes += (fields[f] = fieldColumns[f].GetBytes(r).ToArray()).Length;
                string question = batch.GetString("question", r)!;
                keptBytes += 2L * question.Length;
                rowSource.Add(s); rowIds.Add(batch.GetString("id", r)!); rowQuestions.Add(question); rowFields.Add(fields);
                if (keptBytes > budget)
                {
                    keep = false;
                    rowSource.Clear(); rowIds.Clear(); rowQuestions.Clear(); rowFields.Clear();
                }
            }
        }
        if (contiguous) { await RunContiguousAsync(candidates, index, emit, ct); return; }
        if (!keep)
        {
            ctx.Log($"{Name}: the checked fields ({string.Join(", ", Config.Fields)}) exceed {budget} bytes: one read of the candidates per source");
            await RunPerSourceAsync(candidates, index, order, emitPerSource, ct);
            return;
        }

        // Every record checked in memory, source by source; kept questions join the pool when their source is done.
        var matches = new (string Field, NgramMatch Match)?[rowSource.Count];
        var bySource = Enumerable.Range(0, order.Count).Select(_ => new List<int>()).ToArray();
        for (int k = 0; k < rowSource.Count; k++) bySource[rowSource[k]].Add(k);
        foreach (var rows in bySource)
        {
            foreach (var k in rows)
                for (int f = 0; f < Config.Fields.Count && matches[k] is null; f++)
                    if (rowFields[k][f] is { } utf8 && index.FirstMatch(utf8) is { } m) matches[k] = (Config.Fields[f], m);
            foreach (var k in rows)
                if (matches[k] is null) index.Add(new BenchmarkText($"source:{order[rowSource[k]]}", rowIds[k], rowQuestions[k]));
        }
        rowFields.Clear(); rowQuestions.Clear();

        await emitAll(rowIds, rowSource.Select(k => order[k]).ToList(), matches);
    }

    /// <summary>One full read of the candidates per source (interleaved sources whose checked fields are too large to keep).</summary>
    async Task RunPerSourceAsync(ITableReader candidates, NgramIndex index, List<string> order, Func<CheckedBatch, Task> emit, CancellationToken ct)
    {
        foreach (var source in order)
        {
            var pending = new List<BenchmarkText>();
            await foreach (var batch in candidates.ReadBatchesAsync(ct))
            {
                var rows = new List<int>();
                for (int r = 0; r < batch.Length; r++)
                    if ((batch.GetString("source", r) ?? "") == source) rows.Add(r);
                if (rows.Count == 0) continue;
                var checkedRows = Check(RecordBatchRows.Take(batch, rows), index);   // the pool is fixed within a source
                foreach (var k in checkedRows.Kept)
                    pending.Add(new BenchmarkText($"source:{source}", checkedRows.Batch.GetString("id", k)!, checkedRows.Batch.GetString("question", k)!));
                await emit(checkedRows);
            }
            foreach (var p in pending) index.Add(p);
        }
    }

    async Task RunContiguousAsync(ITableReader candidates, NgramIndex index, Func<CheckedBatch, Task> emit, CancellationToken ct)
    {
        string? currentSource = null;
        var pending = new List<BenchmarkText>();
        await foreach (var batch in candidates.ReadBatchesAsync(ct))
        {
            // Rows are checked one at a time here because the pool grows at source boundaries.
            var matches = new (string, NgramMatch)?[batch.Length];
            var kept = new List<int>(batch.Length);
            for (int r = 0; r < batch.Length; r++)
            {
                var source = batch.GetString("source", r) ?? "";
                if (source != currentSource)
                {
                    foreach (var p in pending) index.Add(p);
                    pending.Clear();
                    currentSource = source;
                }
                var single = Check(batch.Slice(r, 1), index);
                matches[r] = single.Matches[0];
                if (matches[r] is null)
                {
                    kept.Add(r);
                    pending.Add(new BenchmarkText($"source:{source}", batch.GetString("id", r)!, batch.GetString("question", r)!));
                }
            }
            await emit(new CheckedBatch(batch, matches, kept));
        }
    }

    static async Task<List<BenchmarkText>> ReadBenchmarkAsync(ITableReader table, CancellationToken ct)
    {
        var list = new List<BenchmarkText>();
        await foreach (var batch in table.ReadBatchesAsync(ct))
            for (int r = 0; r < batch.Length; r++)
                list.Add(new BenchmarkText(batch.GetString("benchmark", r)!, batch.GetString("item_id", r)!, batch.GetString("question", r)!));
        return list;
    }
}
