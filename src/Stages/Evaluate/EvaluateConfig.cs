namespace IwSft.Stages.Evaluate;

/// <summary>Configuration of the evaluate stage (every key is settable with --set evaluate.key=value).</summary>
public sealed class EvaluateConfig
{
    /// <summary>Samples per item (n); pass@1 is the mean over them.</summary>
    public int SamplesPerItem { get; set; } = 1;
    public int MaxNewTokens { get; set; } = 512;
    /// <summary>0 = greedy decoding.</summary>
    public double Temperature { get; set; }
    public double TopP { get; set; } = 1.0;
    /// <summary>Base seed; each sample's seed is derived from it, the prompt and the sample index.</summary>
    public int Seed { get; set; }
    /// <summary>Requests handed to the generator at once (also the unit of memo writes).</summary>
    public int BatchSize { get; set; } = 8;
    public PromptStyle PromptStyle { get; set; } = PromptStyle.QwenChat;
    /// <summary>Only these benchmarks (empty = all in the items table).</summary>
    public List<string> Benchmarks { get; set; } = new();
    /// <summary>First N items of each benchmark in table order (0 = all): for quick runs.</summary>
    public int MaxItemsPerBenchmark { get; set; }
    /// <summary>Take the last number of a response without an answer marker (lm-eval "flexible extract").</summary>
    public bool LastNumberFallback { get; set; }
    public double RelativeTolerance { get; set; } = MathEquivalence.DefaultRelativeTolerance;
    /// <summary>s1's budget forcing (thinking budget, "Wait" extension); null = plain generation. In the record key when set.</summary>
    // Left out of the configuration JSON while null, so evaluations configured before the option keep their keys and samples.
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public BudgetForcingConfig? BudgetForcing { get; set; }

    public GenerationSettings Generation => new() { MaxNewTokens = MaxNewTokens, Temperature = Temperature, TopP = TopP };

    public void Validate(string stage)
    {
        void Check(bool ok, string message) { if (!ok) throw new ArgumentException($"stage '{stage}' (evaluate): {message}"); }
        Check(SamplesPerItem >= 1, $"samples_per_item must be >= 1, got {SamplesPerItem}");
        Check(MaxNewTokens >= 1, $"max_new_tokens must be >= 1, got {MaxNewTokens}");
        Check(Temperature >= 0, $"temperature must be >= 0, got {Temperature}");
        Check(TopP > 0 && TopP <= 1, $"top_p must be in (0, 1], got {TopP}");
        Check(BatchSize >= 1, $"batch_size must be >= 1, got {BatchSize}");
        Check(MaxItemsPerBenchmark >= 0, $"max_items_per_benchmark must be >= 0, got {MaxItemsPerBenchmark}");
        BudgetForcing?.Validate(stage, MaxNewTokens);
    }
}
