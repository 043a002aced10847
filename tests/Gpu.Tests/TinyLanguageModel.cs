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
        torch.manual_seed(seed);
        _embed = nn.Embedding(vocab, hidden);
        _head = nn.Linear(hidden, vocab);
        RegisterComponents();
        Vocab = vocab;
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
