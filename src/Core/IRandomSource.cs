namespace IwSft.Core;

/// <summary>Uniform doubles in [0, 1); a seam so tests can script the draws.</summary>
public interface IRandomSource
{
    double NextDouble();
}
