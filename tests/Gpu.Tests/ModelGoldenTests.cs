using IwSft.Gpu.Models;
using static TorchSharp.torch;

namespace IwSft.Gpu.Tests;

/// <summary>
/// The optimised transformer (SDPA, batched, padded, KV cache) against a reference forward written
/// plainly here: explicit loops over positions, heads and keys, double precision, HF formulas.
/// </summary>
public class ModelGoldenTests
{
    /// <summary>Plain reference: logits [T][V] for one sequence with a 0/1 mask (left or right padding).</summary>
    internal sealed class NaiveReference
    {
        readonly TransformerConfig _c;
        readonly Dictionary<string, (double[] Data, long[] Shape)> _w = new();

        public NaiveReference(Transformer model)
        {
            _c = model.Config;
            foreach (var (name, p) in model.named_parameters())
                _w[name] = (p.detach().to(ScalarType.Float64).cpu().data<double>().ToArray(), p.shape);
        }

        double[] W(string n) => _w[n].Data;

        // y = x W^T + b for a row vector x.
        double[] Linear(double[] x, string name, bool bias)
        {
            var (w, shape) = _w[name + ".weight"];
            int outDim = (int)shape[0], inDim = (int)shape[1];
            var y = new double[outDim];
            for (int o = 0; o < outDim; o++)
            {
                double s = bias ? W(name + ".bias")[o] : 0;
                for (int i = 0; i < inDim; i++) s += w[o * inDim + i] * x[i];
                y[o] = s;
            }
            return y;
        }

        double[] RmsNorm(double[] x, string name)
        {
            double ms = x.Sum(v => v * v) / x.Length;
            double r = 1 / Math.Sqrt(ms + _c.RmsNormEps);
            var w = W(name + ".weight");
            return x.Select((v, i) => v * r * w[i]).ToArray();
        }

        double[] Rope(double[] head, int position)
        {
            int d = head.Length, half = d / 2;
            var y = new double[d];
            for (int i = 0; i < half; i++)
            {
                double freq = Math.Pow(_c.RopeTheta, -2.0 * i / d);
                double angle = position * freq, cos = Math.Cos(angle), sin = Math.Sin(angle);
                y[i] = head[i] * cos - head[i + half] * sin;
                y[i + half] = head[i + half] * cos + head[i] * sin;
            }
            return y;
        }

        public double[][] Logits(int[] ids, int[] mask)
        {
            int t = ids.Length, hid = _c.HiddenSize, hd = _c.HeadDim, nh = _c.NumAttentionHeads, nkv = _c.NumKeyValueHeads;
            var emb = W("model.embed_tokens.weight");
            var positions = new int[t];
            for (int i = 0, real = 0; i < t; i++) { positions[i] = Math.Max(real - 1 + mask[i], 0); real += mask[i]; }
            var h = Enumerable.Range(0, t).Select(i => emb.Skip(ids[i] * hid).Take(hid).ToArray()).ToArray();
            for (int l = 0; l < _c.NumHiddenLayers; l++)
            {
                string p = $"model.layers.{l}.";
                var x = h.Select(r => RmsNorm(r, p + "input_layernorm")).ToArray();
                var q = x.Select(r => Linear(r, p + "self_attn.q_proj", _c.AttentionBias)).ToArray();
                var k = x.Select(r => Linear(r, p + "self_attn.k_proj", _c.AttentionBias)).ToArray();
                var v = x.Select(r => Linear(r, p + "self_attn.v_proj", _c.AttentionBias)).ToArray();
                var attnOut = new double[t][];
                for (int i = 0; i < t; i++)
                {
                    attnOut[i] = new double[nh * hd];
                    for (int head = 0; head < nh; head++)
                    {
                        int kvHead = head / (nh / nkv);
                        var qi = Rope(q[i].Skip(head * hd).Take(hd).ToArray(), positions[i]);
                        var scores = new List<(int J, double S)>();
                        for (int j = 0; j <= i; j++)
                        {
                            if (mask[j] == 0 && j != i) continue; // padding keys hidden; a query always sees itself
                            var kj = Rope(k[j].Skip(kvHead * hd).Take(hd).ToArray(), positions[j]);
                            scores.Add((j, qi.Zip(kj, (a, b) => a * b).Sum() / Math.Sqrt(hd)));
                        }
                        double max = scores.Max(s => s.S);
                        double z = scores.Sum(s => Math.Exp(s.S - max));
                        foreach (var (j, s) in scores)
                            for (int d = 0; d < hd; d++)
                                attnOut[i][head * hd + d] += Math.Exp(s - max) / z * v[j][kvHead * hd + d];
                    }
                }
                for (int i = 0; i < t; i++)
                {
                    var o = Linear(attnOut[i], p + "self_attn.o_proj", false);
                    for (int d = 0; d < hid; d++) h[i][d] += o[d];
                    var y = RmsNorm(h[i], p + "post_attention_layernorm");
                    var gate = Linear(y, p + "mlp.gate_proj", false);
                    var up = Linear(y, p + "mlp.up_proj", false);
                    var act = gate.Select((g, n) => g / (1 + Math.Exp(-g)) * up[n]).ToArray();
                    var down = Linear(act, p + "mlp.down_proj", false);
                    for (int d = 0; d < hid; d++) h[i][d] += down[d];
                }
            }
            string head0 = _c.TieWordEmbeddings ? "model.embed_tokens" : "lm_head";
            return h.Select(r => Linear(RmsNorm(r, "model.norm"), head0, false)).ToArray();
        }
    }

    static void AssertClose(double[] expected, float[] actual, double tol, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= tol, $"{what}[{i}]: expected {expected[i]:G9}, got {actual[i]:G9}");
    }

    static float[] Row(Tensor logits, int b, int t) => logits[b, t].data<float>().ToArray();

    [Theory]
    [InlineData("qwen2", true)]
    [InlineData("llama", false)]
    public void BatchedPaddedForwardMatchesNaiveReference(string modelType, bool tied)
    {
        using var model = Checkpoint.CreateRandom(ModelTestKit.Tiny(tied, modelType), seed: 7);
        model.eval();
        var reference = new NaiveReference(model);
        // Row 0: left padded; row 1: right padded; row 2: no padding.
        int[][] ids = { new[] { 0, 0, 5, 17, 3, 44, 9 }, new[] { 12, 60, 1, 8, 0, 0, 0 }, new[] { 33, 2, 2, 51, 19, 7, 40 } };
        int[][] mask = { new[] { 0, 0, 1, 1, 1, 1, 1 }, new[] { 1, 1, 1, 1, 0, 0, 0 }, new[] { 1, 1, 1, 1, 1, 1, 1 } };
        using var idT = tensor(ids.SelectMany(r => r).Select(v => (long)v).ToArray()).reshape(3, 7);
        using var maskT = tensor(mask.SelectMany(r => r).Select(v => (long)v).ToArray()).reshape(3, 7);
        using var _ = no_grad();
        using var logits = model.Forward(idT, maskT);
        Assert.Equal(new long[] { 3, 7, 61 }, logits.shape);
        Assert.Equal(ScalarType.Float32, logits.dtype);
        for (int b = 0; b < 3; b++)
        {
            var expected = reference.Logits(ids[b], mask[b]);
            for (int t = 0; t < 7; t++) AssertClose(expected[t], Row(logits, b, t), 1e-4, $"{modelType} row {b} pos {t}");
        }
    }

    [Fact]
    public void PaddingDoesNotChangeRealTokenLogits()
    {
        using var model = Checkpoint.CreateRandom(ModelTestKit.Tiny(), seed: 3);
        using var _ = no_grad();
        using var alone = model.Forward(tensor(new long[] { 5, 17, 3, 44 }).unsqueeze(0));
        using var padded = model.Forward(tensor(new long[] { 0, 0, 0, 5, 17, 3, 44 }).unsqueeze(0), tensor(new long[] { 0, 0, 0, 1, 1, 1, 1 }).unsqueeze(0));
        for (int t = 0; t < 4; t++)
            AssertClose(Row(alone, 0, t).Select(v => (double)v).ToArray(), Row(padded, 0, t + 3), 1e-5, $"pos {t}");
    }

    [Fact]
    public void IncrementalDecodingWithCacheEqualsFullRecomputation()
    {
        using var model = Checkpoint.CreateRandom(ModelTestKit.Tiny(), seed: 11);
        using var _ = no_grad();
        // Two sequences, the first left padded by two.
        long[,] ids = { { 0, 0, 4, 9, 22, 31, 8, 15 }, { 7, 3, 4, 50, 22, 1, 19, 6 } };
        long[,] mask = { { 0, 0, 1, 1, 1, 1, 1, 1 }, { 1, 1, 1, 1, 1, 1, 1, 1 } };
        using var idT = tensor(ids);
        using var maskT = tensor(mask);
        using var full = model.Forward(idT, maskT);
        var (positions, keys) = Transformer.PositionsAndKeys(idT, maskT);
        using var cache = new KvCache();
        // Prefill 5 positions, then feed one token at a time.
        var parts = new List<Tensor> { model.Forward(idT[.., ..5], positions[.., ..5], keys[.., ..5], cache) };
        for (int t = 5; t < 8; t++)
            parts.Add(model.Forward(idT[.., t..(t + 1)], positions[.., t..(t + 1)], keys[.., ..(t + 1)], cache));
        Assert.Equal(8, cache.Length);
        using var incremental = cat(parts, 1);
        for (int b = 0; b < 2; b++)
            for (int t = 2 * (1 - b); t < 8; t++)
                AssertClose(Row(full, b, t).Select(v => (double)v).ToArray(), Row(incremental, b, t), 1e-5, $"row {b} pos {t}");
    }

    [Fact]
    public void GradientCheckpointingGivesTheSameLossAndGradients()
    {
        var config = ModelTestKit.Tiny();
        using var plain = Checkpoint.CreateRandom(config, seed: 5);
        using var recomputed = Checkpoint.CreateRandom(config, seed: 5);
        recomputed.GradientCheckpointing = true;
        plain.train(); recomputed.train();
        using var ids = tensor(new long[,] { { 0, 3, 9, 27, 14, 2 }, { 6, 6, 1, 59, 30, 0 } });
        using var mask = tensor(new long[,] { { 0, 1, 1, 1, 1, 1 }, { 1, 1, 1, 1, 1, 0 } });
        double Loss(Transformer m)
        {
            var logp = TokenLogProbs.OfTargets(m.Forward(ids, mask), ids);
            var loss = -(logp * mask[.., 1..].to(ScalarType.Float32)).sum();
            loss.backward();
            return loss.item<float>();
        }
        Assert.Equal(Loss(plain), Loss(recomputed), 5);
        var a = plain.named_parameters().ToList();
        var b = recomputed.named_parameters().ToList();
        for (int i = 0; i < a.Count; i++)
        {
            Assert.NotNull(b[i].parameter.grad);
            var diff = (a[i].parameter.grad! - b[i].parameter.grad!).abs().max().item<float>();
            Assert.True(diff < 1e-6, $"{a[i].name}: gradients differ by {diff}");
        }
    }
}
