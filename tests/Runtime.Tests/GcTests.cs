using IwSft.Runtime.Store;

namespace IwSft.Runtime.Tests;

/// <summary>
/// What one gc pass deletes and what it leaves, counted exactly: unreferenced objects (tables and directories)
/// with their sidecars and the cache entries that name them, and nothing the store did not write. The safety
/// guarantees under concurrent runs and damage are in StoreSafetyTests.
/// </summary>
public class GcTests : StoreTest
{
    static readonly GcOptions NoGrace = new() { Grace = TimeSpan.Zero };

    Pipeline Build(long count, string kind)
    {
        var p = new Pipeline("gc");
        var src = p.Add(new NumbersSource("src", Probe, new SourceConfig { Count = count }));
        p.Add(new KeepOdd("keep", Probe)).From("numbers", src["numbers"]);
        p.Add(new NamesItsKind("named", Probe, kind));
        return p;
    }

    string CacheFile(string key) => Path.Combine(Store.Root, "cache", key[..2], key + ".json");

    /// <summary>Every file and directory the store holds for an object: its content and its sidecar.</summary>
    List<string> ObjectEntries(string hash) =>
        Directory.GetFileSystemEntries(Path.Combine(Store.Root, "objects", hash[..2]), hash + "*").ToList();

    static long Bytes(string path) => Directory.Exists(path)
        ? new DirectoryInfo(path).EnumerateFiles("*", SearchOption.AllDirectories).Sum(f => f.Length)
        : new FileInfo(path).Length;

    [Fact]
    public async Task GcDeletesUnreferencedObjectsWithTheirSidecarsAndTheCacheEntriesThatNameThemCountingEveryByte()
    {
        var old = await Run(Build(100, "test.gc-a"));
        var current = await Run(Build(200, "test.gc-b")); // the lock now names only these
        var gone = old.Stages.Values.SelectMany(s => s.Outputs.Values).ToList();
        Assert.Equal(4, gone.Count); // src, keep's kept and decisions tables, named's directory
        Assert.Contains(gone, a => a.Kind == ArtifactKind.Directory);
        var goneEntries = gone.SelectMany(a => ObjectEntries(a.Hash)).ToList();
        Assert.Equal(8, goneEntries.Count); // each object and its .meta.json
        long bytes = goneEntries.Sum(Bytes);

        var gc = Store.CollectGarbage(NoGrace);

        Assert.Equal(4, gc.ObjectsDeleted);
        Assert.Equal(bytes, gc.BytesFreed);
        Assert.Equal(3, gc.CacheEntriesDeleted);
        Assert.All(goneEntries, e => Assert.False(Path.Exists(e), e));
        Assert.All(old.Stages.Values, s => Assert.False(File.Exists(CacheFile(s.Key!))));
        // what the lock names is untouched, cache entries included (a directory output counts as present)
        foreach (var s in current.Stages.Values)
        {
            Assert.True(File.Exists(CacheFile(s.Key!)));
            foreach (var o in s.Outputs.Values) Assert.Equal(ArtifactHealth.Ok, Store.Verify(o, fullHash: true));
        }
        Assert.All((await Run(Build(200, "test.gc-b"))).Stages.Values, s => Assert.Equal(StageStatus.Cached, s.Status));
        Assert.All((await Run(Build(100, "test.gc-a"))).Stages.Values, s => Assert.Equal(StageStatus.Ran, s.Status));
    }

    [Fact]
    public async Task ACacheEntryGoesWhenAnyOfItsOutputsIsGoneEvenIfTheOthersRemain()
    {
        var r = await Run(Build(100, "test.gc-a"));
        var keep = r.Stages["keep"];
        File.Delete(Store.ObjectPath(keep.Outputs["kept"])); // lost; "decisions" is still there
        var gc = Store.CollectGarbage(NoGrace);
        Assert.Equal(1, gc.CacheEntriesDeleted);
        Assert.False(File.Exists(CacheFile(keep.Key!)));
        Assert.True(File.Exists(CacheFile(r.Stages["src"].Key!)));
        Assert.True(File.Exists(Store.ObjectPath(keep.Outputs["decisions"]))); // still named by the lock
    }

    [Fact]
    public async Task AnObjectWithAnyRecentPartIsKeptUntilEveryPartIsOlderThanTheGracePeriod()
    {
        var old = await Run(Build(100, "test.gc-a"));
        await Run(Build(200, "test.gc-b"));
        var table = old.Stages["src"].Outputs["numbers"];
        var parts = ObjectEntries(table.Hash);
        Assert.Equal(2, parts.Count);
        var grace = new GcOptions { Grace = TimeSpan.FromHours(1) };
        foreach (var a in old.Stages.Values.SelectMany(s => s.Outputs.Values).Where(a => a.Hash != table.Hash))
            foreach (var e in ObjectEntries(a.Hash)) Touch(e, TimeSpan.FromHours(2));
        Touch(parts.Single(p => p.EndsWith(".parquet")), TimeSpan.FromHours(2)); // its sidecar stays recent

        var first = Store.CollectGarbage(grace);
        Assert.Equal(3, first.ObjectsDeleted);
        Assert.Equal(1, first.KeptRecent);
        Assert.All(parts, p => Assert.True(File.Exists(p)));

        Touch(parts.Single(p => p.EndsWith(".meta.json")), TimeSpan.FromHours(2));
        var second = Store.CollectGarbage(grace);
        Assert.Equal(1, second.ObjectsDeleted);
        Assert.Equal(0, second.KeptRecent);
        Assert.All(parts, p => Assert.False(File.Exists(p)));
    }

    static void Touch(string path, TimeSpan age)
    {
        var t = DateTime.UtcNow - age;
        if (Directory.Exists(path)) Directory.SetLastWriteTimeUtc(path, t);
        else File.SetLastWriteTimeUtc(path, t);
    }

    [Fact]
    public async Task GcDeletesOnlyNamesTheStoreWritesAndEmptiesTheQuarantine()
    {
        var old = await Run(Build(100, "test.gc-a"));
        await Run(Build(200, "test.gc-b"));
        var h = old.Stages["src"].Outputs["numbers"].Hash;
        var sub = Path.Combine(Store.Root, "objects", h[..2]);
        string otherPrefix = (h[0] == 'a' ? "b" : "a") + h[1..];
        var strangers = new[]
        {
            Path.Combine(sub, h + ".parquet.bak"),          // the object's hash, but not a name the store writes
            Path.Combine(sub, otherPrefix + ".parquet"),    // a hash in the wrong folder
            Path.Combine(sub, new string('z', 64) + ".parquet"), // 64 characters, not a hash
            Path.Combine(sub, "notes.txt"),
            Path.Combine(Store.Root, "cache", "ab", "notes.json"), // not a key: never read, never deleted
        };
        foreach (var f in strangers)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(f)!);
            File.WriteAllText(f, "mine");
        }
        Directory.CreateDirectory(Store.QuarantineDir);
        File.WriteAllText(Path.Combine(Store.QuarantineDir, "x.parquet.20261201"), "corrupt");

        var gc = Store.CollectGarbage(NoGrace);
        Assert.Equal(4, gc.ObjectsDeleted);
        Assert.False(File.Exists(Store.ObjectPath(old.Stages["src"].Outputs["numbers"])));
        Assert.All(strangers, f => Assert.True(File.Exists(f), f));
        Assert.False(Directory.Exists(Store.QuarantineDir));
    }

    [Fact]
    public async Task AnUnreferencedObjectThatIsASymbolicLinkLosesTheLinkNotWhatItPointsTo()
    {
        await Run(Build(100, "test.gc-a"));
        var outside = Path.Combine(Dir, "outside");
        Directory.CreateDirectory(outside);
        File.WriteAllText(Path.Combine(outside, "precious.txt"), "keep me");
        var hash = new string('c', 64);
        var link = Path.Combine(Store.Root, "objects", "cc", hash + ".dir");
        Directory.CreateDirectory(Path.GetDirectoryName(link)!);
        Directory.CreateSymbolicLink(link, outside);

        var gc = Store.CollectGarbage(NoGrace);
        Assert.Equal(1, gc.ObjectsDeleted);
        Assert.Equal(0, gc.BytesFreed);
        Assert.False(Path.Exists(link));
        Assert.Equal("keep me", File.ReadAllText(Path.Combine(outside, "precious.txt")));
    }

    [Fact]
    public async Task AnUnreadableRunRecordMeansGcDeletesNothing()
    {
        var old = await Run(Build(100, "test.gc-a"));
        await Run(Build(200, "test.gc-b"));
        var inflight = Path.Combine(Store.Root, "inflight");
        Directory.CreateDirectory(inflight);
        var record = Path.Combine(inflight, "broken-run.json");
        File.WriteAllText(record, "{ not json");
        var e = Assert.Throws<StoreFileCorruptException>(() => Store.CollectGarbage(NoGrace));
        Assert.Contains("broken-run.json", e.Message);
        Assert.All(old.Stages.Values.SelectMany(s => s.Outputs.Values), a => Assert.True(Path.Exists(Store.ObjectPath(a))));
    }
}
