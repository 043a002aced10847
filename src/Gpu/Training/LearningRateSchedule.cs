namespace IwSft.Gpu.Training;

/// <summary>
/// Linear warmup then cosine decay to a floor, exactly as Hugging Face's
/// get_cosine_schedule_with_warmup (the authors' launch script): warmup steps = ceil(ratio · total),
/// lr(s) = peak · s / warmup for s &lt; warmup (so the first step has lr 0), then
/// lr(s) = min + (peak − min) · ½(1 + cos(π · (s − warmup) / (total − warmup))).
/// </summary>
public sealed record LearningRateSchedule(double PeakLearningRate, int TotalSteps, double WarmupRatio = 0.05,
                                          double MinLearningRate = 0.0, int? WarmupSteps = null)
{
    /// <summary>Warmup length: an explicit step count, or ceil(ratio · total).</summary>
    public int Warmup => WarmupSteps ?? (int)Math.Ceiling(WarmupRatio * TotalSteps);

    public double At(int step)
    {
        if (step < 0) throw new ArgumentOutOfRangeException(nameof(step));
        int warmup = Warmup;
        if (step < warmup) return PeakLearningRate * step / Math.Max(1, warmup);
        double progress = (double)(step - warmup) / Math.Max(1, TotalSteps - warmup);
        double cosine = Math.Max(0.0, 0.5 * (1.0 + Math.Cos(Math.PI * Math.Min(1.0, progress))));
        return MinLearningRate + (PeakLearningRate - MinLearningRate) * cosine;
    }
}
