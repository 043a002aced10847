using IwSft.Runtime;
using IwSft.Stages.Curate.Filter;
using IwSft.Stages.Curate.Format;
using IwSft.Stages.Curate.Judge;
using IwSft.Stages.Curate.Select;

using IwSft.Stages.Curate;

namespace IwSft.Pipelines.S1k;

/// <summary>A reference model whose answers were collected (e.g. by ingest into metadata) and get graded.</summary>
public sealed class ReferenceModelAnswers
{
    /// <summary>Short name; the grading judge writes bool column <c>solved_{Name}</c>.</summary>
    public string Name { get; set; } = "";
    /// <summary>Prompt placeholder of the model's answer: a column or <c>metadata.key</c>.</summary>
    public string AnswerPlaceholder { get; set; } = "";
}

/// <summary>Settings of the s1 curation chain (judges, filter, selection, formatting).</summary>
public sealed class S1kCurationOptions
{
    public string JudgeBaseUrl { get; set; } = "http://127.0.0.1:8000";
    public string JudgeModel { get; set; } = "";
    public string? ApiKeyEnv { get; set; }
    public int MaxConcurrency { get; set; } = 8;
    public JudgeResilienceConfig Resilience { get; set; } = new();
    /// <summary>Difficulty: records any of these models solved are dropped (s1: Qwen2.5-7B and -32B-Instruct).</summary>
    public List<ReferenceModelAnswers> ReferenceModels { get; set; } = [];
    /// <summary>Tokenizer for trace lengths and sequences: a HF directory, or "cl100k_base" for lengths only.</summary>
    public string Tokenizer { get; set; } = "cl100k_base";
    public SelectConfig Select { get; set; } = new();
    public int BlockSize { get; set; } = 22000;
    /// <summary>Constrain judge replies to the valid answers (<see cref="JudgeConfig.GuidedChoice"/>).</summary>
    public bool GuidedChoice { get; set; }
    /// <summary>A checkpoint to judge with in process (bound to each judge's <c>judge_model</c>); null = the server.</summary>
    public OutputRef? JudgeCheckpoint { get; set; }
    /// <summary>Opens <see cref="JudgeCheckpoint"/> (required with it).</summary>
    public IwSft.Stages.Evaluate.ICompletionGeneratorFactory? JudgeGenerators { get; set; }
}

/// <summary>The stages the chain added, for wiring and inspection.</summary>
public sealed record S1kCurationStages(JudgeStage Domain, JudgeStage AttemptGrade, IReadOnlyList<JudgeStage> Solved,
    TokenLengthStage Lengths, FilterStage Filter, S1kSelectStage Select, FormatStage Format)
{
    public OutputRef Curated => Select["records"];
    public OutputRef Sequences => Format["sequences"];
}

/// <summary>
/// Adds the s1 curation recipe (DESIGN.md section 3) after a candidates output: domain judge (MSC class) →
/// grading of the strong model's attempt (<c>attempt_correct</c>, used by the benchmark rule) → grading of each
/// reference model's answer (<c>solved_{name}</c>) → trace tokens → filter (missing features, weird strings,
/// difficulty) → 1K selection → Qwen-template sequences. The prompts are this project's wording, not s1's.
/// </summary>
public static class S1kCuration
{
    public const string DomainPrompt =
        "Classify the following problem into the top-level class of the Mathematics Subject Classification (MSC 2020) " +
        "that fits it best (problems from other sciences go to the closest class, e.g. 81 Quantum theory or 92 Biology). " +
        "Reply with only the two-digit class code.\n\nProblem:\n{question}";

    /// <summary>Grading prompt; {answer_under_test} is replaced by the placeholder of the answer graded.</summary>
    public const string GradingPrompt =
        "You are grading an answer to a problem against the reference solution. Judge only whether the final answer " +
        "is equivalent to the reference solution's final answer; ignore the reasoning and the formatting.\n\n" +
        "Problem:\n{question}\n\nReference solution:\n{solution}\n\nAnswer to grade:\n{answer_under_test}\n\n" +
        "Is the answer correct? Reply Yes or No.";

    public static S1kCurationStages Add(Pipeline p, OutputRef candidates, S1kCurationOptions o)
    {
        JudgeConfig Judge(JudgeKind kind, string prompt, string column) => new()
        {
            BaseUrl = o.JudgeBaseUrl, Model = o.JudgeModel, ApiKeyEnv = o.ApiKeyEnv, Kind = kind, PromptTemplate = prompt,
            OutputColumn = column, MaxConcurrency = o.MaxConcurrency, Resilience = o.Resilience, GuidedChoice = o.GuidedChoice,
        };
        JudgeStage AddJudge(string name, JudgeConfig config, OutputRef records)
        {
            var judge = p.Add(new JudgeStage(name, config, o.JudgeCheckpoint is null ? null : o.JudgeGenerators
                ?? throw new ArgumentException("S1kCurationOptions: a judge checkpoint needs JudgeGenerators to open it")));
            judge.From("records", records);
            if (o.JudgeCheckpoint is { } checkpoint) judge.From(JudgeStage.JudgeModelInput, checkpoint);
            return judge;
        }
        string Grading(string answerPlaceholder) => GradingPrompt.Replace("{answer_under_test}", "{" + answerPlaceholder + "}");

        var domain = AddJudge("judge_domain", Judge(JudgeKind.Domain, DomainPrompt, "domain"), candidates);
        var attempt = AddJudge("judge_attempt", Judge(JudgeKind.Grading, Grading("attempt"), "attempt_correct"), domain["records"]);
        var last = attempt["records"];
        var solved = new List<JudgeStage>();
        foreach (var m in o.ReferenceModels)
        {
            var s = AddJudge($"judge_solved_{m.Name}", Judge(JudgeKind.Grading, Grading(m.AnswerPlaceholder), $"solved_{m.Name}"), last);
            last = s["records"];
            solved.Add(s);
        }
        var lengths = p.Add(new TokenLengthStage("trace_tokens", new TokenLengthConfig { Tokenizer = o.Tokenizer }));
        lengths.From("records", last);
        var solvedColumns = o.ReferenceModels.Select(m => $"solved_{m.Name}").ToList();
        var filter = p.Add(new FilterStage("filter", new FilterConfig
        {
            RequiredColumns = ["question", "trace", "attempt", "domain", "trace_tokens", "attempt_correct", .. solvedColumns],
            SolvedByColumns = solvedColumns,
        }));
        filter.From("records", lengths["records"]);
        var select = p.Add(new S1kSelectStage("select", o.Select));
        select.From("records", filter["records"]);
        var format = p.Add(new FormatStage("format", new FormatConfig { Tokenizer = o.Tokenizer, BlockSize = o.BlockSize }));
        format.From("records", select["records"]);
        return new S1kCurationStages(domain, attempt, solved, lengths, filter, select, format);
    }
}
