using Apache.Arrow;
using IwSft.Gpu.Control;
using IwSft.Control.Environments;
using IwSft.Runtime;
using IwSft.Runtime.Arrow;

namespace IwSft.Pipelines.Control;

/// <summary>Writes and reads the control_episodes table (one row per step).</summary>
public static class ControlEpisodeTable
{
    public const string SchemaName = "control_episodes";

    /// <summary>Batches of rows for the episodes, at most <paramref name="batchRows"/> rows each.</summary>
    public static IEnumerable<RecordBatch> ToBatches(string environment, IReadOnlyList<ReplayEpisode> episodes, int batchRows)
    {
        var builder = new BatchBuilder(TableSchema.Get(SchemaName));
        foreach (var r in episodes)
        {
            var e = r.Episode;
            float ret = (float)e.Return;
            for (int t = 0; t < e.Length; t++)
            {
                builder.Set("environment", environment).Set("episode", r.Index).Set("step", t)
                    .Set("states", e.Observation(t).ToArray()).Set("actions", e.Action(t).ToArray())
                    .Set("rewards", e.Rewards[t]).Set("returns", ret)
                    .Set("terminal", e.Terminated && t == e.Length - 1)
                    .Set("random_action_probability", (float)r.RandomActionProbability)
                    .Set("noise_std", (float)r.NoiseStd);
                builder.EndRow();
                if (builder.Count >= batchRows) yield return builder.Build();
            }
        }
        if (builder.Count > 0) yield return builder.Build();
    }

    /// <summary>
    /// Reassembles episodes from the rows, checking that they are contiguous (steps 0, 1, … in order),
    /// that every row has the observation/action sizes of <paramref name="expectedEnvironment"/>'s first row
    /// and the right environment. Errors name the stage, artifact, row and column.
    /// </summary>
    public static async Task<List<Episode>> ReadAsync(ITableReader reader, string stage, string expectedEnvironment, CancellationToken ct)
    {
        var episodes = new List<Episode>();
        var obs = new List<float>(); var act = new List<float>(); var rewards = new List<float>();
        int obsSize = -1, actSize = -1, currentEpisode = -1, expectedStep = 0;
        bool terminated = false;
        long row = 0;
        void Fail(string column, string problem) =>
            throw new InvalidDataException($"stage '{stage}', artifact '{reader.Artifact}', row {row}, column '{column}': {problem}");
        void Flush()
        {
            if (rewards.Count == 0) return;
            episodes.Add(new Episode(obsSize, actSize, obs.ToArray(), act.ToArray(), rewards.ToArray(), terminated));
            obs.Clear(); act.Clear(); rewards.Clear(); terminated = false;
        }
        TableSchema.Get(SchemaName).Validate(reader.Schema, stage, reader.Artifact);
        await foreach (var batch in reader.ReadBatchesAsync(ct))
        {
            for (int i = 0; i < batch.Length; i++, row++)
            {
                var env = batch.GetString("environment", i);
                if (env != expectedEnvironment) Fail("environment", $"expected '{expectedEnvironment}', found '{env}'");
                int episode = batch.GetInt32("episode", i)!.Value, step = batch.GetInt32("step", i)!.Value;
                if (episode != currentEpisode)
                {
                    if (step != 0) Fail("step", $"episode {episode} starts at step {step}, expected 0");
                    Flush();
                    currentEpisode = episode;
                    expectedStep = 0;
                }
                if (step != expectedStep) Fail("step", $"episode {episode}: step {step} where {expectedStep} was expected (rows must be in time order)");
                if (terminated) Fail("terminal", $"episode {episode} continues after a terminal step");
                var s = batch.GetFloatList("states", i)!;
                var a = batch.GetFloatList("actions", i)!;
                if (obsSize < 0) { obsSize = s.Length; actSize = a.Length; }
                if (s.Length != obsSize || s.Length == 0) Fail("states", $"{s.Length} values where {obsSize} were expected");
                if (a.Length != actSize || a.Length == 0) Fail("actions", $"{a.Length} values where {actSize} were expected");
                var reward = batch.GetFloat("rewards", i)!.Value;
                if (!float.IsFinite(reward)) Fail("rewards", $"non-finite reward {reward}");
                obs.AddRange(s); act.AddRange(a); rewards.Add(reward);
                terminated = batch.GetBool("terminal", i)!.Value;
                expectedStep++;
            }
        }
        Flush();
        if (episodes.Count == 0) throw new InvalidDataException($"stage '{stage}', artifact '{reader.Artifact}': no episodes");
        return episodes;
    }
}
