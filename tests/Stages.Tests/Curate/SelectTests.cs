using IwSft.Runtime;
using IwSft.Core;
using IwSft.Stages.Curate.Select;
using static IwSft.Stages.Tests.Curate.CurateRows;

namespace IwSft.Stages.Tests.Curate;

public class SelectTests
{
    /// <summary>Replays given draws, so a test can follow the algorithm step by step.</summary>
    sealed class ScriptedRandom(params double[] draws) : IRandomSource
    {
        int _next;
        public double NextDouble() => _next < draws.Length ? draws[_next++] : throw new InvalidOperationException("script exhausted");
        public bool Exhausted => _next == draws.Length;
    }

    static SelectCandidate C(string id, string? domain, long? len, string? bench = null) => new(id, domain, len, bench);

    [Fact]
    public void FollowsTheAlgorithmStepByStepOnScriptedDraws()
    {
        // Benchmark: b1 (domain A), b2 (A), b3 (C). Mix weights: A 2, C 1, B 0.
        // Pools (longest first): A = [a1 (900), a2 (500), a3 (100)], B = [bb (50)], C = [c1 (70), c2 (60)].
        var pool = new[]
        {
            C("a2", "A", 500), C("b1", "A", 10, "bench"), C("c2", "C", 60), C("a1", "A", 900), C("bb", "B", 50),
            C("b2", "A", 20, "bench"), C("a3", "A", 100), C("c1", "C", 70), C("b3", "C", 30, "bench"), C("nod", null, 999),
        };
        var cfg = new SelectConfig { TargetSize = 7, UniformUntil = 5 };
        var rng = new ScriptedRandom(
            // pick 4 (|S|=3 < 5, uniform over [A,B,C]): 0.40*3 = 1.2 → B; rank among 1: u = 0.99*1 → rank 0 → bb. B leaves.
            0.40, 0.99,
            // pick 5 (|S|=4 < 5, uniform over [A,C]): 0.10*2 = 0.2 → A; ranks over 3 (total 1.75): 0.60*1.75 = 1.05 ≥ 1 → rank 1 → a2.
            0.10, 0.60,
            // pick 6 (|S|=5, mix over [A (2), C (1)]): 0.70*3 = 2.1 ≥ 2 → C; ranks over 2 (total 1.5): 0.50*1.5 = 0.75 → rank 0 → c1.
            0.70, 0.50,
            // pick 7 (mix): 0.50*3 = 1.5 < 2 → A; remaining A = [a1, a3], total 1.5: 0.9*1.5 = 1.35 → rank 1 → a3.
            0.50, 0.90);
        var d = S1kSelector.Select(pool, cfg, rng);
        Assert.True(rng.Exhausted);
        var byId = d.ToDictionary(x => pool[x.Index].Id);
        Assert.Equal(pool.Length, d.Count);
        Assert.Equal(new[] { "b1", "b2", "b3", "bb", "a2", "c1", "a3" },
            d.Where(x => x.Selected).OrderBy(x => x.Order).Select(x => pool[x.Index].Id));
        Assert.Equal("phase=uniform domain=B rank=0/1", byId["bb"].Detail);
        Assert.Equal("phase=uniform domain=A rank=1/3", byId["a2"].Detail);
        Assert.Equal("phase=benchmark-mix domain=C rank=0/2", byId["c1"].Detail);
        Assert.Equal("phase=benchmark-mix domain=A rank=1/2", byId["a3"].Detail);
        Assert.Equal("rule=bench domain=A", byId["b1"].Detail);
        Assert.Equal(S1kSelector.SelectedBenchmark, byId["b3"].Reason);
        Assert.Equal((S1kSelector.NotSelected, "domain=A not drawn"), (byId["a1"].Reason, byId["a1"].Detail));
        Assert.Equal((S1kSelector.NotSelected, "no domain"), (byId["nod"].Reason, byId["nod"].Detail));
    }

    [Fact]
    public void MixPhaseFallsBackToUniformWhenNoBenchmarkDomainHasRecordsLeft()
    {
        var pool = new[] { C("b", "A", 1, "bench"), C("x", "X", 5), C("y", "Y", 5) };
        var rng = new ScriptedRandom(0.75, 0.0);   // 0.75*2 = 1.5 → Y
        var d = S1kSelector.Select(pool, new SelectConfig { TargetSize = 2, UniformUntil = 0 }, rng);
        Assert.Equal("phase=uniform-fallback domain=Y rank=0/1", d[2].Detail);
        Assert.False(d[1].Selected);
    }

    static List<SelectCandidate> Pool(int domains, int perDomain, int benchmark)
    {
        var pool = new List<SelectCandidate>();
        for (int d = 0; d < domains; d++)
            for (int k = 0; k < perDomain; k++)
                pool.Add(C($"d{d}-{k}", $"D{d:00}", 1000 + (k * 37 + d * 11) % 997, k < benchmark && d % 2 == 0 ? "bench" : null));
        return pool;
    }

    [Fact]
    public void SameSeedSameSelectionDifferentSeedDifferentSelectionTargetMet()
    {
        var pool = Pool(domains: 12, perDomain: 80, benchmark: 3);
        var cfg = new SelectConfig { TargetSize = 200, UniformUntil = 120 };
        List<string> Run(ulong seed) => S1kSelector.Select(pool, cfg, new DeterministicRandom(seed))
            .Where(x => x.Selected).OrderBy(x => x.Order).Select(x => pool[x.Index].Id).ToList();
        var a = Run(7);
        Assert.Equal(a, Run(7));
        Assert.NotEqual(a.ToHashSet(), Run(8).ToHashSet());
        Assert.Equal(200, a.Count);
        Assert.Equal(200, a.Distinct().Count());
    }

    [Fact]
    public void PhasesSplitAtUniformUntilAndTheMixPhaseOnlyDrawsBenchmarkDomains()
    {
        // Benchmark records: the first 2 of each even domain (D00, D02, D04) = 6; D01 and D03 have none.
        var pool = Pool(domains: 5, perDomain: 30, benchmark: 2);
        var cfg = new SelectConfig { TargetSize = 40, UniformUntil = 25 };
        var d = S1kSelector.Select(pool, cfg, new DeterministicRandom(3));
        var sel = d.Where(x => x.Selected).OrderBy(x => x.Order).ToList();
        Assert.Equal(40, sel.Count);
        Assert.Equal(6, sel.Count(x => x.Reason == S1kSelector.SelectedBenchmark));
        // Picks number 7..25 (|S| = 6..24 before the draw) are uniform: 19; picks 26..40 use the mix: 15.
        Assert.Equal(19, sel.Count(x => x.Detail.StartsWith("phase=uniform ")));
        var mix = sel.Where(x => x.Detail.StartsWith("phase=benchmark-mix")).ToList();
        Assert.Equal(15, mix.Count);
        Assert.All(mix, x => Assert.Contains(pool[x.Index].Domain, new[] { "D00", "D02", "D04" }));
        Assert.Equal(pool.Count, d.Select(x => x.Index).Distinct().Count());
    }

    // Bound for a binomial count: |k - n p| <= 5 sqrt(n p (1 - p)); a correct sampler fails one cell with
    // probability below 1e-6, a sampler off by 0.03 in p fails with certainty at n = 6000.
    static void AssertBinomial(int count, int n, double p, string what)
    {
        double sd = Math.Sqrt(n * p * (1 - p));
        Assert.True(Math.Abs(count - n * p) <= 5 * sd, $"{what}: {count} of {n}, expected {n * p:F1} ± {5 * sd:F1}");
    }

    [Fact]
    public void FirstDiversityPickFollowsTheTwoToTheMinusRankLaw()
    {
        // One domain, 4 records with lengths 40 > 30 > 20 > 10: P(rank r) = 2^-r / (1 + 1/2 + 1/4 + 1/8) = 2^-r / 1.875.
        var pool = new[] { C("r2", "A", 20), C("r0", "A", 40), C("r3", "A", 10), C("r1", "A", 30) };
        var cfg = new SelectConfig { TargetSize = 1 };
        const int n = 6000;
        var counts = new Dictionary<string, int>();
        for (ulong seed = 0; seed < n; seed++)
        {
            var pick = S1kSelector.Select(pool, cfg, new DeterministicRandom(seed)).Single(x => x.Selected);
            counts[pool[pick.Index].Id] = counts.GetValueOrDefault(pool[pick.Index].Id) + 1;
        }
        for (int r = 0; r < 4; r++)
            AssertBinomial(counts.GetValueOrDefault($"r{r}"), n, Math.Pow(2, -r) / 1.875, $"rank {r}");
    }

    [Fact]
    public void UniformPhaseDrawsDomainsUniformlyWhateverTheirSize()
    {
        var pool = new List<SelectCandidate> { C("a", "A", 1) };
        for (int i = 0; i < 10; i++) pool.Add(C($"b{i}", "B", i));
        for (int i = 0; i < 100; i++) pool.Add(C($"c{i}", "C", i));
        const int n = 6000;
        var counts = new Dictionary<string, int>();
        for (ulong seed = 0; seed < n; seed++)
        {
            var pick = S1kSelector.Select(pool, new SelectConfig { TargetSize = 1 }, new DeterministicRandom(seed)).Single(x => x.Selected);
            counts[pool[pick.Index].Domain!] = counts.GetValueOrDefault(pool[pick.Index].Domain!) + 1;
        }
        foreach (var dom in new[] { "A", "B", "C" }) AssertBinomial(counts.GetValueOrDefault(dom), n, 1.0 / 3, $"domain {dom}");
    }

    [Fact]
    public async Task StageAppliesBenchmarkRulesAndDecidesEveryRecordOnce()
    {
        var recs = new List<Rec>
        {
            new("gpqa-ok", "q1") { Source = "Idavidrein/gpqa", Domain = "81", TraceTokens = 100, Bools = new() { ["attempt_correct"] = true } },
            new("gpqa-wrong", "q2") { Source = "Idavidrein/gpqa", Domain = "81", TraceTokens = 100, Bools = new() { ["attempt_correct"] = false } },
            new("aime-ok", "q3") { Source = "qq8933/AIME_1983_2024", Domain = "11", TraceTokens = 100, Bools = new() { ["attempt_correct"] = true } },
            new("math-long", "q4") { Source = "qfq/openaimath", Domain = "11", TraceTokens = 5601 },
            new("math-5600", "q5") { Source = "qfq/openaimath", Domain = "11", TraceTokens = 5600 },
        };
        for (int i = 0; i < 50; i++) recs.Add(new($"pool{i}", $"p{i}") { Source = "numina", Domain = $"{10 + i % 5}", TraceTokens = i });
        var stage = new S1kSelectStage("select", new SelectConfig { TargetSize = 20, UniformUntil = 14 });
        var ctx = new StageTestContext(stage).Table("records", Batch(recs.Take(30), "attempt_correct"), Batch(recs.Skip(30), "attempt_correct"));
        await stage.RunAsync(ctx);

        var rows = ctx.DecisionRows;
        Assert.Equal(recs.Select(r => r.Id).Order(), rows.Select(r => r.Id).Order());
        Assert.Equal(new[] { "aime-ok", "gpqa-ok", "math-long" }, rows.Where(r => r.Reason == "selected:benchmark").Select(r => r.Id).Order());
        Assert.Equal("rule=gpqa_aime_correct domain=81", rows.Single(r => r.Id == "gpqa-ok").Detail);
        Assert.Equal("rule=math_long_trace domain=11", rows.Single(r => r.Id == "math-long").Detail);
        Assert.Equal(20, ctx.OutputIds("records").Count);
        Assert.Equal(rows.Where(r => r.Kept).Select(r => r.Id).ToHashSet(), ctx.OutputIds("records").ToHashSet());
        Assert.Equal(3, ctx.Metrics["selected.benchmark"]);
        Assert.Equal(17, ctx.Metrics["selected.diversity"]);
    }

    [Fact]
    public async Task StageWritesTheSelectedRowsInInputOrderInBatchesOfAtMostBatchRows()
    {
        // Four input batches; output batches are cut at batch_rows and never span two input batches (so no input batch
        // is held once its selected rows are written), and the second pass (which re-reads the pool) writes exactly the
        // selected rows, in input order.
        var recs = Enumerable.Range(0, 40).Select(i => new Rec($"r{i:D2}", $"q{i}") { Source = "numina", Domain = $"{i % 4}", TraceTokens = i }).ToList();
        var stage = new S1kSelectStage("select", new SelectConfig { TargetSize = 13, UniformUntil = 13 });
        var ctx = new StageTestContext(stage) { Execution = new ExecutionOptions { BatchRows = 3 } }
            .Table("records", recs.Chunk(10).Select(c => Batch(c, "attempt_correct")));
        await stage.RunAsync(ctx);

        var kept = ctx.DecisionRows.Where(r => r.Kept).Select(r => r.Id).ToHashSet();
        Assert.Equal(13, kept.Count);
        Assert.Equal(recs.Select(r => r.Id).Where(kept.Contains), ctx.OutputIds("records"));
        var expected = recs.Chunk(10).Select(c => c.Count(r => kept.Contains(r.Id)))
            .SelectMany(n => Enumerable.Range(0, (n + 2) / 3).Select(k => Math.Min(3, n - 3 * k))).ToList();
        Assert.Equal(expected, ctx.Output("records").Select(b => b.Length));
        Assert.True(expected.Count > 5, "the 13 selected rows spread over the input batches");
        Assert.Equal(recs.Where(r => kept.Contains(r.Id)).Select(r => r.Question), ctx.Column("records", "question"));
    }
}
