namespace IwSft.Stages.Evaluate;

/// <summary>Sampling settings shared by every request of one evaluation (part of the results cache key).</summary>
public sealed record GenerationSettings
{
    public int MaxNewTokens { get; init; } = 512;
    /// <summary>0 = greedy.</summary>
    public double Temperature { get; init; }
    /// <summary>Nucleus sampling mass; 1 = off.</summary>
    public double TopP { get; init; } = 1.0;
    /// <summary>Guided choice (vLLM's <c>structured_outputs.choice</c>): the completion is exactly one of these strings; null = free text.</summary>
    public IReadOnlyList<string>? Choices { get; init; }
    /// <summary>Special tokens (e.g. <c>&lt;|im_start|&gt;</c>) that also end generation, besides end-of-text and <c>&lt;|im_end|&gt;</c>; not part of the text (vLLM's <c>stop_token_ids</c>).</summary>
    public IReadOnlyList<string>? StopTokens { get; init; }
    /// <summary>vLLM's <c>min_tokens</c>: no stop token before this many tokens.</summary>
    public int MinNewTokens { get; init; }
}

/// <summary>One completion to produce. The seed is per request, so a sample's text does not depend on batching.</summary>
public sealed record GenerationRequest(string Prompt, long Seed);

/// <summary>A completion, the number of tokens generated for it, and why it ended ("stop" or "length"; null in samples memoised before it was recorded).</summary>
public sealed record GeneratedSample(string Text, int Tokens, string? FinishReason = null);

/// <summary>
/// Text generation from one loaded checkpoint. Implemented over the TorchSharp model core for real
/// runs and by deterministic fakes in tests. Returns one sample per request, in request order.
/// </summary>
public interface ICompletionGenerator : IDisposable
{
    IReadOnlyList<GeneratedSample> Generate(IReadOnlyList<GenerationRequest> requests, GenerationSettings settings, CancellationToken cancellationToken);
}

/// <summary>Loads a generator for a checkpoint directory. Called only for checkpoints with uncached samples.</summary>
/// <remarks>Its <see cref="IKeyIdentity.KeyIdentity"/> names what decides the generated text (weights' dtype, compute
/// dtype), not placement (device): it goes into the evaluate stage's key.</remarks>
public interface ICompletionGeneratorFactory : IwSft.Runtime.IKeyIdentity
{
    /// <param name="checkpointDirectory">A model directory (config.json + safetensors for the TorchSharp core).</param>
    /// <param name="tokenizerDirectory">The evaluate stage's tokenizer input when bound; null = the checkpoint's own tokenizer files.</param>
    ICompletionGenerator Open(string checkpointDirectory, string? tokenizerDirectory, CancellationToken cancellationToken);
}
