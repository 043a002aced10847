using IwSft.Runtime.Store;

namespace IwSft.Runtime.Execution;

/// <summary>The engine side of <see cref="IStageContext"/> for one stage execution.</summary>
internal sealed class StageContext : IStageContext
{
    readonly Stage _stage;
    readonly ArtifactStore _store;
    readonly IReadOnlyDictionary<string, (ArtifactRef artifact, string source)> _inputs;
    readonly IReadOnlyDictionary<string, string> _externalHashes;
    readonly string _workDir;
    readonly Func<RecordMemo.Lease> _openMemo;
    readonly IProgressSink? _progress;
    readonly Dictionary<string, StageTableWriter> _tables = new(StringComparer.Ordinal);
    readonly Dictionary<string, DerivedTableWriter> _derived = new(StringComparer.Ordinal);
    readonly Dictionary<string, string> _dirs = new(StringComparer.Ordinal);
    readonly Dictionary<string, double> _metrics = new(StringComparer.Ordinal);
    readonly List<StoredTableReader> _readers = new();
    readonly HashSet<string> _verifiedDirectories = new(StringComparer.Ordinal);
    RecordMemo.Lease? _memo;
    bool _stageReportsProgress;

    public StageContext(Stage stage, ArtifactStore store, IReadOnlyDictionary<string, (ArtifactRef, string)> inputs,
        IReadOnlyDictionary<string, string> externalHashes,
        string workDir, ExecutionOptions execution, Func<RecordMemo.Lease> openMemo, IProgressSink? progress, CancellationToken ct)
    {
        _stage = stage; _store = store; _inputs = inputs; _externalHashes = externalHashes; _workDir = workDir; _openMemo = openMemo; _progress = progress;
        Execution = execution; CancellationToken = ct;
        ScratchDirectory = Path.Combine(workDir, "scratch");
        Directory.CreateDirectory(ScratchDirectory);
        DecisionsCollector = stage.WritesDecisions ? new DecisionCollector(stage.Name) : null;
    }

    public string StageName => _stage.Name;
    public CancellationToken CancellationToken { get; }
    public ExecutionOptions Execution { get; }
    public string ScratchDirectory { get; }
    public bool Forced { get; init; }
    internal DecisionCollector? DecisionsCollector { get; }
    internal IReadOnlyDictionary<string, double> Metrics => _metrics;
    internal RecordMemo? OpenedMemo => _memo?.Memo;

    PortSpec InputPort(string input, ArtifactKind kind)
    {
        var port = _stage.Inputs.FirstOrDefault(p => p.Name == input)
            ?? throw new ArgumentException($"stage '{StageName}' has no input '{input}'; inputs: {string.Join(", ", _stage.Inputs.Select(p => p.Name))}");
        if (port.Kind != kind) throw new InvalidOperationException($"stage '{StageName}': input '{input}' is a {port.Kind.ToString().ToLowerInvariant()}, not a {kind.ToString().ToLowerInvariant()}");
        return port;
    }

    (ArtifactRef artifact, string source) Bound(string input) =>
        _inputs.TryGetValue(input, out var b) ? b
            : throw new InvalidOperationException($"stage '{StageName}': input '{input}' is not bound (optional inputs: check HasInput first)");

    public bool HasInput(string input) => _inputs.ContainsKey(input);

    public ITableReader ReadTable(string input)
    {
        var port = InputPort(input, ArtifactKind.Table);
        var (artifact, source) = Bound(input);
        var reader = (StoredTableReader)_store.OpenTable(artifact, source);
        if (port.Schema != null) TableSchema.Get(port.Schema).Validate(reader.Schema, StageName, $"{source} (input '{input}')");
        lock (_readers) _readers.Add(reader);
        return reader;
    }

    /// <summary>
    /// The directory of a directory input, verified against its address on first use (a directory cannot be
    /// hashed while a stage reads it, so it is hashed before): a corrupt one fails the stage naming it.
    /// </summary>
    public string InputDirectory(string input)
    {
        InputPort(input, ArtifactKind.Directory);
        var (artifact, source) = Bound(input);
        lock (_verifiedDirectories)
            if (!_verifiedDirectories.Contains(input))
            {
                _store.VerifyContent(artifact, $"{source} (input '{input}')");
                _verifiedDirectories.Add(input);
            }
        return _store.ObjectPath(artifact);
    }

    /// <summary>
    /// After the stage returned: every table input it started reading must have been verified against its
    /// address; one it stopped reading early is hashed in full now. Throws <see cref="ArtifactCorruptException"/>.
    /// </summary>
    internal void VerifyInputsRead()
    {
        List<StoredTableReader> readers;
        lock (_readers) readers = _readers.ToList();
        foreach (var r in readers) r.EnsureVerified();
    }

    /// <summary>The artifact's address is its content hash (verified when the store committed it).</summary>
    public string InputDirectoryHash(string input)
    {
        InputPort(input, ArtifactKind.Directory);
        return Bound(input).artifact.Hash;
    }

    public string ExternalInputHash(string path) =>
        _externalHashes.TryGetValue(path, out var hash) ? hash
        : throw new ArgumentException($"stage '{_stage.Name}': '{path}' is not one of its external inputs ({string.Join(", ", _externalHashes.Keys)})");

    public ITableWriter WriteTable(string output)
    {
        lock (_tables)
            if (_derived.ContainsKey(output)) throw new InvalidOperationException($"stage '{StageName}': output '{output}' is written by DeriveTable");
        var port = _stage.Outputs.FirstOrDefault(p => p.Name == output)
            ?? throw new ArgumentException($"stage '{StageName}' has no output '{output}'; outputs: {string.Join(", ", _stage.Outputs.Select(p => p.Name))}");
        if (port.Kind != ArtifactKind.Table) throw new InvalidOperationException($"stage '{StageName}': output '{output}' is a directory; use OutputDirectory");
        return GetOrCreateWriter(output, port.Schema);
    }

    /// <summary>
    /// A derived output stored as row numbers into the input's base plus the new columns (<see cref="DerivedTableWriter"/>);
    /// an input that is not one of this stage's stored inputs is written in full instead.
    /// </summary>
    public IDerivedTableWriter DeriveTable(string output, ITableReader input)
    {
        var port = _stage.Outputs.FirstOrDefault(p => p.Name == output)
            ?? throw new ArgumentException($"stage '{StageName}' has no output '{output}'; outputs: {string.Join(", ", _stage.Outputs.Select(p => p.Name))}");
        if (port.Kind != ArtifactKind.Table) throw new InvalidOperationException($"stage '{StageName}': output '{output}' is a directory; use OutputDirectory");
        bool ours;
        lock (_readers) ours = input is StoredTableReader r && _readers.Contains(r);
        if (!ours) return new MaterializingDerivedWriter(input, WriteTable(output), Execution);
        lock (_tables)
        {
            if (_tables.ContainsKey(output)) throw new InvalidOperationException($"stage '{StageName}': output '{output}' is already open");
            var file = GetOrCreateWriter(output, schema: null);
            var w = new DerivedTableWriter(StageName, $"{StageName}.{output}", port.Schema is null ? null : TableSchema.Get(port.Schema), (StoredTableReader)input, file,
                Execution.BatchRows);
            _derived[output] = w;
            return w;
        }
    }

    internal StageTableWriter GetOrCreateWriter(string output, string? schema)
    {
        lock (_tables)
        {
            if (_tables.TryGetValue(output, out var w)) return w;
            w = new StageTableWriter(StageName, $"{StageName}.{output}", schema is null ? null : TableSchema.Get(schema),
                Path.Combine(_workDir, output + ".parquet"), Execution.BatchRows, rows => { if (!_stageReportsProgress) _progress?.StageProgress(StageName, rows, null, "rows"); },
                Execution.BatchBytes);
            _tables[output] = w;
            return w;
        }
    }

    public string OutputDirectory(string output)
    {
        var port = _stage.Outputs.FirstOrDefault(p => p.Name == output)
            ?? throw new ArgumentException($"stage '{StageName}' has no output '{output}'; outputs: {string.Join(", ", _stage.Outputs.Select(p => p.Name))}");
        if (port.Kind != ArtifactKind.Directory) throw new InvalidOperationException($"stage '{StageName}': output '{output}' is a table; use WriteTable");
        lock (_dirs)
        {
            if (_dirs.TryGetValue(output, out var d)) return d;
            d = Path.Combine(_workDir, "dir-" + output);
            Directory.CreateDirectory(d);
            _dirs[output] = d;
            return d;
        }
    }

    public IDecisionWriter Decisions => DecisionsCollector
        ?? throw new InvalidOperationException($"stage '{StageName}' ({_stage.Kind}) does not declare WritesDecisions");

    public IRecordMemo Memo
    {
        get
        {
            if (!_stage.IsRecordWise) throw new InvalidOperationException($"stage '{StageName}' ({_stage.Kind}) is not record-wise (IsRecordWise is false)");
            lock (_metrics) return _memo ??= _openMemo();
        }
    }

    public void Log(string message) => _progress?.StageLog(StageName, message);

    public void ReportProgress(long done, long? total = null, string unit = "rows")
    {
        _stageReportsProgress = true;
        _progress?.StageProgress(StageName, done, total, unit);
    }

    public void SetMetric(string name, double value) { lock (_metrics) _metrics[name] = value; }

    /// <summary>Closes every output after the stage returned; returns temp paths to commit.</summary>
    internal async Task<Dictionary<string, (ArtifactKind kind, string path, long rows)>> CompleteOutputsAsync(CancellationToken ct)
    {
        if (DecisionsCollector != null)
        {
            var w = GetOrCreateWriter(Stage.DecisionsOutput, "decisions");
            await DecisionsCollector.WriteToAsync(w, Execution.BatchRows, ct);
        }
        foreach (var d in _derived.Values) await d.FinishAsync(ct);
        var result = new Dictionary<string, (ArtifactKind, string, long)>(StringComparer.Ordinal);
        foreach (var port in _stage.Outputs)
        {
            if (port.Kind == ArtifactKind.Table)
            {
                if (!_tables.TryGetValue(port.Name, out var w))
                {
                    if (port.Optional) continue;
                    throw new InvalidOperationException($"stage '{StageName}' finished without writing its output '{port.Name}' (call WriteTable(\"{port.Name}\"))");
                }
                await w.CompleteAsync(ct);
                result[port.Name] = (ArtifactKind.Table, w.TempPath, w.RowCount);
            }
            else
            {
                if (!_dirs.TryGetValue(port.Name, out var d))
                {
                    if (port.Optional) continue;
                    throw new InvalidOperationException($"stage '{StageName}' finished without filling its output directory '{port.Name}' (call OutputDirectory(\"{port.Name}\"))");
                }
                result[port.Name] = (ArtifactKind.Directory, d, 0);
            }
        }
        if (DecisionsCollector != null)
        {
            var w = _tables[Stage.DecisionsOutput];
            await w.CompleteAsync(ct);
            result[Stage.DecisionsOutput] = (ArtifactKind.Table, w.TempPath, w.RowCount);
        }
        return result;
    }

    internal async Task AbandonAsync()
    {
        foreach (var d in _derived.Values) await d.DisposeAsync();
        foreach (var w in _tables.Values) await w.AbandonAsync();
        _memo?.Dispose();
    }
}
