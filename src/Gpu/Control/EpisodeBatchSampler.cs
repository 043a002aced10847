using IwSft.Control.Environments;
using IwSft.Gpu.Models;

namespace IwSft.Gpu.Control;

/// <summary>
/// The authors' batching (BCReplay.sample in emmyqin/iw_sft_control): a batch is <c>batchEpisodes</c> whole
/// episodes drawn uniformly with replacement (an episode listed twice, as SFT(Q)'s concatenation does, is
/// twice as likely), each padded with mask 0 to the longest episode of the batch. The τ of log p(τ)/len(τ)
/// and of the iw weight is the whole episode. (The authors pad to the longest episode of the data set; padding
/// to the batch's longest changes nothing but the amount of masked work.) Deterministic given the seed; the
/// draws go through <see cref="ControlRng"/>, never libtorch's generator.
/// </summary>
public sealed class EpisodeBatchSampler : ITrajectoryBatchSampler
{
    readonly IReadOnlyList<Episode> _episodes;
    readonly int _obsSize, _actSize;
    readonly long[] _drawCounts;
    ControlRng _rng;

    public EpisodeBatchSampler(IReadOnlyList<Episode> episodes, int batchEpisodes, ulong seed)
    {
        if (episodes.Count == 0) throw new ArgumentException("no episodes to sample from", nameof(episodes));
        if (batchEpisodes < 1) throw new ArgumentOutOfRangeException(nameof(batchEpisodes), "a batch needs at least one episode");
        _episodes = episodes;
        _obsSize = episodes[0].ObservationSize;
        _actSize = episodes[0].ActionSize;
        for (int i = 0; i < episodes.Count; i++)
        {
            if (episodes[i].Length == 0) throw new ArgumentException($"episode {i} is empty");
            if (episodes[i].ObservationSize != _obsSize || episodes[i].ActionSize != _actSize)
                throw new ArgumentException($"episode {i} has sizes ({episodes[i].ObservationSize}, {episodes[i].ActionSize}), episode 0 ({_obsSize}, {_actSize})");
        }
        BatchTrajectories = batchEpisodes;
        _drawCounts = new long[episodes.Count];
        _rng = new ControlRng(seed);
    }

    public int BatchTrajectories { get; }

    /// <summary>How often each listed episode has been drawn so far.</summary>
    public IReadOnlyList<long> DrawCounts => _drawCounts;

    /// <summary>The list indices of the last batch, in batch order.</summary>
    public int[] LastIndices { get; private set; } = [];

    public TrajectoryBatch Next()
    {
        int b = BatchTrajectories;
        var indices = new int[b];
        int tMax = 0;
        for (int i = 0; i < b; i++)
        {
            indices[i] = _rng.NextInt(_episodes.Count);
            _drawCounts[indices[i]]++;
            tMax = Math.Max(tMax, _episodes[indices[i]].Length);
        }
        var obs = new float[b * tMax * _obsSize];
        var act = new float[b * tMax * _actSize];
        var mask = new float[b * tMax];
        for (int i = 0; i < b; i++)
        {
            var ep = _episodes[indices[i]];
            Array.Copy(ep.Observations, 0, obs, i * tMax * _obsSize, ep.Length * _obsSize);
            Array.Copy(ep.Actions, 0, act, i * tMax * _actSize, ep.Length * _actSize);
            Array.Fill(mask, 1f, i * tMax, ep.Length);
        }
        LastIndices = indices;
        return new TrajectoryBatch(
            OwnedTensor.From(obs, b, tMax, _obsSize),
            OwnedTensor.From(act, b, tMax, _actSize),
            OwnedTensor.From(mask, b, tMax));
    }
}
