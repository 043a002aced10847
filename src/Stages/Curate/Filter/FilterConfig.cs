namespace IwSft.Stages.Curate.Filter;

/// <summary>Configuration of the curate filter. Rules run in the order listed here; the first that fires decides.</summary>
public sealed class FilterConfig
{
    /// <summary>missing_features: columns that must be non-null (and, for strings, not blank).</summary>
    public List<string> RequiredColumns { get; set; } = ["question", "trace", "attempt"];

    /// <summary>The s1 weird-string rules (asy_figure, image_link, problem_marker, bold_number).</summary>
    public bool WeirdStrings { get; set; } = true;

    /// <summary>Columns the weird-string rules look at (s1: the question).</summary>
    public List<string> WeirdStringColumns { get; set; } = ["question"];

    /// <summary>Sources (regex on 'source') where [asy] is allowed (s1: the AIME source).</summary>
    public string AsyAllowedSourcePattern { get; set; } = "(?i)aime";

    /// <summary>length: bounds on a string column's length in chars or an integer column (e.g. trace_tokens).</summary>
    public List<LengthBound> LengthBounds { get; set; } = [];

    /// <summary>difficulty: bool columns (one per reference model, from the grading judge); a record any of them solved is dropped.</summary>
    public List<string> SolvedByColumns { get; set; } = [];

    /// <summary>min_quality: drop records whose 'quality' is below this (null: rule off).</summary>
    public double? MinQuality { get; set; }

    public string QualityColumn { get; set; } = "quality";
}

/// <summary>
/// Bound on one column: for a string column the length in chars, for an integer column its value
/// (e.g. trace_tokens). Null means unbounded; both ends inclusive.
/// </summary>
public sealed class LengthBound
{
    public string Column { get; set; } = "trace";
    public long? Min { get; set; }
    public long? Max { get; set; }
}
