using System.Text.Json.Nodes;
using System.Xml;
using System.Xml.Linq;
using System.Xml.Schema;
using IwSft.Pipelines.Eval;
using Json.Schema;

namespace IwSft.Pipelines.Tests;

/// <summary>
/// Validation of the eval command's CI files against schemas/ci/: the summary JSON against
/// eval_ci_summary.schema.json (JSON Schema 2020-12, JsonSchema.Net) and the JUnit XML against junit.xsd
/// (System.Xml.Schema). Each check returns the list of errors, empty when the file is valid.
/// </summary>
static class CiSchemas
{
    static string RepoFile(string relative)
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d != null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, relative))) return Path.Combine(d.FullName, relative);
        throw new FileNotFoundException($"{relative} not found above {AppContext.BaseDirectory}");
    }

    public static string SummarySchemaPath => RepoFile("schemas/ci/eval_ci_summary.schema.json");
    public static string JUnitSchemaPath => RepoFile("schemas/ci/junit.xsd");

    // Built once: JsonSchema.Net keys schemas by $id, so one instance serves every test.
    static readonly Lazy<JsonSchema> Summary = new(() => JsonSchema.FromText(File.ReadAllText(SummarySchemaPath)));

    public static List<string> SummaryErrors(string jsonText)
    {
        using var doc = System.Text.Json.JsonDocument.Parse(jsonText);
        var result = Summary.Value.Evaluate(doc.RootElement, new EvaluationOptions { OutputFormat = OutputFormat.List });
        if (result.IsValid) return [];
        var errors = (result.Details ?? [])
            .Where(d => d.Errors is { Count: > 0 })
            .SelectMany(d => d.Errors!.Select(e => $"{d.InstanceLocation}: {e.Value}"))
            .ToList();
        return errors.Count > 0 ? errors : ["invalid (no details)"];
    }

    public static List<string> JUnitErrors(string xmlPath)
    {
        var errors = new List<string>();
        var settings = new XmlReaderSettings { ValidationType = ValidationType.Schema };
        settings.Schemas.Add(null, JUnitSchemaPath);
        settings.ValidationFlags |= XmlSchemaValidationFlags.ReportValidationWarnings;
        settings.ValidationEventHandler += (_, e) => errors.Add($"{e.Severity} line {e.Exception?.LineNumber}: {e.Message}");
        using (var reader = XmlReader.Create(xmlPath, settings))
            while (reader.Read()) { }
        return errors;
    }
}

/// <summary>The schemas reject broken files, so a passing validation elsewhere means something.</summary>
public sealed class EvalCiSchemaTests : IDisposable
{
    readonly string _root = Path.Combine(Path.GetTempPath(), "iwsft-evalci-schema", Guid.NewGuid().ToString("N"));

    public EvalCiSchemaTests() => Directory.CreateDirectory(_root);
    public void Dispose() { try { Directory.Delete(_root, recursive: true); } catch (IOException) { } }

    static readonly string Hash = new('a', 64);

    /// <summary>A summary as the command builds it: two cells, one without pass@k.</summary>
    static EvalSummaryFile Sample() => new()
    {
        Commit = "0123456789abcdef0123456789abcdef01234567", Params = "/ci/eval.json", CreatedUtc = "2026-12-01T08:00:00Z",
        StoreKeys = new(StringComparer.Ordinal) { ["evaluate"] = Hash, ["report"] = new string('b', 64) },
        SummaryArtifact = new string('c', 64),
        Results =
        [
            new EvalCell { Checkpoint = "base", CheckpointHash = Hash, Benchmark = "aime24", N = 30, Samples = 4, Accuracy = 0.1, CiLow = 0.0346, CiHigh = 0.2562, PassAtK = 0.2, K = 4, MeanTokens = 812.5 },
            new EvalCell { Checkpoint = "sft_s1", CheckpointHash = new string('d', 64), Benchmark = "aime24", N = 30, Samples = 1, Accuracy = 0, CiLow = 0, CiHigh = 0.1135, PassAtK = null, K = 4, MeanTokens = 0 },
        ],
    };

    JsonObject WrittenSample()
    {
        var path = Path.Combine(_root, "summary.json");
        Sample().Write(path);   // the command's own serialiser
        return JsonNode.Parse(File.ReadAllText(path))!.AsObject();
    }

    [Fact]
    public void A_summary_written_by_the_command_is_valid_and_each_kind_of_breakage_is_rejected()
    {
        var valid = WrittenSample();
        Assert.Empty(CiSchemas.SummaryErrors(valid.ToJsonString()));

        var breakages = new Dictionary<string, Action<JsonObject>>
        {
            ["cell without n"] = o => o["results"]![0]!.AsObject().Remove("n"),
            ["accuracy as a string"] = o => o["results"]![0]!["accuracy"] = "0.1",
            ["accuracy above 1"] = o => o["results"]![0]!["accuracy"] = 1.5,
            ["n not an integer"] = o => o["results"]![0]!["n"] = 2.5,
            ["checkpoint hash not a hash"] = o => o["results"]![1]!["checkpoint_hash"] = "abc",
            ["unknown cell field"] = o => o["results"]![0]!["accuracy_pct"] = 10,
            ["unknown top-level field"] = o => o["extra"] = true,
            ["no commit key"] = o => o.Remove("commit"),
            ["store key not a hash"] = o => o["store_keys"]!["evaluate"] = "key",
            ["another format"] = o => o["format"] = 2,
            ["results not an array"] = o => o["results"] = new JsonObject(),
        };
        foreach (var (what, breakIt) in breakages)
        {
            var broken = valid.DeepClone().AsObject();
            breakIt(broken);
            Assert.True(CiSchemas.SummaryErrors(broken.ToJsonString()).Count > 0, $"the schema accepted a summary with {what}");
        }
    }

    string WriteJUnit(Action<XDocument>? breakIt = null)
    {
        var s = Sample();
        var doc = EvalCi.JUnit(s, [new ThresholdFailure("sft_s1", "aime24", "accuracy 0.0000 < min_accuracy 0.1000")]);
        breakIt?.Invoke(doc);
        var path = Path.Combine(_root, $"junit-{Guid.NewGuid():N}.xml");
        EvalCi.WriteJUnit(path, doc);
        return path;
    }

    [Fact]
    public void JUnit_written_by_the_command_is_valid_and_broken_reports_are_rejected()
    {
        Assert.Empty(CiSchemas.JUnitErrors(WriteJUnit()));

        var breakages = new Dictionary<string, Action<XDocument>>
        {
            ["a test case without classname"] = d => d.Descendants("testcase").First().Attribute("classname")!.Remove(),
            ["a non-numeric tests count"] = d => d.Root!.SetAttributeValue("tests", "two"),
            ["a suite without failures count"] = d => d.Descendants("testsuite").First().Attribute("failures")!.Remove(),
            ["a failure after system-out"] = d =>
            {
                var f = d.Descendants("failure").First();
                var tc = f.Parent!;
                f.Remove();
                tc.Add(f);
            },
            ["an unknown element"] = d => d.Descendants("testcase").First().Add(new XElement("verdict", "ok")),
            ["a test case directly under testsuites"] = d => d.Root!.Add(new XElement("testcase", new XAttribute("name", "x"), new XAttribute("classname", "y"), new XAttribute("time", "0"))),
        };
        foreach (var (what, breakIt) in breakages)
            Assert.True(CiSchemas.JUnitErrors(WriteJUnit(breakIt)).Count > 0, $"the XSD accepted JUnit with {what}");
    }
}
