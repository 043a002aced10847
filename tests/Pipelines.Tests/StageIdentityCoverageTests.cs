using IwSft.Pipelines;
using IwSft.Runtime;
using IwSft.Runtime.Execution;

namespace IwSft.Pipelines.Tests;

/// <summary>
/// Everything a stage holds besides its configuration either goes into its cache key ([InKey]) or says why
/// it does not ([NotInKey]): a new injected formatter, option or rule cannot silently stay out of the key
/// (the lm-evaluation-harness cache bug, #2715, in another form).
/// </summary>
public class StageIdentityCoverageTests
{
    static IEnumerable<Type> StageKinds() =>
        new[] { typeof(PipelineCatalog).Assembly, typeof(IwSft.Stages.Ingest.IngestStage).Assembly, typeof(IwSft.Stages.Training.TrainStage).Assembly }
            .SelectMany(a => a.GetTypes())
            .Where(t => typeof(Stage).IsAssignableFrom(t) && !t.IsAbstract);

    [Fact]
    public void Every_stage_field_is_declared_in_or_out_of_the_key()
    {
        var kinds = StageKinds().ToList();
        Assert.True(kinds.Count >= 25, $"found only {kinds.Count} stage kinds");
        var undecided = kinds.SelectMany(t => StageIdentity.UndecidedFields(t).Select(f => $"{t.Name}.{f.Name}")).ToList();
        Assert.True(undecided.Count == 0, "stage fields with neither [InKey] nor [NotInKey(reason)]: " + string.Join(", ", undecided));
    }

    [Fact]
    public void Every_catalogue_stage_has_a_code_and_behaviour_identity()
    {
        foreach (var definition in PipelineCatalog.All)
        {
            var pipeline = definition.Build(new PipelineBuildOptions { Quick = true });
            foreach (var stage in pipeline.Stages)
            {
                var identity = StageIdentity.Of(stage);
                Assert.Matches("^[0-9a-f]{64}$", identity.Code);
                Assert.Equal(identity.Code, StageIdentity.Of(stage).Code);
            }
        }
    }
}
