namespace IwSft.Runtime.Tests;

/// <summary>An output a stage may leave unwritten, and the inputs bound to it: optional ones go without, required ones fail.</summary>
public class OptionalInputTests : StoreTest
{
    sealed class MayWrite(string name) : Stage<Empty>(name)
    {
        public override string Kind => "test.may-write";
        public override int Version => 1;
        public override IReadOnlyList<PortSpec> Inputs => [];
        public override IReadOnlyList<PortSpec> Outputs => [PortSpec.Dir("always"), PortSpec.Dir("extra", optional: true)];
        public override Task RunAsync(IStageContext ctx)
        {
            File.WriteAllText(Path.Combine(ctx.OutputDirectory("always"), "a"), "a");
            return Task.CompletedTask;   // "extra" is left unwritten
        }
    }

    sealed class Uses(string name, bool optional) : Stage<Empty>(name)
    {
        public override string Kind => "test.uses";
        public override int Version => 1;
        public override IReadOnlyList<PortSpec> Inputs => [PortSpec.Dir("always"), PortSpec.Dir("extra", optional)];
        public override IReadOnlyList<PortSpec> Outputs => [PortSpec.Dir("out")];
        public override Task RunAsync(IStageContext ctx)
        {
            File.WriteAllText(Path.Combine(ctx.OutputDirectory("out"), "done"), "");
            return Task.CompletedTask;
        }
    }

    static Pipeline Build(bool optional)
    {
        var p = new Pipeline("optional");
        var up = p.Add(new MayWrite("up"));
        p.Add(new Uses("use", optional)).From("always", up["always"]).From("extra", up["extra"]);
        return p;
    }

    [Fact]
    public async Task An_optional_input_whose_upstream_wrote_nothing_is_left_out()
    {
        var r = await Run(Build(optional: true));
        Assert.True(r.Succeeded);
        Assert.Equal(StageStatus.Ran, r.Stages["use"].Status);
        Assert.Equal(StageStatus.Cached, (await Run(Build(optional: true))).Stages["use"].Status);
    }

    [Fact]
    public async Task A_required_input_whose_upstream_wrote_nothing_fails_the_stage_naming_both()
    {
        var e = await Assert.ThrowsAsync<StageFailedException>(() => Run(Build(optional: false)));
        Assert.Equal("use", e.Stage);
        Assert.Contains("stage 'use' input 'extra': upstream 'up.extra' produced no artifact", e.Message);
    }
}
