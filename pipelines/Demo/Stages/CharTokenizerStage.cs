using IwSft.Runtime;

namespace IwSft.Pipelines.Demo.Stages;

/// <summary>No settings: the vocabulary is fixed by <see cref="CharTokenizerDirectory"/> (bump the stage version to change it).</summary>
public sealed class CharTokenizerConfig { }

/// <summary>Stage kind <c>demo_char_tokenizer</c>: writes the demo's character-level HF tokenizer directory.</summary>
public sealed class CharTokenizerStage(string name) : Stage<CharTokenizerConfig>(name)
{
    public const string TokenizerOutput = "tokenizer";
    public override string Kind => "demo.char-tokenizer";
    public override int Version => 1;
    public override IReadOnlyList<PortSpec> Inputs => [];
    public override IReadOnlyList<PortSpec> Outputs => [PortSpec.Dir(TokenizerOutput)];

    public override Task RunAsync(IStageContext context)
    {
        CharTokenizerDirectory.Write(context.OutputDirectory(TokenizerOutput));
        context.SetMetric("vocab_size", CharTokenizerDirectory.VocabularySize);
        return Task.CompletedTask;
    }
}
