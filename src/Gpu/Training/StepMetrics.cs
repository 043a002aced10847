namespace IwSft.Gpu.Training;

/// <summary>One optimiser step's record (a row of the train_metrics artifact).</summary>
public sealed record StepMetrics(
    int Step, double Epoch, double Loss, double LearningRate, double GradNorm,
    double WeightMean, double WeightMin, double WeightMax, double WeightEss,
    long Tokens, long LossTokens, double TokensPerSecond, double Seconds);

/// <summary>Raised when a step produces a non-finite loss or gradient; no update was applied.</summary>
public sealed class NonFiniteTrainingException(string message) : Exception(message);
