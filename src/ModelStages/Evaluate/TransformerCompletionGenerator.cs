using IwSft.Gpu.Inference;
using IwSft.Gpu.Models;
using IwSft.Text;

namespace IwSft.Stages.Evaluate;

/// <summary>
/// Opens checkpoints with the TorchSharp model core: <see cref="Checkpoint.Load"/> for the weights,
/// <see cref="HfTokenizer"/> for the tokenizer (the stage's tokenizer input, else the checkpoint's own files).
/// With two or more <paramref name="devices"/> the model is loaded in host memory and sharded over them
/// (<see cref="TensorParallel.Apply"/>); the device in <paramref name="modelOptions"/> is then ignored.
/// </summary>
public sealed class TransformerCompletionGeneratorFactory(ModelOptions? modelOptions = null, IReadOnlyList<string>? devices = null) : ICompletionGeneratorFactory
{
    public ICompletionGenerator Open(string checkpointDirectory, string? tokenizerDirectory, CancellationToken cancellationToken)
    {
        var tokenizer = HfTokenizer.Load(tokenizerDirectory ?? checkpointDirectory);
        bool tensorParallel = devices is { Count: > 1 };
        var options = modelOptions ?? ModelOptions.Cpu;
        var model = Checkpoint.Load(checkpointDirectory, tensorParallel ? options with { Device = "cpu" } : options);
        if (tensorParallel) TensorParallel.Apply(model, devices!);
        model.eval();
        return new TransformerCompletionGenerator(model, tokenizer);
    }

    /// <summary>Dtypes change the numbers and so the text; the device (or devices) only places the work.</summary>
    public System.Text.Json.Nodes.JsonNode KeyIdentity()
    {
        var o = modelOptions ?? ModelOptions.Cpu;
        return new System.Text.Json.Nodes.JsonObject { ["dtype"] = o.DType, ["compute_dtype"] = o.ComputeDType ?? o.DType };
    }
}

/// <summary>
/// KV-cache generation over a loaded transformer. Generation stops at the tokenizer's end-of-text
/// token or ChatML's &lt;|im_end|&gt; (the end of an assistant turn); the stop token is not part of the
/// returned text but counts as a generated token.
///
/// Requests are batched (the core's left-padded batches generate exactly what each prompt would
/// alone); sampled rows draw from their own generators (<see cref="GenerationOptions.RowSeeds"/>), so a
/// sample depends only on its prompt and seed, never on its batch neighbours — which the per-sample
/// results cache relies on.
/// </summary>
public sealed class TransformerCompletionGenerator(IDecoderModel model, HfTokenizer tokenizer, int maxBatch = 16) : ICompletionGenerator
{
    readonly int[] _stops = new[] { tokenizer.EosToken, QwenChatTemplate.ImEnd }
        .Where(t => tokenizer.SpecialTokens.ContainsKey(t)).Select(t => tokenizer.SpecialTokens[t]).Distinct().ToArray();

    public IReadOnlyList<GeneratedSample> Generate(IReadOnlyList<GenerationRequest> requests, GenerationSettings settings, CancellationToken cancellationToken)
    {
        var encoded = requests.Select(r => tokenizer.EncodeToIds(r.Prompt).ToArray()).ToList();
        int maxPositions = model.Config.MaxPositionEmbeddings;
        for (int i = 0; i < encoded.Count; i++)
        {
            if (encoded[i].Length == 0) throw new ArgumentException($"request {i}: the prompt encodes to no tokens");
            if (encoded[i].Length + settings.MaxNewTokens > maxPositions)
                throw new ArgumentException($"request {i}: prompt of {encoded[i].Length} tokens + max_new_tokens {settings.MaxNewTokens} exceeds the model's {maxPositions} positions");
        }
        int pad = tokenizer.PadId ?? tokenizer.EosId;
        var choices = settings.Choices?.Select(c => tokenizer.EncodeToIds(c).ToArray()).ToList();
        int[] stops = [.. _stops, .. (settings.StopTokens ?? []).Select(t => tokenizer.SpecialTokens.TryGetValue(t, out var id) ? id
            : throw new ArgumentException($"stop token '{t}' is not a special token of this tokenizer"))];
        var results = new GeneratedSample[requests.Count];
        // Similar lengths together: less padding per batch.
        var order = Enumerable.Range(0, requests.Count).OrderBy(i => encoded[i].Length).ToArray();
        foreach (var group in order.Chunk(maxBatch))
        {
            cancellationToken.ThrowIfCancellationRequested();
            var options = new GenerationOptions(settings.MaxNewTokens, settings.Temperature, settings.TopP,
                requests[group[0]].Seed, stops.Distinct().ToArray(), pad, RowSeeds: group.Select(i => requests[i].Seed).ToList(), Choices: choices,
                MinNewTokens: settings.MinNewTokens);
            var outputs = TokenGenerator.Generate(model, group.Select(i => encoded[i]).ToList(), options);
            for (int j = 0; j < group.Length; j++)
            {
                var tokens = outputs[j].Tokens;
                int textLength = outputs[j].FinishReason == FinishReason.Stop ? tokens.Length - 1 : tokens.Length;
                results[group[j]] = new GeneratedSample(tokenizer.Decode(tokens.Take(textLength)), tokens.Length, outputs[j].FinishReason);
            }
        }
        return results;
    }

    public void Dispose() => (model as IDisposable)?.Dispose();
}
