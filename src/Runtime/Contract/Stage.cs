using System.Text.Json;
using System.Text.Json.Nodes;

namespace IwSft.Runtime;

public enum ArtifactKind
{
    /// <summary>A table: Arrow record batches in flight, Parquet at rest.</summary>
    Table,
    /// <summary>A directory of files (a model checkpoint, a report).</summary>
    Directory,
}

/// <summary>A named input or output of a stage kind. Tables name their schema in <c>schemas/</c>.</summary>
public sealed record PortSpec(string Name, ArtifactKind Kind, string? Schema = null, bool Optional = false)
{
    public static PortSpec Table(string name, string schema, bool optional = false) => new(name, ArtifactKind.Table, schema, optional);
    public static PortSpec Dir(string name, bool optional = false) => new(name, ArtifactKind.Directory, null, optional);
}

/// <summary>One output of one stage instance, used to wire another stage's input to it.</summary>
public sealed record OutputRef(Stage Stage, string Output)
{
    public override string ToString() => $"{Stage.Name}.{Output}";
}

/// <summary>
/// A stage instance in a pipeline. A stage kind declares its code <see cref="Version"/> (bump it when
/// its semantics change), its typed configuration, and its ports; the engine derives the cache key
/// from (kind, version, canonical configuration, content hashes of inputs and external files).
/// </summary>
public abstract class Stage
{
    readonly Dictionary<string, OutputRef> _bindings = new(StringComparer.Ordinal);

    protected Stage(string name)
    {
        if (string.IsNullOrWhiteSpace(name) || name.Contains('.') || name.Contains('/'))
            throw new ArgumentException($"invalid stage name '{name}': non-empty, no '.' or '/'");
        Name = name;
    }

    /// <summary>Instance name, unique within a pipeline (e.g. "decontaminate").</summary>
    public string Name { get; }

    /// <summary>The stage kind (e.g. "decontaminate"); several instances may share one kind.</summary>
    public abstract string Kind { get; }

    /// <summary>Code version of the kind; part of the cache key.</summary>
    public abstract int Version { get; }

    public abstract IReadOnlyList<PortSpec> Inputs { get; }
    public abstract IReadOnlyList<PortSpec> Outputs { get; }

    /// <summary>Filtering stages set this: the engine then gives them a decisions table (schema "decisions").</summary>
    public virtual bool WritesDecisions => false;

    /// <summary>
    /// Record-wise stages (each output row depends on one input row) get a per-record memo in the
    /// store, so a rerun over a grown input only processes new records, and a crash loses only the
    /// records in flight. They use <see cref="IStageContext.Memo"/> through <see cref="RecordMemoLoop{TIn, TOut}"/>.
    /// </summary>
    public virtual bool IsRecordWise => false;

    /// <summary>
    /// Configuration keys (snake_case, '.' between nested keys, as for <c>--set</c>) that do not decide any
    /// memoised record's value: throughput and placement (batch size, device, concurrency, chunk size), the
    /// endpoint and its retry policy, which records are processed (a subset, a count), and what happens after
    /// the memoised step (grading). They are left out of <see cref="MemoIdentity"/>, hence out of every record
    /// key, so changing them reuses every memoised record. A key listed here that the configuration lacks is
    /// an error. Default: none (every setting decides records).
    /// </summary>
    public virtual IReadOnlyList<string> NotInRecordKey => [];

    /// <summary>
    /// What decides every memoised record's value: the configuration without <see cref="NotInRecordKey"/>, the
    /// injected behaviour ([InKey] fields: generator dtypes, prompt formatter) and the stage's code identity (a fix
    /// to the scorer, generator or reply parser recomputes records; <see cref="CodeIdentityAliasAttribute"/> keeps
    /// them across a same-semantics refactor). The memo file is namespaced by it (with kind and version) and
    /// <see cref="RecordMemoLoop{TIn, TOut}"/> puts it in every record key, next to what the stage supplies per
    /// record (content hashes of the model and of the record, the prompt, the sample index).
    /// </summary>
    public virtual JsonNode MemoIdentity()
    {
        var identity = Execution.StageIdentity.Of(this);
        return new JsonObject
        {
            ["settings"] = RecordKeys.SettingsWithout(this, ConfigJson(), NotInRecordKey),
            ["behaviour"] = identity.Behaviour.DeepClone(),
            ["code"] = identity.Code,
        };
    }

    /// <summary>Files or directories outside the store that this stage reads; their content is hashed into the key.</summary>
    public virtual IEnumerable<string> ExternalInputs => [];

    /// <summary>The configuration as a JSON node (canonicalised by the engine for the key).</summary>
    public abstract JsonNode ConfigJson();

    /// <summary>Replaces the configuration from JSON (used by <c>--set stage.key=value</c>).</summary>
    public abstract void LoadConfigJson(JsonNode json);

    /// <summary>The configuration type (its public properties are the valid keys for --set).</summary>
    public abstract Type ConfigType { get; }

    public abstract Task RunAsync(IStageContext context);

    /// <summary>Input name → upstream output.</summary>
    public IReadOnlyDictionary<string, OutputRef> Bindings => _bindings;

    /// <summary>Wires input <paramref name="input"/> to an upstream output.</summary>
    public Stage From(string input, OutputRef source)
    {
        if (Inputs.All(p => p.Name != input))
            throw new ArgumentException($"stage '{Name}' ({Kind}) has no input '{input}'; inputs: {string.Join(", ", Inputs.Select(p => p.Name))}");
        _bindings[input] = source;
        return this;
    }

    /// <summary>Reference to one of this stage's outputs.</summary>
    public OutputRef this[string output] =>
        Outputs.Any(p => p.Name == output) || (output == DecisionsOutput && WritesDecisions)
            ? new OutputRef(this, output)
            : throw new ArgumentException($"stage '{Name}' ({Kind}) has no output '{output}'; outputs: {string.Join(", ", Outputs.Select(p => p.Name))}");

    /// <summary>Name of the decisions table a filtering stage writes next to its outputs.</summary>
    public const string DecisionsOutput = "decisions";

    public override string ToString() => $"{Name} ({Kind} v{Version})";
}

/// <summary>A stage with a typed configuration (a plain class with settable public properties).</summary>
public abstract class Stage<TConfig> : Stage where TConfig : class, new()
{
    protected Stage(string name, TConfig? config = null) : base(name) => Config = config ?? new TConfig();

    public TConfig Config { get; set; }

    public static readonly JsonSerializerOptions ConfigJsonOptions = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = false,
        IncludeFields = false,
        Converters = { new System.Text.Json.Serialization.JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
    };

    public override Type ConfigType => typeof(TConfig);

    public override JsonNode ConfigJson() => JsonSerializer.SerializeToNode(Config, ConfigJsonOptions)!;

    public override void LoadConfigJson(JsonNode json) =>
        Config = json.Deserialize<TConfig>(ConfigJsonOptions) ?? throw new InvalidOperationException($"stage '{Name}': null configuration");
}
