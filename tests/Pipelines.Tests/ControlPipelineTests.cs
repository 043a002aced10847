using Apache.Arrow;
using IwSft.Gpu.Control;
using IwSft.Control.Environments;
using IwSft.Pipelines.Control;
using IwSft.Runtime;
using IwSft.Runtime.Arrow;
using Xunit.Abstractions;

namespace IwSft.Pipelines.Tests;

public class ControlPipelineTests(ITestOutputHelper output)
{
    [Fact]
    public async Task QuickControlPipelineRunsEndToEndAndRerunsFromCache()
    {
        var root = Directory.CreateTempSubdirectory("iwsft-control-");
        try
        {
            var store = new ArtifactStore(root.FullName);
            var runner = new PipelineRunner(store);
            var pipeline = new ControlPipeline().Build(new PipelineBuildOptions { Quick = true });
            // 2 environments × (dataset + 5 train + 5 evaluate) + report.
            Assert.Equal(23, pipeline.Stages.Count);
            var run = await runner.RunAsync(pipeline);
            Assert.True(run.Succeeded, string.Join("; ", run.Stages.Values.Where(s => s.Error is not null).Select(s => $"{s.Name}: {s.Error}")));

            foreach (var spec in ControlEnvironments.All)
            {
                // The dataset table holds every step of the 30 episodes, in order.
                var episodes = await ControlEpisodeTable.ReadAsync(store.OpenTable(run.Stages[$"dataset-{spec.Name}"].Outputs["episodes"], "episodes"),
                                                                   "test", spec.Name, CancellationToken.None);
                Assert.Equal(30, episodes.Count);
                Assert.Equal(run.Stages[$"dataset-{spec.Name}"].Rows["episodes"], episodes.Sum(e => (long)e.Length));
                var expected = ControlDatasetGenerator.Generate(spec, new ReplayDatasetSettings { Episodes = 30 });
                Assert.Equal(expected.Select(e => (float)e.Episode.Return), episodes.Select(e => (float)e.Return));
                // One result row per seed and method.
                foreach (var method in new[] { "bc", "bc-top", "sft", "sft-q", "iw-sft-q" })
                    Assert.Equal(2, run.Stages[$"evaluate-{spec.Name}-{method}"].Rows["results"]);
            }

            var report = store.ObjectPath(run.Stages["report"].Outputs["report"]);
            var markdown = await File.ReadAllTextAsync(Path.Combine(report, ControlReportStage.MarkdownFile));
            output.WriteLine(markdown);
            Assert.Contains("| pointmass | ", markdown);
            Assert.Contains("| pendulum | ", markdown);
            Assert.Contains("| Environment | BC | BC(10%) | SFT | SFT(Q) | iw-SFT(Q) |", markdown);
            // iw-SFT(Q)'s weight diagnostics: one row per (environment, curve interval); quick: 20 updates, every 10.
            Assert.Contains("| Environment | Update | B | ESS mean | ESS min | max share mean | max share max | log q − log π_ref per step |", markdown);
            Assert.Contains("| pendulum | 20 | 8 | ", markdown);
            // The sizes as run, read back from the training logs, with every departure from the authors' sizes named.
            Assert.Contains("| pendulum | BC | episodes | 8 | 1,600 | 40 | 0 | 8 episodes per batch (authors: 128); 40 updates (authors: 10,000) |", markdown);
            Assert.Contains("| pendulum | iw-SFT(Q) | episodes | 8 | 1,600 | 20 | 3 | 8 episodes per batch (authors: 256); 20 updates (authors: 2,000); warm-up 3 (authors: 300) |", markdown);
            // The training log has the per-update diagnostics; every quick batch is 8 whole episodes.
            var iwLog = File.ReadAllLines(Path.Combine(store.ObjectPath(run.Stages["train-pendulum-iw-sft-q"].Outputs["policies"]), ControlTrainStage.LogFile));
            Assert.Equal("seed,step,loss,learning_rate,weight_max,weight_ess,max_share,mean_log_ratio,trajectories,steps", iwLog[0]);
            Assert.Equal(1 + 2 * 20, iwLog.Length);
            Assert.All(iwLog[1..], l => Assert.Equal("8", l.Split(',')[8]));
            Assert.All(iwLog[1..], l => Assert.Equal("1600", l.Split(',')[9]));   // pendulum episodes are 200 steps
            foreach (var spec in ControlEnvironments.All)
            {
                var png = Path.Combine(report, $"learning_curves_{spec.Name}.png");
                Assert.True(File.Exists(png), $"missing {png}");
                Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, File.ReadAllBytes(png)[..4]);
            }
            Assert.Equal(1 + 2 * 5 * 2, File.ReadAllLines(Path.Combine(report, ControlReportStage.CsvFile)).Length);

            var again = await runner.RunAsync(new ControlPipeline().Build(new PipelineBuildOptions { Quick = true }));
            Assert.All(again.Stages.Values, s => Assert.Equal(StageStatus.Cached, s.Status));
        }
        finally { root.Delete(recursive: true); }
    }

    [Fact]
    public void ReportTableGivesMeanAndSampleStdAndTheOrderingVerdict()
    {
        var rows = new List<ControlResultRow>();
        void Add(string m, params double[] scores)
        {
            for (int s = 0; s < scores.Length; s++) rows.Add(new ControlResultRow("toy", m, s, 100, 0, scores[s], -10, 0));
        }
        Add("bc", 10, 20, 30);        // 20.0 ± 10.0
        Add("bc_top", 50, 50, 50);    // 50.0 ± 0.0
        Add("sft", 40, 44, 48);       // 44.0 ± 4.0
        Add("sft_q", 45, 45, 48);     // 46.0 ± 1.7
        Add("iw_sft_q", 47, 47, 47);  // 47.0 ± 0.0
        var md = ControlReport.Markdown(rows, [], "t");
        Assert.Contains("| toy | 20.0 ± 10.0 | 50.0 ± 0.0 | 44.0 ± 4.0 | 46.0 ± 1.7 | 47.0 ± 0.0 |", md);
        Assert.Contains("ordering matches the paper's", md);
        rows.RemoveAll(r => r.Method == "iw_sft_q");
        Add("iw_sft_q", 1, 1, 1);
        Assert.Contains("ordering does not match", ControlReport.Markdown(rows, [], "t"));
    }

    [Fact]
    public void TrainingSizesAreReadFromTheLogAndComparedWithTheAuthors()
    {
        // Seed 0: 4 updates of 16 chunks (256 transitions), one update below the peak rate (a warm-up of 1), then falling; seed 1 is ignored.
        const string log = "seed,step,loss,learning_rate,weight_max,weight_ess,max_share,mean_log_ratio,trajectories,steps\n" +
            "0,1,1,0.5,1,1,1,0,16,256\n0,2,1,1.0,1,1,1,0,16,256\n0,3,1,0.75,1,1,1,0,16,256\n0,4,1,0.25,1,1,1,0,16,256\n1,1,1,9,1,1,1,0,99,9\n";
        var chunks = ControlTrainingSize.FromLog("toy", "iw_sft_q", true, "chunks", log, "test log");
        Assert.Equal(new ControlTrainingSize("toy", "iw_sft_q", true, "chunks", 4, 16, 256, 1), chunks);
        // Chunks are not episodes, so their count is not compared with the authors' episodes per batch.
        Assert.Equal(["chunks (authors: whole episodes)", "4 updates (authors: 2,000)", "warm-up 1 (authors: 300)"], chunks.Departures());

        // The authors' sizes depart from nothing; BC has no warm-up (a constant learning rate).
        Assert.Empty(new ControlTrainingSize("toy", "sft_q", true, "episodes", 2000, 256, 9000, 300).Departures());
        var constant = ControlTrainingSize.FromLog("toy", "bc", false, "episodes", "seed,learning_rate,trajectories,steps\n0,1e-3,128,100\n0,1e-3,128,120\n", "test log");
        Assert.Equal(new ControlTrainingSize("toy", "bc", false, "episodes", 2, 128, 110, 0), constant);
        Assert.Equal(["2 updates (authors: 10,000)"], constant.Departures());

        var missing = Assert.Throws<InvalidDataException>(() => ControlTrainingSize.FromLog("toy", "bc", false, "episodes", "seed,steps\n0,1\n", "stage 'r', training_log.csv"));
        Assert.Equal("stage 'r', training_log.csv: no column 'learning_rate' in the header", missing.Message);
    }

    [Fact]
    public async Task EpisodeTableWithAStepGapIsRejectedNamingStageRowAndColumn()
    {
        var spec = ControlEnvironments.PointMass;
        var data = ControlDatasetGenerator.Generate(spec, new ReplayDatasetSettings { Episodes = 2 });
        var batch = ControlEpisodeTable.ToBatches(spec.Name, data, 100_000).Single();
        // Drop row 5 (episode 0, step 5): row 5 of the result then holds step 6.
        var rows = Enumerable.Range(0, batch.Length).Where(i => i != 5).ToList();
        var broken = IwSft.Stages.RecordBatchRows.Take(batch, rows);
        var e = await Assert.ThrowsAsync<InvalidDataException>(() =>
            ControlEpisodeTable.ReadAsync(new OneBatch(broken), "train-pointmass-bc", spec.Name, CancellationToken.None));
        Assert.Contains("stage 'train-pointmass-bc'", e.Message);
        Assert.Contains("row 5, column 'step'", e.Message);
        Assert.Contains("step 6 where 5 was expected", e.Message);
    }

    sealed class OneBatch(RecordBatch batch) : ITableReader
    {
        public string Artifact => "dataset-pointmass.episodes";
        public Schema Schema => batch.Schema;
        public long RowCount => batch.Length;
        public string ContentHash => "test";
#pragma warning disable CS1998
        public async IAsyncEnumerable<RecordBatch> ReadBatchesAsync([System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken = default)
        {
            yield return batch;
        }
#pragma warning restore CS1998
    }
}
