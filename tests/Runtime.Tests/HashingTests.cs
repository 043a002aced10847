using System.Text;
using System.Text.Json.Nodes;
using IwSft.Runtime.Store;

namespace IwSft.Runtime.Tests;

/// <summary>Known answers and invariants of the content hashes and canonical JSON that cache keys are made of.</summary>
public sealed class HashingTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("iwsft-hashing-").FullName;
    public void Dispose() { try { Directory.Delete(_dir, recursive: true); } catch (IOException) { } }

    const string EmptySha = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    const string AbcSha = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    string Tree(string name, params (string rel, string text)[] files)
    {
        var root = Directory.CreateDirectory(Path.Combine(_dir, name)).FullName;
        foreach (var (rel, text) in files)
        {
            var full = Path.Combine(root, rel);
            Directory.CreateDirectory(Path.GetDirectoryName(full)!);
            File.WriteAllBytes(full, Encoding.UTF8.GetBytes(text));
        }
        return root;
    }

    [Fact]
    public void Sha256_of_known_bytes_and_files()
    {
        Assert.Equal(EmptySha, Hashing.Sha256Hex(""));
        Assert.Equal(AbcSha, Hashing.Sha256Hex("abc"));
        Assert.Equal(AbcSha, Hashing.Sha256Hex("abc"u8));
        var file = Path.Combine(_dir, "abc.txt");
        File.WriteAllText(file, "abc");
        Assert.Equal(AbcSha, Hashing.HashFile(file));
        Assert.Equal(AbcSha, Hashing.HashPath(file));
    }

    [Fact]
    public void A_directory_hash_is_sha256_over_sorted_relative_paths_and_file_hashes()
    {
        var root = Tree("t", ("b.txt", "abc"), ("a/z.txt", ""), ("a.txt", "abc"));
        // Ordinal order of the relative paths with '/': "a.txt" < "a/z.txt" < "b.txt".
        var expected = Hashing.Sha256Hex("dir\n" + $"a.txt\0{AbcSha}\n" + $"a/z.txt\0{EmptySha}\n" + $"b.txt\0{AbcSha}\n");
        Assert.Equal(expected, Hashing.HashDirectory(root));
        Assert.Equal(expected, Hashing.HashPath(root));
        Assert.Equal(Hashing.Sha256Hex("dir\n"), Hashing.HashDirectory(Tree("empty")));
    }

    [Fact]
    public void An_empty_directory_does_not_hash_like_an_empty_file()
    {
        var file = Path.Combine(_dir, "empty.bin");
        File.WriteAllBytes(file, []);
        Assert.NotEqual(Hashing.HashPath(file), Hashing.HashPath(Tree("empty")));
        // Empty subdirectories hold no files: they do not count.
        var onlyEmptySub = Tree("e2");
        Directory.CreateDirectory(Path.Combine(onlyEmptySub, "sub", "deeper"));
        Assert.Equal(Hashing.HashDirectory(Tree("e1")), Hashing.HashDirectory(onlyEmptySub));
    }

    [Fact]
    public void Names_places_and_bytes_decide_a_directory_hash_and_creation_order_does_not()
    {
        var baseline = Hashing.HashDirectory(Tree("base", ("a.txt", "one"), ("sub/b.txt", "two")));
        Assert.Equal(baseline, Hashing.HashDirectory(Tree("reversed", ("sub/b.txt", "two"), ("a.txt", "one"))));
        Assert.NotEqual(baseline, Hashing.HashDirectory(Tree("renamed", ("a2.txt", "one"), ("sub/b.txt", "two"))));
        Assert.NotEqual(baseline, Hashing.HashDirectory(Tree("moved", ("a.txt", "one"), ("b.txt", "two"))));
        Assert.NotEqual(baseline, Hashing.HashDirectory(Tree("edited", ("a.txt", "onE"), ("sub/b.txt", "two"))));
        Assert.NotEqual(baseline, Hashing.HashDirectory(Tree("extra", ("a.txt", "one"), ("sub/b.txt", "two"), ("c", ""))));
        Assert.NotEqual(Hashing.HashDirectory(Tree("lf", ("a.txt", "x\n"))), Hashing.HashDirectory(Tree("crlf", ("a.txt", "x\r\n"))));
    }

    [Fact]
    public void A_missing_directory_is_an_error_not_an_empty_hash()
    {
        var missing = Path.Combine(_dir, "nope");
        Assert.Throws<DirectoryNotFoundException>(() => Hashing.HashDirectory(missing));
        Assert.Throws<DirectoryNotFoundException>(() => Hashing.HashDirectory(missing, _ => EmptySha));
    }

    [Fact]
    public void Only_64_lowercase_hex_characters_are_a_hash()
    {
        Assert.True(Hashing.IsHash(AbcSha));
        Assert.True(Hashing.IsHash(new string('0', 64)));
        Assert.False(Hashing.IsHash(null));
        Assert.False(Hashing.IsHash(AbcSha[..63]));
        Assert.False(Hashing.IsHash(AbcSha + "0"));
        Assert.False(Hashing.IsHash(AbcSha.ToUpperInvariant()));
        Assert.False(Hashing.IsHash(new string('g', 64)));
        Assert.False(Hashing.IsHash("../" + AbcSha[3..]));
        Assert.False(Hashing.IsHash(AbcSha[..63] + "G"));
    }

    [Fact]
    public void Quote_prints_null_short_and_long_values_as_json()
    {
        Assert.Equal("null", Hashing.Quote(null));
        Assert.Equal("\"abc\"", Hashing.Quote("abc"));
        Assert.Equal("\"a\\nb\"", Hashing.Quote("a\nb"));
        var eighty = new string('x', 80);
        Assert.Equal($"\"{eighty}\"", Hashing.Quote(eighty));
        Assert.Equal($"\"{eighty}...\"", Hashing.Quote(eighty + "yz"));
    }

    [Fact]
    public void Integral_doubles_are_written_as_integers_and_objects_sorted_at_every_depth()
    {
        string C(string json) => Hashing.Canonical(JsonNode.Parse(json));
        Assert.Equal("""{"n":1000000000000000}""", C("""{"n":1e15}"""));
        Assert.Equal(C("""{"n":1000000000000000}"""), C("""{"n":1.0e15}"""));
        Assert.Equal(C("""{"n":-9007199254740991}"""), C("""{"n":-9007199254740991.0}"""));
        Assert.Equal("""{"a":[1,{"b":null,"c":"x"}],"z":true}""", C("""{ "z": true, "a": [1.0, {"c": "x", "b": null}] }"""));
    }
}
