using IwSft.Gpu.Models;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace IwSft.Gpu.Tests;

/// <summary>
/// The smallest real causal LM: embedding → tanh → linear, so logits at t depend on token t only
/// (a bigram model). Enough to exercise every trainer path without the transformer.
/// </summary>
internal sealed class TinyLanguageModel : nn.Module<Tensor, Tensor>, ICausalLanguageModel
{
    readonly Embedding _embed;
    readonly Linear _head;

    public TinyLanguageModel(int vocab = 11, int hidden = 8, long seed = 1) : base(nameof(TinyLanguageModel))
    {
        _embed = nn.Embedding(vocab, hidden);
        _head = nn.Linear(hidden, vocab);
        RegisterComponents();
        Vocab = vocab;
        // A private generator, not torch.manual_seed: tests run in parallel and share the global RNG.
        using var generator = new Generator((ulong)seed, CPU);
        using var _ = no_grad();
        foreach (var p in parameters())
        {
            using var values = randn(p.shape, ScalarType.Float32, generator: generator) * 0.5;
            p.copy_(values);
        }
    }

    public int Vocab { get; }

    public override Tensor forward(Tensor ids) => _head.forward(_embed.forward(ids).tanh());

    public Tensor Forward(Tensor inputIds, Tensor? attentionMask = null) => forward(inputIds);

    public IEnumerable<Parameter> TrainableParameters() => parameters();

    public Device Device => CPU;

    public static TinyLanguageModel Copy(TinyLanguageModel source)
    {
        var copy = new TinyLanguageModel(source.Vocab, (int)source._embed.weight!.shape[1]);
        using var _ = no_grad();
        foreach (var (to, from) in copy.parameters().Zip(source.parameters())) to.copy_(from);
        return copy;
    }
}
