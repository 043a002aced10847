using IwSft.Control.Environments;
using IwSft.Gpu.Models;
using static TorchSharp.torch;

namespace IwSft.Gpu.Control;

/// <summary>A batch of trajectories (whole episodes or chunks): observations [B, T, S], actions [B, T, A],
/// mask [B, T] (1 = real step, 0 = padding after the trajectory's end).</summary>
public sealed record TrajectoryBatch(Tensor Observations, Tensor Actions, Tensor Mask) : IDisposable
{
    /// <summary>len(τ_b): real steps per trajectory, [B].</summary>
    public Tensor Lengths => Mask.sum(1);
    public void Dispose() { Observations.Dispose(); Actions.Dispose(); Mask.Dispose(); }
}

/// <summary>How the control methods make a batch.</summary>
public enum ControlBatching
{
    /// <summary>The authors' BCReplay.sample: BatchSize whole episodes, uniformly with replacement, padded with a mask.</summary>
    Episodes,
    /// <summary>The project's earlier batching, kept for comparison: BatchSize transitions as BatchSize / ChunkLength
    /// chunks of ChunkLength consecutive steps (<see cref="TrajectoryChunkSampler"/>).</summary>
    Chunks,
}

/// <summary>Draws one training batch per call.</summary>
public interface ITrajectoryBatchSampler
{
    /// <summary>Trajectories per batch (B).</summary>
    int BatchTrajectories { get; }
    TrajectoryBatch Next();
}

/// <summary>
/// How the control methods batch: a batch of <c>batchSize</c> transitions is drawn as
/// batchSize / chunkLength chunks of <c>chunkLength</c> consecutive steps of one trajectory. The
/// trajectory-level quantities of the paper (log p(τ)/len(τ), the iw weight per τ) are computed per
/// chunk: a chunk is the τ. Episodes are drawn with probability proportional to their length (so every
/// transition of the selection is equally likely, as in transition-level BC; an episode listed twice,
/// as SFT(Q) does, is twice as likely), the chunk start uniformly among the positions where a full chunk
/// fits; an episode shorter than a chunk is taken whole and padded (mask 0).
/// </summary>
public sealed class TrajectoryChunkSampler : ITrajectoryBatchSampler
{
    readonly IReadOnlyList<Episode> _episodes;
    readonly double[] _cumulative;
    readonly int _chunk, _obsSize, _actSize;
    ControlRng _rng;

    /// <summary>A sampler whose <see cref="Next()"/> draws the chunks of a batch of <paramref name="transitions"/> transitions.</summary>
    public TrajectoryChunkSampler(IReadOnlyList<Episode> episodes, int chunkLength, ulong seed, int transitions)
        : this(episodes, chunkLength, seed) => BatchTrajectories = ChunksFor(transitions);

    public TrajectoryChunkSampler(IReadOnlyList<Episode> episodes, int chunkLength, ulong seed)
    {
        if (episodes.Count == 0) throw new ArgumentException("no episodes to sample from", nameof(episodes));
        if (chunkLength < 1) throw new ArgumentOutOfRangeException(nameof(chunkLength), "chunk length must be ≥ 1");
        _episodes = episodes;
        _chunk = chunkLength;
        _obsSize = episodes[0].ObservationSize;
        _actSize = episodes[0].ActionSize;
        _cumulative = new double[episodes.Count];
        double total = 0;
        for (int i = 0; i < episodes.Count; i++)
        {
            if (episodes[i].Length == 0) throw new ArgumentException($"episode {i} is empty");
            total += episodes[i].Length;
            _cumulative[i] = total;
        }
        _rng = new ControlRng(seed);
    }

    public int ChunkLength => _chunk;
    public int BatchTrajectories { get; } = 1;
    public TrajectoryBatch Next() => Next(BatchTrajectories);

    /// <summary>Chunks per batch for a batch of <paramref name="transitions"/> transitions (at least 1).</summary>
    public int ChunksFor(int transitions) => Math.Max(1, transitions / _chunk);

    public TrajectoryBatch Next(int chunks)
    {
        var obs = new float[chunks * _chunk * _obsSize];
        var act = new float[chunks * _chunk * _actSize];
        var mask = new float[chunks * _chunk];
        for (int b = 0; b < chunks; b++)
        {
            double u = _rng.NextDouble() * _cumulative[^1];
            int e = Array.BinarySearch(_cumulative, u);
            e = e < 0 ? ~e : e + 1;
            if (e >= _episodes.Count) e = _episodes.Count - 1;
            var ep = _episodes[e];
            int take = Math.Min(_chunk, ep.Length);
            int start = ep.Length > _chunk ? _rng.NextInt(ep.Length - _chunk + 1) : 0;
            Array.Copy(ep.Observations, start * _obsSize, obs, b * _chunk * _obsSize, take * _obsSize);
            Array.Copy(ep.Actions, start * _actSize, act, b * _chunk * _actSize, take * _actSize);
            for (int t = 0; t < take; t++) mask[b * _chunk + t] = 1f;
        }
        return new TrajectoryBatch(
            OwnedTensor.From(obs, chunks, _chunk, _obsSize),
            OwnedTensor.From(act, chunks, _chunk, _actSize),
            OwnedTensor.From(mask, chunks, _chunk));
    }
}
