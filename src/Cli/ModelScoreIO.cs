using System.Text.Json;
using System.Text.Json.Nodes;
using Parquet.Serialization;

namespace IwSft.Cli;

/// <summary>Input row of `iwsft model score`: text (tokenized with the model's tokenizer) or token ids.</summary>
public sealed class ScoreInputRow
{
    public string? id { get; set; }
    public string? prompt { get; set; }
    public string? completion { get; set; }
    public List<int>? prompt_ids { get; set; }
    public List<int>? completion_ids { get; set; }
}

/// <summary>Output row: per-token completion log-probs, their sum and count.</summary>
public sealed class ScoreOutputRow
{
    public string? id { get; set; }
    public int row { get; set; }
    public List<float> logprobs { get; set; } = new();
    public double sum_logprob { get; set; }
    public int num_tokens { get; set; }
}

/// <summary>JSONL and Parquet reading/writing for the score command (format chosen by file extension).</summary>
public static class ModelScoreIO
{
    public static List<ScoreInputRow> Read(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"input file not found: {path}", path);
        if (path.EndsWith(".parquet", StringComparison.OrdinalIgnoreCase))
        {
            using var s = File.OpenRead(path);
            try { return ParquetSerializer.DeserializeAsync<ScoreInputRow>(s).GetAwaiter().GetResult().Data.ToList(); }
            catch (Exception e) when (e is not IOException)
            {
                throw new InvalidDataException($"{path}: cannot read as score input (id, prompt, completion: string; prompt_ids, completion_ids: list<int32>): {e.Message}");
            }
        }
        var rows = new List<ScoreInputRow>();
        int line = 0;
        foreach (var text in File.ReadLines(path))
        {
            line++;
            if (string.IsNullOrWhiteSpace(text)) continue;
            try
            {
                var o = JsonNode.Parse(text) as JsonObject ?? throw new JsonException("not a JSON object");
                rows.Add(new ScoreInputRow
                {
                    id = o["id"]?.ToString(),
                    prompt = o["prompt"]?.GetValue<string>(),
                    completion = o["completion"]?.GetValue<string>(),
                    prompt_ids = o["prompt_ids"]?.AsArray().Select(x => x!.GetValue<int>()).ToList(),
                    completion_ids = o["completion_ids"]?.AsArray().Select(x => x!.GetValue<int>()).ToList(),
                });
            }
            catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException)
            {
                throw new InvalidDataException($"{path}: line {line}: {e.Message}");
            }
        }
        return rows;
    }

    public static void Write(string path, IReadOnlyList<ScoreOutputRow> rows)
    {
        var dir = Path.GetDirectoryName(Path.GetFullPath(path))!;
        Directory.CreateDirectory(dir);
        var tmp = path + ".tmp";
        if (path.EndsWith(".parquet", StringComparison.OrdinalIgnoreCase))
        {
            using (var s = File.Create(tmp)) ParquetSerializer.SerializeAsync(rows, s).GetAwaiter().GetResult();
        }
        else
        {
            using var w = new StreamWriter(tmp);
            foreach (var r in rows) w.WriteLine(JsonSerializer.Serialize(r));
        }
        File.Move(tmp, path, overwrite: true);
    }
}
