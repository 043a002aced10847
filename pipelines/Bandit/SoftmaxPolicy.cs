using IwSft.Gpu.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace IwSft.Pipelines.Bandit;

/// <summary>
/// A context-free softmax policy over the arms, exposed as a causal LM so the bandit trains through the
/// same loss code as the LLM path: a pull is the sequence [prompt, arm] whose single completion token
/// is the arm, and the logits at every position are the policy's logits θ.
/// </summary>
public sealed class SoftmaxPolicy : nn.Module<Tensor, Tensor>, ICausalLanguageModel
{
    readonly TorchSharp.Modules.Parameter _logits;

    public SoftmaxPolicy(int arms) : base(nameof(SoftmaxPolicy))
    {
        // θ = 0: the policy starts at the uniform reference, as in the paper's toy example.
        _logits = new TorchSharp.Modules.Parameter(zeros(arms));
        register_parameter("logits", _logits);
    }

    public override Tensor forward(Tensor inputIds) =>
        _logits.unsqueeze(0).unsqueeze(0).expand(inputIds.shape[0], inputIds.shape[1], _logits.shape[0]);

    public Tensor Forward(Tensor inputIds, Tensor? attentionMask = null) => forward(inputIds);

    public IEnumerable<TorchSharp.Modules.Parameter> TrainableParameters() => [_logits];

    public Device Device => CPU;

    /// <summary>softmax(θ).</summary>
    public double[] Probabilities()
    {
        using var _ = no_grad();
        using var p = _logits.softmax(0);
        return p.to(ScalarType.Float64).data<double>().ToArray();
    }
}
