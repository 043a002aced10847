using System.Buffers.Binary;
using System.IO.Compression;

namespace IwSft.Pipelines.Tests.Ui;

/// <summary>
/// A minimal PNG decoder for the tests (8-bit greyscale, RGB or RGBA, not interlaced: what Chromium and ScottPlot
/// write): chunks, zlib-inflated IDAT, scanline filters undone. Enough to count the colours of a screenshot.
/// </summary>
static class PngPixels
{
    public sealed record Image(int Width, int Height, int Channels, byte[] Pixels)
    {
        /// <summary>Distinct RGB(A) colours among all pixels.</summary>
        public int DistinctColours()
        {
            var set = new HashSet<int>();
            for (int i = 0; i < Pixels.Length; i += Channels)
                set.Add(Channels switch
                {
                    1 => Pixels[i],
                    _ => Pixels[i] << 16 | Pixels[i + 1] << 8 | Pixels[i + 2],
                });
            return set.Count;
        }
    }

    static readonly byte[] Signature = [137, 80, 78, 71, 13, 10, 26, 10];

    public static Image Decode(byte[] png)
    {
        if (png.Length < 8 || !png.AsSpan(0, 8).SequenceEqual(Signature)) throw new InvalidDataException("not a PNG (bad signature)");
        int width = 0, height = 0, channels = 0;
        using var idat = new MemoryStream();
        for (int pos = 8; pos + 8 <= png.Length;)
        {
            int length = BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(pos));
            string type = System.Text.Encoding.ASCII.GetString(png, pos + 4, 4);
            var data = png.AsSpan(pos + 8, length);
            if (type == "IHDR")
            {
                width = BinaryPrimitives.ReadInt32BigEndian(data);
                height = BinaryPrimitives.ReadInt32BigEndian(data[4..]);
                byte depth = data[8], colour = data[9], interlace = data[12];
                if (depth != 8 || interlace != 0) throw new NotSupportedException($"PNG depth {depth}, interlace {interlace}");
                channels = colour switch { 0 => 1, 2 => 3, 4 => 2, 6 => 4, _ => throw new NotSupportedException($"PNG colour type {colour}") };
            }
            else if (type == "IDAT") idat.Write(data);
            else if (type == "IEND") break;
            pos += 12 + length;
        }
        if (width <= 0 || height <= 0) throw new InvalidDataException("PNG without IHDR");
        idat.Position = 0;
        using var z = new ZLibStream(idat, CompressionMode.Decompress);
        using var raw = new MemoryStream();
        z.CopyTo(raw);
        return new Image(width, height, channels, Unfilter(raw.ToArray(), width, height, channels));
    }

    static byte[] Unfilter(byte[] raw, int width, int height, int bpp)
    {
        int stride = width * bpp;
        if (raw.Length < (stride + 1) * height) throw new InvalidDataException("PNG image data too short");
        var pixels = new byte[stride * height];
        for (int y = 0; y < height; y++)
        {
            byte filter = raw[y * (stride + 1)];
            var line = raw.AsSpan(y * (stride + 1) + 1, stride);
            var output = pixels.AsSpan(y * stride, stride);
            var previous = y > 0 ? pixels.AsSpan((y - 1) * stride, stride) : new byte[stride];
            for (int x = 0; x < stride; x++)
            {
                int a = x >= bpp ? output[x - bpp] : 0, b = previous[x], c = x >= bpp ? previous[x - bpp] : 0;
                output[x] = (byte)(line[x] + filter switch
                {
                    0 => 0, 1 => a, 2 => b, 3 => (a + b) / 2,
                    4 => Paeth(a, b, c),
                    _ => throw new InvalidDataException($"PNG filter {filter}"),
                });
            }
        }
        return pixels;
    }

    static int Paeth(int a, int b, int c)
    {
        int p = a + b - c, pa = Math.Abs(p - a), pb = Math.Abs(p - b), pc = Math.Abs(p - c);
        return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
    }
}
