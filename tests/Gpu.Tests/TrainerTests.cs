using IwSft.Core;
using IwSft.Gpu.Models;
using IwSft.Gpu.Training;
using static TorchSharp.torch;

namespace IwSft.Gpu.Tests;

public class TrainerTests : IDisposable
{
    readonly string _dir = Path.Combine(Path.GetTempPath(), "iwsft-trainer-" + Guid.NewGuid().ToString("N")[..8]);

    public void Dispose()
    {
        if (Directory.Exists(_dir)) Directory.Delete(_dir, recursive: true);
    }

    /// <summary>12 sequences of 4–7 tokens over an 11-token vocabulary, prompt 1–2 tokens, reference log-probs.</summary>
    internal static List<TrainingExample> Data(ICausalLanguageModel? referenceModel = null)
    {
        var random = new DeterministicRandom(5);
        var list = new List<TrainingExample>();
        for (int i = 0; i < 12; i++)
        {
            int len = 4 + random.NextInt(4);
            var ids = Enumerable.Range(0, len).Select(_ => 1 + random.NextInt(10)).ToArray();
            int completionStart = 1 + random.NextInt(2);
            float[] refLogp;
            if (referenceModel is null)
                refLogp = Enumerable.Range(0, len - completionStart).Select(_ => (float)(-1.5 - random.NextDouble())).ToArray();
            else
            {
                using var t = tensor(ids.Select(x => (long)x).ToArray(), [1, len]);
                using var logits = referenceModel.Forward(t);
                refLogp = TokenLogProbs.OfTargets(logits, t).data<float>().ToArray()[(completionStart - 1)..];
            }
            list.Add(new TrainingExample($"s{i}", ids, completionStart, refLogp, SamplingWeight: i % 3));
        }
        return list;
    }

    static TrainerConfig Config(LossKind loss = LossKind.IwSftSequence) => new()
    {
        Loss = loss, LearningRate = 1e-2, GlobalBatchSize = 4, MicroBatchSize = 2, Epochs = 2, Seed = 11, MaxGradNorm = 1.0,
    };

    static float[] Flat(ICausalLanguageModel m) => m.TrainableParameters().SelectMany(p => p.data<float>().ToArray()).ToArray();

    [Fact]
    public void Training_2N_steps_equals_N_steps_then_resume_for_N_steps()
    {
        var data = Data();
        var config = Config();
        config.Sampling = SamplingMode.Weighted;   // the sampler's draws must resume too

        var straight = new TinyLanguageModel();
        using var t1 = new Trainer(straight, data, config);
        Assert.Equal(6, t1.TotalSteps);             // 2 epochs × ceil(12 / 4)
        t1.Run(null);

        var first = new TinyLanguageModel();
        using (var t2 = new Trainer(first, data, config))
            t2.Run(_dir, stopAfterStep: 3);          // stop mid-run (mid-epoch 2)
        var checkpoint = Trainer.LatestCheckpoint(_dir)!;
        Assert.EndsWith(Trainer.CheckpointName(3), checkpoint);

        var resumed = new TinyLanguageModel(seed: 99);   // different init: everything must come from the checkpoint
        using var t3 = new Trainer(resumed, data, config);
        t3.LoadCheckpoint(checkpoint);
        Assert.Equal(3, t3.Step);
        t3.Run(_dir);

        Assert.Equal(t1.History.Select(h => h.Loss), t3.History.Select(h => h.Loss));
        Assert.Equal(Flat(straight), Flat(resumed));   // bit-exact on CPU
        Assert.Equal(t1.History[^1].GradNorm, t3.History[^1].GradNorm);

        // A checkpoint never resumes a different run: another learning rate changes the fingerprint.
        var other = Config(); other.Sampling = SamplingMode.Weighted; other.LearningRate = 2e-2;
        using var t4 = new Trainer(new TinyLanguageModel(), data, other);
        Assert.Contains("different configuration or data set", Assert.Throws<InvalidDataException>(() => t4.LoadCheckpoint(checkpoint)).Message);
        // nor one over changed data
        using var t5 = new Trainer(new TinyLanguageModel(), data.Select((d, i) => i == 0 ? d with { SamplingWeight = 5 } : d).ToList(), config);
        Assert.Throws<InvalidDataException>(() => t5.LoadCheckpoint(checkpoint));
    }

    [Fact]
    public void Ema_proposal_state_resumes_exactly()
    {
        var data = Data();
        var config = Config();
        config.Proposal = ProposalPolicy.Ema;
        config.EmaDecay = 0.5;

        var a = new TinyLanguageModel(); var aEma = new TinyLanguageModel(seed: 50);
        using (var t = new Trainer(a, data, config, new AuxiliaryModels(Ema: aEma))) t.Run(null);

        var b = new TinyLanguageModel(); var bEma = new TinyLanguageModel(seed: 50);
        using (var t = new Trainer(b, data, config, new AuxiliaryModels(Ema: bEma))) t.Run(_dir, stopAfterStep: 2);
        var c = new TinyLanguageModel(); var cEma = new TinyLanguageModel(seed: 77);
        using (var t = new Trainer(c, data, config, new AuxiliaryModels(Ema: cEma)))
        {
            t.LoadCheckpoint(Trainer.LatestCheckpoint(_dir)!);
            t.Run(_dir);
        }
        Assert.Equal(Flat(a), Flat(c));
        Assert.Equal(Flat(aEma), Flat(cEma));
        Assert.NotEqual(Flat(a), Flat(aEma));   // q lags the policy
    }

    [Fact]
    public void Accumulating_micro_batches_gives_the_same_step_as_one_big_batch()
    {
        var data = Data();
        var big = Config(); big.MicroBatchSize = 4;
        var small = Config(); small.MicroBatchSize = 1;
        var m1 = new TinyLanguageModel(); var m2 = new TinyLanguageModel();
        using var t1 = new Trainer(m1, data, big);
        using var t2 = new Trainer(m2, data, small);
        var s1 = t1.TrainStep(); t1.TrainStep();
        var s2 = t2.TrainStep(); t2.TrainStep();
        Assert.Equal(s1.Loss, s2.Loss, 5);
        Assert.Equal(s1.GradNorm, s2.GradNorm, 5);
        Assert.Equal(s1.LossTokens, s2.LossTokens);
        var f1 = Flat(m1); var f2 = Flat(m2);
        for (int i = 0; i < f1.Length; i++) Assert.Equal(f1[i], f2[i], 5);
    }

    [Fact]
    public void Data_order_is_a_function_of_the_seed_and_covers_each_example_once_per_epoch()
    {
        var data = Data();
        using var t = new Trainer(new TinyLanguageModel(), data, Config());
        var epoch0 = Enumerable.Range(0, 3).SelectMany(t.BatchIndices).ToArray();
        var epoch1 = Enumerable.Range(3, 3).SelectMany(t.BatchIndices).ToArray();
        Assert.Equal(Enumerable.Range(0, 12), epoch0.Order());
        Assert.Equal(Enumerable.Range(0, 12), epoch1.Order());
        Assert.NotEqual(epoch0, epoch1);
        using var again = new Trainer(new TinyLanguageModel(), data, Config());
        Assert.Equal(epoch0, Enumerable.Range(0, 3).SelectMany(again.BatchIndices));

        var weighted = Config(); weighted.Sampling = SamplingMode.Weighted;   // weights i % 3: every third is 0
        using var w = new Trainer(new TinyLanguageModel(), data, weighted);
        var drawn = Enumerable.Range(0, 6).SelectMany(w.BatchIndices).ToArray();
        Assert.Equal(24, drawn.Length);
        Assert.All(drawn, i => Assert.NotEqual(0, i % 3));
    }

    [Fact]
    public void Live_reference_model_gives_the_same_step_as_its_precomputed_log_probs()
    {
        var reference = new TinyLanguageModel(seed: 21);
        var data = Data(reference);
        var pre = Config(); var live = Config(); live.Reference = ReferenceSource.Live;
        var m1 = new TinyLanguageModel(); var m2 = new TinyLanguageModel();
        using var t1 = new Trainer(m1, data, pre);
        using var t2 = new Trainer(m2, data, live, new AuxiliaryModels(Reference: reference));
        var a = t1.TrainStep(); var b = t2.TrainStep();
        Assert.Equal(a.Loss, b.Loss, 5);
        Assert.Equal(a.WeightMean, b.WeightMean, 5);
        Assert.Equal(a.WeightEss, b.WeightEss, 5);
        Assert.NotEqual(1.0, a.WeightMean, 3);   // the weights are not trivially 1
    }

    [Fact]
    public void Sft_weights_are_one_and_token_level_weights_stay_inside_the_clip()
    {
        var data = Data();
        using var sft = new Trainer(new TinyLanguageModel(), data, Config(LossKind.Sft));
        var s = sft.TrainStep();
        Assert.Equal((1.0, 1.0, 1.0, 4.0), (s.WeightMean, s.WeightMin, s.WeightMax, s.WeightEss));

        using var token = new Trainer(new TinyLanguageModel(), data, Config(LossKind.IwSftToken));
        var k = token.TrainStep();
        Assert.InRange(k.WeightMin, 0.2 - 1e-6, 1.8 + 1e-6);
        Assert.InRange(k.WeightMax, 0.2 - 1e-6, 1.8 + 1e-6);
    }

    [Fact]
    public void Non_finite_loss_stops_without_an_update_and_names_the_last_good_checkpoint()
    {
        var data = Data();
        var config = Config(); config.CheckpointEvery = 1; config.Sampling = SamplingMode.Shuffle;
        var model = new TinyLanguageModel();
        using var trainer = new Trainer(model, data, config);
        trainer.Run(_dir, stopAfterStep: 1);
        var good = Trainer.LatestCheckpoint(_dir)!;
        // A NaN reference log-prob on a completion token of every sequence poisons the weights → loss NaN.
        foreach (var e in data) e.RefLogProbs![^1] = float.NaN;
        var before = Flat(model);
        var error = Assert.Throws<NonFiniteTrainingException>(() => trainer.Run(_dir));
        Assert.Contains("non-finite", error.Message);
        Assert.Contains(good, error.Message);
        Assert.Equal(before, Flat(model));
        Assert.Equal(1, trainer.Step);
        Assert.Equal(good, Trainer.LatestCheckpoint(_dir));
    }

    [Fact]
    public void Configuration_mistakes_are_reported_clearly()
    {
        var data = Data();
        var noRef = data.Select(d => d with { RefLogProbs = null }).ToList();
        var e = Assert.Throws<ArgumentException>(() => new Trainer(new TinyLanguageModel(), noRef, Config()));
        Assert.Contains("s0", e.Message);
        var ema = Config(); ema.Proposal = ProposalPolicy.Ema;
        Assert.Throws<ArgumentException>(() => new Trainer(new TinyLanguageModel(), data, ema));
        var bad = Config(); bad.MicroBatchSize = 9;
        Assert.Contains("micro_batch_size", Assert.Throws<ArgumentException>(() => new Trainer(new TinyLanguageModel(), data, bad)).Message);
        var shortSeq = new List<TrainingExample> { new("x", [1, 2, 3], 3) };
        Assert.Contains("completion_start", Assert.Throws<InvalidDataException>(() => new Trainer(new TinyLanguageModel(), shortSeq, Config(LossKind.Sft))).Message);
    }
}
