using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using IwSft.Core;
using IwSft.Gpu.Serving;
using IwSft.Text;

namespace IwSft.Cli.Serve;

/// <summary>A request the server refuses: the HTTP status and OpenAI's error object (<c>{"error": {message, type, param, code}}</c>).</summary>
public sealed class OpenAiError(int status, string message, string? param = null, string? code = null, string type = "invalid_request_error")
    : Exception(message)
{
    public int Status { get; } = status;

    public JsonObject ToJson() => new()
    {
        ["error"] = new JsonObject { ["message"] = Message, ["type"] = type, ["param"] = param, ["code"] = code ?? Status.ToString(CultureInfo.InvariantCulture) },
    };

    public static OpenAiError Invalid(string param, string message) => new(400, message, param);
    public static OpenAiError Unsupported(string param, string message) => new(400, message, param, "unsupported_parameter");
}

/// <summary>The jobs of one request: <see cref="Jobs"/> holds prompt-major, choice-minor jobs (choice index = prompt · n + i).</summary>
public sealed record ParsedRequest(string Model, IReadOnlyList<int[]> Prompts, int N, IReadOnlyList<CompletionJob> Jobs, bool ReturnTokenIds, bool TopLogprobsOnly);

/// <summary>
/// The OpenAI completions and chat-completions protocol as vLLM serves it (vllm/entrypoints/openai, completion and
/// chat_completion protocol.py): defaults max_tokens 16 (completions), temperature 1, top_p 1, n 1; <c>prompt</c> as
/// text, texts, token ids or lists of token ids; vLLM's <c>prompt_logprobs</c> and <c>return_token_ids</c>. A
/// parameter that would change the output but is not implemented is refused (400), never silently ignored.
/// </summary>
public static class OpenAiProtocol
{
    public const int MaxLogprobs = 20;
    public const int MaxChoices = 128;

    static readonly string[] UnsupportedIfSet =
        ["frequency_penalty", "presence_penalty", "logit_bias", "top_k", "min_p", "repetition_penalty", "best_of", "suffix", "use_beam_search",
         "response_format", "tools", "tool_choice", "functions", "logprob_token_ids", "bad_words", "allowed_token_ids", "ignore_eos"];

    public static ParsedRequest ParseCompletion(JsonNode? body, string servedModel, CompletionEngine engine)
    {
        var o = Object(body);
        string model = CheckModel(o, servedModel);
        CheckCommon(o);
        if (Bool(o, "echo") == true) throw OpenAiError.Unsupported("echo", "echo is not supported; ask for prompt_logprobs to score the prompt");
        var prompts = Prompts(o["prompt"], engine.Tokenizer);
        int maxTokens = Int(o, "max_tokens", min: 0) ?? 16;
        int? logprobs = Int(o, "logprobs", min: 0, max: MaxLogprobs);
        int? promptLogprobs = Int(o, "prompt_logprobs", min: 0, max: MaxLogprobs);
        return Build(o, model, prompts, maxTokens, logprobs, promptLogprobs, engine, topLogprobsOnly: false);
    }

    public static ParsedRequest ParseChat(JsonNode? body, string servedModel, CompletionEngine engine, QwenChatTemplate template)
    {
        var o = Object(body);
        string model = CheckModel(o, servedModel);
        CheckCommon(o);
        var messages = Messages(o["messages"]);
        string rendered;
        try { rendered = template.Render(messages, addGenerationPrompt: true); }
        catch (ArgumentException e) { throw OpenAiError.Invalid("messages", e.Message); }
        var prompt = engine.Tokenizer.EncodeToIds(rendered).ToArray();
        int? maxTokens = Int(o, "max_completion_tokens", min: 0) ?? Int(o, "max_tokens", min: 0);
        bool logprobs = Bool(o, "logprobs") ?? false;
        int? top = Int(o, "top_logprobs", min: 0, max: MaxLogprobs);
        if (top is not null && !logprobs) throw OpenAiError.Invalid("top_logprobs", "top_logprobs needs logprobs: true");
        // vLLM's default for chat: whatever positions the model has left after the prompt.
        int limit = maxTokens ?? Math.Max(0, engine.MaxModelLength - prompt.Length);
        return Build(o, model, [prompt], limit, logprobs ? top ?? 0 : null, null, engine, topLogprobsOnly: true);
    }

    static ParsedRequest Build(JsonObject o, string model, IReadOnlyList<int[]> prompts, int maxTokens, int? logprobs, int? promptLogprobs,
        CompletionEngine engine, bool topLogprobsOnly)
    {
        double temperature = Number(o, "temperature", min: 0, max: 2) ?? 1.0;
        double topP = Number(o, "top_p", min: double.Epsilon, max: 1) ?? 1.0;
        int n = Int(o, "n", min: 1, max: MaxChoices) ?? 1;
        long? seed = Long(o, "seed");
        var stop = Stops(o["stop"]);
        var choices = GuidedChoice(o);
        int minTokens = Int(o, "min_tokens", min: 0) ?? 0;
        var stopTokenIds = o["stop_token_ids"] switch
        {
            null => null,
            JsonArray a when a.All(x => x?.GetValueKind() == System.Text.Json.JsonValueKind.Number && x.GetValue<double>() is var d && d == Math.Floor(d) && d >= 0 && d < engine.Tokenizer.VocabSize)
                => a.Select(x => (int)x!.GetValue<double>()).ToList(),
            _ => throw OpenAiError.Invalid("stop_token_ids", $"stop_token_ids must be a list of token ids of this model (0 to {engine.Tokenizer.VocabSize - 1})"),
        };
        // No seed: a fresh one per request, as vLLM does; with a seed every choice is reproducible.
        long baseSeed = seed ?? Random.Shared.NextInt64();
        var jobs = new List<CompletionJob>();
        for (int p = 0; p < prompts.Count; p++)
            for (int i = 0; i < n; i++)
            {
                var job = new CompletionJob(prompts[p], maxTokens, temperature, topP, ChoiceSeed(baseSeed, p, i), logprobs, promptLogprobs, stop, choices, stopTokenIds, minTokens);
                try { engine.Validate(job); }
                catch (ArgumentException e) { throw OpenAiError.Invalid(prompts.Count > 1 ? $"prompt[{p}]" : "prompt", e.Message); }
                jobs.Add(job);
            }
        return new ParsedRequest(model, prompts, n, jobs, Bool(o, "return_token_ids") ?? false, topLogprobsOnly);
    }

    /// <summary>Choice <paramref name="choice"/> of prompt <paramref name="prompt"/>: its own generator, derived from the request's seed.</summary>
    public static long ChoiceSeed(long seed, int prompt, int choice) =>
        prompt == 0 && choice == 0 ? seed : (long)DeterministicRandom.Mix(DeterministicRandom.Mix((ulong)seed ^ (ulong)prompt) + (ulong)choice);

    public static JsonObject RenderCompletion(string id, long created, ParsedRequest request, IReadOnlyList<CompletionOutput> outputs, HfTokenizer tokenizer)
    {
        var choices = new JsonArray();
        for (int c = 0; c < outputs.Count; c++)
        {
            var output = outputs[c];
            var choice = new JsonObject
            {
                ["index"] = c, ["text"] = output.Text,
                ["logprobs"] = output.Logprobs is null ? null : CompletionLogprobs(output.Logprobs, tokenizer),
                ["finish_reason"] = output.FinishReason, ["stop_reason"] = output.StopString,
            };
            if (output.PromptLogprobs is not null) choice["prompt_logprobs"] = PromptLogprobs(output.PromptLogprobs, tokenizer);
            if (request.ReturnTokenIds)
            {
                choice["prompt_token_ids"] = Ints(request.Prompts[c / request.N]);
                choice["token_ids"] = Ints(output.Tokens);
            }
            choices.Add(choice);
        }
        return new JsonObject
        {
            ["id"] = id, ["object"] = "text_completion", ["created"] = created, ["model"] = request.Model, ["choices"] = choices, ["usage"] = Usage(request, outputs),
        };
    }

    public static JsonObject RenderChat(string id, long created, ParsedRequest request, IReadOnlyList<CompletionOutput> outputs, HfTokenizer tokenizer)
    {
        var choices = new JsonArray();
        for (int c = 0; c < outputs.Count; c++)
        {
            var output = outputs[c];
            choices.Add(new JsonObject
            {
                ["index"] = c,
                ["message"] = new JsonObject { ["role"] = "assistant", ["content"] = output.Text },
                ["logprobs"] = output.Logprobs is null ? null : new JsonObject { ["content"] = ChatLogprobs(output.Logprobs, tokenizer) },
                ["finish_reason"] = output.FinishReason, ["stop_reason"] = output.StopString,
            });
        }
        return new JsonObject
        {
            ["id"] = id, ["object"] = "chat.completion", ["created"] = created, ["model"] = request.Model, ["choices"] = choices, ["usage"] = Usage(request, outputs),
        };
    }

    static JsonObject Usage(ParsedRequest request, IReadOnlyList<CompletionOutput> outputs)
    {
        int prompt = request.Prompts.Sum(p => p.Length), completion = outputs.Sum(o => o.Tokens.Length);
        return new JsonObject { ["prompt_tokens"] = prompt, ["completion_tokens"] = completion, ["total_tokens"] = prompt + completion };
    }

    static JsonObject CompletionLogprobs(IReadOnlyList<TokenLogProb> logprobs, HfTokenizer tokenizer)
    {
        var tokens = new JsonArray();
        var values = new JsonArray();
        var tops = new JsonArray();
        var offsets = new JsonArray();
        int offset = 0;
        foreach (var t in logprobs)
        {
            string text = tokenizer.Decode([t.TokenId]);
            tokens.Add(text);
            values.Add(t.LogProb);
            offsets.Add(offset);
            offset += text.Length;
            // vLLM's dictionary: the top alternatives plus the chosen token, keyed by decoded text.
            var top = new JsonObject();
            foreach (var (id, lp) in t.Top) top[tokenizer.Decode([id])] = lp;
            top[text] = t.LogProb;
            tops.Add(top);
        }
        return new JsonObject { ["text_offset"] = offsets, ["token_logprobs"] = values, ["tokens"] = tokens, ["top_logprobs"] = tops };
    }

    static JsonArray PromptLogprobs(IReadOnlyList<TokenLogProb?> logprobs, HfTokenizer tokenizer)
    {
        var list = new JsonArray();
        foreach (var t in logprobs)
        {
            if (t is null) { list.Add(null); continue; }
            // vLLM's entry: {token id: {logprob, rank, decoded_token}} for the prompt's token and the top alternatives.
            var entry = new JsonObject { [Id(t.TokenId)] = Logprob(t.LogProb, t.Rank, t.TokenId, tokenizer) };
            for (int r = 0; r < t.Top.Count; r++)
                if (t.Top[r].TokenId != t.TokenId) entry[Id(t.Top[r].TokenId)] = Logprob(t.Top[r].LogProb, r + 1, t.Top[r].TokenId, tokenizer);
            list.Add(entry);
        }
        return list;
    }

    static JsonObject Logprob(float lp, int rank, int id, HfTokenizer tokenizer) =>
        new() { ["logprob"] = lp, ["rank"] = rank, ["decoded_token"] = tokenizer.Decode([id]) };

    static JsonArray ChatLogprobs(IReadOnlyList<TokenLogProb> logprobs, HfTokenizer tokenizer)
    {
        var content = new JsonArray();
        foreach (var t in logprobs)
        {
            var top = new JsonArray();
            foreach (var (id, lp) in t.Top) top.Add(ChatToken(tokenizer.Decode([id]), lp));
            var entry = ChatToken(tokenizer.Decode([t.TokenId]), t.LogProb);
            entry["top_logprobs"] = top;
            content.Add(entry);
        }
        return content;
    }

    static JsonObject ChatToken(string token, float lp) =>
        new() { ["token"] = token, ["logprob"] = lp, ["bytes"] = new JsonArray(Encoding.UTF8.GetBytes(token).Select(b => (JsonNode)(int)b).ToArray()) };

    static string Id(int id) => id.ToString(CultureInfo.InvariantCulture);
    static JsonArray Ints(IEnumerable<int> ids) => new(ids.Select(i => (JsonNode)i).ToArray());

    // ---- request fields ----

    static JsonObject Object(JsonNode? body) =>
        body as JsonObject ?? throw OpenAiError.Invalid("body", "the request body must be a JSON object");

    static string CheckModel(JsonObject o, string served)
    {
        var model = Text(o, "model");
        if (model is not null && model != served)
            throw new OpenAiError(404, $"The model `{model}` does not exist (this server serves `{served}`).", "model", "model_not_found");
        return served;
    }

    static void CheckCommon(JsonObject o)
    {
        if (Bool(o, "stream") == true) throw OpenAiError.Unsupported("stream", "stream is not supported by iwsft serve");
        foreach (var name in UnsupportedIfSet)
            if (o[name] is { } v && !IsNeutral(name, v))
                throw OpenAiError.Unsupported(name, $"'{name}' is not supported by iwsft serve (it would change the output)");
    }

    // Values equal to the parameter's default change nothing, so clients that always send them still work.
    static bool IsNeutral(string name, JsonNode v) => v.GetValueKind() switch
    {
        System.Text.Json.JsonValueKind.Null => true,
        System.Text.Json.JsonValueKind.False => true,
        System.Text.Json.JsonValueKind.Number => v.GetValue<double>() is var d && (name is "repetition_penalty" or "best_of" ? d == 1 : name == "top_k" ? d is 0 or -1 : d == 0),
        System.Text.Json.JsonValueKind.Array => v.AsArray().Count == 0,
        System.Text.Json.JsonValueKind.Object => v.AsObject().Count == 0,
        _ => false,
    };

    static List<int[]> Prompts(JsonNode? prompt, HfTokenizer tokenizer)
    {
        int[] Ids(JsonArray a, string param) => a.Select((x, i) => x?.GetValueKind() == System.Text.Json.JsonValueKind.Number && x.GetValue<double>() is var d && d == Math.Floor(d) && d >= 0 && d < tokenizer.VocabSize
            ? (int)d : throw OpenAiError.Invalid(param, $"{param}[{i}] is not a token id of this model (0 to {tokenizer.VocabSize - 1})")).ToArray();
        int[] Encode(string s, string param) => s.Length > 0 ? tokenizer.EncodeToIds(s).ToArray() : throw OpenAiError.Invalid(param, $"{param} is empty");

        switch (prompt)
        {
            case null: throw OpenAiError.Invalid("prompt", "prompt is required");
            case JsonValue v when v.GetValueKind() == System.Text.Json.JsonValueKind.String: return [Encode(v.GetValue<string>(), "prompt")];
            case JsonArray a when a.Count == 0: throw OpenAiError.Invalid("prompt", "prompt is empty");
            case JsonArray a when a.All(x => x?.GetValueKind() == System.Text.Json.JsonValueKind.Number): return [Ids(a, "prompt")];
            case JsonArray a when a.All(x => x?.GetValueKind() == System.Text.Json.JsonValueKind.String):
                return a.Select((x, i) => Encode(x!.GetValue<string>(), $"prompt[{i}]")).ToList();
            case JsonArray a when a.All(x => x is JsonArray { Count: > 0 }):
                return a.Select((x, i) => Ids(x!.AsArray(), $"prompt[{i}]")).ToList();
            default: throw OpenAiError.Invalid("prompt", "prompt must be a string, a list of strings, a list of token ids or a list of lists of token ids");
        }
    }

    static List<ChatMessage> Messages(JsonNode? node)
    {
        if (node is not JsonArray { Count: > 0 } a) throw OpenAiError.Invalid("messages", "messages must be a non-empty list");
        var list = new List<ChatMessage>();
        for (int i = 0; i < a.Count; i++)
        {
            string param = $"messages[{i}]";
            if (a[i] is not JsonObject m) throw OpenAiError.Invalid(param, $"{param} must be an object");
            var role = Text(m, "role", param) switch
            {
                "system" or "developer" => ChatRole.System,
                "user" => ChatRole.User,
                "assistant" => ChatRole.Assistant,
                var r => throw OpenAiError.Invalid($"{param}.role", $"{param}.role '{r}' is not supported (system, developer, user, assistant)"),
            };
            list.Add(new ChatMessage(role, Content(m["content"], $"{param}.content")));
        }
        return list;
    }

    static string Content(JsonNode? content, string param) => content switch
    {
        JsonValue v when v.GetValueKind() == System.Text.Json.JsonValueKind.String => v.GetValue<string>(),
        // Content parts: only text parts, joined as OpenAI's text-only models read them.
        JsonArray parts => string.Concat(parts.Select((p, i) => p is JsonObject { } po && Text(po, "type", $"{param}[{i}]") == "text"
            ? Text(po, "text", $"{param}[{i}]") ?? "" : throw OpenAiError.Unsupported($"{param}[{i}]", $"{param}[{i}]: only text content parts are supported"))),
        _ => throw OpenAiError.Invalid(param, $"{param} must be a string or a list of text parts"),
    };

    /// <summary>
    /// vLLM's guided choice: <c>structured_outputs: {"choice": [...]}</c> (vLLM 0.12 on) or the older <c>guided_choice</c>.
    /// The other structured outputs (json, regex, grammar) are refused rather than ignored.
    /// </summary>
    static List<string>? GuidedChoice(JsonObject o)
    {
        List<string> Strings(JsonNode? node, string param) => node is JsonArray { Count: > 0 } a && a.All(x => x?.GetValueKind() == System.Text.Json.JsonValueKind.String && x.GetValue<string>().Length > 0)
            ? a.Select(x => x!.GetValue<string>()).ToList()
            : throw OpenAiError.Invalid(param, $"{param} must be a non-empty list of non-empty strings");
        var structured = o["structured_outputs"];
        if (structured is not null and not JsonObject) throw OpenAiError.Invalid("structured_outputs", "structured_outputs must be an object");
        if (structured is JsonObject so)
            foreach (var (key, value) in so)
                if (key != "choice" && value is not null && !IsNeutral(key, value))
                    throw OpenAiError.Unsupported($"structured_outputs.{key}", $"structured_outputs.{key} is not supported by iwsft serve (only choice)");
        foreach (var name in new[] { "guided_json", "guided_regex", "guided_grammar" })
            if (o[name] is { } v && !IsNeutral(name, v)) throw OpenAiError.Unsupported(name, $"'{name}' is not supported by iwsft serve (only guided choice)");
        var fromStructured = structured?["choice"];
        var legacy = o["guided_choice"];
        if (fromStructured is not null && legacy is not null) throw OpenAiError.Invalid("guided_choice", "give the choices once: structured_outputs.choice or guided_choice");
        return fromStructured is not null ? Strings(fromStructured, "structured_outputs.choice")
            : legacy is not null ? Strings(legacy, "guided_choice") : null;
    }

    static List<string>? Stops(JsonNode? stop) => stop switch
    {
        null => null,
        JsonValue v when v.GetValueKind() == System.Text.Json.JsonValueKind.String => [v.GetValue<string>()],
        JsonArray a when a.All(x => x?.GetValueKind() == System.Text.Json.JsonValueKind.String) => a.Select(x => x!.GetValue<string>()).ToList(),
        _ => throw OpenAiError.Invalid("stop", "stop must be a string or a list of strings"),
    };

    static string? Text(JsonObject o, string name, string? prefix = null)
    {
        var v = o[name];
        if (v is null) return null;
        return v.GetValueKind() == System.Text.Json.JsonValueKind.String ? v.GetValue<string>()
            : throw OpenAiError.Invalid(prefix is null ? name : $"{prefix}.{name}", $"{(prefix is null ? name : $"{prefix}.{name}")} must be a string");
    }

    static bool? Bool(JsonObject o, string name) => o[name] switch
    {
        null => null,
        var v when v.GetValueKind() == System.Text.Json.JsonValueKind.True => true,
        var v when v.GetValueKind() == System.Text.Json.JsonValueKind.False => false,
        _ => throw OpenAiError.Invalid(name, $"{name} must be true or false"),
    };

    static double? Number(JsonObject o, string name, double min, double max)
    {
        if (o[name] is not { } v) return null;
        if (v.GetValueKind() != System.Text.Json.JsonValueKind.Number) throw OpenAiError.Invalid(name, $"{name} must be a number");
        double d = v.GetValue<double>();
        if (d < min || d > max) throw OpenAiError.Invalid(name, $"{name} {d.ToString(CultureInfo.InvariantCulture)} is outside [{min.ToString(CultureInfo.InvariantCulture)}, {max.ToString(CultureInfo.InvariantCulture)}]");
        return d;
    }

    static int? Int(JsonObject o, string name, int min, int max = int.MaxValue) =>
        Long(o, name) is { } l ? (l >= min && l <= max ? (int)l : throw OpenAiError.Invalid(name, $"{name} {l} is outside [{min}, {max}]")) : null;

    static long? Long(JsonObject o, string name)
    {
        if (o[name] is not { } v) return null;
        if (v.GetValueKind() == System.Text.Json.JsonValueKind.Number && v.AsValue().TryGetValue<long>(out var l)) return l;
        if (v.GetValueKind() == System.Text.Json.JsonValueKind.Number && v.GetValue<double>() is var d && d == Math.Floor(d) && Math.Abs(d) < 9e18) return (long)d;
        throw OpenAiError.Invalid(name, $"{name} must be an integer");
    }
}
