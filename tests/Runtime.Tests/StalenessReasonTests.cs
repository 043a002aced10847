using System.Text.Json.Nodes;
using IwSft.Runtime.Execution;
using IwSft.Runtime.Store;

namespace IwSft.Runtime.Tests;

public sealed class NestedConfig
{
    public long Top { get; set; } = 1;
    public long Other { get; set; } = 2;
    public InnerConfig Inner { get; set; } = new();
}

public sealed class InnerConfig
{
    public long Depth { get; set; } = 3;
}

/// <summary>A stage with a nested configuration and two injected settings, for explaining cache misses.</summary>
public sealed class Explained(string name, NestedConfig? config = null, int alpha = 1, int beta = 2) : Stage<NestedConfig>(name, config)
{
    [InKey] readonly int _alpha = alpha;
    [InKey] readonly int _beta = beta;
    public override string Kind => "test.explained";
    public override int Version => 1;
    public override IReadOnlyList<PortSpec> Inputs => [];
    public override IReadOnlyList<PortSpec> Outputs => [];
    public override Task RunAsync(IStageContext ctx) => Task.CompletedTask;
}

/// <summary>
/// The wording and order of the reasons a stage is stale, from the current key parts and the stage's last lock
/// entry: each reason on its own, several at once (own changes first, then inputs, then external files).
/// </summary>
public class StalenessReasonTests
{
    static readonly string H1 = new('1', 64), H2 = new('2', 64), H3 = new('3', 64);

    /// <summary>The key the stage has now (its real identity and configuration), with these inputs and externals.</summary>
    static StageKey KeyOf(Stage s, string key, Dictionary<string, string>? inputs = null, Dictionary<string, string>? externals = null) =>
        new(key, JsonNode.Parse(Hashing.Canonical(s.ConfigJson()))!,
            new SortedDictionary<string, InputLock>((inputs ?? []).ToDictionary(kv => kv.Key, kv => new InputLock("up." + kv.Key, kv.Value)), StringComparer.Ordinal),
            new SortedDictionary<string, string>(externals ?? [], StringComparer.Ordinal), StageIdentity.Of(s));

    /// <summary>The lock entry the stage would have written with that key: nothing of its own changed since.</summary>
    static LockEntry Recorded(Stage s, StageKey key) => key.ToLockEntry(s, new Dictionary<string, ArtifactRef>());

    [Fact]
    public void Never_run_and_missing_entry_and_unexplained_key_change()
    {
        var s = new Explained("e");
        var key = KeyOf(s, H1);
        Assert.Equal("never run", StalenessReasons.Describe(s, key, null));
        Assert.Equal("cache entry missing", StalenessReasons.Describe(s, key, Recorded(s, key)));
        // The key differs but none of the recorded parts does (e.g. the stage was renamed).
        Assert.Equal("cache key changed", StalenessReasons.Describe(s, KeyOf(s, H2), Recorded(s, key)));
    }

    [Fact]
    public void Every_changed_input_is_named_once_including_removed_ones()
    {
        var s = new Explained("e");
        var before = Recorded(s, KeyOf(s, H1, inputs: new() { ["a"] = H1, ["b"] = H1, ["c"] = H1, ["gone"] = H1 }));
        var now = KeyOf(s, H2, inputs: new() { ["a"] = H2, ["b"] = H1, ["c"] = H3, ["new"] = H1 });
        Assert.Equal("input changed: a, c, new, gone", StalenessReasons.Describe(s, now, before));
    }

    [Fact]
    public void Every_changed_external_file_is_named_once_including_removed_ones()
    {
        var s = new Explained("e");
        var before = Recorded(s, KeyOf(s, H1, externals: new() { ["/x"] = H1, ["/y"] = H1, ["/z"] = H1 }));
        Assert.Equal("external file changed: /x, /z",
            StalenessReasons.Describe(s, KeyOf(s, H2, externals: new() { ["/x"] = H2, ["/y"] = H1 }), before));
        Assert.Equal("external file changed: /y",
            StalenessReasons.Describe(s, KeyOf(s, H2, externals: new() { ["/x"] = H1, ["/z"] = H1 }), before));
    }

    [Fact]
    public void Changed_configuration_keys_are_named_by_their_dotted_path_in_order()
    {
        var before = new Explained("e");
        var recorded = Recorded(before, KeyOf(before, H1));
        var s = new Explained("e", new NestedConfig { Top = 10, Other = 20, Inner = new InnerConfig { Depth = 30 } });
        Assert.Equal("config changed: inner.depth, other, top", StalenessReasons.Describe(s, KeyOf(s, H2), recorded));

        // A lock entry without a recorded configuration (or one that was not an object) changed as a whole.
        recorded.Config = null;
        Assert.Equal("config changed: (whole configuration)", StalenessReasons.Describe(before, KeyOf(before, H2), recorded));
        recorded.Config = new JsonArray(1, 2);
        Assert.Equal("config changed: (whole configuration)", StalenessReasons.Describe(before, KeyOf(before, H2), recorded));
    }

    [Fact]
    public void Changed_injected_behaviour_names_each_changed_field()
    {
        var before = new Explained("e", alpha: 1, beta: 2);
        var recorded = Recorded(before, KeyOf(before, H1));
        var s = new Explained("e", alpha: 5, beta: 6);
        Assert.Equal("injected behaviour changed: alpha, beta", StalenessReasons.Describe(s, KeyOf(s, H2), recorded));
        var one = new Explained("e", alpha: 1, beta: 7);
        Assert.Equal("injected behaviour changed: beta", StalenessReasons.Describe(one, KeyOf(one, H2), recorded));
    }

    [Fact]
    public void Changed_code_shows_twelve_characters_of_each_identity_or_that_none_was_recorded()
    {
        var s = new Explained("e");
        var key = KeyOf(s, H2);
        var recorded = Recorded(s, KeyOf(s, H1));
        var now = key.Identity.Code[..12];

        recorded.Code = null;
        Assert.Equal($"code changed: (none recorded) -> {now}", StalenessReasons.Describe(s, key, recorded));
        recorded.Code = "abc";
        Assert.Equal($"code changed: abc -> {now}", StalenessReasons.Describe(s, key, recorded));
        recorded.Code = "0123456789abcdef0123";
        Assert.Equal($"code changed: 0123456789ab -> {now}", StalenessReasons.Describe(s, key, recorded));
    }

    [Fact]
    public void Reasons_come_in_order_own_changes_then_inputs_then_external_files()
    {
        var s = new Explained("e", new NestedConfig { Top = 9 }, alpha: 4);
        var recorded = Recorded(s, KeyOf(s, H1, inputs: new() { ["in"] = H1 }, externals: new() { ["/f"] = H1 }));
        recorded.Kind = "test.before";
        recorded.Version = 0;
        recorded.Code = "feedfacefeedface";
        recorded.Behaviour = new JsonObject { ["alpha"] = 1, ["beta"] = 2 };
        recorded.Config = JsonNode.Parse("""{"inner":{"depth":3},"other":2,"top":1}""");
        var now = KeyOf(s, H2, inputs: new() { ["in"] = H2 }, externals: new() { ["/f"] = H2 });
        Assert.Equal(
            "stage kind changed: test.before -> test.explained; code version changed: v0 -> v1; "
            + $"code changed: feedfacefeed -> {now.Identity.Code[..12]}; injected behaviour changed: alpha; config changed: top; "
            + "input changed: in; external file changed: /f",
            StalenessReasons.Describe(s, now, recorded));
    }
}
