using System.Text;
using IwSft.Gpu.Models;
using IwSft.Gpu.Safetensors;
using static TorchSharp.torch;

namespace IwSft.Gpu.Tests;

/// <summary>Reader/writer round trips and malformed files: every bad file is a clean error naming the file and tensor.</summary>
public class SafetensorsTests
{
    /// <summary>Writes a raw file: 8-byte length, header text, then <paramref name="dataBytes"/> zero bytes.</summary>
    static string Raw(string header, int dataBytes, long? lyingLength = null)
    {
        var path = Path.Combine(ModelTestKit.TempDir(), "x.safetensors");
        var h = Encoding.UTF8.GetBytes(header);
        using var fs = File.Create(path);
        fs.Write(BitConverter.GetBytes((ulong)(lyingLength ?? h.Length)));
        fs.Write(h);
        fs.Write(new byte[dataBytes]);
        return path;
    }

    static string Error(string path) => Assert.Throws<SafetensorsFormatException>(() => SafetensorsFile.Open(path).Dispose()).Message;

    [Fact]
    public void WrittenFileHasTheReferenceLayoutAndReadsBack()
    {
        var path = Path.Combine(ModelTestKit.TempDir(), "t.safetensors");
        using var a = tensor(new float[] { 1.5f, -2f, 3.25f, 0f, 7f, 8f }).reshape(2, 3);
        using var b = tensor(new long[] { 1, -1, long.MaxValue });
        SafetensorsWriter.Write(path, new[] { ("a", a), ("b", b) }, new Dictionary<string, string> { ["format"] = "pt" });

        var bytes = File.ReadAllBytes(path);
        long n = BitConverter.ToInt64(bytes, 0);
        Assert.Equal(0, n % 8);
        var header = Encoding.UTF8.GetString(bytes, 8, (int)n).TrimEnd();
        Assert.Equal("{\"__metadata__\":{\"format\":\"pt\"},\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},\"b\":{\"dtype\":\"I64\",\"shape\":[3],\"data_offsets\":[24,48]}}", header);
        Assert.Equal(8 + n + 48, bytes.Length);
        Assert.Equal(1.5f, BitConverter.ToSingle(bytes, (int)(8 + n)));

        using var f = SafetensorsFile.Open(path);
        Assert.Equal("pt", f.Metadata["format"]);
        using var ra = f.Read("a");
        using var rb = f.Read("b");
        Assert.Equal(new long[] { 2, 3 }, ra.shape);
        Assert.Equal(new float[] { 1.5f, -2f, 3.25f, 0f, 7f, 8f }, ra.data<float>().ToArray());
        Assert.Equal(new long[] { 1, -1, long.MaxValue }, rb.data<long>().ToArray());
    }

    [Fact]
    public void TruncatedFileNamesFileAndTensor()
    {
        var path = Raw("{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", dataBytes: 10);
        var msg = Error(path);
        Assert.Contains(path, msg);
        Assert.Contains("'w'", msg);
        Assert.Contains("truncated", msg);
    }

    [Fact]
    public void HeaderLengthPastEndOfFileIsRejected()
    {
        var path = Raw("{}", 0, lyingLength: 1_000_000);
        Assert.Contains("runs past the end", Error(path));
    }

    [Fact]
    public void HugeHeaderLengthIsRejectedWithoutAllocating()
    {
        var path = Raw("{}", 0, lyingLength: long.MaxValue);
        Assert.Contains("exceeds", Error(path));
    }

    [Fact]
    public void ShapeThatDisagreesWithByteRangeIsRejected()
    {
        var path = Raw("{\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,16]}}", 16);
        var msg = Error(path);
        Assert.Contains("'w'", msg);
        Assert.Contains("needs 24 bytes but data_offsets give 16", msg);
    }

    [Fact]
    public void OverlappingRangesAreRejected()
    {
        var path = Raw("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}", 16);
        var msg = Error(path);
        Assert.Contains("'b'", msg);
        Assert.Contains("overlap", msg);
    }

    [Fact]
    public void AbsurdShapeOverflowIsRejected()
    {
        var path = Raw("{\"w\":{\"dtype\":\"BF16\",\"shape\":[4294967296,4294967296,16],\"data_offsets\":[0,0]}}", 0);
        var msg = Error(path);
        Assert.Contains("'w'", msg);
        Assert.Contains("overflow", msg);
    }

    [Theory]
    [InlineData("{\"w\":", "not valid JSON")]
    [InlineData("[1,2]", "not an object")]
    [InlineData("{\"w\":{\"dtype\":\"Q4\",\"shape\":[1],\"data_offsets\":[0,1]}}", "unsupported dtype 'Q4'")]
    [InlineData("{\"w\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", "shape entry 0")]
    [InlineData("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}", "begin <= end")]
    [InlineData("{\"w\":{\"dtype\":\"F32\",\"shape\":[1]}}", "data_offsets")]
    [InlineData("{\"__metadata__\":{\"a\":1}}", "not a string")]
    [InlineData("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", "appears twice")]
    public void MalformedHeadersAreCleanErrors(string header, string expected)
    {
        var path = Raw(header, 8);
        var msg = Error(path);
        Assert.Contains(path, msg);
        Assert.Contains(expected, msg);
    }

    [Fact]
    public void TooShortFileIsRejected()
    {
        var path = Path.Combine(ModelTestKit.TempDir(), "short.safetensors");
        File.WriteAllBytes(path, new byte[] { 1, 2, 3 });
        Assert.Contains("too short", Error(path));
    }

    [Fact]
    public void PickledCheckpointsAreRefused()
    {
        var dir = ModelTestKit.TempDir();
        File.WriteAllBytes(Path.Combine(dir, "pytorch_model.bin"), new byte[] { 0x80, 0x02 });
        File.WriteAllText(Path.Combine(dir, "config.json"), ModelTestKit.Tiny().ToJson());
        var e = Assert.Throws<NotSupportedException>(() => Checkpoint.Load(dir));
        Assert.Contains("pytorch_model.bin", e.Message);
        Assert.Contains("pickle", e.Message);
        Assert.Throws<NotSupportedException>(() => SafetensorsFile.Open(Path.Combine(dir, "model.pt")));
    }
}
