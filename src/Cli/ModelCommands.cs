using System.CommandLine;
using IwSft.Gpu.Inference;
using IwSft.Gpu.Models;
using IwSft.Gpu.Safetensors;
using IwSft.Text;

namespace IwSft.Cli;

/// <summary>`iwsft model info|init|generate|score`: inspect, create and run checkpoints (benchmark: `iwsft bench model`).</summary>
public static partial class CommandCatalog
{
    static Command ModelCommand()
    {
        var model = new Command("model", "Inspect, create and run Qwen2/Llama checkpoints (safetensors).");
        model.Subcommands.Add(ModelInfoCommand());
        model.Subcommands.Add(ModelInitCommand());
        model.Subcommands.Add(ModelGenerateCommand());
        model.Subcommands.Add(ModelScoreCommand());
        model.Subcommands.Add(ModelMemoryCommand());
        return model;
    }

    static Argument<string> DirArgument() => new("dir") { Description = "checkpoint directory (config.json + *.safetensors)" };
    static Option<string> DeviceOption() => new("--device") { Description = "cpu or cuda:N", DefaultValueFactory = _ => "cpu" };
    static Option<string?> DTypeOption() => new("--dtype") { Description = "parameter dtype: float32, bfloat16, float16 (default float32 on cpu; bf16 compute on cuda)" };

    static ModelOptions Options(string device, string? dtype) =>
        device.StartsWith("cuda") ? new ModelOptions(device, dtype ?? "float32", "bfloat16") : new ModelOptions(device, dtype ?? "float32");

    static Command ModelInfoCommand()
    {
        var dir = DirArgument();
        var c = new Command("info", "Architecture, parameter count, dtypes and shards of a checkpoint (reads headers only).") { dir };
        c.SetAction(r => Run(() =>
        {
            var path = r.GetValue(dir)!;
            var config = TransformerConfig.Load(Path.Combine(path, Checkpoint.ConfigFile));
            var map = Checkpoint.WeightMap(path);
            long parameters = 0;
            var dtypes = new SortedDictionary<string, (int Tensors, long Bytes)>();
            Console.WriteLine($"architecture      {config.Architecture} (model_type {config.ModelType})");
            Console.WriteLine($"layers            {config.NumHiddenLayers}, hidden {config.HiddenSize}, intermediate {config.IntermediateSize}");
            Console.WriteLine($"attention         {config.NumAttentionHeads} heads, {config.NumKeyValueHeads} kv heads, head_dim {config.HeadDim}, qkv bias {config.AttentionBias}");
            Console.WriteLine($"vocab             {config.VocabSize}, tied embeddings {config.TieWordEmbeddings}, rope_theta {config.RopeTheta}, max positions {config.MaxPositionEmbeddings}");
            Console.WriteLine("shards:");
            foreach (var file in map.Values.Distinct().OrderBy(f => f))
            {
                using var st = SafetensorsFile.Open(file);
                foreach (var e in st.Entries)
                {
                    parameters += e.Shape.Aggregate(1L, (a, b) => a * b);
                    var (n, bytes) = dtypes.GetValueOrDefault(e.DType);
                    dtypes[e.DType] = (n + 1, bytes + e.ByteLength);
                }
                Console.WriteLine($"  {Path.GetFileName(file),-40} {st.Entries.Count,5} tensors {new FileInfo(file).Length / 1048576.0,10:F1} MiB");
            }
            Console.WriteLine($"parameters        {parameters:N0}");
            Console.WriteLine("dtypes            " + string.Join(", ", dtypes.Select(d => $"{d.Key}: {d.Value.Tensors} tensors, {d.Value.Bytes / 1048576.0:F1} MiB")));
        }));
        return c;
    }

    static Command ModelInitCommand()
    {
        var dir = DirArgument();
        var preset = new Option<string>("--config") { Description = "tiny | 10m | 100m (Qwen2-shaped)", DefaultValueFactory = _ => "tiny" };
        var seed = new Option<long>("--seed") { DefaultValueFactory = _ => 0 };
        var vocab = new Option<int>("--vocab-size") { Description = "override the preset's vocabulary size (e.g. to match a tokenizer)" };
        var dtype = new Option<string>("--dtype") { Description = "stored dtype", DefaultValueFactory = _ => "float32" };
        var c = new Command("init", "Write a random Qwen2-shaped checkpoint (seeded).") { dir, preset, seed, vocab, dtype };
        c.SetAction(r => Run(() =>
        {
            var config = TransformerConfig.Preset(r.GetValue(preset)!, r.GetValue(vocab));
            Checkpoint.WriteRandom(r.GetValue(dir)!, config, r.GetValue(seed), r.GetValue(dtype));
            using var m = new Transformer(config);
            Console.WriteLine($"wrote {r.GetValue(dir)}: {config.Architecture}, {m.ParameterCount():N0} parameters, seed {r.GetValue(seed)}");
        }));
        return c;
    }

    static Command ModelGenerateCommand()
    {
        var dir = DirArgument();
        var prompt = new Option<string?>("--prompt") { Description = "prompt text (needs the tokenizer files in the checkpoint directory or --tokenizer)" };
        var promptIds = new Option<string?>("--prompt-ids") { Description = "prompt as comma-separated token ids (no tokenizer needed)" };
        var tokenizerDir = new Option<string?>("--tokenizer") { Description = "tokenizer directory (default: the checkpoint directory)" };
        var chat = new Option<bool>("--chat") { Description = "wrap the prompt in the Qwen chat template and stop at <|im_end|>" };
        var maxNew = new Option<int>("--max-new-tokens") { DefaultValueFactory = _ => 128 };
        var temperature = new Option<double>("--temperature") { Description = "0 = greedy", DefaultValueFactory = _ => 0.0 };
        var topP = new Option<double>("--top-p") { DefaultValueFactory = _ => 1.0 };
        var seed = new Option<long>("--seed") { DefaultValueFactory = _ => 0 };
        var device = DeviceOption();
        var dtype = DTypeOption();
        var c = new Command("generate", "Generate a completion with a KV cache (greedy or temperature/top-p sampling).")
            { dir, prompt, promptIds, tokenizerDir, chat, maxNew, temperature, topP, seed, device, dtype };
        c.SetAction(r => Run(() =>
        {
            var path = r.GetValue(dir)!;
            HfTokenizer? tok = null;
            int[] ids;
            var stops = new List<int>();
            if (r.GetValue(promptIds) is string list)
                ids = list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(int.Parse).ToArray();
            else if (r.GetValue(prompt) is string text)
            {
                tok = HfTokenizer.Load(r.GetValue(tokenizerDir) ?? path);
                if (r.GetValue(chat)) text = new QwenChatTemplate().Prompt(text);
                ids = tok.EncodeToIds(text).ToArray();
                stops.Add(tok.EosId);
                if (r.GetValue(chat)) stops.Add(tok.TokenId(QwenChatTemplate.ImEnd));
            }
            else throw new ArgumentException("give --prompt or --prompt-ids");
            using var m = Checkpoint.Load(path, Options(r.GetValue(device)!, r.GetValue(dtype)));
            if (tok is null && m.Config.EosTokenId is int eos) stops.Add(eos);
            var result = TokenGenerator.Generate(m, new[] { ids }, new GenerationOptions(
                r.GetValue(maxNew), r.GetValue(temperature), r.GetValue(topP), r.GetValue(seed), stops))[0];
            Console.WriteLine(tok is null ? string.Join(",", result.Tokens) : tok.Decode(result.Tokens, skipSpecial: true));
            Console.Error.WriteLine($"[{result.Tokens.Length} tokens, finish reason: {result.FinishReason}]");
        }));
        return c;
    }

    static Command ModelScoreCommand()
    {
        var dir = DirArgument();
        var input = new Option<string>("--input") { Description = "jsonl or parquet with prompt/completion (text) or prompt_ids/completion_ids", Required = true };
        var output = new Option<string>("--out") { Description = "jsonl or parquet output (id, row, logprobs, sum_logprob, num_tokens)", Required = true };
        var tokenizerDir = new Option<string?>("--tokenizer") { Description = "tokenizer directory (default: the checkpoint directory)" };
        var batch = new Option<int>("--batch-size") { DefaultValueFactory = _ => 8 };
        var device = DeviceOption();
        var dtype = DTypeOption();
        var c = new Command("score", "Per-token log-probs of completions given prompts.") { dir, input, output, tokenizerDir, batch, device, dtype };
        c.SetAction(r => Run(() =>
        {
            var path = r.GetValue(dir)!;
            var inPath = r.GetValue(input)!;
            var rows = ModelScoreIO.Read(inPath);
            HfTokenizer? tok = null;
            var pairs = new List<(int[], int[])>();
            for (int i = 0; i < rows.Count; i++)
            {
                var row = rows[i];
                if (row.prompt_ids is not null && row.completion_ids is not null)
                    pairs.Add((row.prompt_ids.ToArray(), row.completion_ids.ToArray()));
                else if (row.prompt is not null && row.completion is not null)
                {
                    tok ??= HfTokenizer.Load(r.GetValue(tokenizerDir) ?? path);
                    pairs.Add((tok.EncodeToIds(row.prompt).ToArray(), tok.EncodeToIds(row.completion).ToArray()));
                }
                else throw new InvalidDataException($"{inPath}: row {i + 1}: needs prompt/completion or prompt_ids/completion_ids");
                if (pairs[^1].Item1.Length == 0) throw new InvalidDataException($"{inPath}: row {i + 1}: the prompt is empty");
            }
            using var m = Checkpoint.Load(path, Options(r.GetValue(device)!, r.GetValue(dtype)));
            foreach (var (i, (p, comp)) in pairs.Select((x, i) => (i, x)))
                if (p.Concat(comp).Any(t => t < 0 || t >= m.Config.VocabSize))
                    throw new InvalidDataException($"{inPath}: row {i + 1}: token id outside the vocabulary [0, {m.Config.VocabSize})");
            var scores = CompletionScorer.Score(m, pairs, r.GetValue(batch));
            for (int i = 0; i < scores.Length; i++)
                for (int t = 0; t < scores[i].Length; t++)
                    if (!float.IsFinite(scores[i][t]))
                        throw new InvalidDataException($"{inPath}: row {i + 1}{(rows[i].id is { } id ? $" (id '{id}')" : "")}: log-prob of completion token {t + 1} is {scores[i][t]}; " +
                                                       $"the model in {path} produces non-finite values (check its weights and --dtype)");
            var outRows = scores.Select((s, i) => new ScoreOutputRow
            {
                id = rows[i].id, row = i + 1, logprobs = s.ToList(), sum_logprob = s.Sum(x => (double)x), num_tokens = s.Length,
            }).ToList();
            ModelScoreIO.Write(r.GetValue(output)!, outRows);
            Console.WriteLine($"scored {outRows.Count} pairs, {outRows.Sum(x => x.num_tokens)} completion tokens → {r.GetValue(output)}");
        }));
        return c;
    }

    /// <summary>Runs a command body: clean one-line errors (exit 1) instead of stack traces for bad input.</summary>
    static int Run(Action body)
    {
        try { body(); return 0; }
        catch (Exception e) when (e is ArgumentException or InvalidDataException or FileNotFoundException or DirectoryNotFoundException
                                   or NotSupportedException or SafetensorsFormatException or KeyNotFoundException or FormatException)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return 1;
        }
    }
}
