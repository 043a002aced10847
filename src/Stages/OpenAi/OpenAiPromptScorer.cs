using System.Globalization;
using System.Text.Json.Nodes;

namespace IwSft.Stages.OpenAi;

/// <summary>
/// Per-token log-probabilities of completions given prompts, from a server's <c>prompt_logprobs</c> (vLLM's extension
/// of <c>/v1/completions</c>; <c>iwsft serve</c> has it too): prompt + completion go as token ids, one token is
/// generated (and ignored), and the log-probability of each completion token given everything before it is read
/// from the entry keyed by that token's id. An entry without that id means the server scored other tokens than
/// the ones sent: an error, never a silent misalignment.
/// </summary>
public sealed class OpenAiPromptScorer(OpenAiConnection connection, string model)
{
    public Task<float[][]> ScoreAsync(IReadOnlyList<(int[] Prompt, int[] Completion)> pairs, CancellationToken ct) =>
        connection.ForEachAsync(pairs, (i, pair, token) => ScoreOneAsync(i, pair.Prompt, pair.Completion, token), ct);

    async Task<float[]> ScoreOneAsync(int index, int[] prompt, int[] completion, CancellationToken ct)
    {
        int[] ids = [.. prompt, .. completion];
        var body = new JsonObject
        {
            ["model"] = model, ["prompt"] = new JsonArray(ids.Select(id => (JsonNode)id).ToArray()),
            ["max_tokens"] = 1, ["temperature"] = 0, ["prompt_logprobs"] = 0, ["n"] = 1,
        };
        var reply = await connection.SendAsync(HttpMethod.Post, "v1/completions", body, ct);
        string server = connection.Config.BaseUrl;
        if (reply["choices"]?[0]?["prompt_logprobs"] is not JsonArray entries)
            throw new InvalidOperationException($"sequence {index}: {server} returned no prompt_logprobs (vLLM's extension of /v1/completions is needed to score on a server)");
        if (entries.Count != ids.Length)
            throw new InvalidOperationException($"sequence {index}: {server} returned {entries.Count} prompt log-probs for the {ids.Length} tokens sent");
        var values = new float[completion.Length];
        for (int j = 0; j < completion.Length; j++)
        {
            int at = prompt.Length + j;
            string id = ids[at].ToString(CultureInfo.InvariantCulture);
            if (entries[at]?[id]?["logprob"] is not JsonValue lp)
                throw new InvalidOperationException($"sequence {index}: {server}'s prompt log-probs at position {at} have no entry for token id {id}: the server scored other tokens than the ones sent");
            values[j] = (float)lp.GetValue<double>();
        }
        return values;
    }
}
